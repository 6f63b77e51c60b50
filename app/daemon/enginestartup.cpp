#include "enginestartup.h"

#include "audit/auditverifier.h"
#include "security/configguard.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QLoggingCategory>

namespace {
Q_LOGGING_CATEGORY(engineCategory, "framehouse.engine")

QString tr(const char *text) { return QCoreApplication::translate("EngineStartup", text); }

// The secret files the guard checks: the store key's and, beside it, the
// pepper's and the audit key's (none for the keychain). On first start they
// do not exist yet.
QList<ConfigGuard::SecretFile> secretFiles(const StoreRequest &request)
{
    const StoreKeySource source = StoreKeySource::select(request.keyFile, QString());
    if (source.kind() == StoreKeySource::Kind::Keychain)
        return {};
    const bool keyFile = source.kind() == StoreKeySource::Kind::KeyFile;
    return {
        {keyFile ? tr("store key file") : tr("store key credential"), source.keyFilePath(),
         !QFileInfo::exists(source.keyFilePath()),
         keyFile ? tr("rotate the key with 'framehousectl store rekey'") : QString()},
        {tr("API-key pepper"), source.companionFilePath(EngineSecrets::PepperName), true, {}},
        {tr("audit key"), source.companionFilePath(EngineSecrets::AuditKeyName), true, {}},
    };
}

AuditEvent engineEvent(const QString &action)
{
    AuditEvent event;
    event.actor = AuditEvent::systemActor();
    event.action = action;
    event.details = {{QStringLiteral("pid"), QCoreApplication::applicationPid()},
                     {QStringLiteral("version"), QCoreApplication::applicationVersion()}};
    return event;
}
} // namespace

EngineStartup::EngineStartup(QObject *parent)
    : QObject(parent)
{}

void EngineStartup::start(const QString &configFile, const QString &listen,
                          const StoreRequest &request, Done done)
{
    if (!configFile.isEmpty()) {
        Expected<EngineSettings> settings = EngineSettings::load(configFile);
        if (!settings) {
            qCCritical(engineCategory, "%s", qUtf8Printable(settings.error()));
            done(ConfigurationRefused);
            return;
        }
        m_engine.settings = settings.value();
    }
    if (!listen.isEmpty()) {
        Expected<void> set = m_engine.settings.setListen(listen);
        if (!set) {
            qCCritical(engineCategory, "--listen: %s", qUtf8Printable(set.error()));
            done(ConfigurationRefused);
            return;
        }
    }
    const QList<ConfigGuard::Problem> problems =
        ConfigGuard::check(m_engine.settings, secretFiles(request));
    if (!problems.isEmpty()) {
        for (const ConfigGuard::Problem &problem : problems)
            qCCritical(engineCategory, "refusing to start: %s — fix: %s",
                       qUtf8Printable(problem.problem), qUtf8Printable(problem.fix));
        done(ConfigurationRefused);
        return;
    }

    StoreOpener::open(request, this, [this, done](Expected<OpenedStore> opened) {
        if (!opened) {
            qCCritical(engineCategory, "%s", qUtf8Printable(opened.error()));
            done(Failed);
            return;
        }
        m_engine.store = std::move(opened.value());
        EngineSecrets::load(m_engine.store, true, this, [this, done](Expected<EngineSecrets> s) {
            if (!s) {
                qCCritical(engineCategory, "%s", qUtf8Printable(s.error()));
                done(Failed);
                return;
            }
            m_engine.secrets = std::move(s.value());
            const AuditLog &audit = *m_engine.secrets.audit;
            Expected<QSqlDatabase> db = m_engine.store.store->connection();
            Expected<std::optional<AuditTip>> anchor =
                db ? audit.anchor().read() : Expected<std::optional<AuditTip>>(db.failure());
            Expected<void> checked = anchor ? AuditVerifier::checkAnchor(db.value(), anchor.value(),
                                                                         audit.anchor().describe())
                                            : Expected<void>(anchor.failure());
            if (!checked) {
                qCCritical(engineCategory, "refusing to start: %s",
                           qUtf8Printable(checked.error()));
                done(Failed);
                return;
            }
            AuditEvent started = engineEvent(QStringLiteral("engine.started"));
            started.details.insert(QStringLiteral("api_listen"), m_engine.settings.listen());
            started.details.insert(QStringLiteral("api_enabled"), m_engine.settings.apiEnabled);
            Expected<AuditRecord> written =
                audit.record(db.value(), started, QDateTime::currentMSecsSinceEpoch());
            if (!written) {
                qCCritical(engineCategory, "%s", qUtf8Printable(written.error()));
                done(Failed);
                return;
            }
            m_running = true;
            qCInfo(engineCategory, "store %s open, key in %s, pid %lld",
                   qUtf8Printable(m_engine.store.store->databasePath()),
                   qUtf8Printable(m_engine.store.keySource->describe()),
                   QCoreApplication::applicationPid());
            done(0);
        });
    });
}

void EngineStartup::stop(const QString &why)
{
    if (!m_running)
        return;
    m_running = false;
    {
        AuditEvent stopped = engineEvent(QStringLiteral("engine.stopped"));
        stopped.details.insert(QStringLiteral("reason"), why);
        Expected<QSqlDatabase> db = m_engine.store.store->connection();
        Expected<AuditRecord> written =
            db ? m_engine.secrets.audit->record(db.value(), stopped,
                                                QDateTime::currentMSecsSinceEpoch())
               : Expected<AuditRecord>(db.failure());
        if (!written)
            qCCritical(engineCategory, "cannot record the engine stop: %s",
                       qUtf8Printable(written.error()));
    }
    qCInfo(engineCategory, "stopped (%s)", qUtf8Printable(why));
    m_engine = {};
}
