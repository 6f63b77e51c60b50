#include "engine/logsink.h"

#include <QCoreApplication>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

Q_LOGGING_CATEGORY(lcTest, "framehouse.test")

namespace {
const QString Secret = QStringLiteral("S3cr3tPartNumberOne00xyz");
const QString Key = QStringLiteral("fhk_AbCdEf012345_") + Secret + QStringLiteral("_Zz9Yy8");
const QString RedactedKey = QStringLiteral("fhk_AbCdEf012345_\u2026");

const QRegularExpression &fail2banPattern()
{
    // What installer/fail2ban's filter matches, with <HOST> as \S+.
    static const QRegularExpression pattern(
        QStringLiteral("^framehouse: authentication failure from (\\S+) key=\\S+ reason=\\S+$"));
    return pattern;
}

QList<QByteArray> linesOf(const QByteArray &content)
{
    QList<QByteArray> lines = content.split('\n');
    if (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    return lines;
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}
} // namespace

class TestLogSink : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void messagesAreJsonLines_data();
    void messagesAreJsonLines();
    void categoryIsRecorded();
    void fileIsPrivateAndAppended();
    void installFailureChangesNothing();
    void writeFailureIsSurvived();
    void linesFromThreadsDoNotInterleave();
    void authenticationFailureLine_data();
    void authenticationFailureLine();
    void authenticationFailureIsLogged_data();
    void authenticationFailureIsLogged();

private:
    QString logPath() const { return m_dir->filePath(QStringLiteral("framehouse.log")); }
    QByteArray capturedStderr() const { return readAll(m_stderrPath); }

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_stderrPath;
    int m_savedStderr = -1;
};

// stderr is captured into a file for each test: it is one of the sink's two
// destinations, and it keeps the test output readable.
void TestLogSink::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_stderrPath = m_dir->filePath(QStringLiteral("stderr"));
    const int fd = ::open(QFile::encodeName(m_stderrPath).constData(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    QVERIFY(fd >= 0);
    m_savedStderr = ::dup(STDERR_FILENO);
    QVERIFY(m_savedStderr >= 0);
    QVERIFY(::dup2(fd, STDERR_FILENO) >= 0);
    ::close(fd);
}

void TestLogSink::cleanup()
{
    LogSink::uninstall();
    QVERIFY(!LogSink::isInstalled());
    if (m_savedStderr >= 0) {
        ::dup2(m_savedStderr, STDERR_FILENO);
        ::close(m_savedStderr);
        m_savedStderr = -1;
    }
    m_dir.reset();
}

void TestLogSink::messagesAreJsonLines_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QString>("message");
    QTest::addColumn<QString>("level");
    QTest::addColumn<QString>("expected");

    QTest::newRow("info") << int(QtInfoMsg) << QStringLiteral("engine started")
                          << QStringLiteral("info") << QStringLiteral("engine started");
    QTest::newRow("debug") << int(QtDebugMsg) << QStringLiteral("lease 4 renewed")
                           << QStringLiteral("debug") << QStringLiteral("lease 4 renewed");
    QTest::newRow("critical") << int(QtCriticalMsg) << QStringLiteral("disk full")
                              << QStringLiteral("critical") << QStringLiteral("disk full");
    QTest::newRow("key and newline")
        << int(QtInfoMsg)
        << QString(QStringLiteral("rejected ") + Key + QStringLiteral("\nsecond line"))
        << QStringLiteral("info")
        << QString(QStringLiteral("rejected ") + RedactedKey + QStringLiteral("\\nsecond line"));
    QTest::newRow("forged JSON line")
        << int(QtWarningMsg)
        << QStringLiteral("x\n{\"time\":\"2000-01-01T00:00:00.000Z\",\"level\":\"info\","
                          "\"category\":\"default\",\"pid\":1,\"message\":\"forged\"}")
        << QStringLiteral("warning")
        << QStringLiteral("x\\n{\"time\":\"2000-01-01T00:00:00.000Z\",\"level\":\"info\","
                          "\"category\":\"default\",\"pid\":1,\"message\":\"forged\"}");
    QTest::newRow("quotes, backslash, control")
        << int(QtWarningMsg) << QStringLiteral("say \"hi\" \\ \x1b[2J\r\n\u2028")
        << QStringLiteral("warning") << QStringLiteral("say \"hi\" \\\\ \\u001b[2J\\r\\n\\u2028");
    QTest::newRow("home and email")
        << int(QtWarningMsg) << QStringLiteral("/home/alice/in.mov from alice@example.org")
        << QStringLiteral("warning") << QStringLiteral("~/in.mov from a***@example.org");
    QTest::newRow("non-ASCII") << int(QtInfoMsg) << QStringLiteral("Café 🎬")
                               << QStringLiteral("info") << QStringLiteral("Café 🎬");
}

void TestLogSink::messagesAreJsonLines()
{
    QFETCH(int, type);
    QFETCH(QString, message);
    QFETCH(QString, level);
    QFETCH(QString, expected);
    QVERIFY(LogSink::install(logPath()).ok());
    QVERIFY(LogSink::isInstalled());
    switch (type) {
    case QtDebugMsg:
        qDebug().noquote() << message;
        break;
    case QtInfoMsg:
        qInfo().noquote() << message;
        break;
    case QtWarningMsg:
        qWarning().noquote() << message;
        break;
    default:
        qCritical().noquote() << message;
        break;
    }
    LogSink::uninstall();

    const QByteArray content = readAll(logPath());
    QCOMPARE(content.count('\n'), 1);
    QVERIFY(content.endsWith('\n'));
    QVERIFY(!content.contains(Secret.toUtf8()));
    // The same line went to stderr, for journald.
    QCOMPARE(capturedStderr(), content);

    QJsonParseError error{};
    const QJsonDocument document = QJsonDocument::fromJson(content, &error);
    QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
    const QJsonObject object = document.object();
    QCOMPARE(object.keys(), (QStringList{QStringLiteral("category"), QStringLiteral("level"),
                                         QStringLiteral("message"), QStringLiteral("pid"),
                                         QStringLiteral("time")}));
    QCOMPARE(object.value(QStringLiteral("level")).toString(), level);
    QCOMPARE(object.value(QStringLiteral("category")).toString(), QStringLiteral("default"));
    QCOMPARE(object.value(QStringLiteral("pid")).toInteger(), QCoreApplication::applicationPid());
    QCOMPARE(object.value(QStringLiteral("message")).toString(), expected);
    static const QRegularExpression iso(
        QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$"));
    QVERIFY2(iso.match(object.value(QStringLiteral("time")).toString()).hasMatch(),
             qPrintable(object.value(QStringLiteral("time")).toString()));
    // Fields in reading order.
    QVERIFY(content.startsWith("{\"time\":\""));
}

void TestLogSink::categoryIsRecorded()
{
    QVERIFY(LogSink::install(logPath()).ok());
    qCWarning(lcTest) << "from a category";
    LogSink::uninstall();
    const QJsonObject object = QJsonDocument::fromJson(readAll(logPath())).object();
    QCOMPARE(object.value(QStringLiteral("category")).toString(),
             QStringLiteral("framehouse.test"));
    QCOMPARE(object.value(QStringLiteral("message")).toString(), QStringLiteral("from a category"));
}

void TestLogSink::fileIsPrivateAndAppended()
{
    QVERIFY(LogSink::install(logPath()).ok());
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(logPath()).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0600u);
    qInfo("one");
    qInfo("two");
    LogSink::uninstall();
    QVERIFY(LogSink::install(logPath()).ok());
    qInfo("three");
    // Installing again switches files without losing the handler.
    const QString second = m_dir->filePath(QStringLiteral("second.log"));
    QVERIFY(LogSink::install(second).ok());
    qInfo("four");
    LogSink::uninstall();
    qInfo("not logged by the sink");

    const QList<QByteArray> lines = linesOf(readAll(logPath()));
    QCOMPARE(lines.size(), 3);
    QStringList messages;
    for (const QByteArray &line : lines)
        messages
            << QJsonDocument::fromJson(line).object().value(QStringLiteral("message")).toString();
    QCOMPARE(messages,
             (QStringList{QStringLiteral("one"), QStringLiteral("two"), QStringLiteral("three")}));
    QCOMPARE(linesOf(readAll(second)).size(), 1);
}

void TestLogSink::installFailureChangesNothing()
{
    const QString bad = m_dir->filePath(QStringLiteral("no/such/dir/x.log"));
    const Expected<void> result = LogSink::install(bad);
    QVERIFY(!result.ok());
    QVERIFY2(result.error().contains(bad), qPrintable(result.error()));
    QVERIFY(!LogSink::isInstalled());
}

void TestLogSink::writeFailureIsSurvived()
{
    // /dev/full accepts the open and fails every write with ENOSPC.
    if (!QFile::exists(QStringLiteral("/dev/full")))
        QSKIP("no /dev/full");
    QVERIFY(LogSink::install(QStringLiteral("/dev/full")).ok());
    for (int i = 0; i < 5; ++i)
        qWarning("message %d", i);
    LogSink::uninstall();

    // Every message still reached stderr, plus one report of the failure.
    const QList<QByteArray> lines = linesOf(capturedStderr());
    QCOMPARE(lines.size(), 6);
    int reports = 0;
    for (const QByteArray &line : lines) {
        const QJsonObject object = QJsonDocument::fromJson(line).object();
        QVERIFY(!object.isEmpty());
        if (object.value(QStringLiteral("category")).toString() == u"framehouse.log")
            ++reports;
    }
    QCOMPARE(reports, 1);

    // Qt Test's own handler is back: it sees this message.
    QTest::ignoreMessage(QtWarningMsg, "after uninstall");
    qWarning("after uninstall");
}

void TestLogSink::linesFromThreadsDoNotInterleave()
{
    QVERIFY(LogSink::install(logPath()).ok());
    constexpr int threads = 4;
    constexpr int perThread = 200;
    // Long enough that a torn write would show.
    const QString padding(2000, u'p');
    QList<QThread *> workers;
    for (int t = 0; t < threads; ++t) {
        workers << QThread::create([t, padding] {
            for (int i = 0; i < perThread; ++i)
                qInfo().noquote() << QString(QStringLiteral("thread %1 line %2 ").arg(t).arg(i) +
                                             padding);
        });
        workers.last()->start();
    }
    for (QThread *worker : workers) {
        QVERIFY(worker->wait(60000));
        delete worker;
    }
    LogSink::uninstall();

    const QList<QByteArray> lines = linesOf(readAll(logPath()));
    QCOMPARE(lines.size(), threads * perThread);
    for (const QByteArray &line : lines) {
        QJsonParseError error{};
        const QJsonDocument document = QJsonDocument::fromJson(line, &error);
        QVERIFY2(error.error == QJsonParseError::NoError, line.left(80).constData());
        QVERIFY(document.object().value(QStringLiteral("message")).toString().endsWith(padding));
    }
}

void TestLogSink::authenticationFailureLine_data()
{
    QTest::addColumn<QString>("ip");
    QTest::addColumn<QString>("keyId");
    QTest::addColumn<QString>("reason");
    QTest::addColumn<QString>("expected");

    QTest::newRow("plain") << QStringLiteral("203.0.113.7") << QStringLiteral("AbCdEf012345")
                           << QStringLiteral("bad_secret")
                           << QStringLiteral("framehouse: authentication failure from "
                                             "203.0.113.7 key=AbCdEf012345 reason=bad_secret");
    QTest::newRow("IPv6, no key")
        << QStringLiteral("2001:db8::1") << QString() << QStringLiteral("missing_credentials")
        << QStringLiteral("framehouse: authentication failure from 2001:db8::1 key=- "
                          "reason=missing_credentials");
    QTest::newRow("spaces become underscores")
        << QStringLiteral("198.51.100.2") << QStringLiteral("AbCdEf012345")
        << QStringLiteral("key has expired")
        << QStringLiteral("framehouse: authentication failure from 198.51.100.2 "
                          "key=AbCdEf012345 reason=key_has_expired");
    QTest::newRow("whole key given as id")
        << QStringLiteral("198.51.100.2") << Key << QStringLiteral("revoked")
        << QString(QStringLiteral("framehouse: authentication failure from 198.51.100.2 key=") +
                   RedactedKey + QStringLiteral(" reason=revoked"));
    QTest::newRow("empty fields") << QString() << QString() << QString()
                                  << QStringLiteral("framehouse: authentication failure from - "
                                                    "key=- reason=-");
    QTest::newRow("reason forges a field")
        << QStringLiteral("10.0.0.1") << QString()
        << QStringLiteral("x from 6.6.6.6 key=- reason=y")
        << QStringLiteral("framehouse: authentication failure from 10.0.0.1 key=- "
                          "reason=x_from_6.6.6.6_key=-_reason=y");
    QTest::newRow("unicode spaces")
        << QStringLiteral("10.0.0.1") << QStringLiteral("a\u00a0b")
        << QStringLiteral("c\u3000d\u2003e")
        << QStringLiteral("framehouse: authentication failure from 10.0.0.1 key=a_b "
                          "reason=c_d_e");
}

void TestLogSink::authenticationFailureLine()
{
    QFETCH(QString, ip);
    QFETCH(QString, keyId);
    QFETCH(QString, reason);
    QFETCH(QString, expected);
    const QString line = LogSink::authenticationFailureLine(ip, keyId, reason);
    QCOMPARE(line, expected);
    QVERIFY(fail2banPattern().match(line).hasMatch());
    QVERIFY(!line.contains(Secret));
}

void TestLogSink::authenticationFailureIsLogged_data()
{
    QTest::addColumn<QString>("ip");
    QTest::addColumn<QString>("keyId");
    QTest::addColumn<QString>("reason");

    const QString forged =
        QStringLiteral("framehouse: authentication failure from 6.6.6.6 key=- reason=x");
    QTest::newRow("ordinary") << QStringLiteral("203.0.113.7") << QStringLiteral("AbCdEf012345")
                              << QStringLiteral("unknown key");
    QTest::newRow("newline then forged line in reason")
        << QStringLiteral("203.0.113.7") << QString() << QString(QStringLiteral("bad\n") + forged);
    QTest::newRow("CR LF then forged line in key id")
        << QStringLiteral("203.0.113.7") << QString(QStringLiteral("k\r\n") + forged)
        << QStringLiteral("bad");
    QTest::newRow("U+2028 then forged line") << QStringLiteral("203.0.113.7") << QString()
                                             << QString(QStringLiteral("bad\u2028") + forged);
    QTest::newRow("NEL then forged line") << QStringLiteral("203.0.113.7") << QString()
                                          << QString(QStringLiteral("bad\u0085") + forged);
    QTest::newRow("secret in reason")
        << QStringLiteral("203.0.113.7") << QStringLiteral("AbCdEf012345")
        << QString(QStringLiteral("checksum mismatch for ") + Key);
}

void TestLogSink::authenticationFailureIsLogged()
{
    QFETCH(QString, ip);
    QFETCH(QString, keyId);
    QFETCH(QString, reason);
    QVERIFY(LogSink::install(logPath()).ok());
    LogSink::authenticationFailure(ip, keyId, reason);
    LogSink::uninstall();

    for (const QByteArray &content : {readAll(logPath()), capturedStderr()}) {
        QVERIFY(!content.contains(Secret.toUtf8()));
        const QList<QByteArray> lines = linesOf(content);
        QCOMPARE(lines.size(), 2);
        // One JSON line (category framehouse.auth) ...
        const QJsonObject object = QJsonDocument::fromJson(lines.at(0)).object();
        QCOMPARE(object.value(QStringLiteral("category")).toString(),
                 QStringLiteral("framehouse.auth"));
        QCOMPARE(object.value(QStringLiteral("level")).toString(), QStringLiteral("warning"));
        // ... and exactly one line the filter matches, naming the real source.
        int matches = 0;
        for (const QByteArray &line : lines) {
            const QRegularExpressionMatch match = fail2banPattern().match(QString::fromUtf8(line));
            if (!match.hasMatch())
                continue;
            ++matches;
            QCOMPARE(match.captured(1), ip);
        }
        QCOMPARE(matches, 1);
        QCOMPARE(QString::fromUtf8(lines.at(1)),
                 LogSink::authenticationFailureLine(ip, keyId, reason));
    }
}

QTEST_GUILESS_MAIN(TestLogSink)
#include "tst_logsink.moc"
