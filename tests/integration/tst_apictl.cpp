#include "enginefixture.h"
#include "testsupport.h"

#include "api/banlist.h"
#include "api/tlsidentity.h"
#include "security/apikeytoken.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSemaphore>
#include <QSqlQuery>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QThread>

#include <memory>

namespace {
// verify's checks, in the order it prints them.
const QStringList checkNames{
    QStringLiteral("tls1.0-refused"),      QStringLiteral("tls1.1-refused"),
    QStringLiteral("tls1.2-accepted"),     QStringLiteral("tls1.3-accepted"),
    QStringLiteral("certificate"),         QStringLiteral("auth-required"),
    QStringLiteral("cors-unknown-origin"), QStringLiteral("key-accepted"),
    QStringLiteral("security-headers"),    QStringLiteral("rate-limit"),
};
// The engine's per-address allowance in these tests: a burst of 20, refilled
// at 10 per second. Each verify ends by emptying it, so the next one waits
// for a full bucket before its first request.
constexpr int IpBurst = 20;
constexpr int IpRatePerSecond = 10;
constexpr int BucketRefillMs = IpBurst * 1000 / IpRatePerSecond + 300;

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

// The environment framehousectl runs in: no settings file or key from the
// caller's. A key travels here rather than on the command line, which every
// user can see and which lands in the test transcript.
QProcessEnvironment ctlEnvironment(const QString &key = {})
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("FRAMEHOUSE_API_KEY"));
    env.remove(QStringLiteral("FRAMEHOUSE_CONFIG"));
    if (!key.isEmpty())
        env.insert(QStringLiteral("FRAMEHOUSE_API_KEY"), key);
    return env;
}

QStringList lines(const QString &text) { return text.split(u'\n', Qt::SkipEmptyParts); }

QString args(const char *text) { return QString::fromLatin1(text); }

bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) &&
           file.write(content) == content.size();
}

// The result lines of verify by check name: "PASS" or "FAIL" and the detail.
QHash<QString, QPair<QString, QString>> results(const QString &out)
{
    static const QRegularExpression line(QStringLiteral("^(PASS|FAIL) ([a-z0-9.-]+): (.*)$"));
    QHash<QString, QPair<QString, QString>> found;
    for (const QString &l : lines(out)) {
        const QRegularExpressionMatch m = line.match(l);
        if (m.hasMatch())
            found.insert(m.captured(2), {m.captured(1), m.captured(3)});
    }
    return found;
}

QStringList namesInOrder(const QString &out)
{
    QStringList names;
    for (const QString &l : lines(out))
        names << l.section(u' ', 1, 1).chopped(1);
    return names;
}

// `openssl s_client -connect 127.0.0.1:PORT </dev/null | openssl x509
// -noout -fingerprint -sha256`, as an operator would run it.
QString servedFingerprint(quint16 port)
{
    QProcess client;
    QProcess x509;
    client.setStandardInputFile(QProcess::nullDevice());
    client.setStandardErrorFile(QProcess::nullDevice());
    client.setStandardOutputProcess(&x509);
    client.start(QStringLiteral("openssl"), {QStringLiteral("s_client"), QStringLiteral("-connect"),
                                             QStringLiteral("127.0.0.1:%1").arg(port)});
    x509.start(QStringLiteral("openssl"),
               {QStringLiteral("x509"), QStringLiteral("-noout"), QStringLiteral("-fingerprint"),
                QStringLiteral("-sha256")});
    if (!client.waitForFinished(30000) || !x509.waitForFinished(30000))
        return {};
    // "sha256 Fingerprint=AB:CD:..."
    return QString::fromLatin1(x509.readAllStandardOutput()).trimmed().section(u'=', 1);
}

struct CurlResult {
    int exitCode = -1;
    QString status; // "000" when no HTTP answer came
};

CurlResult curlWithKey(const QString &url, const QString &key)
{
    QProcess curl;
    curl.start(QStringLiteral("curl"),
               {QStringLiteral("-sk"), QStringLiteral("-o"), QStringLiteral("/dev/null"),
                QStringLiteral("-w"), QStringLiteral("%{http_code}"), QStringLiteral("--max-time"),
                QStringLiteral("20"), QStringLiteral("-H"),
                QStringLiteral("Authorization: Bearer ") + key, url});
    if (!curl.waitForFinished(30000))
        return {};
    return {curl.exitStatus() == QProcess::NormalExit ? curl.exitCode() : -1,
            QString::fromLatin1(curl.readAllStandardOutput()).trimmed()};
}

// A plaintext HTTP server on its own thread (runCtl blocks this one): what
// a TLS client meets on a port where a web server speaks plain HTTP. Like
// nginx given a TLS hello, it answers anything with 400 and hangs up.
class PlainHttpServer : public QThread {
public:
    ~PlainHttpServer() override
    {
        quit();
        wait();
    }
    quint16 listen()
    {
        start();
        m_ready.acquire();
        return m_port;
    }

protected:
    void run() override
    {
        QTcpServer server;
        if (server.listen(QHostAddress::LocalHost, 0))
            m_port = server.serverPort();
        QObject::connect(&server, &QTcpServer::newConnection, &server, [&server] {
            while (QTcpSocket *socket = server.nextPendingConnection()) {
                QObject::connect(socket, &QTcpSocket::readyRead, socket, [socket] {
                    socket->readAll();
                    socket->write("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n");
                    socket->disconnectFromHost();
                });
                QObject::connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
        m_ready.release();
        exec();
    }

private:
    QSemaphore m_ready;
    quint16 m_port = 0;
};

// A loopback port nothing listens on (just released by this process).
quint16 closedPort()
{
    QTcpServer server;
    server.listen(QHostAddress::LocalHost, 0);
    const quint16 port = server.serverPort();
    server.close();
    return port;
}
} // namespace

// framehousectl api info|bans|unban and verify, as real processes against
// a real framehoused, compared with what openssl and curl see.
class TestApiCtl : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void infoBeforeTheFirstStart();
    void infoShowsTheServedFingerprint();
    void infoReadsTheConfiguredCertificate();
    void verifyPassesWithThePin();
    void verifyPassesWithTheCaAndTheKeyOnStdin();
    void verifyAcceptsAKeyWithoutJobsRead();
    void verifyFails_data();
    void verifyFails();
    void banAndUnban();
    void usageErrors_data();
    void usageErrors();
    void helpForVerify();

private:
    TestSupport::Run ctl(const QStringList &arguments, const QString &key = {}) const;
    QString createKey(const QString &scopes) const;
    QString fingerprint() const;

    std::unique_ptr<EngineFixture> m_engine;
    QString m_key;        // jobs:read
    QString m_submitOnly; // jobs:submit, no jobs:read
};

TestSupport::Run TestApiCtl::ctl(const QStringList &arguments, const QString &key) const
{
    return TestSupport::runCtl(arguments + m_engine->storeArgs(), ctlEnvironment(key));
}

QString TestApiCtl::createKey(const QString &scopes) const
{
    const TestSupport::Run created =
        ctl({args("keys"), args("create"), args("--name"), args("verify"), args("--owner-id"),
             args("ops"), args("--scopes"), scopes, args("--expires-in-days"), args("1")});
    static const QRegularExpression token(
        QStringLiteral("fhk_[0-9A-Za-z]{12}_[0-9A-Za-z]{24}_[0-9A-Za-z]{6}"));
    return created.exitCode == 0 ? token.match(created.out).captured() : QString();
}

QString TestApiCtl::fingerprint() const
{
    Expected<std::optional<QSslCertificate>> stored =
        TlsIdentity::storedCertificate(m_engine->db());
    return stored && stored.value() ? TlsIdentity::fingerprintSha256(*stored.value()) : QString();
}

void TestApiCtl::initTestCase()
{
    m_engine = std::make_unique<EngineFixture>();
    VERIFY_EXPECTED(m_engine->setSetting(QStringLiteral("api.ip_burst"), QString::number(IpBurst)));
    VERIFY_EXPECTED(m_engine->setSetting(QStringLiteral("api.ip_rate_per_s"),
                                         QString::number(IpRatePerSecond)));
    m_key = createKey(QStringLiteral("jobs:read"));
    m_submitOnly = createKey(QStringLiteral("jobs:submit"));
    QVERIFY(!m_key.isEmpty() && !m_submitOnly.isEmpty());
    QVERIFY(m_engine->startEngine());
    QVERIFY(m_engine->apiPort() != 0);
}

void TestApiCtl::cleanupTestCase()
{
    QVERIFY(m_engine->stopEngine());
    m_engine.reset();
}

void TestApiCtl::infoBeforeTheFirstStart()
{
    EngineFixture fresh;
    const TestSupport::Run text = TestSupport::runCtl(
        QStringList{args("api"), args("info")} + fresh.storeArgs(), ctlEnvironment());
    VERIFY_SUCCEEDS(text);
    QVERIFY2(text.out.contains(QStringLiteral("none yet; start framehoused once to create it")),
             qPrintable(text.out));
    QVERIFY2(text.out.contains(QStringLiteral("127.0.0.1:8443 (default")), qPrintable(text.out));
    const TestSupport::Run json = TestSupport::runCtl(
        QStringList{args("api"), args("info"), args("--json")} + fresh.storeArgs(),
        ctlEnvironment());
    VERIFY_SUCCEEDS(json);
    const QJsonObject info = QJsonDocument::fromJson(json.out.toUtf8()).object();
    QVERIFY(info.contains(QStringLiteral("certificate")));
    QVERIFY(info.value(QStringLiteral("certificate")).isNull());
    QCOMPARE(info.value(QStringLiteral("listen")).toString(), QStringLiteral("127.0.0.1:8443"));
}

void TestApiCtl::infoShowsTheServedFingerprint()
{
    const QString served = servedFingerprint(m_engine->apiPort());
    QCOMPARE(served.size(), 95); // 32 bytes as hex pairs with colons
    const TestSupport::Run text = ctl({args("api"), args("info")});
    VERIFY_SUCCEEDS(text);
    QVERIFY2(lines(text.out).contains(QStringLiteral("sha256:      ") + served),
             qPrintable(text.out));
    QVERIFY2(text.out.contains(QStringLiteral("self-signed, kept in the store")),
             qPrintable(text.out));
    // The engine logs the same fingerprint when it starts listening.
    QVERIFY(m_engine->engineLog().contains(QStringLiteral("SHA-256 ") + served));

    const TestSupport::Run json = ctl({args("api"), args("info"), args("--json")});
    VERIFY_SUCCEEDS(json);
    const QJsonObject certificate = QJsonDocument::fromJson(json.out.toUtf8())
                                        .object()
                                        .value(QStringLiteral("certificate"))
                                        .toObject();
    QCOMPARE(certificate.value(QStringLiteral("sha256")).toString(), served);
    QCOMPARE(certificate.value(QStringLiteral("source")).toString(), QStringLiteral("store"));
    const QStringList names =
        certificate.value(QStringLiteral("subject_alt_names")).toVariant().toStringList();
    QVERIFY2(names.contains(QStringLiteral("IP:127.0.0.1")) &&
                 names.contains(QStringLiteral("DNS:localhost")),
             qPrintable(names.join(u',')));
    const QDateTime expires = QDateTime::fromString(
        certificate.value(QStringLiteral("expires")).toString(), Qt::ISODateWithMs);
    QVERIFY(expires.toMSecsSinceEpoch() > nowMs());
    QCOMPARE(certificate.value(QStringLiteral("expired")).toBool(), false);
}

void TestApiCtl::infoReadsTheConfiguredCertificate()
{
    Expected<TlsIdentity> made =
        TlsIdentity::generateSelfSigned({QStringLiteral("transcode.example.com")}, {}, 30);
    VERIFY_EXPECTED(made);
    const QString certificateFile = m_engine->path(QStringLiteral("cert.pem"));
    QVERIFY(writeFile(certificateFile, made->certificate.toPem()));
    QVERIFY(writeFile(m_engine->path(QStringLiteral("key.pem")), made->privateKey.toPem()));
    const QString config = m_engine->path(QStringLiteral("engine.ini"));
    QVERIFY(writeFile(config, "[api]\nlisten = 127.0.0.1:9443\ntls_certificate = cert.pem\n"
                              "tls_private_key = key.pem\n"));

    const TestSupport::Run text = ctl({args("api"), args("info"), args("--config"), config});
    VERIFY_SUCCEEDS(text);
    QVERIFY2(text.out.contains(QStringLiteral("127.0.0.1:9443 (from %1)").arg(config)),
             qPrintable(text.out));
    QVERIFY2(text.out.contains(QStringLiteral("from ") + certificateFile), qPrintable(text.out));
    const QString expected = TlsIdentity::fingerprintSha256(made->certificate);
    QVERIFY(expected != fingerprint());
    QVERIFY2(lines(text.out).contains(QStringLiteral("sha256:      ") + expected),
             qPrintable(text.out));
    QVERIFY(text.out.contains(QStringLiteral("DNS:transcode.example.com")));

    // The same file named by $FRAMEHOUSE_CONFIG, as framehoused reads it.
    QProcessEnvironment env = ctlEnvironment();
    env.insert(QStringLiteral("FRAMEHOUSE_CONFIG"), config);
    const TestSupport::Run json = TestSupport::runCtl(
        QStringList{args("api"), args("info"), args("--json")} + m_engine->storeArgs(), env);
    VERIFY_SUCCEEDS(json);
    const QJsonObject info = QJsonDocument::fromJson(json.out.toUtf8()).object();
    QCOMPARE(info.value(QStringLiteral("listen")).toString(), QStringLiteral("127.0.0.1:9443"));
    const QJsonObject certificate = info.value(QStringLiteral("certificate")).toObject();
    QCOMPARE(certificate.value(QStringLiteral("source")).toString(), QStringLiteral("file"));
    QCOMPARE(certificate.value(QStringLiteral("file")).toString(), certificateFile);
    QCOMPARE(certificate.value(QStringLiteral("sha256")).toString(), expected);

    // A certificate file that is not there is an error naming it.
    QVERIFY(writeFile(config, "[api]\ntls_certificate = missing.pem\n"
                              "tls_private_key = key.pem\n"));
    VERIFY_REFUSED(ctl({args("api"), args("info"), args("--config"), config}), 1,
                   m_engine->path(QStringLiteral("missing.pem")));
}

void TestApiCtl::verifyPassesWithThePin()
{
    QTest::qWait(BucketRefillMs);
    const TestSupport::Run run =
        ctl({args("verify"), m_engine->apiUrl(), args("--pin"), fingerprint()}, m_key);
    VERIFY_SUCCEEDS(run);
    QVERIFY(run.err.isEmpty());
    QCOMPARE(namesInOrder(run.out), checkNames);
    const auto found = results(run.out);
    for (const QString &name : checkNames)
        QVERIFY2(found.value(name).first == QLatin1String("PASS"), qPrintable(run.out));
    QVERIFY2(found.value(QStringLiteral("tls1.0-refused")).second.contains(u"protocol version"),
             qPrintable(run.out));
    QVERIFY(found.value(QStringLiteral("certificate")).second.contains(u"matches the pin"));
    QVERIFY(found.value(QStringLiteral("key-accepted")).second.contains(u"GET /v1/jobs: 200"));
    QVERIFY(found.value(QStringLiteral("rate-limit")).second.contains(u"Retry-After"));
    QVERIFY(!run.out.contains(m_key));
}

void TestApiCtl::verifyPassesWithTheCaAndTheKeyOnStdin()
{
    // The engine's self-signed certificate is its own CA.
    Expected<std::optional<QSslCertificate>> stored =
        TlsIdentity::storedCertificate(m_engine->db());
    VERIFY_EXPECTED(stored);
    QVERIFY(stored.value().has_value());
    const QString ca = m_engine->path(QStringLiteral("engine-ca.pem"));
    QVERIFY(writeFile(ca, stored.value()->toPem()));

    QTest::qWait(BucketRefillMs);
    QProcess verify;
    verify.setProcessEnvironment(ctlEnvironment());
    const QStringList arguments{args("verify"), m_engine->apiUrl(), args("--ca"),  ca,
                                args("--key"),  args("-"),          args("--json")};
    verify.start(QStringLiteral(FRAMEHOUSECTL_PATH), arguments);
    QVERIFY(verify.waitForStarted());
    verify.write(m_key.toLatin1() + '\n');
    verify.closeWriteChannel();
    QVERIFY(verify.waitForFinished(120000));
    const QString out = QString::fromUtf8(verify.readAllStandardOutput());
    const QString err = QString::fromUtf8(verify.readAllStandardError());
    TestSupport::recordOutput(QStringLiteral("framehousectl ") + arguments.join(u' '),
                              out + QStringLiteral("--- stderr\n") + err);
    QCOMPARE(verify.exitCode(), 0);
    const QJsonObject report = QJsonDocument::fromJson(out.toUtf8()).object();
    QCOMPARE(report.value(QStringLiteral("passed")).toBool(), true);
    const QJsonArray checks = report.value(QStringLiteral("checks")).toArray();
    QCOMPARE(checks.size(), checkNames.size());
    for (qsizetype i = 0; i < checks.size(); ++i) {
        const QJsonObject check = checks.at(i).toObject();
        QCOMPARE(check.value(QStringLiteral("name")).toString(), checkNames.at(i));
        QVERIFY2(check.value(QStringLiteral("passed")).toBool(),
                 qPrintable(check.value(QStringLiteral("detail")).toString()));
    }
    QVERIFY(checks.at(4)
                .toObject()
                .value(QStringLiteral("detail"))
                .toString()
                .contains(QStringLiteral("against ") + ca));
    QVERIFY(!out.contains(m_key) && !err.contains(m_key));
}

void TestApiCtl::verifyAcceptsAKeyWithoutJobsRead()
{
    QTest::qWait(BucketRefillMs);
    const TestSupport::Run run =
        ctl({args("verify"), m_engine->apiUrl(), args("--pin"), fingerprint()}, m_submitOnly);
    VERIFY_SUCCEEDS(run);
    const QString detail = results(run.out).value(QStringLiteral("key-accepted")).second;
    QVERIFY2(detail.contains(QStringLiteral("GET /v1/jobs: 403 (the key lacks jobs:read)")) &&
                 detail.contains(QStringLiteral("GET /ready: 200")),
             qPrintable(run.out));
}

void TestApiCtl::verifyFails_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QString>("failing");
    QTest::addColumn<QString>("needle");
    QTest::addColumn<bool>("allFail");
    QTest::newRow("wrong pin") << QStringLiteral("engine") << QStringLiteral("certificate")
                               << QStringLiteral("not the pinned") << false;
    QTest::newRow("nothing listens") << QStringLiteral("closed") << QStringLiteral("tls1.0-refused")
                                     << QStringLiteral("cannot connect") << true;
    QTest::newRow("plain HTTP") << QStringLiteral("plain") << QStringLiteral("tls1.0-refused")
                                << QStringLiteral("not TLS") << true;
}

void TestApiCtl::verifyFails()
{
    QFETCH(QString, target);
    QFETCH(QString, failing);
    QFETCH(QString, needle);
    QFETCH(bool, allFail);
    PlainHttpServer plain;
    quint16 port = m_engine->apiPort();
    if (target == QLatin1String("closed"))
        port = closedPort();
    else if (target == QLatin1String("plain"))
        port = plain.listen();
    QVERIFY(port != 0);
    // A pin that the engine's certificate does not have: 32 zero bytes.
    const QString wrongPin = QString(QStringLiteral("00:")).repeated(31) + QStringLiteral("00");
    const TestSupport::Run run =
        ctl({args("verify"), QStringLiteral("https://127.0.0.1:%1").arg(port), args("--pin"),
             target == QLatin1String("engine") ? wrongPin : fingerprint()},
            m_key);
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(namesInOrder(run.out), checkNames);
    const auto found = results(run.out);
    QVERIFY2(found.value(failing).first == QLatin1String("FAIL") &&
                 found.value(failing).second.contains(needle),
             qPrintable(run.out));
    // Nothing is sent over a connection that is not trusted.
    for (const QString &name : checkNames.mid(5))
        QVERIFY2(found.value(name).first == QLatin1String("FAIL") &&
                     found.value(name).second.startsWith(u"not checked"),
                 qPrintable(run.out));
    if (allFail)
        QVERIFY2(!run.out.contains(QStringLiteral("PASS ")), qPrintable(run.out));
    else
        QVERIFY2(found.value(QStringLiteral("tls1.2-accepted")).first == QLatin1String("PASS"),
                 qPrintable(run.out));
    QVERIFY(!run.out.contains(m_key) && !run.err.contains(m_key));
}

void TestApiCtl::banAndUnban()
{
    EngineFixture banned;
    VERIFY_EXPECTED(banned.setSetting(QStringLiteral("api.ban_failures"), QStringLiteral("3")));
    QVERIFY(banned.startEngine());
    const auto bansCtl = [&](const QStringList &words) {
        return TestSupport::runCtl(QStringList{args("api")} + words + banned.storeArgs(),
                                   ctlEnvironment());
    };
    TestSupport::Run bans = bansCtl({args("bans")});
    VERIFY_SUCCEEDS(bans);
    QCOMPARE(bans.out.trimmed(), QStringLiteral("no address is banned"));
    bans = bansCtl({args("bans"), args("--json")});
    VERIFY_SUCCEEDS(bans);
    QVERIFY(QJsonDocument::fromJson(bans.out.toUtf8()).array().isEmpty());

    // Three requests with a key that does not exist.
    const QString wrongKey = ApiKeyToken::generate().toString();
    const QString jobs = banned.apiUrl() + QStringLiteral("/v1/jobs");
    for (int i = 0; i < 3; ++i) {
        const CurlResult refused = curlWithKey(jobs, wrongKey);
        QCOMPARE(refused.exitCode, 0);
        QCOMPARE(refused.status, QStringLiteral("401"));
    }
    bans = bansCtl({args("bans")});
    VERIFY_SUCCEEDS(bans);
    QVERIFY2(lines(bans.out).size() == 2 && lines(bans.out).at(1).startsWith(u"127.0.0.1 "),
             qPrintable(bans.out));
    bans = bansCtl({args("bans"), args("--json")});
    VERIFY_SUCCEEDS(bans);
    const QJsonArray list = QJsonDocument::fromJson(bans.out.toUtf8()).array();
    QCOMPARE(list.size(), 1);
    QCOMPARE(list.at(0).toObject().value(QStringLiteral("address")).toString(),
             QStringLiteral("127.0.0.1"));
    QCOMPARE(list.at(0).toObject().value(QStringLiteral("failures")).toInt(), 3);

    // The engine now refuses this address: it closes the connection before
    // the handshake, or answers 403.
    const CurlResult shut = curlWithKey(jobs, wrongKey);
    QVERIFY2(
        shut.exitCode != 0 || shut.status == QLatin1String("403"),
        qPrintable(QStringLiteral("curl exit %1, status %2").arg(shut.exitCode).arg(shut.status)));

    const TestSupport::Run lifted = bansCtl({args("unban"), args("127.0.0.1")});
    VERIFY_SUCCEEDS(lifted);
    QVERIFY2(lifted.out.contains(QStringLiteral("127.0.0.1 is no longer banned")),
             qPrintable(lifted.out));
    Expected<QList<BanList::Ban>> stored = BanList::list(banned.db(), nowMs());
    VERIFY_EXPECTED(stored);
    QVERIFY(stored->isEmpty());
    bans = bansCtl({args("bans")});
    VERIFY_SUCCEEDS(bans);
    QCOMPARE(bans.out.trimmed(), QStringLiteral("no address is banned"));

    QSqlQuery q(banned.db());
    q.prepare(QStringLiteral("SELECT actor, details FROM audit_records WHERE action = ? AND "
                             "target = ?"));
    q.addBindValue(QStringLiteral("api.address_unbanned"));
    q.addBindValue(QStringLiteral("127.0.0.1"));
    QVERIFY(q.exec());
    QVERIFY(q.next());
    QVERIFY2(q.value(0).toString().startsWith(u"operator:"), qPrintable(q.value(0).toString()));
    QCOMPARE(QJsonDocument::fromJson(q.value(1).toString().toUtf8())
                 .object()
                 .value(QStringLiteral("failures"))
                 .toInt(),
             3);
    QVERIFY(!q.next());
    QCOMPARE(banned.verifyAudit(), 0);

    // The running engine reloads its bans from the store: the address is let
    // in again (a valid request with no key now gets its 401, not a closed
    // connection). Polled, with a generous bound.
    const QString health = banned.apiUrl() + QStringLiteral("/health");
    QDeadlineTimer readmitted(30000);
    CurlResult again = curlWithKey(health, wrongKey);
    while (again.status != QLatin1String("200") && !readmitted.hasExpired()) {
        QTest::qWait(500);
        again = curlWithKey(health, wrongKey);
    }
    QCOMPARE(again.status, QStringLiteral("200"));

    // Once lifted, it is not there to lift again.
    VERIFY_REFUSED(bansCtl({args("unban"), args("127.0.0.1")}), 1,
                   QStringLiteral("127.0.0.1 is not banned"));
    QVERIFY(banned.stopEngine());
}

void TestApiCtl::usageErrors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<bool>("withKey");
    QTest::addColumn<QString>("message");
    const QString url = QStringLiteral("https://127.0.0.1:1");
    QTest::newRow("api alone") << QStringList{args("api")} << false
                               << QStringLiteral("framehousectl api --help");
    QTest::newRow("unknown api command")
        << QStringList{args("api"), args("ban")} << false << QStringLiteral("'api ban'");
    QTest::newRow("unban without address")
        << QStringList{args("api"), args("unban")} << false << QStringLiteral("'api unban'");
    QTest::newRow("verify alone") << QStringList{args("verify")} << true
                                  << QStringLiteral("framehousectl verify --help");
    QTest::newRow("plain http") << QStringList{args("verify"), args("http://127.0.0.1:8443")}
                                << true << QStringLiteral("https://HOST:PORT");
    QTest::newRow("two addresses") << QStringList{args("verify"), url, url} << true
                                   << QStringLiteral("verify takes one address");
    QTest::newRow("no key") << QStringList{args("verify"), url} << false
                            << QStringLiteral("needs an API key");
    QTest::newRow("malformed key") << QStringList{args("verify"), url, args("--key"), args("fhk_x")}
                                   << false << QStringLiteral("not a Framehouse API key");
    QTest::newRow("short pin") << QStringList{args("verify"), url, args("--pin"), args("AB:CD")}
                               << true << QStringLiteral("--pin takes a SHA-256");
}

void TestApiCtl::usageErrors()
{
    QFETCH(QStringList, arguments);
    QFETCH(bool, withKey);
    QFETCH(QString, message);
    VERIFY_REFUSED(ctl(arguments, withKey ? m_key : QString()), 2, message);
}

void TestApiCtl::helpForVerify()
{
    const TestSupport::Run help = TestSupport::runCtl({args("verify"), args("--help")});
    VERIFY_SUCCEEDS(help);
    QVERIFY2(help.out.startsWith(QStringLiteral("verify https://HOST:PORT --key KEY")),
             qPrintable(help.out));
    QVERIFY(!help.out.contains(QStringLiteral("Exit codes")));
    const TestSupport::Run all = TestSupport::runCtl({args("--help")});
    VERIFY_SUCCEEDS(all);
    for (const QString &command : {QStringLiteral("\napi info "), QStringLiteral("\napi bans "),
                                   QStringLiteral("\napi unban "), QStringLiteral("\nverify ")})
        QVERIFY2(all.out.contains(command), qPrintable(command));
}

QTEST_GUILESS_MAIN(TestApiCtl)
#include "tst_apictl.moc"
