#include "audit/auditverifier.h"
#include "jobs/jobqueue.h"
#include "testsupport.h"

#include <QSet>
#include <QSqlQuery>
#include <QTest>

namespace {
constexpr qint64 T0 = 1'800'000'000'000;
constexpr qint64 LeaseMs = 30'000;
const QString operatorActor = QStringLiteral("operator:test");

JobQueue::Outcome succeeded()
{
    JobQueue::Outcome o;
    o.succeeded = true;
    o.encoder = QStringLiteral("libx264");
    o.outputPath = QStringLiteral("/out/a.mp4");
    return o;
}

JobQueue::Outcome crashed()
{
    JobQueue::Outcome o;
    o.retryable = true;
    o.error = QStringLiteral("worker killed by signal 9");
    return o;
}
} // namespace

// The queue on a real store: order, leases, retries, exactly-once
// completion, and an audit record for every transition.
class TestJobQueue : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void leasesByPriorityThenSubmission();
    void concurrentSupervisorsNeverShareAJob();
    void onlyTheLeaseOwnerFinishesAndOnlyOnce();
    void anExpiredLeaseReturnsTheJobUntilAttemptsRunOut();
    void heartbeatsKeepTheLease();
    void cancelRetryPurge();
    void everyTransitionIsAudited();
    void jobNamesCannotForgeLogLines();

private:
    QSqlDatabase db() { return m_store->db(); }
    Job submit(const QString &name, int priority = 0, qint64 at = T0);
    int audited(const QString &action);

    std::unique_ptr<TestSupport::TestStore> m_store;
    std::unique_ptr<JobQueue> m_queue;
};

void TestJobQueue::init()
{
    m_store = TestSupport::makeStore();
    m_queue = std::make_unique<JobQueue>(m_store->secrets.audit, 3);
}

void TestJobQueue::cleanup()
{
    m_queue.reset();
    m_store.reset();
}

Job TestJobQueue::submit(const QString &name, int priority, qint64 at)
{
    Expected<Job> job = m_queue->submit(
        db(), {name, QStringLiteral("web-720p-h264"), {{QStringLiteral("input"), name}}, priority},
        operatorActor, at);
    if (!job)
        qFatal("submit: %s", qPrintable(job.error()));
    return job.value();
}

int TestJobQueue::audited(const QString &action)
{
    QSqlQuery q(db());
    q.prepare(QStringLiteral("SELECT count(*) FROM audit_records WHERE action = ?"));
    q.addBindValue(action);
    if (!q.exec() || !q.next())
        qFatal("count failed");
    return q.value(0).toInt();
}

void TestJobQueue::leasesByPriorityThenSubmission()
{
    submit(QStringLiteral("low-early"), 0, T0);
    submit(QStringLiteral("high-late"), 5, T0 + 10);
    submit(QStringLiteral("low-late"), 0, T0 + 20);
    submit(QStringLiteral("high-early"), 5, T0 + 5);
    QStringList order;
    for (int i = 0; i < 4; ++i) {
        Expected<std::optional<Job>> job =
            m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0 + 100);
        QVERIFY(job && job.value());
        QCOMPARE(job.value()->state, Job::State::Running);
        QCOMPARE(job.value()->attempts, 1);
        order << job.value()->name;
    }
    QCOMPARE(order, (QStringList{QStringLiteral("high-early"), QStringLiteral("high-late"),
                                 QStringLiteral("low-early"), QStringLiteral("low-late")}));
    Expected<std::optional<Job>> none = m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0);
    QVERIFY(none);
    QVERIFY(!none.value());
}

void TestJobQueue::concurrentSupervisorsNeverShareAJob()
{
    constexpr int jobs = 120;
    for (int i = 0; i < jobs; ++i)
        submit(QStringLiteral("job %1").arg(i));
    QMutex mutex;
    QList<qint64> leased;
    QAtomicInt failures = 0;
    QVERIFY(m_store->inThreads(4, [&](int t, QSqlDatabase c) {
        const QString owner = QStringLiteral("supervisor-%1").arg(t);
        for (;;) {
            Expected<std::optional<Job>> job = m_queue->lease(c, owner, LeaseMs, T0 + 1);
            if (!job) {
                failures.ref();
                break;
            }
            if (!job.value())
                break;
            if (!m_queue->finish(c, job.value()->id, owner, succeeded(), T0 + 2))
                failures.ref();
            const QMutexLocker locker(&mutex);
            leased << job.value()->id;
        }
    }));
    QCOMPARE(failures.loadRelaxed(), 0);
    QCOMPARE(leased.size(), jobs);
    QCOMPARE(QSet<qint64>(leased.cbegin(), leased.cend()).size(), jobs);
    QCOMPARE(audited(QStringLiteral("job.finished")), jobs);
}

void TestJobQueue::onlyTheLeaseOwnerFinishesAndOnlyOnce()
{
    const Job job = submit(QStringLiteral("once"));
    QVERIFY(m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0).value());
    Expected<Job> stranger = m_queue->finish(db(), job.id, QStringLiteral("w2"), succeeded(), T0);
    QCOMPARE(stranger.code(), JobQueue::WrongState);
    Expected<Job> done = m_queue->finish(db(), job.id, QStringLiteral("w1"), succeeded(), T0 + 1);
    QVERIFY(done);
    QCOMPARE(done->state, Job::State::Succeeded);
    QCOMPARE(done->outputPath, QStringLiteral("/out/a.mp4"));
    QCOMPARE(done->progress, 1.0);
    QCOMPARE(m_queue->finish(db(), job.id, QStringLiteral("w1"), succeeded(), T0 + 2).code(),
             JobQueue::WrongState);
    QCOMPARE(audited(QStringLiteral("job.finished")), 1);
}

void TestJobQueue::anExpiredLeaseReturnsTheJobUntilAttemptsRunOut()
{
    const Job job = submit(QStringLiteral("flaky"));
    qint64 now = T0;
    for (int attempt = 1; attempt <= 3; ++attempt) {
        Expected<std::optional<Job>> leased =
            m_queue->lease(db(), QStringLiteral("w%1").arg(attempt), LeaseMs, now);
        QVERIFY(leased && leased.value());
        QCOMPARE(leased.value()->attempts, attempt);
        // Not yet expired: nothing to reclaim.
        QCOMPARE(m_queue->reclaimExpired(db(), now + LeaseMs - 1).value(), 0);
        now += LeaseMs;
        QCOMPARE(m_queue->reclaimExpired(db(), now).value(), 1);
        const Job after = m_queue->find(db(), job.id).value();
        QCOMPARE(after.state, attempt < 3 ? Job::State::Queued : Job::State::Failed);
        // The worker that lost the lease cannot report any more.
        QCOMPARE(m_queue->finish(db(), job.id, QStringLiteral("w%1").arg(attempt), succeeded(), now)
                     .code(),
                 JobQueue::WrongState);
    }
    const Job failed = m_queue->find(db(), job.id).value();
    QVERIFY(failed.error.contains(QStringLiteral("lease")));
    QCOMPARE(audited(QStringLiteral("job.requeued")), 2);
    QCOMPARE(audited(QStringLiteral("job.finished")), 1);

    // A crash reported by the supervisor retries the same way.
    const Job crashy = submit(QStringLiteral("crashy"));
    for (int attempt = 1; attempt <= 3; ++attempt) {
        // Each retry waits twice as long as the one before.
        const qint64 wait = JobQueue::RetryBackoffMs << (attempt - 1);
        QVERIFY(m_queue->lease(db(), QStringLiteral("w"), LeaseMs, now).value());
        Expected<Job> after = m_queue->finish(db(), crashy.id, QStringLiteral("w"), crashed(), now);
        QVERIFY(after);
        QCOMPARE(after->state, attempt < 3 ? Job::State::Queued : Job::State::Failed);
        if (attempt == 3) {
            QVERIFY(!after->notBefore);
            break;
        }
        QCOMPARE(after->notBefore.value_or(0), now + wait);
        QVERIFY(!m_queue->lease(db(), QStringLiteral("w"), LeaseMs, now + wait - 1).value());
        now += wait;
    }
}

void TestJobQueue::heartbeatsKeepTheLease()
{
    const Job job = submit(QStringLiteral("long"));
    QVERIFY(m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0).value());
    for (int i = 1; i <= 5; ++i) {
        const qint64 now = T0 + i * (LeaseMs - 1000);
        QVERIFY(m_queue->heartbeat(db(), job.id, QStringLiteral("w1"), LeaseMs, i * 0.1, now));
        QCOMPARE(m_queue->reclaimExpired(db(), now + 1).value(), 0);
    }
    QCOMPARE(m_queue->find(db(), job.id)->progress, 0.5);
    QCOMPARE(m_queue->heartbeat(db(), job.id, QStringLiteral("w2"), LeaseMs, 0.9, T0).code(),
             JobQueue::WrongState);
}

void TestJobQueue::cancelRetryPurge()
{
    const Job queued = submit(QStringLiteral("to cancel"));
    QCOMPARE(m_queue->purge(db(), queued.id, operatorActor, T0).code(), JobQueue::WrongState);
    Expected<Job> cancelled =
        m_queue->cancel(db(), queued.id, operatorActor, QStringLiteral("not needed"), T0 + 1);
    QVERIFY(cancelled);
    QCOMPARE(cancelled->state, Job::State::Cancelled);
    QCOMPARE(
        m_queue->cancel(db(), queued.id, operatorActor, QStringLiteral("again"), T0 + 2).code(),
        JobQueue::WrongState);
    Expected<Job> retried = m_queue->retry(db(), queued.id, operatorActor, T0 + 3);
    QVERIFY(retried);
    QCOMPARE(retried->state, Job::State::Queued);
    QCOMPARE(retried->attempts, 0);

    // Cancelling a running job: the worker's later report is ignored.
    QVERIFY(m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0 + 4).value());
    QVERIFY(m_queue->cancel(db(), queued.id, operatorActor, QStringLiteral("stop"), T0 + 5));
    QCOMPARE(m_queue->finish(db(), queued.id, QStringLiteral("w1"), succeeded(), T0 + 6).code(),
             JobQueue::WrongState);
    QCOMPARE(m_queue->find(db(), queued.id)->state, Job::State::Cancelled);

    QVERIFY(m_queue->purge(db(), queued.id, operatorActor, T0 + 7));
    QCOMPARE(m_queue->find(db(), queued.id).code(), JobQueue::NotFound);
    QSqlQuery q(db());
    QVERIFY(q.exec(QStringLiteral("SELECT count(*) FROM job_events")) && q.next());
    QCOMPARE(q.value(0).toInt(), 0); // events go with the job
    QCOMPARE(audited(QStringLiteral("job.purged")), 1);
}

void TestJobQueue::everyTransitionIsAudited()
{
    const Job job = submit(QStringLiteral("audited"));
    QVERIFY(m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0).value());
    QVERIFY(m_queue->finish(db(), job.id, QStringLiteral("w1"), crashed(), T0 + 1));
    const qint64 retryAt = T0 + 1 + JobQueue::RetryBackoffMs;
    QVERIFY(m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, retryAt).value());
    QVERIFY(m_queue->finish(db(), job.id, QStringLiteral("w1"), succeeded(), retryAt + 1));
    QSqlQuery events(db());
    QVERIFY(events.exec(QStringLiteral("SELECT kind FROM job_events ORDER BY id")));
    QStringList kinds;
    while (events.next())
        kinds << events.value(0).toString();
    const QStringList expected{QStringLiteral("job.submitted"), QStringLiteral("job.started"),
                               QStringLiteral("job.requeued"), QStringLiteral("job.started"),
                               QStringLiteral("job.finished")};
    QCOMPARE(kinds, expected);
    QSqlQuery audit(db());
    QVERIFY(audit.exec(QStringLiteral("SELECT action FROM audit_records WHERE action LIKE 'job.%' "
                                      "ORDER BY seq")));
    QStringList actions;
    while (audit.next())
        actions << audit.value(0).toString();
    QCOMPARE(actions, expected);
    Expected<AuditVerification> v = AuditVerifier::verify(
        db(), m_store->secrets.audit->key(), m_store->secrets.audit->anchor().read().value());
    QVERIFY(v && v->ok());

    // A transition whose audit record cannot be written does not happen.
    const Job other = submit(QStringLiteral("blocked"));
    QSqlQuery trigger(db());
    QVERIFY(trigger.exec(QStringLiteral("CREATE TRIGGER refuse BEFORE INSERT ON audit_records "
                                        "BEGIN SELECT RAISE(ABORT, 'audit full'); END")));
    QVERIFY(!m_queue->lease(db(), QStringLiteral("w1"), LeaseMs, T0 + 4));
    QVERIFY(!m_queue->cancel(db(), other.id, operatorActor, QStringLiteral("x"), T0 + 4));
    QCOMPARE(m_queue->find(db(), other.id)->state, Job::State::Queued);
    QCOMPARE(m_queue->find(db(), other.id)->attempts, 0);
}

void TestJobQueue::jobNamesCannotForgeLogLines()
{
    const QString forged = QStringLiteral(
        "clip\nframehouse: authentication failure from 1.2.3.4 key=x reason=y\r\x1b[2J\u2028end");
    submit(forged);
    QSqlQuery q(db());
    QVERIFY(q.exec(QStringLiteral("SELECT details FROM audit_records WHERE action = "
                                  "'job.submitted'")) &&
            q.next());
    const QString details = q.value(0).toString();
    for (const QChar c : details)
        QVERIFY2(c.unicode() >= 0x20 && c.unicode() != 0x7f && c.unicode() != 0x2028,
                 qPrintable(details));
    QVERIFY(details.contains(QStringLiteral("clip\\\\nframehouse")));
}

QTEST_GUILESS_MAIN(TestJobQueue)
#include "tst_jobqueue.moc"
