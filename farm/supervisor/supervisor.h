#pragma once

#include "hw/capabilitymatrix.h"
#include "jobs/jobqueue.h"
#include "workerprocess.h"

#include <QHash>
#include <QObject>
#include <QTimer>

#include <functional>
#include <memory>

class AuditLog;
class OutputFile;
class Store;

// The farm's pool: leases jobs from the store (priority, then submission),
// runs each attempt in its own sandboxed framehouse-worker, renews the lease
// with heartbeats, and turns every way an attempt can end into one store
// transition: a crash, a kill or a hang is retried with backoff up to the
// attempt limit; a hardware encoder that fails mid-job is retried once on
// software within the same attempt; media the worker refuses fails at once.
// Lives in its own thread with its own store connection.
class Supervisor : public QObject {
    Q_OBJECT
public:
    struct Config {
        QString workerProgram;
        QString owner; // lease owner, unique per engine start
        QString uploadsDirectory;
        int poolSize = 0; // 0: farm.workers, else derived from the cores
        qint64 leaseMs = 30000;
        int tickMs = 20; // how often the queue is looked at (a cheap read)
        int heartbeatMs = 1000;
        int stopGraceMs = 5000;
    };

    Supervisor(Store *store, std::shared_ptr<const AuditLog> audit, Config config,
               QObject *parent = nullptr);
    ~Supervisor() override;

    // Probes the hardware, requeues what a previous engine left running,
    // then starts taking jobs. Call in the supervisor's thread.
    Q_INVOKABLE void start();
    // Stops taking jobs, stops the workers (running jobs go back to the
    // queue as they were), then calls `done`.
    void stop(std::function<void()> done);
    // Looks at the queue now (a submission in the same process).
    Q_INVOKABLE void wake();

    // The pool size when farm.workers is 0.
    static int defaultPoolSize();

private:
    struct Attempt;

    void tick();
    bool queueHasWork(QSqlDatabase db, qint64 t) const;
    Expected<void> leaseOne();
    void launch(Attempt &attempt, bool softwareOnly);
    void heartbeats();
    void attemptEnded(quint64 serial, const WorkerProcess::End &end);
    void failAtOnce(const Attempt &attempt, const QString &reason);
    void readSettings(QSqlDatabase db);
    // The job's input, opened and checked to be a regular file inside an
    // input root (or the uploads directory).
    Expected<int> openInput(const JobSpec &spec, const QStringList &inputRoots) const;
    void probeHardware();
    void publishPool();
    void removeExpiredOutputs();
    void logProblem(const QString &message) const;
    JobQueue queue() const;
    int poolSize() const;
    int nvencInUse() const;
    qint64 now() const;

    Store *m_store;
    std::shared_ptr<const AuditLog> m_audit;
    Config m_config;
    QTimer m_ticker;
    CapabilityMatrix m_matrix;
    bool m_probed = false;
    bool m_stopping = false;
    bool m_paused = false;
    int m_maxAttempts = 3;
    int m_nvencSessions = 8;
    qint64 m_jobTimeoutMs = 0;
    qint64 m_stallTimeoutMs = 0;
    qint64 m_workerMemoryMb = 0;
    qint64 m_maxOutputMb = 0;
    qint64 m_lastSettingsRead = 0;
    qint64 m_lastHeartbeat = 0;
    qint64 m_lastReclaim = 0;
    qint64 m_lastPublish = 0;
    qint64 m_lastRetention = 0;
    QHash<quint64, Attempt *> m_attempts; // by attempt serial
    quint64 m_lastSerial = 0;
    std::function<void()> m_stopped;
};
