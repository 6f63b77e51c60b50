#pragma once

#include "expected.h"
#include "job.h"

#include <QHash>
#include <QList>
#include <QPair>
#include <QSqlDatabase>
#include <QStringList>

#include <memory>

class AuditLog;

// The job queue in the store: the single source of truth for every job's
// state. Each transition is one transaction with its job event and its
// audit record; a worker holds a job through a lease that it renews with
// heartbeats, and a lease that runs out puts the job back in the queue.
//
//   queued -> running -> succeeded | failed | cancelled
//   running -> queued         (lease expired or retryable failure, attempts left)
//   failed | cancelled -> queued   (retry by an operator)
class JobQueue {
public:
    struct NewJob {
        QString name;
        QString preset;
        QJsonObject spec;
        int priority = 0;
    };
    struct Outcome {
        bool succeeded = false;
        bool retryable = false; // a failure worth another attempt (a crashed worker)
        QString error;
        QString encoder;
        QString outputPath;
    };

    // A running job's latest report; the lease is renewed with it.
    struct Progress {
        Progress(double fractionDone = 0)
            : fraction(fractionDone)
        {}
        double fraction = 0;
        double fps = 0;
        double speed = 0;
        std::optional<qint64> workerPid;
    };

    // A failed attempt waits RetryBackoffMs * 2^(attempt - 1), at most
    // MaxRetryBackoffMs, before it may be leased again.
    static constexpr qint64 RetryBackoffMs = 2000;
    static constexpr qint64 MaxRetryBackoffMs = 300000;

    // Failure::code of a transition that does not apply to the job's state.
    static constexpr int WrongState = 409;
    static constexpr int NotFound = 404;

    explicit JobQueue(std::shared_ptr<const AuditLog> audit, int maxAttempts = 3);

    Expected<Job> submit(QSqlDatabase db, const NewJob &job, const QString &actor,
                         qint64 now) const;
    // The next queued job, by priority then submission, leased to `owner`
    // until now + leaseMs; std::nullopt when none is queued. Jobs still in
    // their retry backoff are skipped, and so are jobs of an API key that
    // already runs as many jobs as its max_concurrent_jobs allows.
    Expected<std::optional<Job>> lease(QSqlDatabase db, const QString &owner, qint64 leaseMs,
                                       qint64 now) const;
    // Extends the lease; fails with WrongState when `owner` lost it.
    Expected<void> heartbeat(QSqlDatabase db, qint64 id, const QString &owner, qint64 leaseMs,
                             const Progress &progress, qint64 now) const;
    // Ends an attempt. Only the lease owner of a running job can, and only
    // once: a second report, or one from a worker whose lease expired, is
    // refused with WrongState.
    Expected<Job> finish(QSqlDatabase db, qint64 id, const QString &owner, const Outcome &outcome,
                         qint64 now) const;
    // Gives a running job back to the queue as it was before this attempt
    // (the attempt is not counted, no backoff): the engine is stopping.
    Expected<Job> release(QSqlDatabase db, qint64 id, const QString &owner, const QString &reason,
                          qint64 now) const;
    Expected<Job> cancel(QSqlDatabase db, qint64 id, const QString &actor, const QString &reason,
                         qint64 now) const;
    Expected<Job> retry(QSqlDatabase db, qint64 id, const QString &actor, qint64 now) const;
    // Deletes a finished job and its events (the farm removes its files).
    // `removedFiles`, the files removed with it, go into the audit record.
    Expected<void> purge(QSqlDatabase db, qint64 id, const QString &actor, qint64 now,
                         const QStringList &removedFiles = {}) const;
    // Running jobs whose lease ran out go back to the queue, or fail once
    // they have used every attempt. Returns how many were handled.
    Expected<int> reclaimExpired(QSqlDatabase db, qint64 now) const;
    // Every running job, lease or not: an engine that has just taken the
    // store exclusively knows that no worker of a previous engine is left.
    Expected<int> reclaimOrphans(QSqlDatabase db, qint64 now) const;

    // A job event without a transition (encoder chosen, fallback reasons).
    Expected<void> note(QSqlDatabase db, qint64 id, const QString &kind, const QString &message,
                        qint64 now) const;
    // The worker's redacted stderr of one attempt.
    Expected<void> appendLog(QSqlDatabase db, qint64 id, int attempt, const QString &text,
                             qint64 now) const;
    Expected<QString> log(QSqlDatabase db, qint64 id) const;
    struct Event {
        qint64 at = 0;
        QString kind;
        QString message;
    };
    Expected<QList<Event>> events(QSqlDatabase db, qint64 id) const;

    // Succeeded jobs whose output is older than `finishedBefore` and still there.
    Expected<QList<Job>> expiredOutputs(QSqlDatabase db, qint64 finishedBefore) const;
    // Records that retention removed the output (event + audit record).
    Expected<void> markOutputRemoved(QSqlDatabase db, qint64 id, const QString &reason,
                                     qint64 now) const;

    Expected<Job> find(QSqlDatabase db, qint64 id) const;
    Expected<QList<Job>> list(QSqlDatabase db) const;
    // Jobs in one state (all when empty), newest first, at most `limit`.
    Expected<QList<Job>> list(QSqlDatabase db, const QString &state, int limit) const;
    // One page of jobs, newest first: those with id < beforeId (all when 0),
    // in `state` (any when empty), submitted by `submittedBy` (anyone when
    // empty).
    Expected<QList<Job>> page(QSqlDatabase db, const QString &state, const QString &submittedBy,
                              qint64 beforeId, int limit) const;
    // Jobs per state (every state present, 0 included) and the summed fps
    // of the running ones, for metrics.
    struct Counts {
        QHash<QString, qint64> byState;
        double runningFps = 0;
    };
    Expected<Counts> counts(QSqlDatabase db) const;
    // How many jobs are queued and running.
    Expected<QPair<int, int>> depth(QSqlDatabase db) const;

    int maxAttempts() const { return m_maxAttempts; }

private:
    Expected<int> reclaim(QSqlDatabase db, qint64 now, bool onlyExpired) const;

    std::shared_ptr<const AuditLog> m_audit;
    int m_maxAttempts;
};
