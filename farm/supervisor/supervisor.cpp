#include "supervisor.h"

#include "audit/auditlog.h"
#include "hw/encoderchoice.h"
#include "jobs/farmroots.h"
#include "jobs/farmstate.h"
#include "outputfile.h"
#include "security/redactor.h"
#include "store/store.h"
#include "store/storesettings.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSqlQuery>
#include <QThread>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(farmCategory, "framehouse.farm")

namespace {

constexpr qint64 SettingsEveryMs = 1000;
constexpr qint64 ReclaimEveryMs = 5000;
constexpr qint64 PublishEveryMs = 2000;
constexpr qint64 RetentionEveryMs = 3600 * 1000;
constexpr int ProbeTimeoutMs = 60000;
} // namespace

struct Supervisor::Attempt {
    quint64 serial = 0;
    QString owner; // the lease owner: this engine and this attempt
    Job job;
    JobSpec spec;
    int inputFd = -1;
    std::unique_ptr<OutputFile> output;
    std::unique_ptr<WorkerProcess> worker;
    EncoderChoice choice;
    bool softwareOnly = false;
    bool firstFrameNoted = false;
    bool lost = false; // cancelled or taken away: end without a transition
    QString encoder;
    bool hardware = false;
    qint64 expectedUs = 0;
    JobQueue::Progress progress;

    ~Attempt()
    {
        worker.reset(); // kills a worker still running before its fds go
        if (inputFd >= 0)
            ::close(inputFd);
    }
};

Supervisor::Supervisor(Store *store, std::shared_ptr<const AuditLog> audit, Config config,
                       QObject *parent)
    : QObject(parent)
    , m_store(store)
    , m_audit(std::move(audit))
    , m_config(std::move(config))
    , m_ticker(this) // a child, so that it moves to the farm thread with us
{
    m_ticker.setInterval(m_config.tickMs);
    connect(&m_ticker, &QTimer::timeout, this, &Supervisor::tick);
}

Supervisor::~Supervisor() { qDeleteAll(m_attempts); }

int Supervisor::defaultPoolSize()
{
    // Each libx264/libx265 worker already spreads over every core with its
    // own threads; two processes per two cores keep the cores busy while one
    // of them is in a single-threaded phase (demuxing, audio, muxing,
    // verification). tests/bench/bench_farm.sh measures this against plain
    // ffmpeg runs (docs/farm.md).
    return std::max(1, QThread::idealThreadCount());
}

qint64 Supervisor::now() const { return QDateTime::currentMSecsSinceEpoch(); }

JobQueue Supervisor::queue() const { return JobQueue(m_audit, m_maxAttempts); }

int Supervisor::poolSize() const
{
    return m_config.poolSize > 0 ? m_config.poolSize : defaultPoolSize();
}

void Supervisor::logProblem(const QString &message) const
{
    qCWarning(farmCategory).noquote() << message;
}

void Supervisor::start()
{
    Expected<QSqlDatabase> db = m_store->connection();
    if (db) {
        readSettings(db.value());
        Expected<int> orphans = queue().reclaimOrphans(db.value(), now());
        if (!orphans)
            logProblem(orphans.error());
        else if (orphans.value() > 0)
            qCInfo(farmCategory).noquote()
                << tr("%1 job(s) left running by the previous engine are queued again")
                       .arg(orphans.value());
    } else {
        logProblem(db.error());
    }
    probeHardware();
    m_ticker.start();
}

void Supervisor::stop(std::function<void()> done)
{
    m_stopping = true;
    m_stopped = std::move(done);
    for (Attempt *attempt : std::as_const(m_attempts))
        attempt->worker->stop(tr("the engine is stopping"), true, m_config.stopGraceMs);
    tick();
}

void Supervisor::wake()
{
    if (!m_stopping && m_probed)
        tick();
}

void Supervisor::probeHardware()
{
    auto *probe = new QProcess(this);
    probe->setProgram(m_config.workerProgram);
    probe->setArguments({QStringLiteral("--probe")});
    probe->setProcessChannelMode(QProcess::SeparateChannels);
    auto *timeout = new QTimer(probe);
    timeout->setSingleShot(true);
    connect(timeout, &QTimer::timeout, probe, [probe] { probe->kill(); });
    connect(probe, &QProcess::finished, this, [this, probe](int, QProcess::ExitStatus) {
        probe->deleteLater();
        if (m_stopping)
            return;
        CapabilityMatrix matrix;
        const QByteArray line = probe->readAllStandardOutput().trimmed();
        const QJsonObject json = QJsonDocument::fromJson(line).object();
        if (json.value(QLatin1StringView("type")).toString() == QLatin1String("capabilities"))
            matrix = CapabilityMatrix::fromJson(json);
        else
            logProblem(tr("the hardware probe gave no result; encoding in software only"));
        matrix.probedAt = now();
        m_matrix = matrix;
        m_probed = true;
        if (Expected<QSqlDatabase> db = m_store->connection()) {
            Expected<void> saved =
                FarmState::put(db.value(), FarmState::Capabilities, matrix.toJson(), now());
            if (!saved)
                logProblem(saved.error());
        }
        tick();
    });
    connect(probe, &QProcess::errorOccurred, this, [this, probe](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart)
            return;
        logProblem(tr("cannot start %1: %2").arg(m_config.workerProgram, probe->errorString()));
        m_probed = true;
        probe->deleteLater();
    });
    timeout->start(ProbeTimeoutMs);
    probe->start();
}

void Supervisor::readSettings(QSqlDatabase db)
{
    const auto setting = [&](QLatin1StringView key, qint64 fallback) {
        Expected<qint64> value = StoreSettings::value(db, key);
        return value ? value.value() : fallback;
    };
    m_paused = setting(StoreSettings::FarmPaused, 0) != 0;
    m_maxAttempts = int(setting(StoreSettings::FarmMaxAttempts, 3));
    m_nvencSessions = int(setting(StoreSettings::FarmNvencSessions, 8));
    m_jobTimeoutMs = setting(StoreSettings::FarmJobTimeoutMinutes, 360) * 60000;
    m_stallTimeoutMs = setting(StoreSettings::FarmStallTimeoutSeconds, 120) * 1000;
    m_workerMemoryMb = setting(StoreSettings::FarmWorkerMemoryMb, 8192);
    m_maxOutputMb = setting(StoreSettings::FarmMaxOutputMb, 65536);
    if (m_config.poolSize <= 0) {
        const int configured = int(setting(StoreSettings::FarmWorkers, 0));
        m_config.poolSize = configured > 0 ? configured : -1;
    }
}

void Supervisor::tick()
{
    if (m_stopping) {
        if (m_attempts.isEmpty() && m_stopped) {
            m_ticker.stop();
            publishPool();
            std::exchange(m_stopped, nullptr)();
        }
        return;
    }
    if (!m_probed)
        return;
    const qint64 t = now();
    Expected<QSqlDatabase> connection = m_store->connection();
    if (!connection) {
        logProblem(connection.error());
        return;
    }
    QSqlDatabase db = connection.value();
    if (t - m_lastSettingsRead >= SettingsEveryMs) {
        m_lastSettingsRead = t;
        readSettings(db);
    }
    if (t - m_lastHeartbeat >= m_config.heartbeatMs) {
        m_lastHeartbeat = t;
        heartbeats();
    }
    if (t - m_lastReclaim >= ReclaimEveryMs) {
        m_lastReclaim = t;
        Expected<int> reclaimed = queue().reclaimExpired(db, t);
        if (!reclaimed)
            logProblem(reclaimed.error());
    }
    if (t - m_lastRetention >= RetentionEveryMs) {
        m_lastRetention = t;
        removeExpiredOutputs();
    }
    if (!m_paused && m_attempts.size() < poolSize() && queueHasWork(db, t)) {
        while (m_attempts.size() < poolSize()) {
            Expected<void> leased = leaseOne();
            if (!leased) {
                if (!leased.error().isEmpty())
                    logProblem(leased.error());
                break;
            }
        }
    }
    if (t - m_lastPublish >= PublishEveryMs) {
        m_lastPublish = t;
        publishPool();
    }
}

bool Supervisor::queueHasWork(QSqlDatabase db, qint64 t) const
{
    // A read, no write lock: the idle farm looks often and leases only when
    // something is there (the lease itself still decides).
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND "
                             "(not_before IS NULL OR not_before <= ?))"));
    q.addBindValue(t);
    return !q.exec() || !q.next() || q.value(0).toBool();
}

Expected<void> Supervisor::leaseOne()
{
    Expected<QSqlDatabase> connection = m_store->connection();
    if (!connection)
        return connection.failure();
    QSqlDatabase db = connection.value();
    const JobQueue jobs = queue();
    auto attempt = std::make_unique<Attempt>();
    attempt->serial = ++m_lastSerial;
    attempt->owner = m_config.owner + u'/' + QString::number(attempt->serial);
    Expected<std::optional<Job>> leased = jobs.lease(db, attempt->owner, m_config.leaseMs, now());
    if (!leased)
        return leased.failure();
    if (!leased.value())
        return fail(QString()); // nothing queued
    attempt->job = *leased.value();
    const Job &job = attempt->job;

    Expected<JobSpec> spec = JobSpec::fromJson(job.spec);
    if (!spec) {
        failAtOnce(*attempt, tr("the stored spec is not valid: %1").arg(spec.error()));
        return {};
    }
    attempt->spec = spec.value();
    // The roots as they are now (one may have been removed since the
    // submission); both files are checked by their open descriptors.
    Expected<QStringList> inputRoots = FarmRoots::list(db, FarmRoots::Kind::Input);
    Expected<QStringList> outputRoots = FarmRoots::list(db, FarmRoots::Kind::Output);
    if (!inputRoots || !outputRoots) {
        failAtOnce(*attempt, !inputRoots ? inputRoots.error() : outputRoots.error());
        return {};
    }
    Expected<int> input = openInput(attempt->spec, inputRoots.value());
    if (!input) {
        failAtOnce(*attempt, input.error());
        return {};
    }
    attempt->inputFd = input.value();
    attempt->output = std::make_unique<OutputFile>();
    Expected<void> created = attempt->output->create(attempt->spec.outputDirectory,
                                                     outputRoots.value(), attempt->spec.outputName,
                                                     job.uuid, QString::number(attempt->serial));
    if (!created && created.code() == OutputFile::Refused) {
        failAtOnce(*attempt, created.error());
        return {};
    }
    if (!created) {
        JobQueue::Outcome outcome;
        outcome.retryable = true;
        outcome.error = created.error();
        Expected<Job> finished = jobs.finish(db, job.id, attempt->owner, outcome, now());
        if (!finished)
            logProblem(finished.error());
        return {};
    }
    Attempt *raw = attempt.release();
    m_attempts.insert(raw->serial, raw);
    launch(*raw, raw->spec.hardware == JobSpec::Hardware::Software);
    return {};
}

Expected<int> Supervisor::openInput(const JobSpec &spec, const QStringList &inputRoots) const
{
    QString path = spec.inputPath;
    QStringList roots = inputRoots;
    if (!spec.inputUpload.isEmpty()) {
        path = m_config.uploadsDirectory + u'/' + spec.inputUpload;
        roots = {QFileInfo(m_config.uploadsDirectory).canonicalFilePath()};
    }
    // Non-blocking, so that a FIFO swapped in cannot hang the farm thread;
    // then checked by what the descriptor is, not by the name opened.
    const int fd =
        ::open(path.toLocal8Bit().constData(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return fail(
            tr("cannot open the input: %1").arg(QString::fromLocal8Bit(std::strerror(errno))));
    struct stat info {};
    Expected<QString> inside =
        FarmRoots::resolveInside(OutputFile::descriptorPath(fd), roots, FarmRoots::Kind::Input);
    if (!inside || ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        ::close(fd);
        return fail(inside ? tr("input.path: not a regular file")
                           : QStringLiteral("input.path: ") + inside.error());
    }
    return fd;
}

void Supervisor::launch(Attempt &attempt, bool softwareOnly)
{
    attempt.softwareOnly = softwareOnly;
    attempt.choice = EncoderChoice::choose(
        attempt.spec.videoCodec, softwareOnly ? JobSpec::Hardware::Software : attempt.spec.hardware,
        m_matrix, nvencInUse() < m_nvencSessions);
    const EncoderChoice &choice = attempt.choice;
    WorkerRequest request;
    request.job = attempt.job.id;
    request.spec = attempt.spec;
    request.encoders = choice;
    const bool mayUseHardware =
        std::any_of(choice.candidates.cbegin(), choice.candidates.cend(),
                    [](const EncoderChoice::Candidate &candidate) { return candidate.hardware; });
    request.addressSpaceMb = mayUseHardware ? 0 : m_workerMemoryMb;
    request.fileSizeMb = m_maxOutputMb;
    // CPU seconds of all threads together: the wall-clock limit on every core.
    request.cpuSeconds = m_jobTimeoutMs / 1000 * std::max(1, QThread::idealThreadCount());
    const quint64 serial = attempt.serial;
    attempt.worker = std::make_unique<WorkerProcess>(m_config.workerProgram);
    WorkerProcess *worker = attempt.worker.get();
    connect(worker, &WorkerProcess::started, this, [this, serial](const QJsonObject &message) {
        Attempt *a = m_attempts.value(serial);
        if (!a)
            return;
        const qint64 jobId = a->job.id;
        // Only a name the worker was offered: the worker parsed hostile
        // media, so its words are not taken into events and the audit.
        const QString encoder = message.value(QLatin1StringView("encoder")).toString();
        a->encoder.clear();
        for (const EncoderChoice::Candidate &candidate : std::as_const(a->choice.candidates)) {
            if (candidate.encoder == encoder)
                a->encoder = encoder;
        }
        a->hardware = message.value(QLatin1StringView("hardware")).toBool();
        a->expectedUs = message.value(QLatin1StringView("expected_duration_us")).toInteger();
        QStringList reasons;
        for (const QJsonValue &fallback : message.value(QLatin1StringView("fallbacks")).toArray()) {
            const QJsonObject f = fallback.toObject();
            reasons << f.value(QLatin1StringView("encoder")).toString().left(64) +
                           QStringLiteral(": ") +
                           f.value(QLatin1StringView("reason")).toString().left(400);
        }
        QString text = a->encoder.isEmpty()
                           ? tr("stream copy")
                           : tr("encoder %1 (%2)")
                                 .arg(a->encoder, a->hardware ? tr("hardware") : tr("software"));
        if (!reasons.isEmpty())
            text += tr("; not used: %1").arg(reasons.join(QStringLiteral("; ")));
        if (Expected<QSqlDatabase> db = m_store->connection()) {
            Expected<void> noted = queue().note(db.value(), jobId, QStringLiteral("encoder"),
                                                Redactor::text(text), now());
            if (!noted)
                logProblem(noted.error());
        }
    });
    connect(worker, &WorkerProcess::progressed, this, [this, serial](const QJsonObject &message) {
        Attempt *a = m_attempts.value(serial);
        if (!a)
            return;
        const qint64 jobId = a->job.id;
        if (!a->firstFrameNoted) {
            a->firstFrameNoted = true;
            const qint64 t = now();
            if (Expected<QSqlDatabase> db = m_store->connection()) {
                Expected<void> noted = queue().note(
                    db.value(), jobId, QStringLiteral("first_frame"),
                    tr("first frame %1 ms after submission").arg(t - a->job.submittedAt), t);
                if (!noted)
                    logProblem(noted.error());
            }
        }
        a->progress.fps = message.value(QLatin1StringView("fps")).toDouble();
        a->progress.speed = message.value(QLatin1StringView("speed")).toDouble();
        const double outUs = message.value(QLatin1StringView("out_time_us")).toDouble();
        if (a->expectedUs > 0)
            a->progress.fraction = std::clamp(outUs / double(a->expectedUs), 0.0, 1.0);
    });
    connect(
        worker, &WorkerProcess::ended, this,
        [this, serial](const WorkerProcess::End &end) { attemptEnded(serial, end); },
        Qt::QueuedConnection);
    worker->start(request, attempt.inputFd, attempt.output->fd());
    attempt.progress.workerPid = worker->pid();
}

int Supervisor::nvencInUse() const
{
    int inUse = 0;
    for (const Attempt *attempt : m_attempts) {
        if (attempt->encoder.endsWith(QLatin1String("_nvenc")))
            ++inUse;
    }
    return inUse;
}

void Supervisor::heartbeats()
{
    Expected<QSqlDatabase> db = m_store->connection();
    if (!db)
        return;
    const JobQueue jobs = queue();
    for (Attempt *attempt : std::as_const(m_attempts)) {
        if (attempt->lost)
            continue;
        Expected<void> renewed = jobs.heartbeat(db.value(), attempt->job.id, attempt->owner,
                                                m_config.leaseMs, attempt->progress, now());
        if (!renewed) {
            if (renewed.code() == JobQueue::WrongState) {
                // Cancelled, or taken away after the lease ran out.
                attempt->lost = true;
                attempt->worker->stop(tr("the job is no longer ours"), false, m_config.stopGraceMs);
            } else {
                logProblem(renewed.error());
            }
            continue;
        }
        if (m_jobTimeoutMs > 0 && attempt->worker->runningMs() > m_jobTimeoutMs)
            attempt->worker->stop(
                tr("the attempt ran longer than the wall-clock limit (%1 minutes)")
                    .arg(m_jobTimeoutMs / 60000),
                false, m_config.stopGraceMs);
        else if (m_stallTimeoutMs > 0 && attempt->worker->silentMs() > m_stallTimeoutMs)
            attempt->worker->stop(tr("the worker reported nothing for %1 s and was taken for hung")
                                      .arg(m_stallTimeoutMs / 1000),
                                  true, m_config.stopGraceMs);
    }
}

void Supervisor::attemptEnded(quint64 serial, const WorkerProcess::End &end)
{
    Attempt *attempt = m_attempts.value(serial);
    if (!attempt)
        return;
    const qint64 jobId = attempt->job.id;
    Expected<QSqlDatabase> connection = m_store->connection();
    if (!connection) {
        logProblem(connection.error());
        return;
    }
    QSqlDatabase db = connection.value();
    const JobQueue jobs = queue();
    const QString log = attempt->worker->log();
    if (!log.isEmpty()) {
        Expected<void> saved = jobs.appendLog(db, jobId, attempt->job.attempts, log, now());
        if (!saved)
            logProblem(saved.error());
    }
    if (attempt->lost) {
        attempt->output->discard();
    } else if (m_stopping && end.errorCode == WorkerProcess::Stopped) {
        attempt->output->discard();
        Expected<Job> released =
            jobs.release(db, jobId, attempt->owner, tr("the engine stopped"), now());
        if (!released)
            logProblem(released.error());
    } else if (end.finished) {
        Expected<QString> committed = attempt->output->commit();
        JobQueue::Outcome outcome;
        outcome.encoder = attempt->encoder;
        if (committed) {
            outcome.succeeded = true;
            outcome.outputPath = committed.value();
        } else {
            outcome.retryable = committed.code() != EEXIST;
            outcome.error = committed.error();
        }
        Expected<Job> finished = jobs.finish(db, jobId, attempt->owner, outcome, now());
        if (!finished) {
            // Cancelled or taken away meanwhile: the output goes. Any other
            // error (the store busy) keeps it: the lease runs out, the job
            // runs again and may replace its own output.
            if (committed &&
                (finished.code() == JobQueue::WrongState || finished.code() == JobQueue::NotFound))
                attempt->output->removeCommitted();
            else
                logProblem(finished.error());
        }
    } else if (end.hardwareFailed && !attempt->softwareOnly && !m_stopping) {
        Expected<void> noted =
            jobs.note(db, jobId, QStringLiteral("fallback"),
                      tr("hardware encoder %1 failed during the job (%2); trying again in software")
                          .arg(attempt->encoder, end.message),
                      now());
        if (!noted)
            logProblem(noted.error());
        Expected<void> created =
            attempt->output->recreate(QString::number(attempt->serial) + QStringLiteral("sw"));
        if (created) {
            attempt->worker.release()->deleteLater();
            attempt->encoder.clear();
            launch(*attempt, true);
            return;
        }
        JobQueue::Outcome outcome;
        outcome.retryable = true;
        outcome.error = created.error();
        Expected<Job> finished = jobs.finish(db, jobId, attempt->owner, outcome, now());
        if (!finished)
            logProblem(finished.error());
    } else {
        attempt->output->discard();
        JobQueue::Outcome outcome;
        outcome.retryable = end.retryable;
        outcome.error = end.message;
        outcome.encoder = attempt->encoder;
        Expected<Job> finished = jobs.finish(db, jobId, attempt->owner, outcome, now());
        if (!finished && finished.code() != JobQueue::WrongState)
            logProblem(finished.error());
    }
    m_attempts.remove(serial);
    m_lastPublish = 0; // the pool changed: publish on the next tick
    attempt->worker.release()->deleteLater();
    delete attempt;
    QTimer::singleShot(0, this, &Supervisor::tick);
}

void Supervisor::failAtOnce(const Attempt &attempt, const QString &reason)
{
    Expected<QSqlDatabase> db = m_store->connection();
    if (!db)
        return;
    JobQueue::Outcome outcome;
    outcome.error = reason;
    Expected<Job> finished =
        queue().finish(db.value(), attempt.job.id, attempt.owner, outcome, now());
    if (!finished)
        logProblem(finished.error());
}

void Supervisor::publishPool()
{
    Expected<QSqlDatabase> db = m_store->connection();
    if (!db)
        return;
    QJsonArray running;
    for (const Attempt *attempt : std::as_const(m_attempts)) {
        running.append(QJsonObject{
            {QStringLiteral("job"), attempt->job.id},
            {QStringLiteral("name"), attempt->job.name},
            {QStringLiteral("pid"), attempt->worker ? attempt->worker->pid() : 0},
            {QStringLiteral("encoder"), attempt->encoder},
            {QStringLiteral("hardware"), attempt->hardware},
            {QStringLiteral("fps"), attempt->progress.fps},
            {QStringLiteral("speed"), attempt->progress.speed},
            {QStringLiteral("progress"), attempt->progress.fraction},
        });
    }
    const QJsonObject pool{
        {QStringLiteral("engine_pid"), qint64(::getpid())},
        {QStringLiteral("owner"), m_config.owner},
        {QStringLiteral("pool_size"), poolSize()},
        {QStringLiteral("paused"), m_paused},
        {QStringLiteral("stopped"), m_stopping && m_attempts.isEmpty()},
        {QStringLiteral("nvenc_sessions"), m_nvencSessions},
        {QStringLiteral("nvenc_in_use"), nvencInUse()},
        {QStringLiteral("workers"), running},
    };
    Expected<void> saved = FarmState::put(db.value(), FarmState::Pool, pool, now());
    if (!saved)
        logProblem(saved.error());
}

void Supervisor::removeExpiredOutputs()
{
    Expected<QSqlDatabase> db = m_store->connection();
    if (!db)
        return;
    Expected<qint64> days =
        StoreSettings::value(db.value(), StoreSettings::FarmOutputRetentionDays);
    if (!days)
        return;
    const JobQueue jobs = queue();
    Expected<QList<Job>> expired = jobs.expiredOutputs(db.value(), now() - days.value() * 86400000);
    if (!expired) {
        logProblem(expired.error());
        return;
    }
    Expected<QStringList> roots = FarmRoots::list(db.value(), FarmRoots::Kind::Output);
    for (const Job &job : expired.value()) {
        QString reason = tr("retention: finished more than %1 days ago").arg(days.value());
        Expected<QString> inside =
            roots ? FarmRoots::resolveInside(job.outputPath, roots.value(), FarmRoots::Kind::Output)
                  : Expected<QString>(roots.failure());
        struct stat info {};
        if (!inside || inside.value() != job.outputPath ||
            ::lstat(job.outputPath.toLocal8Bit().constData(), &info) != 0 ||
            !S_ISREG(info.st_mode)) {
            // Gone already, replaced by a link, or no longer inside a root:
            // never delete there.
            reason += tr("; file not removed: %1")
                          .arg(inside ? tr("not the regular file the job wrote") : inside.error());
        } else if (::unlink(inside->toLocal8Bit().constData()) != 0) {
            logProblem(tr("cannot remove the expired output of job %1: %2")
                           .arg(job.id)
                           .arg(QString::fromLocal8Bit(std::strerror(errno))));
            continue;
        }
        Expected<void> marked = jobs.markOutputRemoved(db.value(), job.id, reason, now());
        if (!marked)
            logProblem(marked.error());
    }
}
