#include "enginefixture.h"

#include "security/apikeyregistry.h"
#include "security/scopes.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSslCipher>
#include <QSslKey>
#include <QSslSocket>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <sys/resource.h>

#include <algorithm>
#include <memory>
#include <vector>

using namespace Qt::StringLiterals;

namespace {
// Long enough for any answer on a loaded machine; short against the
// engine's default timers (10 s head, 60 s idle), so that waiting this long
// for a close tells an immediate close from a timed-out one.
constexpr int WaitMs = 8000;
constexpr int ToolMs = 120000;

// Small limits, so that requests over them stay small.
constexpr int MaxRequestLine = 1024;
constexpr int MaxHeaderBytes = 1024;
constexpr int MaxHeadersBytes = 4096;
constexpr int MaxHeaderFields = 20;
constexpr int MaxJsonBytes = 4096;

// The engine with short timers; every bound below is generous against it.
constexpr int ShortTimeoutSeconds = 2;
constexpr qint64 EarliestCloseMs = 1500;
constexpr qint64 LatestCloseMs = 6000;

constexpr int PerIpCap = 50;
constexpr int Crowd = 500;
constexpr qint64 MaxGrowthKb = 256 * 1024;

QHostAddress loopback() { return QHostAddress(QStringLiteral("127.0.0.1")); }

struct Response {
    int status = 0;
    QByteArray head;
    QByteArray body;
};

// Takes every complete response off the front of `buffer`.
QList<Response> takeResponses(QByteArray &buffer)
{
    static const QRegularExpression length(QStringLiteral("^content-length:\\s*(\\d+)\\s*$"),
                                           QRegularExpression::CaseInsensitiveOption |
                                               QRegularExpression::MultilineOption);
    QList<Response> taken;
    for (;;) {
        const qsizetype end = buffer.indexOf("\r\n\r\n");
        if (end < 0)
            break;
        Response r;
        r.head = buffer.first(end);
        const qsizetype lineEnd = r.head.indexOf("\r\n");
        r.status = r.head.first(lineEnd < 0 ? r.head.size() : lineEnd).split(' ').value(1).toInt();
        const QRegularExpressionMatch declared = length.match(QString::fromLatin1(r.head));
        const qsizetype bodyLength = declared.hasMatch() ? declared.captured(1).toLongLong() : 0;
        if (buffer.size() < end + 4 + bodyLength)
            break;
        r.body = buffer.mid(end + 4, bodyLength);
        buffer.remove(0, end + 4 + bodyLength);
        taken << r;
    }
    return taken;
}

// The client's end of one connection and what the server sent on it.
struct Client {
    std::unique_ptr<QTcpSocket> socket;
    QByteArray received; // every byte, as it came
    QByteArray unparsed;
    QList<Response> responses;

    bool closed() const { return socket->state() == QAbstractSocket::UnconnectedState; }
    bool encrypted() const
    {
        const auto *tls = qobject_cast<const QSslSocket *>(socket.get());
        return tls && tls->isEncrypted() && !closed();
    }
    void pull()
    {
        const QByteArray bytes = socket->readAll();
        received += bytes;
        unparsed += bytes;
        responses += takeResponses(unparsed);
    }
    void send(const QByteArray &bytes)
    {
        socket->write(bytes);
        socket->flush();
    }
    bool waitForResponses(qsizetype count, int timeoutMs = WaitMs)
    {
        const bool settled = QTest::qWaitFor(
            [&] {
                pull();
                return responses.size() >= count || closed();
            },
            timeoutMs);
        pull();
        return settled && responses.size() >= count;
    }
    bool waitForClose(int timeoutMs = WaitMs)
    {
        const bool gone = QTest::qWaitFor(
            [&] {
                pull();
                return closed();
            },
            timeoutMs);
        pull();
        return gone;
    }
    QString statuses() const
    {
        QStringList list;
        for (const Response &r : responses)
            list << QString::number(r.status);
        return list.join(u',');
    }
};

Client connectTcp(quint16 port, const QHostAddress &from = {}, bool tls = false)
{
    Client c;
    if (tls)
        c.socket = std::make_unique<QSslSocket>();
    else
        c.socket = std::make_unique<QTcpSocket>();
    if (!from.isNull())
        c.socket->bind(from);
    c.socket->connectToHost(loopback(), port);
    const bool settled = QTest::qWaitFor(
        [&] {
            return c.socket->state() == QAbstractSocket::ConnectedState ||
                   c.socket->state() == QAbstractSocket::UnconnectedState;
        },
        WaitMs);
    if (!settled)
        c.socket->abort(); // the caller sees a closed socket
    return c;
}

// A TLS client that trusts exactly the certificate whose SHA-256 digest is
// `pin`: the engine's certificate is self-signed.
Client connectTls(quint16 port, const QByteArray &pin, const QHostAddress &from = {})
{
    Client c = connectTcp(port, from, true);
    auto *tls = static_cast<QSslSocket *>(c.socket.get());
    QObject::connect(tls, &QSslSocket::sslErrors, tls, [tls, pin](const QList<QSslError> &errors) {
        if (tls->peerCertificate().digest(QCryptographicHash::Sha256) == pin)
            tls->ignoreSslErrors(errors);
    });
    if (c.closed())
        return c;
    tls->startClientEncryption();
    if (!QTest::qWaitFor([&] { return tls->isEncrypted() || c.closed(); }, WaitMs))
        tls->abort(); // the caller sees a closed socket
    return c;
}

QByteArray get(const QByteArray &target, const QByteArray &extraHeaders = {})
{
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extraHeaders + "\r\n";
}

// The certificate digest framehoused logs when its API starts listening.
QByteArray loggedPin(const EngineFixture &engine)
{
    static const QRegularExpression logged(QStringLiteral("SHA-256 ([0-9A-F:]{95})"));
    QRegularExpressionMatch last;
    QRegularExpressionMatchIterator it = logged.globalMatch(engine.engineLog());
    while (it.hasNext())
        last = it.next();
    return last.hasMatch() ? QByteArray::fromHex(last.captured(1).remove(u':').toLatin1())
                           : QByteArray();
}

// A loopback port nobody listens on right now.
quint16 freePort()
{
    QTcpServer probe;
    return probe.listen(QHostAddress(QStringLiteral("127.0.0.1")), 0) ? probe.serverPort() : 0;
}

std::unique_ptr<EngineFixture> startEngine(const QList<QPair<QString, QString>> &settings)
{
    auto engine = std::make_unique<EngineFixture>();
    // Every case here sends requests from one address; the rate limit is
    // not what is under test.
    QList<QPair<QString, QString>> all{{u"api.ip_rate_per_s"_s, u"1000000"_s},
                                       {u"api.ip_burst"_s, u"1000000"_s}};
    all += settings;
    for (const auto &[key, value] : all) {
        Expected<void> set = engine->setSetting(key, value);
        if (!set) {
            qWarning("cannot set %s: %s", qPrintable(key), qPrintable(set.error()));
            return nullptr;
        }
    }
    // framehoused refuses the fixture's "--listen 127.0.0.1:0"; the last
    // --listen given wins, so a port found free just now takes its place.
    const quint16 port = freePort();
    if (port == 0 || !engine->startEngine({u"--listen"_s, u"127.0.0.1:%1"_s.arg(port)}))
        return nullptr;
    return engine;
}

qint64 residentKb(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    static const QRegularExpression rss(QStringLiteral("^VmRSS:\\s*(\\d+) kB"),
                                        QRegularExpression::MultilineOption);
    const QRegularExpressionMatch m = rss.match(QString::fromLatin1(status.readAll()));
    return m.hasMatch() ? m.captured(1).toLongLong() : -1;
}

struct ToolRun {
    int exitCode = -1;
    QString output;
};

ToolRun runTool(const QString &program, const QStringList &arguments)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, arguments);
    process.closeWriteChannel();
    ToolRun run;
    if (!process.waitForFinished(ToolMs)) {
        process.kill();
        process.waitForFinished();
        run.output = QString::fromLocal8Bit(process.readAll()) + u"\n(timed out)"_s;
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.output = QString::fromLocal8Bit(process.readAll());
    return run;
}

const QSet<QString> &allowedSuites()
{
    static const QSet<QString> suites{
        u"ECDHE-ECDSA-AES128-GCM-SHA256"_s, u"ECDHE-ECDSA-AES256-GCM-SHA384"_s,
        u"ECDHE-ECDSA-CHACHA20-POLY1305"_s, u"TLS_AES_128_GCM_SHA256"_s,
        u"TLS_AES_256_GCM_SHA384"_s,        u"TLS_CHACHA20_POLY1305_SHA256"_s};
    return suites;
}
} // namespace

// The API under attack from real clients: openssl s_client and sslscan
// against its TLS, and raw sockets that send what browsers and curl never
// would. Two engines: one with the default timers (answers must come long
// before those run out) and one with 2 s timers for the timeouts.
class TestApiHostile : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void servedCertificateIsTheLoggedEcdsaOne();
    void oldTlsVersionsAreRefused_data();
    void oldTlsVersionsAreRefused();
    void currentTlsVersionsAreAccepted_data();
    void currentTlsVersionsAreAccepted();
    void scannerFindsOnlyModernTls();
    void slowHeadIsAnswered408AndClosed();
    void silentTlsClientIsClosed();
    void clientThatNeverStartsTlsIsClosed();
    void hostileRequestsAreRefusedAndClosed_data();
    void hostileRequestsAreRefusedAndClosed();
    void plainHttpGetsNoHttpAnswer();
    void pipelinedRequestsAreAnsweredInOrder_data();
    void pipelinedRequestsAreAnsweredInOrder();
    void requestInOneByteWritesIsServed();
    void closingRequestsClose_data();
    void closingRequestsClose();
    void connectionsPerAddressAreCapped();

private:
    std::unique_ptr<EngineFixture> m_engine; // default timers
    std::unique_ptr<EngineFixture> m_brisk;  // 2 s timers
    QByteArray m_pin;
    QByteArray m_briskPin;
    QString m_token;
};

void TestApiHostile::initTestCase()
{
    // The crowd of connections needs descriptors; the engines inherit this.
    rlimit files{};
    QCOMPARE(::getrlimit(RLIMIT_NOFILE, &files), 0);
    files.rlim_cur = files.rlim_max;
    QCOMPARE(::setrlimit(RLIMIT_NOFILE, &files), 0);
    QVERIFY2(files.rlim_cur > rlim_t(Crowd + 100), "too few file descriptors for the crowd");

    const QList<QPair<QString, QString>> limits{
        {u"api.max_request_line_bytes"_s, QString::number(MaxRequestLine)},
        {u"api.max_header_bytes"_s, QString::number(MaxHeaderBytes)},
        {u"api.max_headers_bytes"_s, QString::number(MaxHeadersBytes)},
        {u"api.max_header_fields"_s, QString::number(MaxHeaderFields)},
        {u"api.max_json_bytes"_s, QString::number(MaxJsonBytes)},
        {u"api.max_connections_per_ip"_s, u"1000"_s}};
    m_engine = startEngine(limits);
    QVERIFY(m_engine);

    ApiKeyRegistry::NewKey request;
    request.name = u"hostile tests"_s;
    request.ownerUser = u"qa"_s;
    request.scopes = Scope::JobsSubmit | Scope::JobsRead;
    ApiKeyRegistry keys(m_engine->secrets().pepper, m_engine->secrets().audit);
    Expected<ApiKeyRegistry::Created> created = keys.create(
        m_engine->db(), request, u"operator:test"_s, QDateTime::currentMSecsSinceEpoch());
    VERIFY_EXPECTED(created);
    m_token = created->token;
    TestSupport::recordSecret(m_token);

    const QString brief = QString::number(ShortTimeoutSeconds);
    m_brisk = startEngine({{u"api.head_timeout_s"_s, brief},
                           {u"api.idle_timeout_s"_s, brief},
                           {u"api.handshake_timeout_s"_s, brief},
                           {u"api.max_connections_per_ip"_s, u"1000"_s}});
    QVERIFY(m_brisk);

    m_pin = loggedPin(*m_engine);
    m_briskPin = loggedPin(*m_brisk);
    QCOMPARE(m_pin.size(), 32);
    QCOMPARE(m_briskPin.size(), 32);
}

void TestApiHostile::cleanupTestCase()
{
    if (m_engine)
        QVERIFY(m_engine->stopEngine());
    if (m_brisk)
        QVERIFY(m_brisk->stopEngine());
    m_engine.reset();
    m_brisk.reset();
}

void TestApiHostile::servedCertificateIsTheLoggedEcdsaOne()
{
    // The first connection takes whatever it is shown, to compare it.
    Client c = connectTcp(m_engine->apiPort(), {}, true);
    auto *tls = static_cast<QSslSocket *>(c.socket.get());
    tls->setPeerVerifyMode(QSslSocket::VerifyNone);
    tls->startClientEncryption();
    QVERIFY(QTest::qWaitFor([&] { return tls->isEncrypted() || c.closed(); }, WaitMs));
    QVERIFY(tls->isEncrypted());
    const QSslCertificate served = tls->peerCertificate();
    QCOMPARE(served.digest(QCryptographicHash::Sha256).toHex(), m_pin.toHex());
    QCOMPARE(served.publicKey().algorithm(), QSsl::Ec);
    qInfo("certificate SHA-256 %s, cipher %s", m_pin.toHex(':').constData(),
          qPrintable(tls->sessionCipher().name()));
}

void TestApiHostile::oldTlsVersionsAreRefused_data()
{
    QTest::addColumn<QString>("version");
    QTest::newRow("TLS 1.0") << u"-tls1"_s;
    QTest::newRow("TLS 1.1") << u"-tls1_1"_s;
}

void TestApiHostile::oldTlsVersionsAreRefused()
{
    QFETCH(QString, version);
    // OpenSSL 3 will not even offer these below security level 0: with it,
    // the ClientHello goes out and the refusal has to come from the server.
    const ToolRun run = runTool(u"openssl"_s, {u"s_client"_s, u"-connect"_s,
                                               u"127.0.0.1:%1"_s.arg(m_engine->apiPort()), version,
                                               u"-cipher"_s, u"DEFAULT@SECLEVEL=0"_s});
    QVERIFY2(run.exitCode != 0, qPrintable(run.output));
    QVERIFY2(!run.output.contains(u"no protocols available"_s), qPrintable(run.output));
    QVERIFY2(!run.output.contains(u"BEGIN CERTIFICATE"_s), qPrintable(run.output));
    // The server's protocol_version alert (70).
    QVERIFY2(run.output.contains(u"alert protocol version"_s), qPrintable(run.output));
}

void TestApiHostile::currentTlsVersionsAreAccepted_data()
{
    QTest::addColumn<QString>("version");
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << u"-tls1_2"_s << u"TLSv1.2"_s;
    QTest::newRow("TLS 1.3") << u"-tls1_3"_s << u"TLSv1.3"_s;
}

void TestApiHostile::currentTlsVersionsAreAccepted()
{
    QFETCH(QString, version);
    QFETCH(QString, protocol);
    const ToolRun run =
        runTool(u"openssl"_s, {u"s_client"_s, u"-connect"_s,
                               u"127.0.0.1:%1"_s.arg(m_engine->apiPort()), version});
    QVERIFY2(run.exitCode == 0, qPrintable(run.output));
    static const QRegularExpression session(QStringLiteral("New, (TLSv1\\.\\d), Cipher is (\\S+)"));
    const QRegularExpressionMatch m = session.match(run.output);
    QVERIFY2(m.hasMatch(), qPrintable(run.output));
    QCOMPARE(m.captured(1), protocol);
    QVERIFY2(allowedSuites().contains(m.captured(2)), qPrintable(m.captured(2)));
    qInfo("%s: %s", qPrintable(protocol), qPrintable(m.captured(2)));
}

void TestApiHostile::scannerFindsOnlyModernTls()
{
    const ToolRun run =
        runTool(u"sslscan"_s, {u"--no-colour"_s, u"127.0.0.1:%1"_s.arg(m_engine->apiPort())});
    QVERIFY2(run.exitCode == 0, qPrintable(run.output));

    static const QRegularExpression protocolLine(
        QStringLiteral("^(SSLv[23]|TLSv1\\.[0-3])\\s+(enabled|disabled)\\s*$"),
        QRegularExpression::MultilineOption);
    QSet<QString> enabled;
    int protocolsListed = 0;
    for (const QRegularExpressionMatch &m : protocolLine.globalMatch(run.output)) {
        ++protocolsListed;
        if (m.captured(2) == u"enabled"_s)
            enabled << m.captured(1);
    }
    QVERIFY2(protocolsListed >= 4, qPrintable(run.output));
    QCOMPARE(enabled, (QSet<QString>{u"TLSv1.2"_s, u"TLSv1.3"_s}));

    static const QRegularExpression suiteLine(
        QStringLiteral(
            "^(?:Preferred|Accepted)\\s+(TLSv1\\.[0-3]|SSLv[23])\\s+\\d+ bits\\s+(\\S+)"),
        QRegularExpression::MultilineOption);
    QStringList suites;
    for (const QRegularExpressionMatch &m : suiteLine.globalMatch(run.output)) {
        suites << m.captured(1) + u' ' + m.captured(2);
        QVERIFY2(allowedSuites().contains(m.captured(2)),
                 qPrintable(u"%1 accepts %2"_s.arg(m.captured(1), m.captured(2))));
    }
    QVERIFY2(!suites.isEmpty(), qPrintable(run.output));

    // Listed only when sslscan's OpenSSL can enumerate them.
    QStringList groups;
    const qsizetype section = run.output.indexOf(u"Server Key Exchange Group(s):"_s);
    if (section >= 0) {
        static const QRegularExpression groupLine(
            QStringLiteral("^(TLSv1\\.[0-3])\\s+\\d+ bits\\s+(\\S+)"),
            QRegularExpression::MultilineOption);
        const QString tail = run.output.mid(section);
        const qsizetype end = tail.indexOf(u"\n\n"_s);
        const QSet<QString> allowedGroups{u"x25519"_s, u"secp256r1"_s, u"secp384r1"_s};
        for (const QRegularExpressionMatch &m : groupLine.globalMatch(tail.left(end))) {
            groups << m.captured(1) + u' ' + m.captured(2);
            QVERIFY2(allowedGroups.contains(m.captured(2)),
                     qPrintable(u"%1 offers the group %2"_s.arg(m.captured(1), m.captured(2))));
        }
    }
    qInfo("protocols enabled: %s", qPrintable(QStringList(enabled.values()).join(u", "_s)));
    qInfo("suites: %s", qPrintable(suites.join(u", "_s)));
    qInfo("groups: %s", groups.isEmpty() ? "(not listed)" : qPrintable(groups.join(u", "_s)));
}

void TestApiHostile::slowHeadIsAnswered408AndClosed()
{
    Client c = connectTls(m_brisk->apiPort(), m_briskPin);
    QVERIFY(c.encrypted());
    QElapsedTimer elapsed;
    elapsed.start();
    c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    QVERIFY2(c.waitForClose(), c.received.constData());
    const qint64 ms = elapsed.elapsed();
    qInfo("incomplete head closed after %lld ms", ms);
    QVERIFY2(c.received.startsWith("HTTP/1.1 408"), c.received.constData());
    QVERIFY2(ms >= EarliestCloseMs && ms < LatestCloseMs, qPrintable(QString::number(ms)));
}

void TestApiHostile::silentTlsClientIsClosed()
{
    Client c = connectTls(m_brisk->apiPort(), m_briskPin);
    QVERIFY(c.encrypted());
    QElapsedTimer elapsed;
    elapsed.start();
    QVERIFY(c.waitForClose());
    const qint64 ms = elapsed.elapsed();
    qInfo("silent TLS client closed after %lld ms", ms);
    QVERIFY2(ms >= EarliestCloseMs && ms < LatestCloseMs, qPrintable(QString::number(ms)));
}

void TestApiHostile::clientThatNeverStartsTlsIsClosed()
{
    Client c = connectTcp(m_brisk->apiPort());
    QCOMPARE(c.socket->state(), QAbstractSocket::ConnectedState);
    QElapsedTimer elapsed;
    elapsed.start();
    QVERIFY(c.waitForClose());
    const qint64 ms = elapsed.elapsed();
    qInfo("TCP client without a handshake closed after %lld ms", ms);
    QVERIFY2(ms >= EarliestCloseMs && ms < LatestCloseMs, qPrintable(QString::number(ms)));
}

void TestApiHostile::hostileRequestsAreRefusedAndClosed_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QList<int>>("statuses"); // any of these

    QTest::newRow("request line too long")
        << get("/health?" + QByteArray(MaxRequestLine + 100, 'a')) << QList<int>{414};
    QTest::newRow("one header too long")
        << get("/health", "X-Big: " + QByteArray(MaxHeaderBytes + 100, 'b') + "\r\n")
        << QList<int>{431};
    QByteArray fields;
    for (int i = 0; i < MaxHeaderFields + 10; ++i)
        fields += "X-Field-" + QByteArray::number(i) + ": v\r\n";
    QTest::newRow("too many fields") << get("/health", fields) << QList<int>{431};
    // Each field and their number within bounds, all of them together not.
    QByteArray large;
    for (int i = 0; large.size() <= MaxHeadersBytes + 1000; ++i)
        large += "X-Large-" + QByteArray::number(i) + ": " + QByteArray(MaxHeaderBytes - 100, 'c') +
                 "\r\n";
    QTest::newRow("all fields too long") << get("/health", large) << QList<int>{431};
    // Only the head goes out: the answer must come before any body byte.
    QTest::newRow("JSON body over the limit")
        << QByteArray(
               "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + m_token.toLatin1() +
               "\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
        << QList<int>{413};
    QTest::newRow("Content-Length and Transfer-Encoding")
        << QByteArray("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n")
        << QList<int>{400};
    QTest::newRow("chunked") << QByteArray("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Transfer-Encoding: chunked\r\n\r\n")
                             << QList<int>{411};
    QTest::newRow("two equal Content-Length")
        << QByteArray("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                      "Content-Length: 5\r\n\r\n")
        << QList<int>{400};
    QTest::newRow("two different Content-Length")
        << QByteArray("POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                      "Content-Length: 6\r\n\r\n")
        << QList<int>{400};
    QTest::newRow("garbage") << QByteArray(QByteArray::fromHex("0001fffe7f80c0de") + "\r\n\r\n")
                             << QList<int>{400};
    QTest::newRow("HTTP/2 preface")
        << QByteArray("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") << QList<int>{505, 400};
    QTest::newRow("HTTP/3.0") << QByteArray("GET / HTTP/3.0\r\nHost: 127.0.0.1\r\n\r\n")
                              << QList<int>{505, 400};
}

void TestApiHostile::hostileRequestsAreRefusedAndClosed()
{
    QFETCH(QByteArray, request);
    QFETCH(QList<int>, statuses);
    Client c = connectTls(m_engine->apiPort(), m_pin);
    QVERIFY(c.encrypted());
    c.send(request);
    QVERIFY2(c.waitForResponses(1), c.received.constData());
    const int status = c.responses.first().status;
    QVERIFY2(statuses.contains(status), c.responses.first().head.constData());
    // After a refused head the stream cannot be trusted: the server closes.
    QVERIFY2(c.waitForClose(), "the connection stayed open");
    QCOMPARE(c.responses.size(), 1);
    qInfo("%d", status);
}

void TestApiHostile::plainHttpGetsNoHttpAnswer()
{
    Client c = connectTcp(m_engine->apiPort());
    QCOMPARE(c.socket->state(), QAbstractSocket::ConnectedState);
    c.send("GET / HTTP/1.1\r\n\r\n");
    QVERIFY(c.waitForClose());
    QVERIFY2(!c.received.contains("HTTP/"), c.received.constData());
    qInfo("plain HTTP closed with %lld byte(s) of reply", qlonglong(c.received.size()));
}

void TestApiHostile::pipelinedRequestsAreAnsweredInOrder_data()
{
    QTest::addColumn<QByteArray>("requests");
    QTest::addColumn<QList<int>>("statuses");
    QTest::newRow("three health checks")
        << QByteArray(get("/health") + get("/health") + get("/health"))
        << QList<int>{200, 200, 200};
    const QByteArray key = "X-API-Key: " + m_token.toLatin1() + "\r\n";
    QTest::newRow("found, missing, found")
        << QByteArray(get("/health") + get("/v1/no-such-thing", key) + get("/health"))
        << QList<int>{200, 404, 200};
}

void TestApiHostile::pipelinedRequestsAreAnsweredInOrder()
{
    QFETCH(QByteArray, requests);
    QFETCH(QList<int>, statuses);
    Client c = connectTls(m_engine->apiPort(), m_pin);
    QVERIFY(c.encrypted());
    c.send(requests); // one write: one TLS record
    QVERIFY2(c.waitForResponses(statuses.size()), qPrintable(c.statuses()));
    QList<int> answered;
    for (const Response &r : std::as_const(c.responses))
        answered << r.status;
    QCOMPARE(answered, statuses);
    QVERIFY2(!c.closed(), "a keep-alive connection was closed");
}

void TestApiHostile::requestInOneByteWritesIsServed()
{
    Client c = connectTls(m_engine->apiPort(), m_pin);
    QVERIFY(c.encrypted());
    const QByteArray request = get("/health");
    for (const char byte : request) {
        c.send(QByteArray(1, byte)); // flushed: a record of its own
        QTest::qWait(2);
    }
    QVERIFY2(c.waitForResponses(1), c.received.constData());
    QCOMPARE(c.responses.first().status, 200);
    QVERIFY(!c.closed());
    qInfo("%lld one-byte records", qlonglong(request.size()));
}

void TestApiHostile::closingRequestsClose_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::newRow("HTTP/1.0") << QByteArray("GET /health HTTP/1.0\r\n\r\n");
    QTest::newRow("Connection: close") << get("/health", "Connection: close\r\n");
}

void TestApiHostile::closingRequestsClose()
{
    QFETCH(QByteArray, request);
    Client c = connectTls(m_engine->apiPort(), m_pin);
    QVERIFY(c.encrypted());
    c.send(request);
    QVERIFY2(c.waitForResponses(1), c.received.constData());
    QCOMPARE(c.responses.first().status, 200);
    // WaitMs is far below the idle timeout: only the request closes it.
    QVERIFY2(c.waitForClose(), "the connection stayed open");
}

void TestApiHostile::connectionsPerAddressAreCapped()
{
    std::unique_ptr<EngineFixture> engine =
        startEngine({{u"api.max_connections_per_ip"_s, QString::number(PerIpCap)},
                     // The held connections stay in their handshake while counted.
                     {u"api.handshake_timeout_s"_s, u"120"_s}});
    QVERIFY(engine);
    const QByteArray pin = loggedPin(*engine);
    const quint16 port = engine->apiPort();
    const qint64 before = residentKb(engine->enginePid());
    QVERIFY(before > 0);

    std::vector<std::unique_ptr<QTcpSocket>> crowd;
    for (int i = 0; i < Crowd; ++i) {
        crowd.push_back(std::make_unique<QTcpSocket>());
        crowd.back()->connectToHost(loopback(), port);
    }
    const auto count = [&crowd](QAbstractSocket::SocketState state) {
        return int(std::count_if(crowd.begin(), crowd.end(),
                                 [state](const auto &s) { return s->state() == state; }));
    };
    QVERIFY(QTest::qWaitFor(
        [&] {
            return count(QAbstractSocket::ConnectingState) +
                       count(QAbstractSocket::HostLookupState) ==
                   0;
        },
        WaitMs));
    // The engine closes those over the cap as it accepts them; they read EOF.
    const bool settled =
        QTest::qWaitFor([&] { return count(QAbstractSocket::ConnectedState) <= PerIpCap; }, WaitMs);
    QTest::qWait(500); // closes still on their way
    const int open = count(QAbstractSocket::ConnectedState);
    const qint64 after = residentKb(engine->enginePid());
    qInfo("%d of %d connections from 127.0.0.1 held open (cap %d)%s", open, Crowd, PerIpCap,
          settled ? "" : "; the count had not come down in time");
    qInfo("engine VmRSS %lld kB before, %lld kB with the crowd: %+lld kB", before, after,
          after - before);
    QVERIFY2(open <= PerIpCap, qPrintable(QString::number(open)));
    QVERIFY2(open > 0, "the engine held none");
    QVERIFY(after > 0);
    QVERIFY2(after - before < MaxGrowthKb, qPrintable(QString::number(after - before)));

    // Another address is not held back by the crowd.
    const QHostAddress other(QStringLiteral("127.0.0.2"));
    Client c = connectTls(port, pin, other);
    QCOMPARE(c.socket->localAddress(), other);
    QVERIFY(c.encrypted());
    c.send(get("/health"));
    QVERIFY2(c.waitForResponses(1), c.received.constData());
    QCOMPARE(c.responses.first().status, 200);

    crowd.clear();
    // Served again once the engine has seen the crowd go.
    int status = 0;
    QDeadlineTimer deadline(30000);
    while (status != 200 && !deadline.hasExpired()) {
        Client again = connectTls(port, pin);
        if (again.encrypted()) {
            again.send(get("/health"));
            if (again.waitForResponses(1))
                status = again.responses.first().status;
        }
        if (status != 200)
            QTest::qWait(200);
    }
    QCOMPARE(status, 200);
    QVERIFY(engine->stopEngine());
}

QTEST_GUILESS_MAIN(TestApiHostile)
#include "tst_apihostile.moc"
