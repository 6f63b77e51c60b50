#include "engine/storeoptions.h"
#include "security/processhardening.h"
#include "storecommands.h"

#include <QCoreApplication>
#include <QTimer>

int main(int argc, char *argv[])
{
    ProcessHardening::apply();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("framehousectl"));
    QCoreApplication::setApplicationVersion(QStringLiteral(FRAMEHOUSE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QCoreApplication::translate("main", "Framehouse command line.\n\nCommands:\n%1")
            .arg(StoreCommands::synopsis()));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("group"),
                                 QCoreApplication::translate("main", "store"));
    parser.addPositionalArgument(QStringLiteral("command"),
                                 QCoreApplication::translate("main", "see Commands above"));
    StoreOptions::addTo(parser);
    StoreCommands::addOptions(parser);
    parser.process(app);

    const QStringList words = parser.positionalArguments();
    if (words.size() != 2 || words.first() != QLatin1String("store")) {
        fputs(qPrintable(parser.helpText()), stderr);
        return 2;
    }

    StoreCommands commands;
    int exitCode = 0;
    QTimer::singleShot(0, &commands, [&] {
        commands.run(words.at(1), parser, [&](int code) {
            exitCode = code;
            QCoreApplication::exit(code);
        });
    });
    app.exec();
    return exitCode;
}
