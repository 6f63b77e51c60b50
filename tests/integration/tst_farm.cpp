#include "enginefixture.h"
#include "mediagen.h"

#include "jobs/farmroots.h"
#include "jobs/jobqueue.h"
#include "security/apikeyregistry.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QTest>

#include <csignal>

// The farm as it runs: a real framehoused with its real sandboxed workers
// over a real store, the test submitting jobs through its own connection
// and watching them, as framehousectl and the console do.
class TestFarm : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void jobSucceedsWithSoftwareFallbackRecorded();
    void badMediaFailsAndTheFarmGoesOn();
    void cancelStopsTheWorker();
    void pauseHoldsTheQueue();
    void crashedWorkerIsRetried();
    void hungWorkerIsKilledAndRetried();
    void keyConcurrencyLimitIsHonoured();
    void stoppedEngineRequeuesRunningJobs();
    void killedEngineLeavesNoWorkerAndRecovers();
    void expiredOutputsAreRemoved();
    void anotherFileIsNeverReplaced();
    void rootRemovedAfterSubmissionStopsTheJob();
    void workerLimitsComeFromTheSettings();

private:
    QString clip(const QString &name, int seconds, int width = 320, int height = 240);
    QStringList outputFiles() const;
    static bool processExists(qint64 pid) { return pid > 0 && ::kill(pid_t(pid), 0) == 0; }
    qint64 waitForWorkerPid(qint64 jobId);

    std::unique_ptr<EngineFixture> m_farm;
};

void TestFarm::initTestCase() { QVERIFY(QFile::exists(QStringLiteral(FRAMEHOUSE_WORKER_PATH))); }

void TestFarm::init()
{
    m_farm = std::make_unique<EngineFixture>();
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.workers"), QStringLiteral("2")));
}

void TestFarm::cleanup() { m_farm.reset(); }

QString TestFarm::clip(const QString &name, int seconds, int width, int height)
{
    MediaGen::ClipOptions options;
    options.width = width;
    options.height = height;
    options.seconds = seconds;
    const QString file = m_farm->inputDir() + u'/' + name;
    const QString error = MediaGen::writeClip(file, options);
    if (!error.isEmpty())
        qFatal("cannot make the clip: %s", qPrintable(error));
    return name;
}

QStringList TestFarm::outputFiles() const
{
    return QDir(m_farm->outputDir())
        .entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

qint64 TestFarm::waitForWorkerPid(qint64 jobId)
{
    for (int i = 0; i < 400; ++i) {
        Expected<Job> job = m_farm->job(jobId);
        if (job && job->state == Job::State::Running && job->workerPid && *job->workerPid > 0)
            return *job->workerPid;
        QTest::qWait(25);
    }
    return 0;
}

void TestFarm::jobSucceedsWithSoftwareFallbackRecorded()
{
    QVERIFY(m_farm->startEngine());
    const QString input = clip(QStringLiteral("a.mp4"), 2);
    Expected<Job> submitted =
        m_farm->submit(QStringLiteral("web-720p-h264"), input, QStringLiteral("a-web.mp4"));
    VERIFY_EXPECTED(submitted);
    QVERIFY(m_farm->waitFinal({submitted->id}, 120000));
    Expected<Job> done = m_farm->job(submitted->id);
    QVERIFY2(done->state == Job::State::Succeeded, qPrintable(done->error));
    QCOMPARE(done->attempts, 1);
    QCOMPARE(done->encoder, QStringLiteral("libx264"));
    QCOMPARE(done->outputPath, m_farm->outputDir() + QStringLiteral("/a-web.mp4"));
    QCOMPARE(outputFiles(), QStringList{QStringLiteral("a-web.mp4")}); // no temporary left

    const MediaGen::Probe probe = MediaGen::probe(done->outputPath);
    QVERIFY2(probe.error.isEmpty(), qPrintable(probe.error));
    QCOMPARE(probe.streams.size(), 2);
    QVERIFY(qAbs(probe.durationUs - 2000000) <= 34000);

    // "auto" found no hardware here, or used it: either way the event says
    // which encoder ran and why the others were not used.
    const QString events = m_farm->events(submitted->id).join(u'\n');
    QVERIFY2(events.contains(QStringLiteral("encoder libx264 (software)")), qPrintable(events));
    QVERIFY2(events.contains(QStringLiteral("h264_nvenc: ")), qPrintable(events));
    QCOMPARE(m_farm->auditCount(QStringLiteral("job.finished"), done->uuid), 1);
    QVERIFY(m_farm->stopEngine());
    QCOMPARE(m_farm->verifyAudit(), 0);
}

void TestFarm::badMediaFailsAndTheFarmGoesOn()
{
    const QString in = m_farm->inputDir();
    const auto write = [&](const QString &name, const QByteArray &bytes) {
        QFile f(in + u'/' + name);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
    };
    write(QStringLiteral("empty.mp4"), {});
    QByteArray noise(256 * 1024, Qt::Uninitialized);
    QRandomGenerator(7).fillRange(reinterpret_cast<quint32 *>(noise.data()), noise.size() / 4);
    write(QStringLiteral("noise.mp4"), noise);
    write(QStringLiteral("list.m3u8"), "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                                       "/etc/passwd\n#EXTINF:10,\nhttp://127.0.0.1:1/x.ts\n"
                                       "#EXT-X-ENDLIST\n");
    write(QStringLiteral("list.ffconcat"), "ffconcat version 1.0\nfile '/etc/passwd'\n"
                                           "file 'http://127.0.0.1:1/x.ts'\n");
    clip(QStringLiteral("whole.mp4"), 2);
    QVERIFY(QFile::copy(in + QStringLiteral("/whole.mp4"), in + QStringLiteral("/cut.mp4")));
    QVERIFY(MediaGen::truncate(in + QStringLiteral("/cut.mp4"), 0.5).isEmpty());
    QVERIFY(MediaGen::writeHugeDimensionClip(in + QStringLiteral("/huge.mkv")).isEmpty());

    QVERIFY(m_farm->startEngine());
    const QStringList bad{QStringLiteral("empty.mp4"), QStringLiteral("noise.mp4"),
                          QStringLiteral("list.m3u8"), QStringLiteral("list.ffconcat"),
                          QStringLiteral("cut.mp4"),   QStringLiteral("huge.mkv")};
    QList<qint64> ids;
    for (const QString &name : bad) {
        Expected<Job> job =
            m_farm->submit(QStringLiteral("proxy-540p-h264"), name,
                           QFileInfo(name).completeBaseName() + QStringLiteral("-out.mov"));
        VERIFY_EXPECTED(job);
        ids << job->id;
    }
    Expected<Job> good =
        m_farm->submit(QStringLiteral("proxy-540p-h264"), QStringLiteral("whole.mp4"),
                       QStringLiteral("whole-out.mov"));
    QVERIFY(good);
    QVERIFY(m_farm->waitFinal(ids + QList<qint64>{good->id}, 180000));
    for (int i = 0; i < ids.size(); ++i) {
        Expected<Job> job = m_farm->job(ids[i]);
        QVERIFY2(job->state == Job::State::Failed, qPrintable(bad[i]));
        QCOMPARE(job->attempts, 1); // refused media is not retried
        QVERIFY2(!job->error.isEmpty(), qPrintable(bad[i]));
        QVERIFY2(!job->error.contains(QStringLiteral("root:")), qPrintable(job->error));
        qInfo("%s: %s", qPrintable(bad[i]), qPrintable(job->error));
    }
    QVERIFY(m_farm->job(ids[5])->error.contains(QStringLiteral("100000")));
    QCOMPARE(m_farm->job(good->id)->state, Job::State::Succeeded);
    // Nothing but the good output was written, nothing was left behind.
    QCOMPARE(outputFiles(), QStringList{QStringLiteral("whole-out.mov")});
}

void TestFarm::cancelStopsTheWorker()
{
    const QString input = clip(QStringLiteral("long.mp4"), 60, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("archive-hevc"), input, QStringLiteral("long.mkv"),
                       {{QStringLiteral("video.speed"), QStringLiteral("slow")}});
    VERIFY_EXPECTED(job);
    const qint64 pid = waitForWorkerPid(job->id);
    QVERIFY(pid > 0);
    Expected<Job> cancelled =
        JobQueue(m_farm->secrets().audit)
            .cancel(m_farm->db(), job->id, QStringLiteral("operator:test"),
                    QStringLiteral("not needed"), QDateTime::currentMSecsSinceEpoch());
    QVERIFY(cancelled);
    QTRY_VERIFY_WITH_TIMEOUT(!processExists(pid), 15000);
    QTRY_COMPARE_WITH_TIMEOUT(outputFiles(), QStringList(), 5000);
    QCOMPARE(m_farm->job(job->id)->state, Job::State::Cancelled);
}

void TestFarm::pauseHoldsTheQueue()
{
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.paused"), QStringLiteral("1")));
    QVERIFY(m_farm->startEngine());
    Expected<Job> job = m_farm->submit(QStringLiteral("proxy-540p-h264"),
                                       clip(QStringLiteral("p.mp4"), 1), QStringLiteral("p.mov"));
    QVERIFY(job);
    QTest::qWait(2500); // several ticks and settings reads of the engine
    QCOMPARE(m_farm->job(job->id)->state, Job::State::Queued);
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.paused"), QStringLiteral("0")));
    QVERIFY(m_farm->waitFinal({job->id}, 60000));
    QCOMPARE(m_farm->job(job->id)->state, Job::State::Succeeded);
}

void TestFarm::crashedWorkerIsRetried()
{
    const QString input = clip(QStringLiteral("c.mp4"), 30, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("web-720p-h264"), input, QStringLiteral("c.mp4"),
                       {{QStringLiteral("video.speed"), QStringLiteral("medium")}});
    QVERIFY(job);
    const qint64 pid = waitForWorkerPid(job->id);
    QVERIFY(pid > 0);
    QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
    QVERIFY(m_farm->waitFinal({job->id}, 180000));
    Expected<Job> done = m_farm->job(job->id);
    QVERIFY2(done->state == Job::State::Succeeded, qPrintable(done->error));
    QCOMPARE(done->attempts, 2);
    const QString events = m_farm->events(job->id).join(u'\n');
    QVERIFY2(events.contains(QStringLiteral("job.requeued")), qPrintable(events));
    QCOMPARE(m_farm->auditCount(QStringLiteral("job.finished"), done->uuid), 1);
    QCOMPARE(outputFiles(), QStringList{QStringLiteral("c.mp4")});
}

void TestFarm::hungWorkerIsKilledAndRetried()
{
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.stall_timeout_s"), QStringLiteral("5")));
    const QString input = clip(QStringLiteral("h.mp4"), 20, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("web-720p-h264"), input, QStringLiteral("h.mp4"),
                       {{QStringLiteral("video.speed"), QStringLiteral("medium")}});
    QVERIFY(job);
    const qint64 pid = waitForWorkerPid(job->id);
    QVERIFY(pid > 0);
    QCOMPARE(::kill(pid_t(pid), SIGSTOP), 0); // alive, silent: a hang
    QTRY_VERIFY_WITH_TIMEOUT(!processExists(pid), 30000);
    QVERIFY(m_farm->waitFinal({job->id}, 180000));
    Expected<Job> done = m_farm->job(job->id);
    QVERIFY2(done->state == Job::State::Succeeded, qPrintable(done->error));
    QCOMPARE(done->attempts, 2);
    QVERIFY(m_farm->events(job->id).join(u'\n').contains(QStringLiteral("hung")));
}

void TestFarm::keyConcurrencyLimitIsHonoured()
{
    ApiKeyRegistry::NewKey request;
    request.name = QStringLiteral("limited");
    request.ownerUser = QStringLiteral("svc");
    request.scopes = ScopeNames::parse(QStringLiteral("jobs:submit")).value();
    request.maxConcurrentJobs = 1;
    ApiKeyRegistry keys(m_farm->secrets().pepper, m_farm->secrets().audit);
    Expected<ApiKeyRegistry::Created> created =
        keys.create(m_farm->db(), request, QStringLiteral("operator:test"),
                    QDateTime::currentMSecsSinceEpoch());
    VERIFY_EXPECTED(created);
    TestSupport::recordSecret(created->token);
    const QString actor = QStringLiteral("key:") + created->key.id;
    const QString input = clip(QStringLiteral("k.mp4"), 4, 640, 360);
    QList<qint64> ids;
    for (int i = 0; i < 3; ++i) {
        Expected<Job> job = m_farm->submit(QStringLiteral("web-720p-h264"), input,
                                           QStringLiteral("k%1.mp4").arg(i), {}, actor);
        QVERIFY(job);
        ids << job->id;
    }
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.workers"), QStringLiteral("3")));
    QVERIFY(m_farm->startEngine());
    int mostRunning = 0;
    QDeadlineTimer deadline(180000);
    bool allFinal = false;
    while (!allFinal && !deadline.hasExpired()) {
        int running = 0;
        allFinal = true;
        for (qint64 id : std::as_const(ids)) {
            Expected<Job> job = m_farm->job(id);
            running += job->state == Job::State::Running ? 1 : 0;
            allFinal = allFinal && job->isFinal();
        }
        mostRunning = std::max(mostRunning, running);
        QTest::qWait(20);
    }
    QVERIFY(allFinal);
    QCOMPARE(mostRunning, 1);
    for (qint64 id : std::as_const(ids))
        QCOMPARE(m_farm->job(id)->state, Job::State::Succeeded);
}

void TestFarm::stoppedEngineRequeuesRunningJobs()
{
    const QString input = clip(QStringLiteral("s.mp4"), 30, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("web-720p-h264"), input, QStringLiteral("s.mp4"),
                       {{QStringLiteral("video.speed"), QStringLiteral("slow")}});
    QVERIFY(job);
    const qint64 pid = waitForWorkerPid(job->id);
    QVERIFY(pid > 0);
    QVERIFY(m_farm->stopEngine());
    QVERIFY(!processExists(pid));
    Expected<Job> after = m_farm->job(job->id);
    QCOMPARE(after->state, Job::State::Queued);
    QCOMPARE(after->attempts, 0); // the interrupted attempt is not counted
    QCOMPARE(outputFiles(), QStringList());
}

void TestFarm::killedEngineLeavesNoWorkerAndRecovers()
{
    const QString input = clip(QStringLiteral("r.mp4"), 20, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("web-720p-h264"), input, QStringLiteral("r.mp4"),
                       {{QStringLiteral("video.speed"), QStringLiteral("medium")}});
    QVERIFY(job);
    const qint64 pid = waitForWorkerPid(job->id);
    QVERIFY(pid > 0);
    m_farm->killEngine();
    QTRY_VERIFY_WITH_TIMEOUT(!processExists(pid), 5000);        // died with its engine
    QCOMPARE(m_farm->job(job->id)->state, Job::State::Running); // nobody told the store
    QVERIFY(m_farm->startEngine());
    QVERIFY(m_farm->waitFinal({job->id}, 180000));
    Expected<Job> done = m_farm->job(job->id);
    QVERIFY2(done->state == Job::State::Succeeded, qPrintable(done->error));
    QCOMPARE(m_farm->auditCount(QStringLiteral("job.finished"), done->uuid), 1);
    QCOMPARE(outputFiles(),
             QStringList{QStringLiteral("r.mp4")}); // the killed attempt's temp is gone
    QVERIFY(m_farm->stopEngine());
    QCOMPARE(m_farm->verifyAudit(), 0);
}

void TestFarm::expiredOutputsAreRemoved()
{
    QVERIFY(m_farm->startEngine());
    Expected<Job> old = m_farm->submit(QStringLiteral("proxy-540p-h264"),
                                       clip(QStringLiteral("o.mp4"), 1), QStringLiteral("old.mov"));
    Expected<Job> recent = m_farm->submit(QStringLiteral("proxy-540p-h264"),
                                          QStringLiteral("o.mp4"), QStringLiteral("recent.mov"));
    VERIFY_EXPECTED(old);
    VERIFY_EXPECTED(recent);
    QVERIFY(m_farm->waitFinal({old->id, recent->id}, 60000));
    QVERIFY(m_farm->stopEngine());
    QCOMPARE(outputFiles(), (QStringList{QStringLiteral("old.mov"), QStringLiteral("recent.mov")}));

    // One finished 31 days ago (retention is 30 days); the engine looks at
    // start and then every hour.
    QSqlQuery q(m_farm->db());
    q.prepare(QStringLiteral("UPDATE jobs SET finished_at = ? WHERE id = ?"));
    q.addBindValue(QDateTime::currentMSecsSinceEpoch() - 31LL * 86400 * 1000);
    q.addBindValue(old->id);
    QVERIFY(q.exec());
    QVERIFY(m_farm->startEngine());
    QTRY_COMPARE_WITH_TIMEOUT(outputFiles(), QStringList{QStringLiteral("recent.mov")}, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(m_farm->job(old->id)->outputRemovedAt.has_value(), 5000);
    QVERIFY(!m_farm->job(recent->id)->outputRemovedAt);
    QCOMPARE(m_farm->auditCount(QStringLiteral("job.output_removed"), old->uuid), 1);
    QVERIFY(m_farm->stopEngine());
    QCOMPARE(m_farm->verifyAudit(), 0);
}

void TestFarm::anotherFileIsNeverReplaced()
{
    QFile existing(m_farm->outputDir() + QStringLiteral("/taken.mov"));
    QVERIFY(existing.open(QIODevice::WriteOnly));
    existing.write("someone else's file");
    existing.close();
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("proxy-540p-h264"), clip(QStringLiteral("t.mp4"), 1),
                       QStringLiteral("taken.mov"));
    VERIFY_EXPECTED(job);
    QVERIFY(m_farm->waitFinal({job->id}, 60000));
    Expected<Job> done = m_farm->job(job->id);
    QCOMPARE(done->state, Job::State::Failed);
    QVERIFY2(done->error.contains(QStringLiteral("already exists")), qPrintable(done->error));
    QCOMPARE(done->attempts, 1); // another attempt would find the same file
    QVERIFY(existing.open(QIODevice::ReadOnly));
    QCOMPARE(existing.readAll(), QByteArray("someone else's file"));
    QCOMPARE(outputFiles(), QStringList{QStringLiteral("taken.mov")}); // no temporary left
}

void TestFarm::rootRemovedAfterSubmissionStopsTheJob()
{
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.paused"), QStringLiteral("1")));
    QVERIFY(m_farm->startEngine());
    Expected<Job> job = m_farm->submit(QStringLiteral("proxy-540p-h264"),
                                       clip(QStringLiteral("g.mp4"), 1), QStringLiteral("g.mov"));
    VERIFY_EXPECTED(job);
    const QString root = QFileInfo(m_farm->outputDir()).canonicalFilePath();
    VERIFY_EXPECTED(FarmRoots::remove(m_farm->db(), m_farm->audit(), FarmRoots::Kind::Output, root,
                                      QStringLiteral("operator:test"),
                                      QDateTime::currentMSecsSinceEpoch()));
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.paused"), QStringLiteral("0")));
    QVERIFY(m_farm->waitFinal({job->id}, 60000));
    Expected<Job> done = m_farm->job(job->id);
    QCOMPARE(done->state, Job::State::Failed);
    QCOMPARE(done->attempts, 1); // refused, not retried
    QVERIFY2(done->error.startsWith(QStringLiteral("output.directory: ")), qPrintable(done->error));
    QCOMPARE(outputFiles(), QStringList());
}

void TestFarm::workerLimitsComeFromTheSettings()
{
    // A 1 MiB output limit: the worker's write fails past it, and the job
    // fails at once with what happened; nothing is left in the output root.
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.max_output_mb"), QStringLiteral("1")));
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.worker_memory_mb"), QStringLiteral("4096")));
    const QString input = clip(QStringLiteral("big.mp4"), 10, 640, 360);
    QVERIFY(m_farm->startEngine());
    Expected<Job> job =
        m_farm->submit(QStringLiteral("archive-hevc"), input, QStringLiteral("big.mkv"),
                       {{QStringLiteral("video.crf"), QStringLiteral("0")},
                        {QStringLiteral("video.speed"), QStringLiteral("ultrafast")},
                        {QStringLiteral("hardware"), QStringLiteral("software")}});
    VERIFY_EXPECTED(job);
    QVERIFY(m_farm->waitFinal({job->id}, 120000));
    Expected<Job> done = m_farm->job(job->id);
    QCOMPARE(done->state, Job::State::Failed);
    QCOMPARE(done->attempts, 1);
    QVERIFY2(done->error.contains(QStringLiteral("file size limit of 1 MiB")),
             qPrintable(done->error));
    QCOMPARE(outputFiles(), QStringList());

    // The address-space limit a software-only worker runs under (a slow
    // job, so that the worker is there to look at).
    QVERIFY(m_farm->setSetting(QStringLiteral("farm.max_output_mb"), QStringLiteral("65536")));
    Expected<Job> slow =
        m_farm->submit(QStringLiteral("archive-hevc"), input, QStringLiteral("slow.mkv"),
                       {{QStringLiteral("video.speed"), QStringLiteral("slow")},
                        {QStringLiteral("hardware"), QStringLiteral("software")}});
    VERIFY_EXPECTED(slow);
    const qint64 pid = waitForWorkerPid(slow->id);
    QVERIFY(pid > 0);
#if defined(__SANITIZE_ADDRESS__)
    const QString expected = QStringLiteral("unlimited"); // ASan reserves terabytes
#else
    const QString expected = QString::number(4096LL * 1024 * 1024);
#endif
    static const QRegularExpression addressSpace(
        QStringLiteral("Max address space\\s+(\\S+)\\s+(\\S+)"));
    const auto softLimit = [pid] {
        QFile limits(QStringLiteral("/proc/%1/limits").arg(pid));
        if (!limits.open(QIODevice::ReadOnly))
            return QString();
        return addressSpace.match(QString::fromLatin1(limits.readAll())).captured(1);
    };
    // The worker sets it on itself before it reads its input.
    QTRY_COMPARE_WITH_TIMEOUT(softLimit(), expected, 5000);
    VERIFY_EXPECTED(JobQueue(m_farm->secrets().audit)
                        .cancel(m_farm->db(), slow->id, QStringLiteral("operator:test"),
                                QStringLiteral("seen enough"),
                                QDateTime::currentMSecsSinceEpoch()));
    QTRY_VERIFY_WITH_TIMEOUT(!processExists(pid), 15000);
}

QTEST_GUILESS_MAIN(TestFarm)
#include "tst_farm.moc"
