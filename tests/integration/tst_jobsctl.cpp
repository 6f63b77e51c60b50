#include "enginefixture.h"
#include "mediagen.h"
#include "testsupport.h"

#include "audit/auditrecord.h"
#include "jobs/farmstate.h"
#include "jobs/jobqueue.h"
#include "store/storesettings.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QTest>

namespace {
const QString preset = QStringLiteral("web-720p-h264");
const QString testOwner = QStringLiteral("engine-test");
const QString warningPrefix = QStringLiteral("framehousectl: warning: ");

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

QStringList lines(const QString &text) { return text.split(u'\n', Qt::SkipEmptyParts); }

QJsonDocument parseJson(const QString &text) { return QJsonDocument::fromJson(text.toUtf8()); }

bool writeFile(const QString &path, const QByteArray &content = "not media\n")
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) &&
           file.write(content) == content.size();
}
} // namespace

// framehousectl jobs and farm, run as real processes against a real store
// that the test holds open too (as the engine would), checking what they
// leave in the store: jobs, settings, roots and audit records.
class TestJobsCtl : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void rootsAddListRemove();
    void rootsRefused_data();
    void rootsRefused();
    void submitRefused_data();
    void submitRefused();
    void submitQueuesAJob();
    void outputName_data();
    void outputName();
    void cancelRetryCancel();
    void purgeNeedsYes();
    void purgeRefusesAQueuedJob();
    void purgeRemovesACancelledJob();
    void purgeRemovesTheOutputOnlyInsideARoot_data();
    void purgeRemovesTheOutputOnlyInsideARoot();
    void purgeRemovesTheUpload();
    void pauseAndResumeAreAudited();
    void statusWithoutEngine();
    void statusOfARunningEngine();
    void hardwareMatrix();
    void waitFollowsTheJob_data();
    void waitFollowsTheJob();
    void waitDrawsProgressOnATerminal();
    void submitAndWaitWithTheEngine();
    void usageErrors_data();
    void usageErrors();

private:
    QString path(const QString &name) const { return m_store->dir.filePath(name); }
    // %IN%, %OUT% and %OTHER% in `text` as the test's directories.
    QString expand(QString text) const;
    QStringList storeArgs() const;
    TestSupport::Run ctl(const QStringList &arguments) const;
    void addRoots();
    // jobs submit FILE --preset P --json; the job, empty on failure.
    QJsonObject submit(const QString &file, const QStringList &extra = {});
    QJsonObject show(qint64 id);
    QSqlDatabase db() const { return m_store->db(); }
    JobQueue queue() const { return JobQueue(m_store->secrets.audit); }
    QList<AuditRecord> audited(const QString &action) const;
    // Takes the queued job as an engine would and ends it with `outcome`.
    bool finishAsTheEngine(qint64 id, const JobQueue::Outcome &outcome);
    // The engine's pool snapshot, written `ageMs` ago.
    void publishPool(qint64 ageMs, const QJsonArray &workers = {}, bool stopped = false);
    // The job `process` submits; with `engineSeen`, the pool snapshot is
    // kept fresh meanwhile, as a running engine keeps it.
    qint64 waitForQueuedJob(QProcess &process, bool engineSeen);

    std::unique_ptr<TestSupport::TestStore> m_store;
};

void TestJobsCtl::initTestCase() { QVERIFY(QFile::exists(QStringLiteral(FRAMEHOUSECTL_PATH))); }

void TestJobsCtl::init()
{
    m_store = TestSupport::makeStore();
    for (const char *dir : {"in", "out", "other"})
        QVERIFY(QDir(m_store->dir.path()).mkpath(QString::fromLatin1(dir)));
    QVERIFY(writeFile(path(QStringLiteral("in/clip.mov"))));
    QVERIFY(writeFile(path(QStringLiteral("other/clip.mov"))));
}

void TestJobsCtl::cleanup() { m_store.reset(); }

QString TestJobsCtl::expand(QString text) const
{
    return text.replace(QStringLiteral("%IN%"), path(QStringLiteral("in")))
        .replace(QStringLiteral("%OUT%"), path(QStringLiteral("out")))
        .replace(QStringLiteral("%OTHER%"), path(QStringLiteral("other")));
}

QStringList TestJobsCtl::storeArgs() const
{
    return {QStringLiteral("--store"), path(QStringLiteral("store")), QStringLiteral("--key-file"),
            path(QStringLiteral("store.key"))};
}

TestSupport::Run TestJobsCtl::ctl(const QStringList &arguments) const
{
    return TestSupport::runCtl(arguments + storeArgs());
}

void TestJobsCtl::addRoots()
{
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("add"),
                         QStringLiteral("input"), path(QStringLiteral("in"))}));
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("add"),
                         QStringLiteral("output"), path(QStringLiteral("out"))}));
}

QJsonObject TestJobsCtl::submit(const QString &file, const QStringList &extra)
{
    const TestSupport::Run run =
        ctl(QStringList{QStringLiteral("jobs"), QStringLiteral("submit"), file,
                        QStringLiteral("--preset"), preset, QStringLiteral("--json")} +
            extra);
    if (run.exitCode != 0) {
        qWarning("jobs submit failed: %s", qPrintable(run.err));
        return {};
    }
    return parseJson(run.out).object();
}

QJsonObject TestJobsCtl::show(qint64 id)
{
    const TestSupport::Run run = ctl({QStringLiteral("jobs"), QStringLiteral("show"),
                                      QString::number(id), QStringLiteral("--json")});
    return run.exitCode == 0 ? parseJson(run.out).object() : QJsonObject();
}

QList<AuditRecord> TestJobsCtl::audited(const QString &action) const
{
    QSqlQuery q(db());
    q.prepare(QStringLiteral("SELECT %1 FROM audit_records WHERE action = ? ORDER BY seq")
                  .arg(AuditRecord::selectColumns()));
    q.addBindValue(action);
    QList<AuditRecord> records;
    if (!q.exec())
        return records;
    while (q.next())
        records << AuditRecord::fromQuery(q);
    return records;
}

bool TestJobsCtl::finishAsTheEngine(qint64 id, const JobQueue::Outcome &outcome)
{
    Expected<std::optional<Job>> leased = queue().lease(db(), testOwner, 30000, nowMs());
    if (!leased || !leased.value() || leased.value()->id != id)
        return false;
    return bool(queue().finish(db(), id, testOwner, outcome, nowMs()));
}

void TestJobsCtl::publishPool(qint64 ageMs, const QJsonArray &workers, bool stopped)
{
    const QJsonObject pool{
        {QStringLiteral("engine_pid"), 4242}, {QStringLiteral("owner"), testOwner},
        {QStringLiteral("pool_size"), 2},     {QStringLiteral("paused"), false},
        {QStringLiteral("stopped"), stopped}, {QStringLiteral("workers"), workers}};
    QVERIFY(FarmState::put(db(), FarmState::Pool, pool, nowMs() - ageMs));
}

qint64 TestJobsCtl::waitForQueuedJob(QProcess &process, bool engineSeen)
{
    QDeadlineTimer deadline(60000);
    while (!deadline.hasExpired() && process.state() != QProcess::NotRunning) {
        if (engineSeen)
            publishPool(0);
        Expected<QList<Job>> jobs = queue().list(db(), QStringLiteral("queued"), 1);
        if (jobs && !jobs->isEmpty())
            return jobs->first().id;
        QTest::qWait(20);
    }
    return 0;
}

void TestJobsCtl::rootsAddListRemove()
{
    addRoots();
    // Through a symbolic link: stored resolved, removable by either name.
    QVERIFY(QFile::link(path(QStringLiteral("other")), path(QStringLiteral("linked"))));
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("add"),
                         QStringLiteral("input"), path(QStringLiteral("linked"))}));

    TestSupport::Run list = ctl({QStringLiteral("farm"), QStringLiteral("roots"),
                                 QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(list);
    QJsonObject roots = parseJson(list.out).object();
    QStringList inputs{path(QStringLiteral("in")), path(QStringLiteral("other"))};
    inputs.sort();
    QCOMPARE(roots.value(QStringLiteral("input")).toVariant().toStringList(), inputs);
    QCOMPARE(roots.value(QStringLiteral("output")).toVariant().toStringList(),
             QStringList{path(QStringLiteral("out"))});
    list = ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("list")});
    VERIFY_SUCCEEDS(list);
    QCOMPARE(lines(list.out).size(), 4); // header and three roots
    QVERIFY(list.out.contains(QString(QStringLiteral("output  ") + path(QStringLiteral("out")))));

    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("remove"),
                         QStringLiteral("input"), path(QStringLiteral("linked"))}));
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("remove"),
                         QStringLiteral("output"), path(QStringLiteral("out"))}));
    // The same directory as the other kind is not a root of this kind.
    VERIFY_REFUSED(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("remove"),
                        QStringLiteral("output"), path(QStringLiteral("in"))}),
                   1, QStringLiteral("is not an output root"));
    list = ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("list"),
                QStringLiteral("--json")});
    roots = parseJson(list.out).object();
    QCOMPARE(roots.value(QStringLiteral("input")).toVariant().toStringList(),
             QStringList{path(QStringLiteral("in"))});
    QVERIFY(roots.value(QStringLiteral("output")).toArray().isEmpty());

    // Every change is audited with the operator as its actor.
    const QList<AuditRecord> added = audited(QStringLiteral("farm.root_added"));
    const QList<AuditRecord> removed = audited(QStringLiteral("farm.root_removed"));
    QCOMPARE(added.size(), 3);
    QCOMPARE(removed.size(), 2);
    QVERIFY(added.first().actor.startsWith(QStringLiteral("operator:")));
    QCOMPARE(removed.last().target, path(QStringLiteral("out")));
}

void TestJobsCtl::rootsRefused_data()
{
    QTest::addColumn<QStringList>("arguments"); // after "farm roots"
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");
    QTest::newRow("a directory that does not exist")
        << QStringList{QStringLiteral("add"), QStringLiteral("input"), QStringLiteral("%IN%/gone")}
        << 1 << QStringLiteral("not an existing directory");
    QTest::newRow("the whole file system")
        << QStringList{QStringLiteral("add"), QStringLiteral("output"), QStringLiteral("/")} << 1
        << QStringLiteral("the whole file system cannot be a root");
    QTest::newRow("a file") << QStringList{QStringLiteral("add"), QStringLiteral("input"),
                                           QStringLiteral("%IN%/clip.mov")}
                            << 1 << QStringLiteral("not an existing directory");
    QTest::newRow("not a root") << QStringList{QStringLiteral("remove"), QStringLiteral("input"),
                                               QStringLiteral("%OTHER%")}
                                << 1 << QStringLiteral("is not an input root");
    QTest::newRow("unknown kind") << QStringList{QStringLiteral("add"), QStringLiteral("scratch"),
                                                 QStringLiteral("%OTHER%")}
                                  << 2 << QStringLiteral("input or output");
    QTest::newRow("no directory") << QStringList{QStringLiteral("add"), QStringLiteral("input")}
                                  << 2 << QStringLiteral("farm roots add input");
}

void TestJobsCtl::rootsRefused()
{
    QFETCH(QStringList, arguments);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    for (QString &argument : arguments)
        argument = expand(argument);
    VERIFY_REFUSED(ctl(QStringList{QStringLiteral("farm"), QStringLiteral("roots")} + arguments),
                   exitCode, message);
    QVERIFY(audited(QStringLiteral("farm.root_added")).isEmpty());
    QVERIFY(audited(QStringLiteral("farm.root_removed")).isEmpty());
}

void TestJobsCtl::submitRefused_data()
{
    QTest::addColumn<QString>("roots"); // which roots are configured first
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");
    const QString clip = QStringLiteral("%IN%/clip.mov");
    const auto args = [&](std::initializer_list<const char *> extra, QString file = {}) {
        QStringList list{file.isEmpty() ? clip : file, QStringLiteral("--preset"), preset};
        for (const char *e : extra)
            list << QString::fromLatin1(e);
        return list;
    };
    QTest::newRow("no root at all")
        << QStringLiteral("none") << args({}) << 1 << QStringLiteral("farm roots add output DIR");
    QTest::newRow("no input root") << QStringLiteral("output") << args({}) << 1
                                   << QStringLiteral("input.path: no input root is configured; "
                                                     "add one with: framehousectl farm roots add "
                                                     "input DIR");
    QTest::newRow("outside the input root")
        << QStringLiteral("both") << args({}, QStringLiteral("%OTHER%/clip.mov")) << 1
        << QStringLiteral("is outside every input root (%IN%)");
    QTest::newRow("input not there")
        << QStringLiteral("both") << args({}, QStringLiteral("%IN%/gone.mov")) << 1
        << QStringLiteral("gone.mov does not exist");
    QTest::newRow("output outside the output root")
        << QStringLiteral("both") << args({"--output-dir", "%OTHER%"}) << 1
        << QStringLiteral("output.directory: %OTHER% is outside every output root (%OUT%)");
    QTest::newRow("unknown preset")
        << QStringLiteral("both")
        << QStringList{clip, QStringLiteral("--preset"), QStringLiteral("web-4k")} << 2
        << QStringLiteral("unknown preset \"web-4k\"");
    QTest::newRow("no preset") << QStringLiteral("both") << QStringList{clip} << 2
                               << QStringLiteral("--preset P");
    QTest::newRow("setting out of range")
        << QStringLiteral("both") << args({"--set", "video.crf=99"}) << 2
        << QStringLiteral("--set video.crf: must be an integer from 0 to 51");
    QTest::newRow("unknown setting") << QStringLiteral("both") << args({"--set", "colour=red"}) << 2
                                     << QStringLiteral("--set colour: unknown field");
    QTest::newRow("setting the output")
        << QStringLiteral("both") << args({"--set", "output.name=x.mp4"}) << 2
        << QStringLiteral("--set output.name");
    QTest::newRow("setting without a value")
        << QStringLiteral("both") << args({"--set", "video.crf"}) << 2
        << QStringLiteral("--set takes key=value");
    QTest::newRow("unknown container") << QStringLiteral("both") << args({"--set", "container=avi"})
                                       << 2 << QStringLiteral("container");
    QTest::newRow("priority not a number")
        << QStringLiteral("both") << args({"--priority", "high"}) << 2
        << QStringLiteral("--priority takes a whole number");
    QTest::newRow("priority out of range")
        << QStringLiteral("both") << args({"--priority", "1000"}) << 2
        << QStringLiteral("--priority: must be an integer "
                          "from -100 to 100");
}

void TestJobsCtl::submitRefused()
{
    QFETCH(QString, roots);
    QFETCH(QStringList, arguments);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    if (roots == QLatin1String("both"))
        addRoots();
    if (roots == QLatin1String("output"))
        VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("add"),
                             QStringLiteral("output"), path(QStringLiteral("out"))}));
    for (QString &argument : arguments)
        argument = expand(argument);
    VERIFY_REFUSED(ctl(QStringList{QStringLiteral("jobs"), QStringLiteral("submit")} + arguments),
                   exitCode, expand(message));
    Expected<QList<Job>> jobs = queue().list(db());
    QVERIFY(jobs);
    QVERIFY(jobs->isEmpty());
    QVERIFY(audited(QStringLiteral("job.submitted")).isEmpty());
}

void TestJobsCtl::submitQueuesAJob()
{
    addRoots();
    const QJsonObject job =
        submit(path(QStringLiteral("in/clip.mov")),
               {QStringLiteral("--set"), QStringLiteral("video.crf=20"), QStringLiteral("--name"),
                QStringLiteral("trailer"), QStringLiteral("--priority"), QStringLiteral("7")});
    QVERIFY(!job.isEmpty());
    const qint64 id = job.value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    QCOMPARE(job.value(QStringLiteral("state")).toString(), QStringLiteral("queued"));
    QCOMPARE(job.value(QStringLiteral("name")).toString(), QStringLiteral("trailer"));
    QCOMPARE(job.value(QStringLiteral("preset")).toString(), preset);
    QCOMPARE(job.value(QStringLiteral("priority")).toInt(), 7);
    QVERIFY(job.value(QStringLiteral("submitted_by")).toString().startsWith(u"operator:"));
    const QJsonObject spec = job.value(QStringLiteral("spec")).toObject();
    QCOMPARE(
        spec.value(QStringLiteral("input")).toObject().value(QStringLiteral("path")).toString(),
        path(QStringLiteral("in/clip.mov")));
    const QJsonObject output = spec.value(QStringLiteral("output")).toObject();
    QCOMPARE(output.value(QStringLiteral("directory")).toString(), path(QStringLiteral("out")));
    QCOMPARE(output.value(QStringLiteral("name")).toString(), QStringLiteral("clip.mp4"));
    QCOMPARE(spec.value(QStringLiteral("container")).toString(), QStringLiteral("mp4"));
    QCOMPARE(spec.value(QStringLiteral("priority")).toInt(), 7);
    const QJsonObject video = spec.value(QStringLiteral("video")).toObject();
    QCOMPARE(video.value(QStringLiteral("crf")).toInt(), 20);
    QCOMPARE(video.value(QStringLiteral("max_height")).toInt(), 720); // from the preset

    // The store holds what was printed.
    Expected<Job> stored = queue().find(db(), id);
    QVERIFY(stored);
    QCOMPARE(stored->spec, spec);
    QCOMPARE(audited(QStringLiteral("job.submitted")).size(), 1);

    // Without --json: the id alone, and a warning that no engine runs.
    const TestSupport::Run plain =
        ctl({QStringLiteral("jobs"), QStringLiteral("submit"), path(QStringLiteral("in/clip.mov")),
             QStringLiteral("--preset"), preset});
    VERIFY_SUCCEEDS(plain);
    QCOMPARE(plain.out, QString::number(id + 1) + u'\n');
    QVERIFY2(plain.err.startsWith(warningPrefix) && plain.err.count(u'\n') == 1,
             qPrintable(plain.err));
    QVERIFY2(plain.err.contains(QStringLiteral("framehoused")), qPrintable(plain.err));

    TestSupport::Run list =
        ctl({QStringLiteral("jobs"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(list);
    const QJsonArray listed = parseJson(list.out).array();
    QCOMPARE(listed.size(), 2);
    QCOMPARE(listed.at(0).toObject().value(QStringLiteral("id")).toInteger(),
             id + 1); // newest first
    QCOMPARE(listed.at(1).toObject().value(QStringLiteral("spec")).toObject(), spec);
    list = ctl({QStringLiteral("jobs"), QStringLiteral("list"), QStringLiteral("--limit"),
                QStringLiteral("1"), QStringLiteral("--state"), QStringLiteral("queued")});
    VERIFY_SUCCEEDS(list);
    const QStringList rows = lines(list.out);
    QCOMPARE(rows.size(), 2);
    QVERIFY2(rows.at(0).startsWith(QStringLiteral("ID")), qPrintable(rows.at(0)));
    static const QRegularExpression row(QStringLiteral(
        "^(\\d+) +queued +0% +- +clip\\.mov +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC +-$"));
    const QRegularExpressionMatch match = row.match(rows.at(1));
    QVERIFY2(match.hasMatch(), qPrintable(rows.at(1)));
    QCOMPARE(match.captured(1).toLongLong(), id + 1);
    list = ctl({QStringLiteral("jobs"), QStringLiteral("list"), QStringLiteral("--state"),
                QStringLiteral("failed"), QStringLiteral("--json")});
    QVERIFY(parseJson(list.out).array().isEmpty());

    const QJsonObject shown = show(id);
    QCOMPARE(shown.value(QStringLiteral("spec")).toObject(), spec);
    const QJsonArray events = shown.value(QStringLiteral("events")).toArray();
    QCOMPARE(events.size(), 1);
    QCOMPARE(events.at(0).toObject().value(QStringLiteral("kind")).toString(),
             QStringLiteral("job.submitted"));
    const TestSupport::Run text = ctl({QStringLiteral("jobs"), QStringLiteral("show"),
                                       QString::number(id), QStringLiteral("--log")});
    VERIFY_SUCCEEDS(text);
    QVERIFY(text.out.contains(QStringLiteral("\nname:       trailer\n")));
    QVERIFY(text.out.contains(QStringLiteral("\nevents:\n")));
    QVERIFY(text.out.contains(QStringLiteral("  job.submitted  ")));
    QVERIFY(text.out.contains(QStringLiteral("\nlog:\n")));
}

void TestJobsCtl::outputName_data()
{
    QTest::addColumn<QString>("input"); // under the test directory
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<QString>("directory");
    QTest::addColumn<QString>("name");
    QTest::newRow("the preset's container")
        << QStringLiteral("in/clip.mov") << QStringList() << QStringLiteral("%OUT%")
        << QStringLiteral("clip.mp4");
    QTest::newRow("a container set on the command line")
        << QStringLiteral("in/clip.mov")
        << QStringList{QStringLiteral("--set"), QStringLiteral("container=mkv")}
        << QStringLiteral("%OUT%") << QStringLiteral("clip.mkv");
    QTest::newRow("another preset")
        << QStringLiteral("in/clip.mov")
        << QStringList{QStringLiteral("--preset"), QStringLiteral("audio-only-opus")}
        << QStringLiteral("%OUT%") << QStringLiteral("clip.webm");
    QTest::newRow("dots in the name")
        << QStringLiteral("in/my.clip.v2.mov") << QStringList() << QStringLiteral("%OUT%")
        << QStringLiteral("my.clip.v2.mp4");
    QTest::newRow("the input's own name in its own directory")
        << QStringLiteral("out/clip.mp4") << QStringList() << QStringLiteral("%OUT%")
        << QStringLiteral("clip-web-720p-h264.mp4");
    QTest::newRow("a relative input") << QStringLiteral("./in/../in/clip.mov") << QStringList()
                                      << QStringLiteral("%OUT%") << QStringLiteral("clip.mp4");
    QTest::newRow("an output directory")
        << QStringLiteral("in/clip.mov")
        << QStringList{QStringLiteral("--output-dir"), QStringLiteral("%OUT%/sub")}
        << QStringLiteral("%OUT%/sub") << QStringLiteral("clip.mp4");
}

void TestJobsCtl::outputName()
{
    QFETCH(QString, input);
    QFETCH(QStringList, extra);
    QFETCH(QString, directory);
    QFETCH(QString, name);
    addRoots();
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("roots"), QStringLiteral("add"),
                         QStringLiteral("input"), path(QStringLiteral("out"))}));
    QVERIFY(QDir().mkpath(path(QStringLiteral("out/sub"))));
    QVERIFY(writeFile(path(QStringLiteral("in/my.clip.v2.mov"))));
    QVERIFY(writeFile(path(QStringLiteral("out/clip.mp4"))));
    for (QString &argument : extra)
        argument = expand(argument);
    // A relative FILE is taken from the working directory.
    const QString previous = QDir::currentPath();
    QVERIFY(QDir::setCurrent(m_store->dir.path()));
    const QJsonObject job = submit(input, extra);
    QVERIFY(QDir::setCurrent(previous));
    QVERIFY(!job.isEmpty());
    const QJsonObject spec = job.value(QStringLiteral("spec")).toObject();
    QCOMPARE(
        spec.value(QStringLiteral("input")).toObject().value(QStringLiteral("path")).toString(),
        QDir::cleanPath(path(input)));
    const QJsonObject output = spec.value(QStringLiteral("output")).toObject();
    QCOMPARE(output.value(QStringLiteral("directory")).toString(), expand(directory));
    QCOMPARE(output.value(QStringLiteral("name")).toString(), name);
}

void TestJobsCtl::cancelRetryCancel()
{
    addRoots();
    const qint64 id =
        submit(path(QStringLiteral("in/clip.mov"))).value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    const QString number = QString::number(id);
    const auto state = [&] { return show(id).value(QStringLiteral("state")).toString(); };

    VERIFY_SUCCEEDS(ctl({QStringLiteral("jobs"), QStringLiteral("cancel"), number,
                         QStringLiteral("--reason"), QStringLiteral("wrong cut")}));
    QCOMPARE(state(), QStringLiteral("cancelled"));
    QCOMPARE(show(id).value(QStringLiteral("error")).toString(), QStringLiteral("wrong cut"));
    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("cancel"), number}), 1,
                   QStringLiteral("is cancelled; it cannot be cancelled"));

    VERIFY_SUCCEEDS(ctl({QStringLiteral("jobs"), QStringLiteral("retry"), number}));
    QCOMPARE(state(), QStringLiteral("queued"));
    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("retry"), number}), 1,
                   QStringLiteral("is queued; it cannot be retried"));

    VERIFY_SUCCEEDS(ctl({QStringLiteral("jobs"), QStringLiteral("cancel"), number}));
    QCOMPARE(state(), QStringLiteral("cancelled"));

    QStringList kinds;
    for (const QJsonValue &event : show(id).value(QStringLiteral("events")).toArray())
        kinds << event.toObject().value(QStringLiteral("kind")).toString();
    QCOMPARE(kinds, (QStringList{QStringLiteral("job.submitted"), QStringLiteral("job.cancelled"),
                                 QStringLiteral("job.retried"), QStringLiteral("job.cancelled")}));
    const QList<AuditRecord> cancels = audited(QStringLiteral("job.cancelled"));
    QCOMPARE(cancels.size(), 2);
    QVERIFY(cancels.first().actor.startsWith(QStringLiteral("operator:")));
    QCOMPARE(audited(QStringLiteral("job.retried")).size(), 1);

    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("cancel"), QStringLiteral("999")}),
                   1, QStringLiteral("there is no job 999"));
}

void TestJobsCtl::purgeNeedsYes()
{
    addRoots();
    const qint64 id =
        submit(path(QStringLiteral("in/clip.mov"))).value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    QVERIFY(
        queue().cancel(db(), id, QStringLiteral("operator:test"), QStringLiteral("x"), nowMs()));
    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("purge"), QString::number(id)}), 2,
                   QStringLiteral("add --yes to confirm"));
    QVERIFY(queue().find(db(), id));
    QVERIFY(audited(QStringLiteral("job.purged")).isEmpty());
}

void TestJobsCtl::purgeRefusesAQueuedJob()
{
    addRoots();
    const qint64 id =
        submit(path(QStringLiteral("in/clip.mov"))).value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("purge"), QString::number(id),
                        QStringLiteral("--yes")}),
                   1, QStringLiteral("cancel it first"));
    QVERIFY(queue().find(db(), id));
    QVERIFY(audited(QStringLiteral("job.purged")).isEmpty());
}

void TestJobsCtl::purgeRemovesACancelledJob()
{
    addRoots();
    const QJsonObject job = submit(path(QStringLiteral("in/clip.mov")));
    const qint64 id = job.value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    VERIFY_SUCCEEDS(ctl({QStringLiteral("jobs"), QStringLiteral("cancel"), QString::number(id)}));
    const TestSupport::Run purged = ctl({QStringLiteral("jobs"), QStringLiteral("purge"),
                                         QString::number(id), QStringLiteral("--yes")});
    VERIFY_SUCCEEDS(purged);
    QCOMPARE(purged.out, QStringLiteral("job %1 purged\n").arg(id));
    QCOMPARE(queue().find(db(), id).code(), JobQueue::NotFound);
    Expected<QList<JobQueue::Event>> events = queue().events(db(), id);
    QVERIFY(events);
    QVERIFY(events->isEmpty());
    VERIFY_REFUSED(ctl({QStringLiteral("jobs"), QStringLiteral("show"), QString::number(id)}), 1,
                   QStringLiteral("there is no job"));
    // The input is the operator's own file: never touched.
    QVERIFY(QFile::exists(path(QStringLiteral("in/clip.mov"))));

    const QList<AuditRecord> records = audited(QStringLiteral("job.purged"));
    QCOMPARE(records.size(), 1);
    QCOMPARE(records.first().target, job.value(QStringLiteral("uuid")).toString());
    QVERIFY(records.first().actor.startsWith(QStringLiteral("operator:")));
    const QJsonObject details = parseJson(records.first().details).object();
    QCOMPARE(details.value(QStringLiteral("state")).toString(), QStringLiteral("cancelled"));
    QVERIFY(!details.contains(QStringLiteral("removed_files")));
    // And audit export shows it.
    const TestSupport::Run exported = ctl({QStringLiteral("audit"), QStringLiteral("export")});
    VERIFY_SUCCEEDS(exported);
    QVERIFY(exported.out.contains(QStringLiteral("\"action\":\"job.purged\"")));
}

void TestJobsCtl::purgeRemovesTheOutputOnlyInsideARoot_data()
{
    QTest::addColumn<QString>("output"); // the output path the engine recorded
    QTest::addColumn<QString>("linkTo"); // when set, the output is a link to this
    QTest::addColumn<bool>("removed");
    QTest::addColumn<QString>("why"); // printed for a file left in place
    QTest::newRow("inside the output root")
        << QStringLiteral("%OUT%/clip.mp4") << QString() << true << QString();
    QTest::newRow("outside every output root")
        << QStringLiteral("%OTHER%/clip.mp4") << QString() << false
        << QStringLiteral("outside every output root");
    QTest::newRow("a link inside the root to a file outside")
        << QStringLiteral("%OUT%/clip.mp4") << QStringLiteral("%OTHER%/precious.mp4") << false
        << QStringLiteral("symbolic link");
    QTest::newRow("a link inside the root to a file inside")
        << QStringLiteral("%OUT%/clip.mp4") << QStringLiteral("%OUT%/precious.mp4") << false
        << QStringLiteral("symbolic link");
    QTest::newRow("already gone") << QStringLiteral("%OUT%/gone.mp4") << QString() << false
                                  << QStringLiteral("no longer there");
}

void TestJobsCtl::purgeRemovesTheOutputOnlyInsideARoot()
{
    QFETCH(QString, output);
    QFETCH(QString, linkTo);
    QFETCH(bool, removed);
    QFETCH(QString, why);
    output = expand(output);
    linkTo = expand(linkTo);
    addRoots();
    const qint64 id =
        submit(path(QStringLiteral("in/clip.mov"))).value(QStringLiteral("id")).toInteger();
    QVERIFY(id > 0);
    if (!output.endsWith(QStringLiteral("gone.mp4"))) {
        if (linkTo.isEmpty()) {
            QVERIFY(writeFile(output, "encoded\n"));
        } else {
            QVERIFY(writeFile(linkTo, "encoded\n"));
            QVERIFY(QFile::link(linkTo, output));
        }
    }
    JobQueue::Outcome outcome;
    outcome.succeeded = true;
    outcome.encoder = QStringLiteral("libx264");
    outcome.outputPath = output;
    QVERIFY(finishAsTheEngine(id, outcome));

    const TestSupport::Run purged = ctl({QStringLiteral("jobs"), QStringLiteral("purge"),
                                         QString::number(id), QStringLiteral("--yes")});
    VERIFY_SUCCEEDS(purged);
    QCOMPARE(queue().find(db(), id).code(), JobQueue::NotFound);
    const QList<AuditRecord> records = audited(QStringLiteral("job.purged"));
    QCOMPARE(records.size(), 1);
    const QJsonArray files = parseJson(records.first().details)
                                 .object()
                                 .value(QStringLiteral("removed_files"))
                                 .toArray();
    if (removed) {
        QVERIFY(!QFile::exists(output));
        QVERIFY2(purged.out.contains(QString(QStringLiteral("removed ") + output)),
                 qPrintable(purged.out));
        QCOMPARE(files, QJsonArray{output});
    } else {
        QVERIFY(files.isEmpty());
        QVERIFY2(purged.out.contains(QString(QStringLiteral("left in place: ") + output)) &&
                     purged.out.contains(why),
                 qPrintable(purged.out));
        if (!output.endsWith(QStringLiteral("gone.mp4")))
            QVERIFY(QFileInfo(output).isSymLink() || QFile::exists(output));
        if (!linkTo.isEmpty())
            QVERIFY(QFile::exists(linkTo));
    }
}

void TestJobsCtl::purgeRemovesTheUpload()
{
    const QString upload = QStringLiteral("upl_0123456789abcdefABCDEFGH");
    const QString uploads = path(QStringLiteral("store/uploads"));
    QVERIFY(QDir().mkpath(uploads));
    QVERIFY(writeFile(uploads + u'/' + upload, "uploaded\n"));
    QVERIFY(writeFile(uploads + QStringLiteral("/upl_ZZZZZZZZZZZZZZZZZZZZZZZZ"), "another\n"));
    const QJsonObject spec{
        {QStringLiteral("input"), QJsonObject{{QStringLiteral("upload"), upload}}},
        {QStringLiteral("output"),
         QJsonObject{{QStringLiteral("directory"), path(QStringLiteral("out"))},
                     {QStringLiteral("name"), QStringLiteral("u.mp4")}}}};
    Expected<Job> job = queue().submit(db(), {QStringLiteral("uploaded"), preset, spec, 0},
                                       QStringLiteral("key:abcdefabcdef"), nowMs());
    QVERIFY(job);
    QVERIFY(queue().cancel(db(), job->id, QStringLiteral("operator:test"), QStringLiteral("x"),
                           nowMs()));
    const TestSupport::Run purged =
        ctl({QStringLiteral("jobs"), QStringLiteral("purge"), QString::number(job->id),
             QStringLiteral("--yes"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(purged);
    QVERIFY(!QFile::exists(uploads + u'/' + upload));
    QVERIFY(QFile::exists(uploads + QStringLiteral("/upl_ZZZZZZZZZZZZZZZZZZZZZZZZ")));
    const QJsonObject result = parseJson(purged.out).object();
    QCOMPARE(result.value(QStringLiteral("removed")).toArray(),
             QJsonArray{QString(uploads + u'/' + upload)});
    const QList<AuditRecord> records = audited(QStringLiteral("job.purged"));
    QCOMPARE(records.size(), 1);
    QCOMPARE(parseJson(records.first().details).object().value(QStringLiteral("removed_files")),
             QJsonValue(QJsonArray{QString(uploads + u'/' + upload)}));
}

void TestJobsCtl::pauseAndResumeAreAudited()
{
    const auto paused = [&] {
        Expected<qint64> value = StoreSettings::value(db(), StoreSettings::FarmPaused);
        return value ? value.value() : -1;
    };
    QCOMPARE(paused(), 0);
    TestSupport::Run run = ctl({QStringLiteral("farm"), QStringLiteral("pause")});
    VERIFY_SUCCEEDS(run);
    QVERIFY(run.out.contains(QStringLiteral("paused")));
    QCOMPARE(paused(), 1);
    run = ctl({QStringLiteral("farm"), QStringLiteral("status"), QStringLiteral("--json")});
    QCOMPARE(parseJson(run.out).object().value(QStringLiteral("paused")).toBool(), true);
    VERIFY_SUCCEEDS(ctl({QStringLiteral("farm"), QStringLiteral("resume")}));
    QCOMPARE(paused(), 0);

    const QList<AuditRecord> changes = audited(QStringLiteral("settings.changed"));
    QCOMPARE(changes.size(), 2);
    for (const AuditRecord &record : changes) {
        QVERIFY(record.actor.startsWith(QStringLiteral("operator:")));
        QVERIFY2(record.target == QLatin1String("farm.paused") ||
                     record.details.contains(QStringLiteral("farm.paused")),
                 qPrintable(record.target + u' ' + record.details));
    }
}

void TestJobsCtl::statusWithoutEngine()
{
    addRoots();
    QVERIFY(submit(path(QStringLiteral("in/clip.mov"))).value(QStringLiteral("id")).toInteger() >
            0);
    TestSupport::Run run = ctl({QStringLiteral("farm"), QStringLiteral("status")});
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.out.startsWith(QStringLiteral("engine:   not running (no engine has run")),
             qPrintable(run.out));
    QVERIFY(run.out.contains(QStringLiteral("\nqueue:    1 queued, 0 running\n")));
    QVERIFY(run.out.contains(QStringLiteral("\npaused:   no\n")));
    run = ctl({QStringLiteral("farm"), QStringLiteral("status"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(run);
    QJsonObject status = parseJson(run.out).object();
    QCOMPARE(status.value(QStringLiteral("engine")).toObject().value(QStringLiteral("running")),
             QJsonValue(false));
    QCOMPARE(status.value(QStringLiteral("queued")).toInt(), 1);

    // An engine that stopped, and one that went away without saying so.
    publishPool(1000, {}, true);
    run = ctl({QStringLiteral("farm"), QStringLiteral("status")});
    QVERIFY2(run.out.startsWith(QStringLiteral("engine:   not running (pid 4242 stopped at ")),
             qPrintable(run.out));
    publishPool(60000);
    run = ctl({QStringLiteral("farm"), QStringLiteral("status"), QStringLiteral("--json")});
    status = parseJson(run.out).object();
    QCOMPARE(status.value(QStringLiteral("engine")).toObject().value(QStringLiteral("running")),
             QJsonValue(false));
    QCOMPARE(status.value(QStringLiteral("engine")).toObject().value(QStringLiteral("pid")).toInt(),
             4242);
    run = ctl({QStringLiteral("farm"), QStringLiteral("status")});
    QVERIFY2(run.out.startsWith(QStringLiteral("engine:   not running (pid 4242 last seen at ")),
             qPrintable(run.out));
}

void TestJobsCtl::statusOfARunningEngine()
{
    const QJsonArray workers{QJsonObject{{QStringLiteral("job"), 12},
                                         {QStringLiteral("name"), QStringLiteral("trailer.mov")},
                                         {QStringLiteral("pid"), 3131},
                                         {QStringLiteral("encoder"), QStringLiteral("h264_nvenc")},
                                         {QStringLiteral("hardware"), true},
                                         {QStringLiteral("fps"), 241.5},
                                         {QStringLiteral("speed"), 8.05},
                                         {QStringLiteral("progress"), 0.42}},
                             QJsonObject{{QStringLiteral("job"), 13},
                                         {QStringLiteral("name"), QStringLiteral("b-roll.mp4")},
                                         {QStringLiteral("pid"), 3132},
                                         {QStringLiteral("encoder"), QStringLiteral("libx264")},
                                         {QStringLiteral("hardware"), false},
                                         {QStringLiteral("fps"), 30},
                                         {QStringLiteral("speed"), 1},
                                         {QStringLiteral("progress"), 0.1}}};
    publishPool(0, workers);
    TestSupport::Run run = ctl({QStringLiteral("farm"), QStringLiteral("status")});
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.out.startsWith(QStringLiteral("engine:   running (pid 4242, seen ")),
             qPrintable(run.out));
    QVERIFY2(run.out.contains(QStringLiteral("\npool:     2 workers, 2 busy\n")),
             qPrintable(run.out));
    static const QRegularExpression nvenc(
        QStringLiteral("\n12 +3131 +h264_nvenc +hw +241\\.5 +8\\.05x +42% +trailer\\.mov\n"));
    static const QRegularExpression x264(
        QStringLiteral("\n13 +3132 +libx264 +sw +30\\.0 +1\\.00x +10% +b-roll\\.mp4\n"));
    QVERIFY2(nvenc.match(run.out).hasMatch(), qPrintable(run.out));
    QVERIFY2(x264.match(run.out).hasMatch(), qPrintable(run.out));
    run = ctl({QStringLiteral("farm"), QStringLiteral("status"), QStringLiteral("--json")});
    const QJsonObject status = parseJson(run.out).object();
    QCOMPARE(status.value(QStringLiteral("engine")).toObject().value(QStringLiteral("running")),
             QJsonValue(true));
    QCOMPARE(status.value(QStringLiteral("pool_size")).toInt(), 2);
    QCOMPARE(status.value(QStringLiteral("workers")).toArray(), workers);
}

void TestJobsCtl::hardwareMatrix()
{
    VERIFY_REFUSED(ctl({QStringLiteral("farm"), QStringLiteral("hw")}), 1,
                   QStringLiteral("farm hw --probe"));
    const qint64 probedAt = nowMs() - 5000;
    const QJsonObject matrix{
        {QStringLiteral("probed_at"), probedAt},
        {QStringLiteral("devices"),
         QJsonArray{QJsonObject{{QStringLiteral("type"), QStringLiteral("cuda")},
                                {QStringLiteral("ok"), true},
                                {QStringLiteral("hardware"), true},
                                {QStringLiteral("detail"), QStringLiteral("NVIDIA H100")}},
                    QJsonObject{{QStringLiteral("type"), QStringLiteral("vaapi")},
                                {QStringLiteral("ok"), false},
                                {QStringLiteral("hardware"), false},
                                {QStringLiteral("detail"), QStringLiteral("no GPU render node")}}}},
        {QStringLiteral("encoders"),
         QJsonArray{QJsonObject{{QStringLiteral("name"), QStringLiteral("h264_nvenc")},
                                {QStringLiteral("codec"), QStringLiteral("h264")},
                                {QStringLiteral("family"), QStringLiteral("nvenc")},
                                {QStringLiteral("device"), QStringLiteral("cuda")},
                                {QStringLiteral("ok"), true},
                                {QStringLiteral("detail"), QString()}},
                    QJsonObject{{QStringLiteral("name"), QStringLiteral("h264_vaapi")},
                                {QStringLiteral("codec"), QStringLiteral("h264")},
                                {QStringLiteral("family"), QStringLiteral("vaapi")},
                                {QStringLiteral("device"), QStringLiteral("vaapi")},
                                {QStringLiteral("ok"), false},
                                {QStringLiteral("detail"),
                                 QStringLiteral("needs a vaapi device: no GPU render node")}}}}};
    QVERIFY(FarmState::put(db(), FarmState::Capabilities, matrix, nowMs()));
    TestSupport::Run run = ctl({QStringLiteral("farm"), QStringLiteral("hw")});
    VERIFY_SUCCEEDS(run);
    const QStringList rows = lines(run.out);
    QCOMPARE(rows.size(), 6); // when, header, two devices, two encoders
    QVERIFY2(rows.at(0).startsWith(QStringLiteral("probed by the engine at ")),
             qPrintable(rows.at(0)));
    static const QRegularExpression cuda(QStringLiteral("^cuda +device +ok: NVIDIA H100$"));
    static const QRegularExpression vaapi(
        QStringLiteral("^h264_vaapi +encoder \\(h264 on vaapi\\) +unavailable: needs a vaapi "
                       "device: no GPU render node$"));
    QVERIFY2(cuda.match(rows.at(2)).hasMatch(), qPrintable(rows.at(2)));
    QVERIFY2(rows.at(3).contains(QStringLiteral("unavailable: no GPU render node")),
             qPrintable(rows.at(3)));
    QVERIFY2(rows.at(4).contains(QStringLiteral(" ok")), qPrintable(rows.at(4)));
    QVERIFY2(vaapi.match(rows.at(5)).hasMatch(), qPrintable(rows.at(5)));

    run = ctl({QStringLiteral("farm"), QStringLiteral("hw"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(run);
    const QJsonObject json = parseJson(run.out).object();
    QCOMPARE(json.value(QStringLiteral("source")).toString(), QStringLiteral("the engine"));
    QCOMPARE(json.value(QStringLiteral("encoders")).toArray().size(), 2);
    QCOMPARE(
        QDateTime::fromString(json.value(QStringLiteral("probed_at")).toString(), Qt::ISODateWithMs)
            .toMSecsSinceEpoch(),
        probedAt);

    // --probe asks framehouse-worker now; no store needed.
    run = TestSupport::runCtl({QStringLiteral("farm"), QStringLiteral("hw"),
                               QStringLiteral("--probe"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(run);
    const QJsonObject probed = parseJson(run.out).object();
    QCOMPARE(probed.value(QStringLiteral("source")).toString(),
             QStringLiteral("framehouse-worker --probe"));
    QVERIFY(!probed.value(QStringLiteral("devices")).toArray().isEmpty());
    QVERIFY(!probed.value(QStringLiteral("encoders")).toArray().isEmpty());
}

void TestJobsCtl::waitFollowsTheJob_data()
{
    QTest::addColumn<QString>("ending"); // succeeded, failed or cancelled
    QTest::addColumn<bool>("engineSeen");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");
    QTest::newRow("succeeded") << QStringLiteral("succeeded") << true << 0 << QString();
    QTest::newRow("failed") << QStringLiteral("failed") << true << 1
                            << QStringLiteral("failed: input has no video stream");
    QTest::newRow("cancelled, no engine running")
        << QStringLiteral("cancelled") << false << 1 << QStringLiteral("was cancelled: not today");
}

void TestJobsCtl::waitFollowsTheJob()
{
    QFETCH(QString, ending);
    QFETCH(bool, engineSeen);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    addRoots();
    if (engineSeen)
        publishPool(0);
    QProcess process;
    const QStringList arguments = QStringList{QStringLiteral("jobs"),
                                              QStringLiteral("submit"),
                                              path(QStringLiteral("in/clip.mov")),
                                              QStringLiteral("--preset"),
                                              preset,
                                              QStringLiteral("--wait")} +
                                  storeArgs();
    process.start(QStringLiteral(FRAMEHOUSECTL_PATH), arguments);
    const qint64 id = waitForQueuedJob(process, engineSeen);
    QVERIFY(id > 0);
    // Queued for a while, as it would wait for a worker: still waiting.
    for (int i = 0; i < 10; ++i) {
        if (engineSeen)
            publishPool(0);
        QTest::qWait(100);
    }
    QCOMPARE(process.state(), QProcess::Running);
    const QString output = path(QStringLiteral("out/clip.mp4"));
    if (ending == QLatin1String("cancelled")) {
        QVERIFY(queue().cancel(db(), id, QStringLiteral("operator:test"),
                               QStringLiteral("not today"), nowMs()));
    } else {
        Expected<std::optional<Job>> leased = queue().lease(db(), testOwner, 30000, nowMs());
        QVERIFY(leased && leased.value());
        JobQueue::Progress progress(0.5);
        progress.fps = 48;
        progress.speed = 2;
        QVERIFY(queue().heartbeat(db(), id, testOwner, 30000, progress, nowMs()));
        QTest::qWait(300);
        JobQueue::Outcome outcome;
        outcome.succeeded = ending == QLatin1String("succeeded");
        outcome.error = outcome.succeeded ? QString() : QStringLiteral("input has no video stream");
        outcome.encoder = QStringLiteral("libx264");
        outcome.outputPath = outcome.succeeded ? output : QString();
        QVERIFY(queue().finish(db(), id, testOwner, outcome, nowMs()));
    }
    QVERIFY(process.waitForFinished(60000));
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    const QString err = QString::fromUtf8(process.readAllStandardError());
    TestSupport::recordOutput(QStringLiteral("framehousectl ") + arguments.join(u' '),
                              out + QStringLiteral("--- stderr\n") + err);
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QVERIFY2(process.exitCode() == exitCode, qPrintable(err));
    // Not a terminal: no progress, only the id and the result.
    if (exitCode == 0)
        QCOMPARE(out, QString::number(id) + u'\n' + output + u'\n');
    else
        QCOMPARE(out, QString::number(id) + u'\n');
    QStringList errLines = lines(err);
    // The warning that no engine runs comes once, however long the wait.
    if (!engineSeen) {
        QVERIFY2(!errLines.isEmpty() && errLines.first().startsWith(warningPrefix),
                 qPrintable(err));
        errLines.removeFirst();
    }
    for (const QString &line : std::as_const(errLines))
        QVERIFY2(!line.startsWith(warningPrefix), qPrintable(err));
    if (exitCode == 0) {
        QVERIFY2(errLines.isEmpty(), qPrintable(err));
    } else {
        QCOMPARE(errLines.size(), 1);
        QVERIFY2(errLines.first().startsWith(TestSupport::CtlErrorPrefix) &&
                     errLines.first().contains(message),
                 qPrintable(err));
    }
}

void TestJobsCtl::waitDrawsProgressOnATerminal()
{
    addRoots();
    publishPool(0);
    // script(1) gives the command a pseudo-terminal for its stdout.
    QStringList quoted;
    for (const QString &argument :
         QStringList{QStringLiteral(FRAMEHOUSECTL_PATH), QStringLiteral("jobs"),
                     QStringLiteral("submit"), path(QStringLiteral("in/clip.mov")),
                     QStringLiteral("--preset"), preset, QStringLiteral("--wait")} +
             storeArgs())
        quoted << u'\'' + argument + u'\'';
    QProcess process;
    process.start(QStringLiteral("script"),
                  {QStringLiteral("-qec"), quoted.join(u' '), QStringLiteral("/dev/null")});
    QVERIFY2(process.waitForStarted(), "script(1) from util-linux is needed");
    const qint64 id = waitForQueuedJob(process, true);
    QVERIFY(id > 0);
    Expected<std::optional<Job>> leased = queue().lease(db(), testOwner, 30000, nowMs());
    QVERIFY(leased && leased.value());
    JobQueue::Progress progress(0.5);
    progress.fps = 48;
    progress.speed = 2;
    QVERIFY(queue().heartbeat(db(), id, testOwner, 30000, progress, nowMs()));
    QByteArray seen;
    QDeadlineTimer deadline(60000);
    while (!seen.contains("50%") && !deadline.hasExpired() &&
           process.state() == QProcess::Running) {
        process.waitForReadyRead(100);
        seen += process.readAllStandardOutput();
        publishPool(0);
    }
    JobQueue::Outcome outcome;
    outcome.succeeded = true;
    outcome.encoder = QStringLiteral("libx264");
    outcome.outputPath = path(QStringLiteral("out/clip.mp4"));
    QVERIFY(queue().finish(db(), id, testOwner, outcome, nowMs()));
    QVERIFY(process.waitForFinished(60000));
    seen += process.readAllStandardOutput();
    const QString text = QString::fromUtf8(seen);
    TestSupport::recordOutput(QStringLiteral("framehousectl jobs submit --wait on a terminal"),
                              QString(text).replace(u'\r', QStringLiteral("<CR>")));
    QCOMPARE(process.exitCode(), 0);
    static const QRegularExpression bar(
        QStringLiteral("\r\\[#{12}-{12}\\]  50%  48\\.0 fps  2\\.00x  ETA \\d+:\\d\\d"));
    QVERIFY2(bar.match(text).hasMatch(), qPrintable(QString(text).replace(u'\r', u'|')));
    QVERIFY2(text.contains(QStringLiteral("queued, waiting for a worker")), qPrintable(text));
    QVERIFY2(text.trimmed().endsWith(path(QStringLiteral("out/clip.mp4"))), qPrintable(text));
}

void TestJobsCtl::submitAndWaitWithTheEngine()
{
    EngineFixture farm;
    QVERIFY(farm.startEngine());
    MediaGen::ClipOptions options;
    options.seconds = 2;
    const QString input = farm.inputDir() + QStringLiteral("/clip.mov");
    const QString made = MediaGen::writeClip(input, options);
    QVERIFY2(made.isEmpty(), qPrintable(made));

    const TestSupport::Run status = TestSupport::runCtl(
        QStringList{QStringLiteral("farm"), QStringLiteral("status")} + farm.storeArgs());
    VERIFY_SUCCEEDS(status);
    QVERIFY2(status.out.startsWith(
                 QStringLiteral("engine:   running (pid %1, seen ").arg(farm.enginePid())),
             qPrintable(status.out));
    const TestSupport::Run hardware = TestSupport::runCtl(
        QStringList{QStringLiteral("farm"), QStringLiteral("hw")} + farm.storeArgs());
    VERIFY_SUCCEEDS(hardware);
    QVERIFY2(hardware.out.startsWith(QStringLiteral("probed by the engine at ")),
             qPrintable(hardware.out));

    // Its own process rather than runCtl: a job that never ends must fail
    // this test, not hang it with the engine left running.
    QProcess waiting;
    const QStringList arguments = QStringList{QStringLiteral("jobs"),
                                              QStringLiteral("submit"),
                                              input,
                                              QStringLiteral("--preset"),
                                              preset,
                                              QStringLiteral("--wait")} +
                                  farm.storeArgs();
    waiting.start(QStringLiteral(FRAMEHOUSECTL_PATH), arguments);
    const bool ended = waiting.waitForFinished(180000);
    if (!ended) {
        waiting.kill();
        waiting.waitForFinished();
    }
    const TestSupport::Run run{
        ended && waiting.exitStatus() == QProcess::NormalExit ? waiting.exitCode() : -1,
        QString::fromUtf8(waiting.readAllStandardOutput()),
        QString::fromUtf8(waiting.readAllStandardError())};
    TestSupport::recordOutput(QStringLiteral("framehousectl ") + arguments.join(u' '),
                              run.out + QStringLiteral("--- stderr\n") + run.err);
    QVERIFY2(ended,
             qPrintable(QStringLiteral("the job did not end within 3 minutes; engine log: ") +
                        farm.engineLog().right(2000)));
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.err.isEmpty(), qPrintable(run.err)); // the engine runs: no warning
    const QStringList printed = lines(run.out);
    QCOMPARE(printed.size(), 2);
    const qint64 id = printed.at(0).toLongLong();
    const QString output = farm.outputDir() + QStringLiteral("/clip.mp4");
    QCOMPARE(printed.at(1), output);
    QVERIFY(QFile::exists(output));
    const MediaGen::Probe probe = MediaGen::probe(output);
    QVERIFY2(probe.error.isEmpty(), qPrintable(probe.error));

    const TestSupport::Run shown =
        TestSupport::runCtl(QStringList{QStringLiteral("jobs"), QStringLiteral("show"),
                                        QString::number(id), QStringLiteral("--json")} +
                            farm.storeArgs());
    VERIFY_SUCCEEDS(shown);
    const QJsonObject job = parseJson(shown.out).object();
    QCOMPARE(job.value(QStringLiteral("state")).toString(), QStringLiteral("succeeded"));
    QVERIFY(!job.value(QStringLiteral("encoder")).toString().isEmpty());
    QCOMPARE(job.value(QStringLiteral("output_path")).toString(), output);
    QVERIFY(farm.stopEngine());
}

void TestJobsCtl::usageErrors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message");
    const auto args = [](std::initializer_list<const char *> words) {
        QStringList list;
        for (const char *w : words)
            list << QString::fromLatin1(w);
        return list;
    };
    QTest::newRow("unknown jobs command")
        << args({"jobs", "frobnicate"}) << QStringLiteral("'jobs frobnicate' is not a complete");
    QTest::newRow("jobs alone") << args({"jobs"}) << QStringLiteral("framehousectl jobs --help");
    QTest::newRow("show without id") << args({"jobs", "show"}) << QStringLiteral("jobs show");
    QTest::newRow("id not a number")
        << args({"jobs", "show", "seven"}) << QStringLiteral("a job id is a whole number");
    QTest::newRow("id zero") << args({"jobs", "retry", "0"})
                             << QStringLiteral("a job id is a whole number");
    QTest::newRow("submit without file")
        << args({"jobs", "submit", "--preset", "web-720p-h264"}) << QStringLiteral("jobs submit");
    QTest::newRow("unknown state")
        << args({"jobs", "list", "--state", "sleeping"}) << QStringLiteral("--state");
    QTest::newRow("limit zero") << args({"jobs", "list", "--limit", "0"})
                                << QStringLiteral("--limit");
    QTest::newRow("unknown farm command")
        << args({"farm", "explode"}) << QStringLiteral("'farm explode'");
    QTest::newRow("roots without command")
        << args({"farm", "roots"}) << QStringLiteral("'farm roots'");
    QTest::newRow("extra word") << args({"farm", "status", "now"})
                                << QStringLiteral("'farm status now'");
}

void TestJobsCtl::usageErrors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    VERIFY_REFUSED(ctl(arguments), 2, message);
}

QTEST_GUILESS_MAIN(TestJobsCtl)
#include "tst_jobsctl.moc"
