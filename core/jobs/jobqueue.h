#pragma once

#include "expected.h"
#include "job.h"

#include <QList>
#include <QSqlDatabase>

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

    // Failure::code of a transition that does not apply to the job's state.
    static constexpr int WrongState = 409;
    static constexpr int NotFound = 404;

    explicit JobQueue(std::shared_ptr<const AuditLog> audit, int maxAttempts = 3);

    Expected<Job> submit(QSqlDatabase db, const NewJob &job, const QString &actor,
                         qint64 now) const;
    // The next queued job, by priority then submission, leased to `owner`
    // until now + leaseMs; std::nullopt when none is queued.
    Expected<std::optional<Job>> lease(QSqlDatabase db, const QString &owner, qint64 leaseMs,
                                       qint64 now) const;
    // Extends the lease; fails with WrongState when `owner` lost it.
    Expected<void> heartbeat(QSqlDatabase db, qint64 id, const QString &owner, qint64 leaseMs,
                             double progress, qint64 now) const;
    // Ends an attempt. Only the lease owner of a running job can, and only
    // once: a second report, or one from a worker whose lease expired, is
    // refused with WrongState.
    Expected<Job> finish(QSqlDatabase db, qint64 id, const QString &owner, const Outcome &outcome,
                         qint64 now) const;
    Expected<Job> cancel(QSqlDatabase db, qint64 id, const QString &actor, const QString &reason,
                         qint64 now) const;
    Expected<Job> retry(QSqlDatabase db, qint64 id, const QString &actor, qint64 now) const;
    // Deletes a finished job and its events (the farm removes its files).
    Expected<void> purge(QSqlDatabase db, qint64 id, const QString &actor, qint64 now) const;
    // Running jobs whose lease ran out go back to the queue, or fail once
    // they have used every attempt. Returns how many were handled.
    Expected<int> reclaimExpired(QSqlDatabase db, qint64 now) const;

    Expected<Job> find(QSqlDatabase db, qint64 id) const;
    Expected<QList<Job>> list(QSqlDatabase db) const;

    int maxAttempts() const { return m_maxAttempts; }

private:
    std::shared_ptr<const AuditLog> m_audit;
    int m_maxAttempts;
};
