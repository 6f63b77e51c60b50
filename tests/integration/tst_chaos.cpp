#include "enginefixture.h"
#include "mediagen.h"

#include <QDeadlineTimer>
#include <QRandomGenerator>
#include <QTest>

#include <csignal>

// A batch of 20 jobs while workers are killed at random every few seconds
// and the engine itself is killed once and started again: every job must
// end succeeded with a valid output, each with exactly one "finished"
// audit record, and the audit log must verify.
class TestChaos : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void batchSurvivesKilledWorkersAndEngine();
};

void TestChaos::batchSurvivesKilledWorkersAndEngine()
{
    EngineFixture farm;
    QVERIFY(farm.setSetting(QStringLiteral("farm.workers"), QStringLiteral("2")));
    // A job's worker is killed at most twice (on its first two attempts)
    // and the engine once: four attempts are always enough, and no job
    // waits through long backoffs at the end of the batch.
    QVERIFY(farm.setSetting(QStringLiteral("farm.max_attempts"), QStringLiteral("4")));
    MediaGen::ClipOptions options;
    // Long enough (several seconds of work per job on two cores) that the
    // kills land while jobs run.
    options.width = 960;
    options.height = 540;
    options.seconds = 8;
    QVERIFY(MediaGen::writeClip(farm.inputDir() + QStringLiteral("/chaos.mp4"), options).isEmpty());

    QList<qint64> ids;
    for (int i = 0; i < 20; ++i) {
        Expected<Job> job =
            farm.submit(QStringLiteral("web-720p-h264"), QStringLiteral("chaos.mp4"),
                        QStringLiteral("chaos-%1.mp4").arg(i, 2, 10, QChar(u'0')));
        VERIFY_EXPECTED(job);
        ids << job->id;
    }
    QVERIFY(farm.startEngine());

    QRandomGenerator random(QRandomGenerator::global()->generate());
    int workersKilled = 0;
    bool engineKilled = false;
    QDeadlineTimer deadline(4 * 60 * 1000); // within Qt Test's 5 minutes
    QDeadlineTimer nextKill(2000 + random.bounded(2000));
    while (!farm.waitFinal(ids, 200) && !deadline.hasExpired()) {
        if (!nextKill.hasExpired())
            continue;
        nextKill.setRemainingTime(2000 + random.bounded(2000));
        QList<qint64> pids;
        for (qint64 id : std::as_const(ids)) {
            Expected<Job> job = farm.job(id);
            if (job && job->state == Job::State::Running && job->workerPid && job->attempts <= 2)
                pids << *job->workerPid;
        }
        if (pids.isEmpty())
            continue;
        if (!engineKilled && workersKilled == 2) {
            farm.killEngine();
            engineKilled = true;
            QVERIFY(farm.startEngine());
            continue;
        }
        if (::kill(pid_t(pids.at(random.bounded(int(pids.size())))), SIGKILL) == 0)
            ++workersKilled;
    }
    qInfo("workers killed: %d, engine killed: %s", workersKilled, engineKilled ? "yes" : "no");
    QVERIFY(!deadline.hasExpired());
    QVERIFY(workersKilled >= 3);
    QVERIFY(engineKilled);

    int retried = 0;
    for (qint64 id : std::as_const(ids)) {
        Expected<Job> job = farm.job(id);
        QVERIFY2(job->state == Job::State::Succeeded,
                 qPrintable(QStringLiteral("job %1: %2").arg(id).arg(job->error)));
        retried += job->attempts > 1 ? 1 : 0;
        QCOMPARE(farm.auditCount(QStringLiteral("job.finished"), job->uuid), 1);
        const MediaGen::Probe probe = MediaGen::probe(job->outputPath);
        QVERIFY2(probe.error.isEmpty(), qPrintable(probe.error));
        QCOMPARE(probe.streams.size(), 2);
        QVERIFY(qAbs(probe.durationUs - 8000000) <= 34000);
    }
    qInfo("jobs that needed more than one attempt: %d", retried);
    QVERIFY(retried >= 1);
    QVERIFY(farm.stopEngine());
    QCOMPARE(farm.verifyAudit(), 0);
}

QTEST_GUILESS_MAIN(TestChaos)
#include "tst_chaos.moc"
