#include "api/metrics.h"
#include "jobs/job.h"

#include <QAtomicInt>
#include <QMap>
#include <QProcess>
#include <QSet>
#include <QTest>
#include <QThread>

#include <memory>
#include <optional>
#include <vector>

using namespace Qt::StringLiterals;

namespace {
using Labels = QMap<QString, QString>;

struct Sample {
    QString name;
    Labels labels;
    QString value;
};

// The rendered text read back the way a scraper reads it. Anything that
// does not parse fails the test that asked.
struct Exposition {
    QList<Sample> samples;
    QHash<QString, QString> types; // family -> TYPE
    QSet<QString> helped;          // families with # HELP
    QStringList problems;

    std::optional<QString> value(const QString &name, const Labels &labels = {}) const
    {
        for (const Sample &s : samples) {
            if (s.name == name && s.labels == labels)
                return s.value;
        }
        return std::nullopt;
    }
    double number(const QString &name, const Labels &labels = {}) const
    {
        const std::optional<QString> text = value(name, labels);
        if (!text)
            return -1;
        if (*text == u"+Inf")
            return qInf();
        bool ok = false;
        const double n = text->toDouble(&ok);
        return ok ? n : -2;
    }
};

bool parseLabels(QStringView text, qsizetype &at, Labels &labels)
{
    // At the character after '{'.
    while (at < text.size() && text[at] != u'}') {
        const qsizetype eq = text.indexOf(u'=', at);
        if (eq < 0 || eq + 1 >= text.size() || text[eq + 1] != u'"')
            return false;
        const QString name = text.mid(at, eq - at).toString();
        QString value;
        qsizetype i = eq + 2;
        for (; i < text.size() && text[i] != u'"'; ++i) {
            if (text[i] != u'\\') {
                value += text[i];
                continue;
            }
            if (++i >= text.size())
                return false;
            if (text[i] == u'n')
                value += u'\n';
            else if (text[i] == u'\\' || text[i] == u'"')
                value += text[i];
            else
                return false;
        }
        if (i >= text.size() || labels.contains(name))
            return false;
        labels.insert(name, value);
        at = i + 1;
        if (at < text.size() && text[at] == u',')
            ++at;
    }
    if (at >= text.size())
        return false;
    ++at;
    return true;
}

Exposition parse(const QByteArray &rendered)
{
    Exposition e;
    if (!rendered.endsWith('\n'))
        e.problems << u"the text does not end with a line break"_s;
    const QStringList lines = QString::fromUtf8(rendered).split(u'\n', Qt::SkipEmptyParts);
    for (const QString &line : lines) {
        if (line.startsWith(u"# HELP ")) {
            e.helped.insert(line.section(u' ', 2, 2));
            continue;
        }
        if (line.startsWith(u"# TYPE ")) {
            e.types.insert(line.section(u' ', 2, 2), line.section(u' ', 3, 3));
            continue;
        }
        Sample s;
        qsizetype at = 0;
        while (at < line.size() && line[at] != u'{' && line[at] != u' ')
            ++at;
        s.name = line.left(at);
        if (at < line.size() && line[at] == u'{') {
            ++at;
            if (!parseLabels(line, at, s.labels)) {
                e.problems << u"bad labels: "_s + line;
                continue;
            }
        }
        if (at >= line.size() || line[at] != u' ') {
            e.problems << u"no value: "_s + line;
            continue;
        }
        s.value = line.mid(at + 1);
        e.samples.append(s);
    }
    return e;
}

QString familyOf(const Exposition &e, const QString &name)
{
    for (const QString &suffix : {u"_bucket"_s, u"_sum"_s, u"_count"_s}) {
        if (name.endsWith(suffix)) {
            const QString base = name.chopped(suffix.size());
            if (e.types.value(base) == u"histogram")
                return base;
        }
    }
    return name;
}

QList<QString> allStates()
{
    QList<QString> states;
    for (Job::State s : {Job::State::Queued, Job::State::Running, Job::State::Succeeded,
                         Job::State::Failed, Job::State::Cancelled})
        states << Job::stateName(s);
    return states;
}

Metrics::JobFigures someJobs()
{
    Metrics::JobFigures jobs;
    for (const QString &state : allStates())
        jobs.jobsByState.insert(state, 0);
    jobs.jobsByState[Job::stateName(Job::State::Queued)] = 7;
    jobs.jobsByState[Job::stateName(Job::State::Running)] = 2;
    jobs.jobsByState[Job::stateName(Job::State::Succeeded)] = 1234567890123;
    jobs.active = 2;
    jobs.queueDepth = 7;
    jobs.workerFps = 58.25;
    return jobs;
}

const QStringList families{
    u"framehouse_http_requests_total"_s, u"framehouse_http_request_duration_seconds"_s,
    u"framehouse_auth_attempts_total"_s, u"framehouse_rate_limited_total"_s,
    u"framehouse_jobs_total"_s,          u"framehouse_jobs_active"_s,
    u"framehouse_queue_depth"_s,         u"framehouse_worker_fps"_s,
};
} // namespace

// GET /metrics: the text read back for exact values, the escaping, the
// histogram's cumulative buckets, and the real promtool's verdict.
class TestMetrics : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void valuesReadBack();
    void everyJobStateIsListed();
    void labelValuesAreEscaped_data();
    void labelValuesAreEscaped();
    void histogramIsCumulative();
    void everyFamilyHasHelpAndType_data();
    void everyFamilyHasHelpAndType();
    void countsFromManyThreads();
    void promtoolAccepts_data();
    void promtoolAccepts();
};

void TestMetrics::valuesReadBack()
{
    Metrics m;
    for (int i = 0; i < 3; ++i)
        m.countRequest(u"/v1/jobs"_s, 200, 0.01);
    m.countRequest(u"/v1/jobs"_s, 401, 0.002);
    m.countRequest(u"/v1/jobs/{id}"_s, 404, 0.003);
    m.countRequest(u"unmatched"_s, 404, 0.0001);
    for (int i = 0; i < 5; ++i)
        m.countAuthentication(u"success"_s);
    m.countAuthentication(u"unknown_key"_s);
    m.countAuthentication(u"banned"_s);
    m.countAuthentication(u"banned"_s);
    m.countRateLimited();
    m.countRateLimited();
    m.countRateLimited();

    const Exposition e = parse(m.render(someJobs()));
    QVERIFY2(e.problems.isEmpty(), qPrintable(e.problems.join(u'\n')));
    const QString requests = u"framehouse_http_requests_total"_s;
    QCOMPARE(e.value(requests, {{u"route"_s, u"/v1/jobs"_s}, {u"code"_s, u"200"_s}}), u"3"_s);
    QCOMPARE(e.value(requests, {{u"route"_s, u"/v1/jobs"_s}, {u"code"_s, u"401"_s}}), u"1"_s);
    QCOMPARE(e.value(requests, {{u"route"_s, u"/v1/jobs/{id}"_s}, {u"code"_s, u"404"_s}}), u"1"_s);
    QCOMPARE(e.value(requests, {{u"route"_s, u"unmatched"_s}, {u"code"_s, u"404"_s}}), u"1"_s);
    QVERIFY(!e.value(requests, {{u"route"_s, u"/v1/jobs"_s}, {u"code"_s, u"404"_s}}));

    const QString auth = u"framehouse_auth_attempts_total"_s;
    QCOMPARE(e.value(auth, {{u"result"_s, u"success"_s}}), u"5"_s);
    QCOMPARE(e.value(auth, {{u"result"_s, u"unknown_key"_s}}), u"1"_s);
    QCOMPARE(e.value(auth, {{u"result"_s, u"banned"_s}}), u"2"_s);
    QCOMPARE(e.value(u"framehouse_rate_limited_total"_s), u"3"_s);

    const QString jobs = u"framehouse_jobs_total"_s;
    QCOMPARE(e.value(jobs, {{u"state"_s, Job::stateName(Job::State::Queued)}}), u"7"_s);
    QCOMPARE(e.value(jobs, {{u"state"_s, Job::stateName(Job::State::Running)}}), u"2"_s);
    QCOMPARE(e.value(jobs, {{u"state"_s, Job::stateName(Job::State::Succeeded)}}),
             u"1234567890123"_s);
    QCOMPARE(e.value(jobs, {{u"state"_s, Job::stateName(Job::State::Failed)}}), u"0"_s);
    QCOMPARE(e.value(u"framehouse_jobs_active"_s), u"2"_s);
    QCOMPARE(e.value(u"framehouse_queue_depth"_s), u"7"_s);
    QCOMPARE(e.value(u"framehouse_worker_fps"_s), u"58.25"_s);

    const QString duration = u"framehouse_http_request_duration_seconds"_s;
    const Labels jobsRoute{{u"route"_s, u"/v1/jobs"_s}};
    QCOMPARE(e.value(duration + u"_count"_s, jobsRoute), u"4"_s);
    QCOMPARE(e.number(duration + u"_sum"_s, jobsRoute), 0.032);
    QCOMPARE(e.value(duration + u"_count"_s, {{u"route"_s, u"unmatched"_s}}), u"1"_s);
}

void TestMetrics::everyJobStateIsListed()
{
    Metrics m;
    // The store reported nothing at all: every state is still a series.
    const Exposition e = parse(m.render({}));
    QVERIFY2(e.problems.isEmpty(), qPrintable(e.problems.join(u'\n')));
    QStringList listed;
    for (const Sample &s : e.samples) {
        if (s.name == u"framehouse_jobs_total") {
            listed << s.labels.value(u"state"_s);
            QCOMPARE(s.value, u"0"_s);
        }
    }
    QStringList expected = allStates();
    std::sort(listed.begin(), listed.end());
    std::sort(expected.begin(), expected.end());
    QCOMPARE(listed, expected);
    QCOMPARE(e.value(u"framehouse_jobs_active"_s), u"0"_s);
    QCOMPARE(e.value(u"framehouse_queue_depth"_s), u"0"_s);
    QCOMPARE(e.value(u"framehouse_worker_fps"_s), u"0"_s);
    QCOMPARE(e.value(u"framehouse_rate_limited_total"_s), u"0"_s);
}

void TestMetrics::labelValuesAreEscaped_data()
{
    QTest::addColumn<QString>("route");
    QTest::addColumn<QByteArray>("escaped"); // as it must appear in the text

    QTest::newRow("plain") << u"/v1/jobs/{id}"_s << QByteArray("route=\"/v1/jobs/{id}\"");
    QTest::newRow("quote") << u"a\"b"_s << QByteArray("route=\"a\\\"b\"");
    QTest::newRow("backslash") << u"a\\b"_s << QByteArray("route=\"a\\\\b\"");
    QTest::newRow("newline") << u"a\nb"_s << QByteArray("route=\"a\\nb\"");
    QTest::newRow("forged sample") << u"x\"} 1\nframehouse_jobs_active 999\n#"_s
                                   << QByteArray("route=\"x\\\"} 1\\nframehouse_jobs_active "
                                                 "999\\n#\"");
    QTest::newRow("backslash before quote") << u"\\\""_s << QByteArray("route=\"\\\\\\\"\"");
    QTest::newRow("UTF-8") << u"/v1/caf\u00e9"_s << QByteArray("route=\"/v1/caf\xc3\xa9\"");
}

void TestMetrics::labelValuesAreEscaped()
{
    QFETCH(QString, route);
    QFETCH(QByteArray, escaped);

    Metrics m;
    m.countRequest(route, 200, 0.5);
    const QByteArray text = m.render({});
    QVERIFY2(text.contains(
                 QByteArray("framehouse_http_requests_total{" + escaped + ",code=\"200\"} 1\n")),
             text.constData());
    const Exposition e = parse(text);
    QVERIFY2(e.problems.isEmpty(), qPrintable(e.problems.join(u'\n')));
    QCOMPARE(
        e.value(u"framehouse_http_requests_total"_s, {{u"route"_s, route}, {u"code"_s, u"200"_s}}),
        u"1"_s);
    QCOMPARE(e.value(u"framehouse_http_request_duration_seconds_count"_s, {{u"route"_s, route}}),
             u"1"_s);
    // Nothing was forged by the label.
    QCOMPARE(e.value(u"framehouse_jobs_active"_s), u"0"_s);
}

void TestMetrics::histogramIsCumulative()
{
    Metrics m;
    const QString route = u"/v1/uploads"_s;
    // A bound holds the values equal to it (le: less or equal).
    const QList<double> seconds{0.0005, 0.001, 0.003, 0.2, 2, 10, -1};
    double sum = 0;
    for (double s : seconds) {
        m.countRequest(route, 201, s);
        sum += std::max(s, 0.0);
    }
    m.countRequest(u"/other"_s, 200, 0.04);

    const Exposition e = parse(m.render({}));
    QVERIFY2(e.problems.isEmpty(), qPrintable(e.problems.join(u'\n')));
    const QString bucket = u"framehouse_http_request_duration_seconds_bucket"_s;
    // -1 (a clock stepped back) counts as 0.
    const QMap<QString, int> expected{
        {u"0.001"_s, 3}, {u"0.0025"_s, 3}, {u"0.005"_s, 4}, {u"0.01"_s, 4},
        {u"0.025"_s, 4}, {u"0.05"_s, 4},   {u"0.1"_s, 4},   {u"0.25"_s, 5},
        {u"0.5"_s, 5},   {u"1"_s, 5},      {u"5"_s, 6},     {u"+Inf"_s, 7},
    };
    QStringList les;
    double previous = 0;
    for (const Sample &s : e.samples) {
        if (s.name != bucket || s.labels.value(u"route"_s) != route)
            continue;
        const QString le = s.labels.value(u"le"_s);
        les << le;
        QVERIFY2(expected.contains(le), qPrintable(le));
        QCOMPARE(s.value.toInt(), expected.value(le));
        QVERIFY(s.value.toDouble() >= previous);
        previous = s.value.toDouble();
    }
    // Every bound, in increasing order, +Inf last.
    QStringList bounds;
    for (double b : Metrics::DurationBuckets)
        bounds << QString::number(b);
    bounds << u"+Inf"_s;
    QCOMPARE(les, bounds);
    const Labels labels{{u"route"_s, route}};
    QCOMPARE(e.value(u"framehouse_http_request_duration_seconds_count"_s, labels), u"7"_s);
    QCOMPARE(e.number(u"framehouse_http_request_duration_seconds_sum"_s, labels), sum);

    const Labels other{{u"route"_s, u"/other"_s}, {u"le"_s, u"0.025"_s}};
    QCOMPARE(e.value(bucket, other), u"0"_s);
    QCOMPARE(e.value(bucket, {{u"route"_s, u"/other"_s}, {u"le"_s, u"0.05"_s}}), u"1"_s);
}

void TestMetrics::everyFamilyHasHelpAndType_data()
{
    QTest::addColumn<bool>("counted");
    QTest::newRow("nothing counted yet") << false;
    QTest::newRow("after requests") << true;
}

void TestMetrics::everyFamilyHasHelpAndType()
{
    QFETCH(bool, counted);
    Metrics m;
    if (counted) {
        m.countRequest(u"/v1/jobs"_s, 200, 0.1);
        m.countAuthentication(u"success"_s);
        m.countRateLimited();
    }
    const QByteArray text = m.render(someJobs());
    const Exposition e = parse(text);
    QVERIFY2(e.problems.isEmpty(), qPrintable(e.problems.join(u'\n')));
    for (const QString &family : families) {
        QVERIFY2(e.helped.contains(family), qPrintable(family));
        QVERIFY2(e.types.contains(family), qPrintable(family));
    }
    QCOMPARE(e.types.value(u"framehouse_http_requests_total"_s), u"counter"_s);
    QCOMPARE(e.types.value(u"framehouse_http_request_duration_seconds"_s), u"histogram"_s);
    QCOMPARE(e.types.value(u"framehouse_worker_fps"_s), u"gauge"_s);
    QCOMPARE(QSet<QString>(e.helped), QSet<QString>(families.begin(), families.end()));
    // Each sample belongs to a family announced before it, and the
    // samples of a family are not split up.
    QSet<QString> seen;
    QString current;
    for (const Sample &s : e.samples) {
        const QString family = familyOf(e, s.name);
        QVERIFY2(families.contains(family), qPrintable(s.name));
        if (family != current) {
            QVERIFY2(!seen.contains(family), qPrintable(family));
            seen.insert(family);
            current = family;
        }
        const qsizetype typeAt = text.indexOf(QByteArray("# TYPE " + family.toUtf8() + ' '));
        const qsizetype sampleAt = text.indexOf(QByteArray('\n' + s.name.toUtf8()));
        QVERIFY(typeAt >= 0 && typeAt < sampleAt);
    }
}

void TestMetrics::countsFromManyThreads()
{
    Metrics m;
    constexpr int Threads = 8;
    constexpr int Each = 5000;
    std::vector<std::unique_ptr<QThread>> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.emplace_back(QThread::create([&m, t] {
            for (int i = 0; i < Each; ++i) {
                m.countRequest(u"/v1/jobs"_s, 200, 0.001);
                m.countAuthentication(t % 2 ? u"success"_s : u"unknown_key"_s);
                m.countRateLimited();
                if (i % 100 == 0)
                    (void)m.render({});
            }
        }));
    }
    for (auto &thread : threads)
        thread->start();
    for (auto &thread : threads)
        QVERIFY(thread->wait(QDeadlineTimer(60'000)));
    const Exposition e = parse(m.render({}));
    const QString total = QString::number(Threads * Each);
    QCOMPARE(e.value(u"framehouse_http_requests_total"_s,
                     {{u"route"_s, u"/v1/jobs"_s}, {u"code"_s, u"200"_s}}),
             total);
    QCOMPARE(e.value(u"framehouse_http_request_duration_seconds_bucket"_s,
                     {{u"route"_s, u"/v1/jobs"_s}, {u"le"_s, u"0.001"_s}}),
             total);
    QCOMPARE(e.value(u"framehouse_auth_attempts_total"_s, {{u"result"_s, u"success"_s}}),
             QString::number(Threads / 2 * Each));
    QCOMPARE(e.value(u"framehouse_rate_limited_total"_s), total);
}

void TestMetrics::promtoolAccepts_data()
{
    QTest::addColumn<bool>("counted");
    QTest::newRow("nothing counted yet") << false;
    QTest::newRow("after requests, with awkward labels") << true;
}

void TestMetrics::promtoolAccepts()
{
    QFETCH(bool, counted);
    Metrics m;
    if (counted) {
        m.countRequest(u"/v1/jobs"_s, 200, 0.012);
        m.countRequest(u"/v1/jobs/{id}"_s, 404, 7);
        m.countRequest(u"unmatched"_s, 400, 0.0001);
        m.countRequest(u"we\"ird\\route\nhere"_s, 500, 0.3);
        m.countAuthentication(u"success"_s);
        m.countAuthentication(u"unknown_key"_s);
        m.countRateLimited();
    }
    const QByteArray text = m.render(counted ? someJobs() : Metrics::JobFigures{});

    QProcess promtool;
    promtool.start(u"/usr/bin/promtool"_s, {u"check"_s, u"metrics"_s});
    QVERIFY2(promtool.waitForStarted(30'000), qPrintable(promtool.errorString()));
    promtool.write(text);
    promtool.closeWriteChannel();
    QVERIFY2(promtool.waitForFinished(60'000), qPrintable(promtool.errorString()));
    const QString out = QString::fromUtf8(promtool.readAllStandardOutput()).trimmed();
    const QString err = QString::fromUtf8(promtool.readAllStandardError()).trimmed();
    const QString report = u"exit %1\nstdout: %2\nstderr: %3\ntext:\n%4"_s.arg(promtool.exitCode())
                               .arg(out, err, QString::fromUtf8(text));
    QVERIFY2(promtool.exitStatus() == QProcess::NormalExit, qPrintable(report));
    QVERIFY2(promtool.exitCode() == 0, qPrintable(report));
    QVERIFY2(out.isEmpty() && err.isEmpty(), qPrintable(report));
}

QTEST_GUILESS_MAIN(TestMetrics)
#include "tst_metrics.moc"
