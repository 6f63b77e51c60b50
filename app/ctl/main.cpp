#include "apicommands.h"
#include "auditcommands.h"
#include "ctloutput.h"
#include "engine/storeoptions.h"
#include "farmcommands.h"
#include "jobcommands.h"
#include "keycommands.h"
#include "security/processhardening.h"
#include "settingscommands.h"
#include "storecommands.h"
#include "verifycommand.h"

#include <QCoreApplication>
#include <QTimer>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("main", text); }

QString synopsisOf(const QString &group)
{
    if (group == QLatin1String("store"))
        return StoreCommands::synopsis();
    if (group == QLatin1String("keys"))
        return KeyCommands::synopsis();
    if (group == QLatin1String("audit"))
        return AuditCommands::synopsis();
    if (group == QLatin1String("settings"))
        return SettingsCommands::synopsis();
    if (group == QLatin1String("jobs"))
        return JobCommands::synopsis();
    if (group == QLatin1String("farm"))
        return FarmCommands::synopsis();
    if (group == QLatin1String("api"))
        return ApiCommands::synopsis();
    if (group == QLatin1String("verify"))
        return VerifyCommand::synopsis();
    return {};
}

// The synopsis lines of one command ("keys create"), or of its group.
QString helpFor(const QStringList &words)
{
    const QString group = synopsisOf(words.value(0));
    if (words.size() < 2)
        return group;
    QStringList lines;
    bool inCommand = false;
    const QString prefix = words.at(0) + u' ' + words.at(1);
    for (const QString &line : group.split(u'\n')) {
        if (line.startsWith(prefix + u' ') || line == prefix)
            inCommand = true;
        else if (!line.startsWith(u' '))
            inCommand = false;
        if (inCommand)
            lines << line;
    }
    return lines.isEmpty() ? group : lines.join(u'\n');
}
} // namespace

int main(int argc, char *argv[])
{
    ProcessHardening::apply();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("framehousectl"));
    QCoreApplication::setApplicationVersion(QStringLiteral(FRAMEHOUSE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        tr("Framehouse command line.\n\nCommands:\n%1\n\n%2\n\n%3\n\n%4\n\n%5\n\n%6\n\n%7\n\n"
           "%8\n\n"
           "Exit codes: 0 ok, 1 failed, 2 usage error, 3 verification failed.\n"
           "'framehousectl GROUP COMMAND --help' shows one command.")
            .arg(StoreCommands::synopsis(), KeyCommands::synopsis(), AuditCommands::synopsis(),
                 SettingsCommands::synopsis(), JobCommands::synopsis(), FarmCommands::synopsis(),
                 ApiCommands::synopsis(), VerifyCommand::synopsis()));
    const QCommandLineOption help = parser.addHelpOption();
    const QCommandLineOption version = parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("group"),
                                 tr("store, keys, audit, settings, jobs, farm, api or verify"));
    parser.addPositionalArgument(QStringLiteral("command"), tr("see Commands above"));
    parser.addOption({QStringLiteral("json"), tr("machine-readable output (JSON).")});
    StoreOptions::addTo(parser);
    StoreCommands::addOptions(parser);
    KeyCommands::addOptions(parser);
    AuditCommands::addOptions(parser);
    JobCommands::addOptions(parser);
    FarmCommands::addOptions(parser);
    ApiCommands::addOptions(parser);
    VerifyCommand::addOptions(parser);

    if (!parser.parse(QCoreApplication::arguments()))
        return CtlOutput::report(parser.errorText(), CtlOutput::Usage);
    if (parser.isSet(version)) {
        parser.showVersion();
        return CtlOutput::Success;
    }
    const QStringList words = parser.positionalArguments();
    const QString group = words.value(0);
    if (parser.isSet(help)) {
        const QString one = helpFor(words);
        CtlOutput::out() << (one.isEmpty() ? parser.helpText() : one + u'\n');
        CtlOutput::out().flush();
        return CtlOutput::Success;
    }
    if (words.isEmpty()) {
        CtlOutput::err() << parser.helpText();
        CtlOutput::err().flush();
        return CtlOutput::Usage;
    }
    if (synopsisOf(group).isEmpty())
        return CtlOutput::report(
            tr("unknown command group '%1'; one of store, keys, audit, settings, jobs, farm, api, "
               "verify "
               "(see 'framehousectl --help')")
                .arg(group),
            CtlOutput::Usage);
    if (words.size() < 2)
        return CtlOutput::unknownCommand(group, {});

    StoreCommands store;
    KeyCommands keys;
    AuditCommands audit;
    SettingsCommands settings;
    JobCommands jobs;
    FarmCommands farm;
    ApiCommands api;
    VerifyCommand verify;
    int exitCode = 0;
    const auto finished = [&](int code) {
        exitCode = code;
        QCoreApplication::exit(code);
    };
    QTimer::singleShot(0, &app, [&] {
        const QStringList rest = words.mid(1);
        if (group == QLatin1String("store")) {
            if (rest.size() != 1)
                finished(CtlOutput::report(tr("store takes one command"), CtlOutput::Usage));
            else
                store.run(rest.first(), parser, finished);
        } else if (group == QLatin1String("keys")) {
            keys.run(rest, parser, finished);
        } else if (group == QLatin1String("audit")) {
            audit.run(rest, parser, finished);
        } else if (group == QLatin1String("jobs")) {
            jobs.run(rest, parser, finished);
        } else if (group == QLatin1String("farm")) {
            farm.run(rest, parser, finished);
        } else if (group == QLatin1String("api")) {
            api.run(rest, parser, finished);
        } else if (group == QLatin1String("verify")) {
            verify.run(rest, parser, finished);
        } else {
            settings.run(rest, parser, finished);
        }
    });
    app.exec();
    return exitCode;
}
