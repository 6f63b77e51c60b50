#include "enginefixture.h"

#include "jobs/farmroots.h"
#include "jobs/farmstate.h"
#include "jobs/jobqueue.h"
#include "jobs/presets.h"
#include "store/storesettings.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QTest>

#include <csignal>

EngineFixture::EngineFixture()
{
    TestSupport::writeKeyFile(path(QStringLiteral("store.key")));
    QDir(m_dir.path()).mkpath(QStringLiteral("in"));
    QDir(m_dir.path()).mkpath(QStringLiteral("out"));
    TestSupport::Run init = TestSupport::runCtl(
        QStringList{QStringLiteral("store"), QStringLiteral("init")} + storeArgs());
    if (init.exitCode != 0)
        qFatal("store init failed: %s", qPrintable(init.err));
    StoreRequest request;
    request.directory = path(QStringLiteral("store"));
    request.keyFile = path(QStringLiteral("store.key"));
    request.exclusive = false;
    Expected<OpenedStore> opened = TestSupport::openStore(request);
    if (!opened)
        qFatal("cannot open the store: %s", qPrintable(opened.error()));
    m_opened = opened.value();
    m_secrets = TestSupport::loadSecrets(m_opened, false);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const QString actor = QStringLiteral("operator:test");
    if (!FarmRoots::add(db(), audit(), FarmRoots::Kind::Input, inputDir(), actor, now) ||
        !FarmRoots::add(db(), audit(), FarmRoots::Kind::Output, outputDir(), actor, now))
        qFatal("cannot add the roots");
}

EngineFixture::~EngineFixture()
{
    if (m_engine && m_engine->state() != QProcess::NotRunning)
        stopEngine();
    QFile log(path(QStringLiteral("engine.log")));
    if (log.open(QIODevice::ReadOnly))
        TestSupport::recordOutput(QStringLiteral("framehoused log (farm)"),
                                  QString::fromUtf8(log.readAll()));
    m_opened.store->closeAll();
}

QStringList EngineFixture::storeArgs() const
{
    return {QStringLiteral("--store"), path(QStringLiteral("store")), QStringLiteral("--key-file"),
            path(QStringLiteral("store.key"))};
}

bool EngineFixture::startEngine(const QStringList &extraArguments)
{
    m_engine = std::make_unique<QProcess>();
    m_engine->setProcessChannelMode(QProcess::ForwardedErrorChannel);
    const qint64 started = QDateTime::currentMSecsSinceEpoch();
    m_engine->start(
        QStringLiteral(FRAMEHOUSED_PATH),
        storeArgs() + TestSupport::anyApiPort() +
            QStringList{QStringLiteral("--log-file"), path(QStringLiteral("engine.log"))} +
            extraArguments);
    if (!m_engine->waitForStarted())
        return false;
    QDeadlineTimer deadline(60000);
    while (!deadline.hasExpired() && m_engine->state() == QProcess::Running) {
        Expected<QJsonObject> pool = FarmState::get(db(), FarmState::Pool);
        if (pool && pool->value(QLatin1StringView("updated_at")).toInteger() >= started &&
            pool->value(QLatin1StringView("engine_pid")).toInteger() == m_engine->processId() &&
            apiPort() != 0)
            return true;
        QTest::qWait(50);
    }
    qWarning("framehoused did not start: %s", qPrintable(engineLog()));
    return false;
}

bool EngineFixture::stopEngine()
{
    // processId() is 0 once the engine has exited: kill(0) would signal the
    // whole process group, the test included.
    if (!m_engine || m_engine->state() == QProcess::NotRunning || m_engine->processId() <= 0)
        return m_engine && m_engine->exitStatus() == QProcess::NormalExit &&
               m_engine->exitCode() == 0;
    ::kill(pid_t(m_engine->processId()), SIGTERM);
    const bool exited = m_engine->waitForFinished(60000);
    return exited && m_engine->exitStatus() == QProcess::NormalExit && m_engine->exitCode() == 0;
}

void EngineFixture::killEngine()
{
    if (!m_engine || m_engine->state() == QProcess::NotRunning || m_engine->processId() <= 0)
        return;
    ::kill(pid_t(m_engine->processId()), SIGKILL);
    m_engine->waitForFinished(30000);
}

quint16 EngineFixture::apiPort() const
{
    static const QRegularExpression listening(
        QStringLiteral("API listening on https://127\\.0\\.0\\.1:(\\d+)"));
    QRegularExpressionMatch last;
    QRegularExpressionMatchIterator it = listening.globalMatch(engineLog());
    while (it.hasNext())
        last = it.next();
    return last.hasMatch() ? quint16(last.captured(1).toUInt()) : 0;
}

QString EngineFixture::apiUrl() const
{
    return QStringLiteral("https://127.0.0.1:%1").arg(apiPort());
}

qint64 EngineFixture::enginePid() const { return m_engine ? m_engine->processId() : 0; }

QString EngineFixture::engineLog() const
{
    QFile log(path(QStringLiteral("engine.log")));
    return log.open(QIODevice::ReadOnly) ? QString::fromUtf8(log.readAll()) : QString();
}

QSqlDatabase EngineFixture::db() const { return m_opened.store->connection().value(); }

const AuditLog &EngineFixture::audit() const { return *m_secrets.audit; }

Expected<Job> EngineFixture::submit(const QString &preset, const QString &input,
                                    const QString &output,
                                    const QList<QPair<QString, QString>> &overrides,
                                    const QString &actor)
{
    const QJsonObject in{{QStringLiteral("path"), QString(inputDir() + u'/' + input)}};
    const QJsonObject out{{QStringLiteral("directory"), outputDir()},
                          {QStringLiteral("name"), output}};
    Expected<JobSpec> spec = Presets::compose(preset, overrides, in, out);
    if (!spec)
        return spec.failure();
    Expected<void> allowed = FarmRoots::check(db(), spec.value());
    if (!allowed)
        return allowed.failure();
    JobQueue::NewJob job;
    job.name = output;
    job.preset = preset;
    job.spec = spec->toJson();
    job.priority = spec->priority;
    return JobQueue(m_secrets.audit)
        .submit(db(), job, actor.isEmpty() ? QStringLiteral("operator:test") : actor,
                QDateTime::currentMSecsSinceEpoch());
}

Expected<void> EngineFixture::setSetting(const QString &key, const QString &value)
{
    return StoreSettings::set(db(), audit(), key, value, QStringLiteral("operator:test"),
                              QDateTime::currentMSecsSinceEpoch());
}

Expected<Job> EngineFixture::job(qint64 id) const
{
    return JobQueue(m_secrets.audit).find(db(), id);
}

bool EngineFixture::waitFinal(const QList<qint64> &ids, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        bool all = true;
        for (qint64 id : ids) {
            Expected<Job> j = job(id);
            all = all && j && j->isFinal();
        }
        if (all)
            return true;
        QTest::qWait(100);
    }
    return false;
}

bool EngineFixture::waitState(qint64 id, Job::State state, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        Expected<Job> j = job(id);
        if (j && j->state == state)
            return true;
        QTest::qWait(50);
    }
    return false;
}

QStringList EngineFixture::events(qint64 id) const
{
    QStringList lines;
    Expected<QList<JobQueue::Event>> all = JobQueue(m_secrets.audit).events(db(), id);
    if (all) {
        for (const JobQueue::Event &e : all.value())
            lines << e.kind + QStringLiteral(": ") + e.message;
    }
    return lines;
}

int EngineFixture::auditCount(const QString &action, const QString &uuid) const
{
    QSqlQuery q(db());
    q.prepare(QStringLiteral("SELECT count(*) FROM audit_records WHERE action = ? AND target = ?"));
    q.addBindValue(action);
    q.addBindValue(uuid);
    if (!q.exec() || !q.next())
        return -1;
    return q.value(0).toInt();
}

int EngineFixture::verifyAudit() const
{
    return TestSupport::runCtl(QStringList{QStringLiteral("audit"), QStringLiteral("verify")} +
                               storeArgs())
        .exitCode;
}
