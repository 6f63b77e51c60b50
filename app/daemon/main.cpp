#include "engine/storeoptions.h"
#include "security/processhardening.h"
#include "signalwatcher.h"
#include "store/migrations.h"

#include <QCoreApplication>
#include <QTextStream>
#include <QTimer>

// The headless engine. For now it owns the store (lock, key, migrations)
// until it is told to stop; the farm and the API join it in later releases.
int main(int argc, char *argv[])
{
    ProcessHardening::apply();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("framehoused"));
    QCoreApplication::setApplicationVersion(QStringLiteral(FRAMEHOUSE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QCoreApplication::translate("main", "Framehouse engine (headless)."));
    parser.addHelpOption();
    parser.addVersionOption();
    StoreOptions::addTo(parser);
    parser.process(app);

    QTextStream err(stderr);
    StoreRequest request = StoreOptions::requestFrom(parser);
    request.exclusive = true;
    request.createIfMissing = true;

    SignalWatcher signals;
    OpenedStore engineStore;
    int exitCode = 0;
    QObject::connect(&signals, &SignalWatcher::terminationRequested, &app, [&](int signal) {
        err << QCoreApplication::translate("main", "framehoused: signal %1, stopping").arg(signal)
            << Qt::endl;
        QCoreApplication::exit(0);
    });
    QTimer::singleShot(0, &app, [&] {
        StoreOpener::open(request, &app, [&](Expected<OpenedStore> opened) {
            if (!opened) {
                err << QCoreApplication::translate("main", "framehoused: error: %1")
                           .arg(opened.error())
                    << Qt::endl;
                exitCode = 1;
                QCoreApplication::exit(1);
                return;
            }
            engineStore = std::move(opened.value());
            err << QCoreApplication::translate("main",
                                               "framehoused: store %1 open (schema %2, key in "
                                               "%3), pid %4")
                       .arg(engineStore.store->databasePath())
                       .arg(Migrations::latestVersion())
                       .arg(engineStore.keySource->describe())
                       .arg(QCoreApplication::applicationPid())
                << Qt::endl;
        });
    });
    const int loopCode = app.exec();
    engineStore = {};
    return exitCode ? exitCode : loopCode;
}
