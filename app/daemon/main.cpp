#include "api/apiconfig.h"
#include "api/apiserver.h"
#include "api/apiservices.h"
#include "engine/logsink.h"
#include "engine/storeoptions.h"
#include "enginestartup.h"
#include "security/processhardening.h"
#include "signalwatcher.h"
#include "supervisor/farm.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QTextStream>
#include <QTimer>

// The headless engine: the store (lock, key, migrations, audit), the farm
// and the HTTPS API, until it is told to stop.
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
    parser.addOption({QStringLiteral("config"),
                      QCoreApplication::translate(
                          "main", "Engine settings, an INI file (default: $FRAMEHOUSE_CONFIG)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("log-file"),
                      QCoreApplication::translate("main", "Also append the JSON log lines to FILE "
                                                          "(default: $FRAMEHOUSE_LOG_FILE)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("listen"),
                      QCoreApplication::translate(
                          "main", "The API's address and port, e.g. 127.0.0.1:8443 or [::1]:8443 "
                                  "(default: [api] listen in the settings, else 127.0.0.1:8443)."),
                      QStringLiteral("ADDR:PORT")});
    parser.process(app);

    const auto optionOrEnv = [&](const char *option, const char *variable) {
        const QString name = QString::fromLatin1(option);
        return parser.isSet(name) ? parser.value(name) : qEnvironmentVariable(variable);
    };
    Expected<void> logging = LogSink::install(optionOrEnv("log-file", "FRAMEHOUSE_LOG_FILE"));
    if (!logging) {
        QTextStream(stderr) << QStringLiteral("framehoused: error: ") << logging.error()
                            << Qt::endl;
        return EngineStartup::Failed;
    }

    StoreRequest request = StoreOptions::requestFrom(parser);
    request.exclusive = true;
    request.createIfMissing = true;

    SignalWatcher signals;
    EngineStartup engine;
    Farm farm;
    std::shared_ptr<ApiServices> apiServices;
    std::unique_ptr<ApiServer> api;
    int exitCode = 0;
    bool stopping = false;
    // The API first (no new work), then the workers (their jobs go back to
    // the queue), then the store.
    auto shutdown = [&](const QString &why, int code) {
        if (stopping)
            return;
        stopping = true;
        if (api) {
            api->stop();
            api.reset();
        }
        if (apiServices)
            apiServices->farmRunning = false;
        farm.stop([&, why, code] {
            engine.stop(why);
            exitCode = code;
            QCoreApplication::exit(code);
        });
    };
    QObject::connect(&signals, &SignalWatcher::terminationRequested, &app,
                     [&](int signal) { shutdown(QStringLiteral("signal %1").arg(signal), 0); });
    QTimer::singleShot(0, &app, [&] {
        engine.start(
            optionOrEnv("config", "FRAMEHOUSE_CONFIG"), parser.value(QStringLiteral("listen")),
            request, [&](int code) {
                if (code != 0) {
                    exitCode = code;
                    QCoreApplication::exit(code);
                    return;
                }
                if (stopping)
                    return; // a signal came while the store was opening
                const EngineStartup::Engine &running = engine.engine();
                Supervisor::Config config;
                config.workerProgram = Farm::workerProgram();
                config.owner = QStringLiteral("engine-%1-%2")
                                   .arg(QCoreApplication::applicationPid())
                                   .arg(QDateTime::currentMSecsSinceEpoch());
                config.uploadsDirectory =
                    QFileInfo(running.store.store->databasePath()).absolutePath() +
                    QStringLiteral("/uploads");
                farm.start(running.store.store.get(), running.secrets.audit, config);
                if (!running.settings.apiEnabled)
                    return;
                Expected<QSqlDatabase> db = running.store.store->connection();
                Expected<ApiConfig> apiConfig =
                    db ? ApiConfig::load(running.settings, db.value(), config.uploadsDirectory)
                       : Expected<ApiConfig>(db.failure());
                if (!apiConfig) {
                    qCritical().noquote() << "cannot start the API:" << apiConfig.error();
                    shutdown(QStringLiteral("the API could not start"), EngineStartup::Failed);
                    return;
                }
                apiServices =
                    std::make_shared<ApiServices>(apiConfig.value(), running.store.store.get(),
                                                  running.secrets.audit, running.secrets.pepper);
                apiServices->wakeFarm = [&farm] { farm.wake(); };
                apiServices->farmRunning = true;
                api = std::make_unique<ApiServer>(apiServices);
                Expected<void> listening = api->start();
                if (!listening) {
                    qCritical().noquote() << "cannot start the API:" << listening.error();
                    api.reset();
                    shutdown(QStringLiteral("the API could not start"), EngineStartup::Failed);
                }
            });
    });
    const int loopCode = app.exec();
    LogSink::uninstall();
    return exitCode ? exitCode : loopCode;
}
