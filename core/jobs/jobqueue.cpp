#include "jobqueue.h"

#include "audit/auditlog.h"
#include "store/rowvalues.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QUuid>

#include <algorithm>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("JobQueue", text); }

Expected<Job> findIn(QSqlDatabase &db, qint64 id)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM jobs WHERE id = ?").arg(Job::selectColumns()));
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot read job %1").arg(id), q);
    if (!q.next())
        return fail(tr("there is no job %1").arg(id), JobQueue::NotFound);
    return Job::fromQuery(q);
}

Expected<void> addEvent(QSqlDatabase &db, qint64 jobId, qint64 at, const QString &kind,
                        const QString &message)
{
    QSqlQuery q(db);
    q.prepare(
        QStringLiteral("INSERT INTO job_events (job_id, at, kind, message) VALUES (?, ?, ?, ?)"));
    q.addBindValue(jobId);
    q.addBindValue(at);
    q.addBindValue(kind);
    q.addBindValue(message);
    if (!q.exec())
        return sqlFailure(tr("cannot record the job event"), q);
    return {};
}

// The job event and the audit record of one transition.
Expected<void> recordTransition(AuditLog::Writer &w, const Job &job, const QString &actor,
                                const QString &action, const QString &outcome,
                                const QString &message, QJsonObject details = {})
{
    Expected<void> event = addEvent(w.db(), job.id, w.now(), action, message);
    if (!event)
        return event;
    AuditEvent audit;
    audit.actor = actor;
    audit.action = action;
    audit.target = job.uuid;
    audit.outcome = outcome;
    details.insert(QStringLiteral("job"), job.id);
    details.insert(QStringLiteral("name"), job.name);
    audit.details = details;
    Expected<AuditRecord> written = w.append(audit);
    if (!written)
        return written.failure();
    return {};
}

Expected<void> exec(QSqlQuery &q, const QString &what)
{
    if (!q.exec())
        return sqlFailure(what, q);
    return {};
}

Failure wrongState(const Job &job, const QString &wanted)
{
    return fail(
        tr("job %1 is %2; it cannot be %3").arg(job.id).arg(Job::stateName(job.state), wanted),
        JobQueue::WrongState);
}

qint64 backoff(int attempt)
{
    qint64 wait = JobQueue::RetryBackoffMs;
    for (int i = 1; i < attempt && wait < JobQueue::MaxRetryBackoffMs; ++i)
        wait *= 2;
    return std::min(wait, JobQueue::MaxRetryBackoffMs);
}

QString workerActor(const QString &owner) { return QStringLiteral("system:") + owner; }
} // namespace

JobQueue::JobQueue(std::shared_ptr<const AuditLog> audit, int maxAttempts)
    : m_audit(std::move(audit))
    , m_maxAttempts(maxAttempts)
{}

Expected<Job> JobQueue::submit(QSqlDatabase db, const NewJob &request, const QString &actor,
                               qint64 now) const
{
    if (request.name.trimmed().isEmpty())
        return fail(tr("a job needs a name"));
    std::optional<Job> submitted;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("INSERT INTO jobs (uuid, name, preset, spec, priority, "
                                 "submitted_by, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
        q.addBindValue(QUuid::createUuid().toString(QUuid::WithoutBraces));
        q.addBindValue(request.name);
        q.addBindValue(RowValues::nullIfEmpty(request.preset));
        q.addBindValue(
            QString::fromUtf8(QJsonDocument(request.spec).toJson(QJsonDocument::Compact)));
        q.addBindValue(request.priority);
        q.addBindValue(actor);
        q.addBindValue(now);
        Expected<void> inserted = exec(q, tr("cannot queue the job"));
        if (!inserted)
            return inserted;
        Expected<Job> job = findIn(w.db(), q.lastInsertId().toLongLong());
        if (!job)
            return job.failure();
        submitted = job.value();
        return recordTransition(w, *submitted, actor, QStringLiteral("job.submitted"),
                                QStringLiteral("ok"), tr("queued"),
                                {{QStringLiteral("preset"), request.preset},
                                 {QStringLiteral("priority"), request.priority}});
    });
    if (!done)
        return done.failure();
    return *submitted;
}

Expected<std::optional<Job>> JobQueue::lease(QSqlDatabase db, const QString &owner, qint64 leaseMs,
                                             qint64 now) const
{
    std::optional<Job> leased;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        // BEGIN IMMEDIATE holds the write lock from here to the commit, so
        // two supervisors can never pick the same job.
        QSqlQuery next(w.db());
        next.setForwardOnly(true);
        next.prepare(QStringLiteral(
            "SELECT j.id FROM jobs j WHERE j.state = 'queued' "
            "AND (j.not_before IS NULL OR j.not_before <= ?) "
            "AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE 'key:' || k.id = j.submitted_by "
            "  AND k.max_concurrent_jobs IS NOT NULL AND k.max_concurrent_jobs <= "
            "  (SELECT count(*) FROM jobs r WHERE r.state = 'running' "
            "   AND r.submitted_by = j.submitted_by)) "
            "ORDER BY j.priority DESC, j.submitted_at, j.id LIMIT 1"));
        next.addBindValue(now);
        if (!next.exec())
            return sqlFailure(tr("cannot read the queue"), next);
        if (!next.next())
            return {};
        const qint64 id = next.value(0).toLongLong();
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, "
            "attempts = attempts + 1, started_at = coalesce(started_at, ?), progress = 0, "
            "fps = NULL, speed = NULL, worker_pid = NULL, not_before = NULL, error = NULL "
            "WHERE id = ? AND state = 'queued'"));
        q.addBindValue(owner);
        q.addBindValue(now + leaseMs);
        q.addBindValue(now);
        q.addBindValue(id);
        Expected<void> updated = exec(q, tr("cannot lease job %1").arg(id));
        if (!updated)
            return updated;
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        leased = job.value();
        return recordTransition(w, *leased, workerActor(owner), QStringLiteral("job.started"),
                                QStringLiteral("ok"),
                                tr("attempt %1 by %2").arg(leased->attempts).arg(owner),
                                {{QStringLiteral("attempt"), leased->attempts}});
    });
    if (!done)
        return done.failure();
    return leased;
}

Expected<void> JobQueue::heartbeat(QSqlDatabase db, qint64 id, const QString &owner, qint64 leaseMs,
                                   const Progress &progress, qint64 now) const
{
    QSqlQuery q(db);
    q.prepare(QStringLiteral("UPDATE jobs SET lease_expires_at = ?, progress = ?, fps = ?, "
                             "speed = ?, worker_pid = ? WHERE id = ? "
                             "AND state = 'running' AND lease_owner = ?"));
    q.addBindValue(now + leaseMs);
    q.addBindValue(progress.fraction);
    q.addBindValue(progress.fps);
    q.addBindValue(progress.speed);
    q.addBindValue(RowValues::nullable(progress.workerPid));
    q.addBindValue(id);
    q.addBindValue(owner);
    Expected<void> updated = exec(q, tr("cannot extend the lease of job %1").arg(id));
    if (!updated)
        return updated;
    if (q.numRowsAffected() != 1)
        return fail(tr("job %1 is no longer leased to %2").arg(id).arg(owner), WrongState);
    return {};
}

Expected<Job> JobQueue::finish(QSqlDatabase db, qint64 id, const QString &owner,
                               const Outcome &outcome, qint64 now) const
{
    std::optional<Job> finished;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        if (job->state != Job::State::Running || job->leaseOwner != owner)
            return fail(
                tr("job %1 is not running under %2; its result is ignored").arg(id).arg(owner),
                WrongState);
        const bool again = !outcome.succeeded && outcome.retryable && job->attempts < m_maxAttempts;
        const QString state = outcome.succeeded ? QStringLiteral("succeeded")
                              : again           ? QStringLiteral("queued")
                                                : QStringLiteral("failed");
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral(
            "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL, "
            "worker_pid = NULL, not_before = ?, finished_at = ?, progress = ?, encoder = ?, "
            "output_path = ?, error = ? WHERE id = ?"));
        q.addBindValue(state);
        q.addBindValue(RowValues::nullable(
            again ? std::optional<qint64>(now + backoff(job->attempts)) : std::nullopt));
        q.addBindValue(RowValues::nullable(again ? std::nullopt : std::optional<qint64>(now)));
        q.addBindValue(outcome.succeeded ? 1.0 : job->progress);
        q.addBindValue(RowValues::nullIfEmpty(outcome.encoder));
        q.addBindValue(RowValues::nullIfEmpty(outcome.outputPath));
        q.addBindValue(RowValues::nullIfEmpty(outcome.error));
        q.addBindValue(id);
        Expected<void> updated = exec(q, tr("cannot finish job %1").arg(id));
        if (!updated)
            return updated;
        Expected<Job> after = findIn(w.db(), id);
        if (!after)
            return after.failure();
        finished = after.value();
        if (again)
            return recordTransition(
                w, *finished, workerActor(owner), QStringLiteral("job.requeued"),
                QStringLiteral("retry"),
                tr("attempt %1 failed, will retry: %2").arg(job->attempts).arg(outcome.error));
        return recordTransition(
            w, *finished, workerActor(owner), QStringLiteral("job.finished"),
            outcome.succeeded ? QStringLiteral("succeeded") : QStringLiteral("failed"),
            outcome.succeeded ? tr("succeeded") : tr("failed: %1").arg(outcome.error),
            {{QStringLiteral("attempts"), job->attempts},
             {QStringLiteral("encoder"), outcome.encoder}});
    });
    if (!done)
        return done.failure();
    return *finished;
}

Expected<Job> JobQueue::release(QSqlDatabase db, qint64 id, const QString &owner,
                                const QString &reason, qint64 now) const
{
    std::optional<Job> released;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, "
            "worker_pid = NULL, attempts = max(attempts - 1, 0), progress = 0 "
            "WHERE id = ? AND state = 'running' AND lease_owner = ?"));
        q.addBindValue(id);
        q.addBindValue(owner);
        Expected<void> updated = exec(q, tr("cannot release job %1").arg(id));
        if (!updated)
            return updated;
        if (q.numRowsAffected() != 1)
            return fail(tr("job %1 is no longer leased to %2").arg(id).arg(owner), WrongState);
        Expected<Job> after = findIn(w.db(), id);
        if (!after)
            return after.failure();
        released = after.value();
        return recordTransition(w, *released, workerActor(owner), QStringLiteral("job.requeued"),
                                QStringLiteral("released"), reason);
    });
    if (!done)
        return done.failure();
    return *released;
}

Expected<Job> JobQueue::cancel(QSqlDatabase db, qint64 id, const QString &actor,
                               const QString &reason, qint64 now) const
{
    std::optional<Job> cancelled;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        if (job->isFinal())
            return wrongState(job.value(), tr("cancelled"));
        QSqlQuery q(w.db());
        q.prepare(
            QStringLiteral("UPDATE jobs SET state = 'cancelled', lease_owner = NULL, "
                           "lease_expires_at = NULL, finished_at = ?, error = ? WHERE id = ?"));
        q.addBindValue(now);
        q.addBindValue(reason);
        q.addBindValue(id);
        Expected<void> updated = exec(q, tr("cannot cancel job %1").arg(id));
        if (!updated)
            return updated;
        Expected<Job> after = findIn(w.db(), id);
        if (!after)
            return after.failure();
        cancelled = after.value();
        return recordTransition(w, *cancelled, actor, QStringLiteral("job.cancelled"),
                                QStringLiteral("ok"), tr("cancelled: %1").arg(reason),
                                {{QStringLiteral("reason"), reason},
                                 {QStringLiteral("was"), Job::stateName(job->state)}});
    });
    if (!done)
        return done.failure();
    return *cancelled;
}

Expected<Job> JobQueue::retry(QSqlDatabase db, qint64 id, const QString &actor, qint64 now) const
{
    std::optional<Job> queued;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        if (job->state != Job::State::Failed && job->state != Job::State::Cancelled)
            return wrongState(job.value(), tr("retried"));
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("UPDATE jobs SET state = 'queued', attempts = 0, finished_at = "
                                 "NULL, error = NULL, progress = 0 WHERE id = ?"));
        q.addBindValue(id);
        Expected<void> updated = exec(q, tr("cannot retry job %1").arg(id));
        if (!updated)
            return updated;
        Expected<Job> after = findIn(w.db(), id);
        if (!after)
            return after.failure();
        queued = after.value();
        return recordTransition(w, *queued, actor, QStringLiteral("job.retried"),
                                QStringLiteral("ok"), tr("queued again by %1").arg(actor));
    });
    if (!done)
        return done.failure();
    return *queued;
}

Expected<void> JobQueue::purge(QSqlDatabase db, qint64 id, const QString &actor, qint64 now,
                               const QStringList &removedFiles) const
{
    return m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        if (!job->isFinal())
            return wrongState(job.value(), tr("purged (cancel it first)"));
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("DELETE FROM jobs WHERE id = ?"));
        q.addBindValue(id);
        Expected<void> deleted = exec(q, tr("cannot purge job %1").arg(id));
        if (!deleted)
            return deleted;
        AuditEvent event;
        event.actor = actor;
        event.action = QStringLiteral("job.purged");
        event.target = job->uuid;
        event.details = {{QStringLiteral("job"), id},
                         {QStringLiteral("name"), job->name},
                         {QStringLiteral("state"), Job::stateName(job->state)}};
        if (!removedFiles.isEmpty())
            event.details.insert(QStringLiteral("removed_files"),
                                 QJsonArray::fromStringList(removedFiles));
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
}

Expected<int> JobQueue::reclaimExpired(QSqlDatabase db, qint64 now) const
{
    return reclaim(db, now, true);
}

Expected<int> JobQueue::reclaimOrphans(QSqlDatabase db, qint64 now) const
{
    return reclaim(db, now, false);
}

Expected<int> JobQueue::reclaim(QSqlDatabase db, qint64 now, bool onlyExpired) const
{
    int handled = 0;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery expired(w.db());
        expired.setForwardOnly(true);
        expired.prepare(QStringLiteral("SELECT %1 FROM jobs WHERE state = 'running' AND "
                                       "(lease_expires_at <= ? OR ?) ORDER BY id")
                            .arg(Job::selectColumns()));
        expired.addBindValue(now);
        expired.addBindValue(onlyExpired ? 0 : 1);
        if (!expired.exec())
            return sqlFailure(tr("cannot read the leases"), expired);
        QList<Job> jobs;
        while (expired.next())
            jobs << Job::fromQuery(expired);
        for (const Job &job : std::as_const(jobs)) {
            const bool again = job.attempts < m_maxAttempts;
            const QString reason =
                onlyExpired
                    ? tr("the lease of %1 ran out (worker or engine gone)").arg(job.leaseOwner)
                    : tr("the engine that ran it (%1) stopped without finishing it")
                          .arg(job.leaseOwner);
            QSqlQuery q(w.db());
            q.prepare(QStringLiteral("UPDATE jobs SET state = ?, lease_owner = NULL, "
                                     "lease_expires_at = NULL, worker_pid = NULL, "
                                     "finished_at = ?, error = ? WHERE id = ?"));
            q.addBindValue(again ? QStringLiteral("queued") : QStringLiteral("failed"));
            q.addBindValue(RowValues::nullable(again ? std::nullopt : std::optional<qint64>(now)));
            q.addBindValue(reason);
            q.addBindValue(job.id);
            Expected<void> updated = exec(q, tr("cannot reclaim job %1").arg(job.id));
            if (!updated)
                return updated;
            Expected<Job> after = findIn(w.db(), job.id);
            if (!after)
                return after.failure();
            Expected<void> recorded =
                again ? recordTransition(w, after.value(), AuditEvent::systemActor(),
                                         QStringLiteral("job.requeued"), QStringLiteral("retry"),
                                         reason)
                      : recordTransition(
                            w, after.value(), AuditEvent::systemActor(),
                            QStringLiteral("job.finished"), QStringLiteral("failed"),
                            tr("failed after %1 attempts: %2").arg(job.attempts).arg(reason),
                            {{QStringLiteral("attempts"), job.attempts}});
            if (!recorded)
                return recorded;
            ++handled;
        }
        return {};
    });
    if (!done)
        return done.failure();
    return handled;
}

Expected<Job> JobQueue::find(QSqlDatabase db, qint64 id) const { return findIn(db, id); }

Expected<QList<Job>> JobQueue::list(QSqlDatabase db) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT %1 FROM jobs ORDER BY id").arg(Job::selectColumns())))
        return sqlFailure(tr("cannot list jobs"), q);
    QList<Job> jobs;
    while (q.next())
        jobs << Job::fromQuery(q);
    return jobs;
}

Expected<QList<Job>> JobQueue::list(QSqlDatabase db, const QString &state, int limit) const
{
    return page(db, state, QString(), 0, limit);
}

Expected<QList<Job>> JobQueue::page(QSqlDatabase db, const QString &state,
                                    const QString &submittedBy, qint64 beforeId, int limit) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM jobs WHERE (? = '' OR state = ?) "
                             "AND (? = '' OR submitted_by = ?) AND (? = 0 OR id < ?) "
                             "ORDER BY id DESC LIMIT ?")
                  .arg(Job::selectColumns()));
    q.addBindValue(state);
    q.addBindValue(state);
    q.addBindValue(submittedBy);
    q.addBindValue(submittedBy);
    q.addBindValue(beforeId);
    q.addBindValue(beforeId);
    q.addBindValue(limit);
    if (!q.exec())
        return sqlFailure(tr("cannot list jobs"), q);
    QList<Job> jobs;
    while (q.next())
        jobs << Job::fromQuery(q);
    return jobs;
}

Expected<JobQueue::Counts> JobQueue::counts(QSqlDatabase db) const
{
    Counts counts;
    for (const Job::State state : {Job::State::Queued, Job::State::Running, Job::State::Succeeded,
                                   Job::State::Failed, Job::State::Cancelled})
        counts.byState.insert(Job::stateName(state), 0);
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT state, count(*), coalesce(sum(CASE WHEN state = 'running' "
                               "THEN fps END), 0) FROM jobs GROUP BY state")))
        return sqlFailure(tr("cannot count jobs"), q);
    while (q.next()) {
        counts.byState.insert(q.value(0).toString(), q.value(1).toLongLong());
        counts.runningFps += q.value(2).toDouble();
    }
    return counts;
}

Expected<QPair<int, int>> JobQueue::depth(QSqlDatabase db) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT coalesce(sum(state = 'queued'), 0), "
                               "coalesce(sum(state = 'running'), 0) FROM jobs")))
        return sqlFailure(tr("cannot count jobs"), q);
    q.next();
    return QPair<int, int>(q.value(0).toInt(), q.value(1).toInt());
}

Expected<void> JobQueue::note(QSqlDatabase db, qint64 id, const QString &kind,
                              const QString &message, qint64 now) const
{
    return addEvent(db, id, now, kind, message);
}

Expected<void> JobQueue::appendLog(QSqlDatabase db, qint64 id, int attempt, const QString &text,
                                   qint64 now) const
{
    QSqlQuery q(db);
    q.prepare(
        QStringLiteral("INSERT INTO job_logs (job_id, attempt, at, text) VALUES (?, ?, ?, ?)"));
    q.addBindValue(id);
    q.addBindValue(attempt);
    q.addBindValue(now);
    q.addBindValue(text);
    return exec(q, tr("cannot save the log of job %1").arg(id));
}

Expected<QString> JobQueue::log(QSqlDatabase db, qint64 id) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT attempt, text FROM job_logs WHERE job_id = ? ORDER BY id"));
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot read the log of job %1").arg(id), q);
    QString text;
    while (q.next()) {
        text += tr("--- attempt %1\n").arg(q.value(0).toInt()) + q.value(1).toString();
        if (!text.endsWith(QLatin1Char('\n')))
            text += QLatin1Char('\n');
    }
    return text;
}

Expected<QList<JobQueue::Event>> JobQueue::events(QSqlDatabase db, qint64 id) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT at, kind, message FROM job_events WHERE job_id = ? "
                             "ORDER BY id"));
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot read the events of job %1").arg(id), q);
    QList<Event> events;
    while (q.next())
        events << Event{q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString()};
    return events;
}

Expected<QList<Job>> JobQueue::expiredOutputs(QSqlDatabase db, qint64 finishedBefore) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM jobs WHERE state = 'succeeded' AND finished_at < ? "
                             "AND output_path IS NOT NULL AND output_removed_at IS NULL "
                             "ORDER BY finished_at")
                  .arg(Job::selectColumns()));
    q.addBindValue(finishedBefore);
    if (!q.exec())
        return sqlFailure(tr("cannot list expired outputs"), q);
    QList<Job> jobs;
    while (q.next())
        jobs << Job::fromQuery(q);
    return jobs;
}

Expected<void> JobQueue::markOutputRemoved(QSqlDatabase db, qint64 id, const QString &reason,
                                           qint64 now) const
{
    return m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("UPDATE jobs SET output_removed_at = ? WHERE id = ? "
                                 "AND output_removed_at IS NULL"));
        q.addBindValue(now);
        q.addBindValue(id);
        Expected<void> updated = exec(q, tr("cannot update job %1").arg(id));
        if (!updated)
            return updated;
        Expected<Job> job = findIn(w.db(), id);
        if (!job)
            return job.failure();
        return recordTransition(w, job.value(), AuditEvent::systemActor(),
                                QStringLiteral("job.output_removed"), QStringLiteral("ok"), reason);
    });
}
