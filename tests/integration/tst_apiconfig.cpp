#include "enginefixture.h"
#include "testsupport.h"

#include "security/apikeyregistry.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <functional>
#include <memory>

using namespace Qt::StringLiterals;

namespace {
// The engine looks at its certificate files every 2 s; the rest is room for
// a loaded machine.
constexpr int ReloadWaitMs = 10000;
const QString ServerName = u"transcode.example.test"_s;

QString problem(const QString &slug) { return u"urn:framehouse:problem:"_s + slug; }

struct ToolRun {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

ToolRun runTool(const QString &program, const QStringList &arguments, const QByteArray &input = {})
{
    ToolRun run;
    QProcess tool;
    tool.start(program, arguments);
    if (!tool.waitForStarted()) {
        run.err = "cannot start " + program.toLocal8Bit();
        return run;
    }
    tool.write(input);
    tool.closeWriteChannel();
    if (!tool.waitForFinished(60000)) {
        tool.kill();
        tool.waitForFinished();
    }
    run.exitCode = tool.exitStatus() == QProcess::NormalExit ? tool.exitCode() : -1;
    run.out = tool.readAllStandardOutput();
    run.err = tool.readAllStandardError();
    return run;
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    // Created 0600; an existing file keeps its inode and its mode.
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate,
                     QFileDevice::ReadOwner | QFileDevice::WriteOwner) &&
           file.write(bytes) == bytes.size();
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool renameOver(const QString &from, const QString &to)
{
    return std::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) == 0;
}

QString failure(const QString &what, const ToolRun &run)
{
    return u"%1 (exit %2): %3"_s.arg(what).arg(run.exitCode).arg(QString::fromLocal8Bit(run.err));
}

const QStringList EcKey{u"-newkey"_s, u"ec"_s, u"-pkeyopt"_s, u"ec_paramgen_curve:prime256v1"_s,
                        u"-nodes"_s};

// A self-signed ECDSA P-256 server certificate for the loopback API and its
// unencrypted key. Empty on success, else what went wrong.
QString makeServerCertificate(const QString &certificate, const QString &key)
{
    const ToolRun made =
        runTool(u"openssl"_s, QStringList{u"req"_s, u"-x509"_s} + EcKey +
                                  QStringList{u"-keyout"_s, key, u"-out"_s, certificate, u"-days"_s,
                                              u"30"_s, u"-subj"_s, u"/CN=localhost"_s, u"-addext"_s,
                                              u"subjectAltName=DNS:localhost,"
                                              u"IP:127.0.0.1"_s});
    if (made.exitCode != 0)
        return failure(u"openssl req -x509"_s, made);
    // The engine refuses a key file others may read.
    if (!QFile::setPermissions(key, QFileDevice::ReadOwner | QFileDevice::WriteOwner))
        return u"cannot chmod "_s + key;
    return {};
}

// A certificate authority (ca.pem, ca.key) in `dir` named `name`.
QString makeAuthority(const QString &dir, const QString &name)
{
    const ToolRun made = runTool(
        u"openssl"_s,
        QStringList{u"req"_s, u"-x509"_s} + EcKey +
            QStringList{u"-keyout"_s, dir + u"/"_s + name + u".key"_s, u"-out"_s,
                        dir + u"/"_s + name + u".pem"_s, u"-days"_s, u"30"_s, u"-subj"_s,
                        u"/CN="_s + name, u"-addext"_s, u"basicConstraints=critical,CA:TRUE"_s,
                        u"-addext"_s, u"keyUsage=critical,keyCertSign,cRLSign"_s});
    return made.exitCode == 0 ? QString() : failure(u"openssl req -x509 (CA)"_s, made);
}

// A client certificate `name`.pem with its key `name`.key, signed by the
// authority `authority` in `dir`.
QString makeClient(const QString &dir, const QString &name, const QString &authority, int serial)
{
    const QString base = dir + u"/"_s + name;
    const ToolRun request =
        runTool(u"openssl"_s, QStringList{u"req"_s, u"-new"_s} + EcKey +
                                  QStringList{u"-keyout"_s, base + u".key"_s, u"-out"_s,
                                              base + u".csr"_s, u"-subj"_s, u"/CN="_s + name});
    if (request.exitCode != 0)
        return failure(u"openssl req -new"_s, request);
    const QString extensions = base + u".ext"_s;
    if (!writeFile(extensions, "basicConstraints = CA:FALSE\n"
                               "keyUsage = critical, digitalSignature\n"
                               "extendedKeyUsage = clientAuth\n"))
        return u"cannot write "_s + extensions;
    const QString ca = dir + u"/"_s + authority;
    const ToolRun signedBy =
        runTool(u"openssl"_s,
                {u"x509"_s, u"-req"_s, u"-in"_s, base + u".csr"_s, u"-CA"_s, ca + u".pem"_s,
                 u"-CAkey"_s, ca + u".key"_s, u"-set_serial"_s, QString::number(serial), u"-days"_s,
                 u"30"_s, u"-extfile"_s, extensions, u"-out"_s, base + u".pem"_s});
    return signedBy.exitCode == 0 ? QString() : failure(u"openssl x509 -req"_s, signedBy);
}

// "AB:CD:..." as `openssl x509 -fingerprint -sha256` prints it; empty when
// the input holds no certificate.
QString fingerprintOf(const QByteArray &pem)
{
    const ToolRun run =
        runTool(u"openssl"_s, {u"x509"_s, u"-noout"_s, u"-fingerprint"_s, u"-sha256"_s}, pem);
    static const QRegularExpression shape(u"^([0-9A-F]{2}:){31}[0-9A-F]{2}$"_s);
    const QString fingerprint = QString::fromLatin1(run.out).trimmed().section(u'=', 1);
    return run.exitCode == 0 && shape.match(fingerprint).hasMatch() ? fingerprint : QString();
}

// The certificate the engine presents, as `openssl s_client` receives it.
struct Presented {
    QByteArray pem;
    QString fingerprint;
    QString error;
};

Presented presented(quint16 port)
{
    Presented p;
    const ToolRun shown =
        runTool(u"openssl"_s, {u"s_client"_s, u"-connect"_s, u"127.0.0.1:%1"_s.arg(port)});
    const QByteArray endMarker = "-----END CERTIFICATE-----\n";
    const qsizetype begin = shown.out.indexOf("-----BEGIN CERTIFICATE-----");
    const qsizetype end = begin < 0 ? -1 : shown.out.indexOf(endMarker, begin);
    if (end < 0) {
        p.error = failure(u"openssl s_client showed no certificate"_s, shown);
        return p;
    }
    p.pem = shown.out.mid(begin, end + endMarker.size() - begin);
    p.fingerprint = fingerprintOf(p.pem);
    if (p.fingerprint.isEmpty())
        p.error = u"openssl x509 cannot read what s_client showed"_s;
    return p;
}

// Polls until `done` holds; false when `timeoutMs` passed first.
bool waitFor(const std::function<bool()> &done, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        QTest::qWait(200);
    }
    return true;
}

// One curl run: the HTTP status (0: no HTTP answer at all) and curl's own
// exit code and message.
struct Answer {
    int exitCode = -1;
    int status = 0;
    QByteArray body;
    QString error;

    QString type() const
    {
        return QJsonDocument::fromJson(body).object().value("type"_L1).toString();
    }
    QString describe() const
    {
        return u"curl exit %1, HTTP %2: %3 %4"_s.arg(exitCode).arg(status).arg(
            error, QString::fromUtf8(body.left(1000)));
    }
};

Answer curl(const QStringList &options, const QString &url, const QByteArray &body = {})
{
    QStringList arguments{u"--disable"_s,  u"-sS"_s, u"--noproxy"_s, u"*"_s,
                          u"--max-time"_s, u"30"_s,  u"-w"_s,        u"\n%{http_code}"_s};
    arguments << options;
    if (!body.isEmpty())
        arguments << u"--data-binary"_s << u"@-"_s;
    arguments << url;
    const ToolRun run = runTool(u"curl"_s, arguments, body);
    Answer answer;
    answer.exitCode = run.exitCode;
    const qsizetype last = run.out.lastIndexOf('\n');
    answer.status = run.out.mid(last + 1).toInt();
    answer.body = last < 0 ? QByteArray() : run.out.left(last);
    answer.error = QString::fromLocal8Bit(run.err).trimmed();
    return answer;
}

// The messages of the engine's log lines of `level` (the log is JSON lines).
QStringList logMessages(const EngineFixture &engine, const QString &level)
{
    QStringList messages;
    const QStringList lines = engine.engineLog().split(u'\n', Qt::SkipEmptyParts);
    for (const QString &line : lines) {
        const QJsonObject entry = QJsonDocument::fromJson(line.toUtf8()).object();
        if (entry.value("level"_L1).toString() == level)
            messages << entry.value("message"_L1).toString();
    }
    return messages;
}

// framehousectl with no settings file or key inherited from the caller.
QProcessEnvironment ctlEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(u"FRAMEHOUSE_CONFIG"_s);
    env.remove(u"FRAMEHOUSE_API_KEY"_s);
    return env;
}

// Writes `settings` as the engine's settings file (mode 0600, beside the
// store, so relative paths in it name files there) and starts framehoused
// with it. Empty on success.
QString startWith(EngineFixture &engine, const QByteArray &settings)
{
    const QString config = engine.path(u"framehoused.ini"_s);
    if (!writeFile(config, settings))
        return u"cannot write "_s + config;
    if (!engine.startEngine({u"--config"_s, config}))
        return u"framehoused did not start: "_s + engine.engineLog();
    return {};
}
} // namespace

// The [api] section of the engine's settings file against a real
// framehoused: configured and renewed certificates, client certificates,
// address allowlists behind a proxy and server names, seen through the
// openssl and curl binaries.
class TestApiConfig : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void configuredCertificateIsServedAndRenewed();
    void clientCertificates_data();
    void clientCertificates();
    void allowlistClosesOtherAddresses();
    void forwardedClientAddress_data();
    void forwardedClientAddress();
    void auditNamesTheForwardedClient();
    void serverNamesAreAnswered();

private:
    // Each starts its engine on first use, so that the rows of a table share
    // one; empty when it runs.
    QString startMutualTls();
    QString startBehindProxy();
    // A request to `port` trusting only the certificate in `caFile`.
    Answer health(quint16 port, const QString &caFile, const QStringList &more = {}) const;

    QTemporaryDir m_scratch;
    std::unique_ptr<EngineFixture> m_mutual;  // tls_client_ca = ca.pem
    std::unique_ptr<EngineFixture> m_proxied; // allowlist 127.0.0.2, proxy 127.0.0.1
};

void TestApiConfig::initTestCase()
{
    for (const QString &tool : {u"curl"_s, u"openssl"_s, u"ffmpeg"_s})
        QVERIFY2(!QStandardPaths::findExecutable(tool).isEmpty(), qPrintable(tool));
    QVERIFY(m_scratch.isValid());
}

void TestApiConfig::cleanupTestCase()
{
    for (std::unique_ptr<EngineFixture> *engine : {&m_mutual, &m_proxied}) {
        if (*engine && (*engine)->enginePid() > 0)
            QVERIFY((*engine)->stopEngine());
        engine->reset();
    }
}

Answer TestApiConfig::health(quint16 port, const QString &caFile, const QStringList &more) const
{
    return curl(QStringList{u"--cacert"_s, caFile} + more,
                u"https://127.0.0.1:%1/health"_s.arg(port));
}

void TestApiConfig::configuredCertificateIsServedAndRenewed()
{
    EngineFixture engine;
    const QString certificate = engine.path(u"cert.pem"_s);
    const QString key = engine.path(u"key.pem"_s);
    QString made = makeServerCertificate(certificate, key);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const QString first = fingerprintOf(readFile(certificate));
    QVERIFY(!first.isEmpty());
    const QString firstCopy = m_scratch.filePath(u"first.pem"_s);
    QVERIFY(QFile::copy(certificate, firstCopy));

    const QString started =
        startWith(engine, "[api]\ntls_certificate = cert.pem\ntls_private_key = key.pem\n");
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const qint64 pid = engine.enginePid();
    const quint16 port = engine.apiPort();
    const Presented atStart = presented(port);
    QVERIFY2(atStart.error.isEmpty(), qPrintable(atStart.error));
    QCOMPARE(atStart.fingerprint, first);
    QVERIFY(engine.engineLog().contains(u"certificate (from files) SHA-256 "_s + first));
    const Answer trusted = health(port, firstCopy);
    QVERIFY2(trusted.status == 200, qPrintable(trusted.describe()));

    // framehousectl api info reads the file the engine serves.
    const QString config = engine.path(u"framehoused.ini"_s);
    const TestSupport::Run text =
        TestSupport::runCtl({u"api"_s, u"info"_s, u"--config"_s, config}, ctlEnvironment());
    VERIFY_SUCCEEDS(text);
    QVERIFY2(text.out.split(u'\n').contains(u"sha256:      "_s + first), qPrintable(text.out));
    QVERIFY2(text.out.contains(u"from "_s + certificate), qPrintable(text.out));
    const TestSupport::Run json = TestSupport::runCtl(
        {u"api"_s, u"info"_s, u"--config"_s, config, u"--json"_s}, ctlEnvironment());
    VERIFY_SUCCEEDS(json);
    const QJsonObject described =
        QJsonDocument::fromJson(json.out.toUtf8()).object().value("certificate"_L1).toObject();
    QCOMPARE(described.value("sha256"_L1).toString(), first);
    QCOMPARE(described.value("source"_L1).toString(), u"file"_s);

    // A renewal as ACME clients write it: new files renamed over the old.
    made = makeServerCertificate(certificate + u".next"_s, key + u".next"_s);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const QString second = fingerprintOf(readFile(certificate + u".next"_s));
    QVERIFY(!second.isEmpty() && second != first);
    const QString secondCopy = m_scratch.filePath(u"second.pem"_s);
    QVERIFY(QFile::copy(certificate + u".next"_s, secondCopy));
    QVERIFY(renameOver(certificate + u".next"_s, certificate));
    QVERIFY(renameOver(key + u".next"_s, key));
    QString seen;
    QVERIFY2(waitFor([&] { return (seen = presented(port).fingerprint) == second; }, ReloadWaitMs),
             qPrintable(u"still served: "_s + seen));
    const Answer renewed = health(port, secondCopy);
    QVERIFY2(renewed.status == 200, qPrintable(renewed.describe()));
    // The old certificate no longer vouches for the server.
    const Answer stale = health(port, firstCopy);
    QVERIFY2(stale.status == 0 && stale.exitCode == 60, qPrintable(stale.describe()));
    QVERIFY2(
        logMessages(engine, u"info"_s).contains(u"API certificate reloaded; SHA-256 "_s + second),
        qPrintable(engine.engineLog()));

    // A renewal written into the same files.
    const QString thirdCopy = m_scratch.filePath(u"third.pem"_s);
    const QString thirdKey = m_scratch.filePath(u"third.key"_s);
    made = makeServerCertificate(thirdCopy, thirdKey);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const QString third = fingerprintOf(readFile(thirdCopy));
    QVERIFY(!third.isEmpty() && third != second);
    QVERIFY(writeFile(certificate, readFile(thirdCopy)));
    QVERIFY(writeFile(key, readFile(thirdKey)));
    QVERIFY2(waitFor([&] { return (seen = presented(port).fingerprint) == third; }, ReloadWaitMs),
             qPrintable(u"still served: "_s + seen));
    const Answer rewritten = health(port, thirdCopy);
    QVERIFY2(rewritten.status == 200, qPrintable(rewritten.describe()));

    // A broken renewal: the certificate in use stays, and the log says why.
    const qsizetype warningsBefore = logMessages(engine, u"warning"_s).size();
    QVERIFY(writeFile(key, "this is not a private key\n"));
    QString warning;
    QVERIFY2(waitFor(
                 [&] {
                     const QStringList warnings =
                         logMessages(engine, u"warning"_s).mid(warningsBefore);
                     for (const QString &w : warnings) {
                         if (w.contains(u"previous certificate stays in use"_s) && w.contains(key))
                             warning = w;
                     }
                     return !warning.isEmpty();
                 },
                 ReloadWaitMs),
             qPrintable(engine.engineLog()));
    QVERIFY2(warning.contains(u"private key"_s), qPrintable(warning));
    const Presented kept = presented(port);
    QVERIFY2(kept.error.isEmpty(), qPrintable(kept.error));
    QCOMPARE(kept.fingerprint, third);
    const Answer stillServed = health(port, thirdCopy);
    QVERIFY2(stillServed.status == 200, qPrintable(stillServed.describe()));

    // All of it without a restart.
    QCOMPARE(engine.enginePid(), pid);
    QCOMPARE(engine.engineLog().count(u"API listening on"_s), 1);
}

QString TestApiConfig::startMutualTls()
{
    if (m_mutual)
        return m_mutual->enginePid() > 0 ? QString() : u"the engine did not start before"_s;
    m_mutual = std::make_unique<EngineFixture>();
    const QString dir = QFileInfo(m_mutual->path(u"cert.pem"_s)).absolutePath();
    QString made =
        makeServerCertificate(m_mutual->path(u"cert.pem"_s), m_mutual->path(u"key.pem"_s));
    if (made.isEmpty())
        made = makeAuthority(dir, u"ca"_s);
    if (made.isEmpty())
        made = makeClient(dir, u"client"_s, u"ca"_s, 1001);
    // A client of another authority, which the engine must not take.
    if (made.isEmpty())
        made = makeAuthority(dir, u"other-ca"_s);
    if (made.isEmpty())
        made = makeClient(dir, u"stranger"_s, u"other-ca"_s, 1002);
    if (!made.isEmpty())
        return made;
    return startWith(*m_mutual, "[api]\ntls_certificate = cert.pem\ntls_private_key = key.pem\n"
                                "tls_client_ca = ca.pem\n");
}

void TestApiConfig::clientCertificates_data()
{
    QTest::addColumn<QString>("client"); // the files' base name; empty: none
    QTest::addColumn<QString>("tlsMax");
    QTest::addColumn<bool>("accepted");

    QTest::newRow("none") << QString() << QString() << false;
    QTest::newRow("none, TLS 1.2") << QString() << u"1.2"_s << false;
    QTest::newRow("signed by the CA") << u"client"_s << QString() << true;
    QTest::newRow("signed by the CA, TLS 1.2") << u"client"_s << u"1.2"_s << true;
    QTest::newRow("signed by another CA") << u"stranger"_s << QString() << false;
    QTest::newRow("signed by another CA, TLS 1.2") << u"stranger"_s << u"1.2"_s << false;
}

void TestApiConfig::clientCertificates()
{
    QFETCH(QString, client);
    QFETCH(QString, tlsMax);
    QFETCH(bool, accepted);

    const QString started = startMutualTls();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QStringList options;
    if (!client.isEmpty())
        options << u"--cert"_s << m_mutual->path(client + u".pem"_s) << u"--key"_s
                << m_mutual->path(client + u".key"_s);
    if (!tlsMax.isEmpty())
        options << u"--tls-max"_s << tlsMax;
    const Answer r = health(m_mutual->apiPort(), m_mutual->path(u"cert.pem"_s), options);
    if (accepted) {
        QVERIFY2(r.status == 200 && r.exitCode == 0, qPrintable(r.describe()));
        QCOMPARE(r.body, QByteArray(R"({"status":"ok"})"));
        return;
    }
    // Refused inside the handshake: a TLS alert (curl 35 while connecting,
    // 56 when TLS 1.3 delivers it with the first read), no HTTP at all.
    QVERIFY2(r.status == 0 && (r.exitCode == 35 || r.exitCode == 56), qPrintable(r.describe()));
    QVERIFY2(r.error.contains(u"alert"_s), qPrintable(r.describe()));
}

void TestApiConfig::allowlistClosesOtherAddresses()
{
    EngineFixture engine;
    const QString started = startWith(engine, "[api]\nallowlist = 10.0.0.0/8\n");
    QVERIFY2(started.isEmpty(), qPrintable(started));

    // The port is open, and the engine hangs up before a byte of TLS.
    QTcpSocket socket;
    socket.connectToHost(QHostAddress(QHostAddress::LocalHost), engine.apiPort());
    QVERIFY2(socket.waitForConnected(10000), qPrintable(socket.errorString()));
    QVERIFY(socket.state() == QAbstractSocket::UnconnectedState ||
            socket.waitForDisconnected(10000));
    QVERIFY(socket.readAll().isEmpty());

    const Answer r = curl({u"-k"_s}, engine.apiUrl() + u"/health"_s);
    // 7 would be a port nobody listens on; this one was accepted and closed.
    QVERIFY2(r.status == 0 && r.exitCode != 0 && r.exitCode != 7, qPrintable(r.describe()));
}

QString TestApiConfig::startBehindProxy()
{
    if (m_proxied)
        return m_proxied->enginePid() > 0 ? QString() : u"the engine did not start before"_s;
    m_proxied = std::make_unique<EngineFixture>();
    const QString made =
        makeServerCertificate(m_proxied->path(u"cert.pem"_s), m_proxied->path(u"key.pem"_s));
    if (!made.isEmpty())
        return made;
    return startWith(*m_proxied, "[api]\ntls_certificate = cert.pem\ntls_private_key = key.pem\n"
                                 "allowlist = 127.0.0.2/32\ntrusted_proxies = 127.0.0.1\n");
}

void TestApiConfig::forwardedClientAddress_data()
{
    QTest::addColumn<QString>("from"); // the client's own address
    QTest::addColumn<QByteArray>("forwardedFor");
    QTest::addColumn<int>("status");

    QTest::newRow("proxy, no header") << u"127.0.0.1"_s << QByteArray() << 403;
    QTest::newRow("proxy for the allowed client")
        << u"127.0.0.1"_s << QByteArray("127.0.0.2") << 200;
    QTest::newRow("proxy for another client") << u"127.0.0.1"_s << QByteArray("10.9.9.9") << 403;
    QTest::newRow("proxy, allowed client last in the chain")
        << u"127.0.0.1"_s << QByteArray("10.9.9.9, 127.0.0.2") << 200;
    // Entries left of the client are the client's to write.
    QTest::newRow("proxy, allowed client written before another")
        << u"127.0.0.1"_s << QByteArray("127.0.0.2, 10.9.9.9") << 403;
    QTest::newRow("client that is no proxy, forged header")
        << u"127.0.0.2"_s << QByteArray("10.9.9.9") << 200;
    QTest::newRow("client that is no proxy") << u"127.0.0.2"_s << QByteArray() << 200;
}

void TestApiConfig::forwardedClientAddress()
{
    QFETCH(QString, from);
    QFETCH(QByteArray, forwardedFor);
    QFETCH(int, status);

    const QString started = startBehindProxy();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QStringList options{u"--interface"_s, from};
    if (!forwardedFor.isEmpty())
        options << u"-H"_s << u"X-Forwarded-For: "_s + QString::fromLatin1(forwardedFor);
    const Answer r = health(m_proxied->apiPort(), m_proxied->path(u"cert.pem"_s), options);
    QVERIFY2(r.status == status, qPrintable(r.describe()));
    if (status == 403)
        QCOMPARE(r.type(), problem(u"address-not-allowed"_s));
    else
        QCOMPARE(r.body, QByteArray(R"({"status":"ok"})"));
}

void TestApiConfig::auditNamesTheForwardedClient()
{
    const QString started = startBehindProxy();
    QVERIFY2(started.isEmpty(), qPrintable(started));
    EngineFixture &engine = *m_proxied;

    const QString input = engine.inputDir() + u"/forwarded.mp4"_s;
    const ToolRun clip = runTool(u"ffmpeg"_s, {u"-v"_s, u"error"_s, u"-f"_s, u"lavfi"_s, u"-i"_s,
                                               u"testsrc2=size=160x120:rate=10"_s, u"-t"_s, u"1"_s,
                                               u"-c:v"_s, u"mpeg4"_s, input});
    QVERIFY2(clip.exitCode == 0, qPrintable(failure(u"ffmpeg"_s, clip)));

    ApiKeyRegistry::NewKey request;
    request.name = u"behind the proxy"_s;
    request.ownerUser = u"tester"_s;
    request.scopes = Scopes(Scope::JobsSubmit);
    const Expected<ApiKeyRegistry::Created> created =
        ApiKeyRegistry(engine.secrets().pepper, engine.secrets().audit)
            .create(engine.db(), request, u"operator:test"_s, QDateTime::currentMSecsSinceEpoch());
    VERIFY_EXPECTED(created);
    TestSupport::recordSecret(created->token);
    // Through a file: a key on the command line is visible to every user.
    const QString headers = m_scratch.filePath(u"submit-headers"_s);
    QVERIFY(writeFile(headers, "X-API-Key: " + created->token.toLatin1() +
                                   "\r\nContent-Type: application/json\r\n"
                                   "X-Forwarded-For: 127.0.0.2\r\n"));

    const QJsonObject body{{u"preset"_s, u"web-720p-h264"_s},
                           {u"input"_s, QJsonObject{{u"path"_s, input}}}};
    const Answer r =
        curl({u"--cacert"_s, engine.path(u"cert.pem"_s), u"-H"_s, u"@"_s + headers},
             engine.apiUrl() + u"/v1/jobs"_s, QJsonDocument(body).toJson(QJsonDocument::Compact));
    QVERIFY2(r.status == 201, qPrintable(r.describe()));
    const QString uuid = QJsonDocument::fromJson(r.body).object().value("uuid"_L1).toString();
    QVERIFY(!uuid.isEmpty());

    QSqlQuery q(engine.db());
    q.prepare(u"SELECT actor, source_ip FROM audit_records WHERE action = 'job.submitted' "
              u"AND target = ?"_s);
    q.addBindValue(uuid);
    QVERIFY(q.exec());
    QVERIFY2(q.next(), qPrintable(uuid));
    QCOMPARE(q.value(0).toString(), u"key:"_s + created->key.id);
    QCOMPARE(q.value(1).toString(), u"127.0.0.2"_s);
    QVERIFY(!q.next());
}

void TestApiConfig::serverNamesAreAnswered()
{
    EngineFixture engine;
    const QString started =
        startWith(engine, "[api]\nserver_names = " + ServerName.toLatin1() + "\n");
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const quint16 port = engine.apiPort();

    // The engine's own self-signed certificate names it.
    const Presented certificate = presented(port);
    QVERIFY2(certificate.error.isEmpty(), qPrintable(certificate.error));
    const QString caFile = m_scratch.filePath(u"server-names.pem"_s);
    QVERIFY(writeFile(caFile, certificate.pem));
    const ToolRun names = runTool(
        u"openssl"_s, {u"x509"_s, u"-noout"_s, u"-ext"_s, u"subjectAltName"_s, u"-in"_s, caFile});
    QVERIFY2(names.exitCode == 0, qPrintable(failure(u"openssl x509 -ext"_s, names)));
    QVERIFY2(names.out.contains(QByteArray("DNS:" + ServerName.toLatin1())), names.out.constData());

    const QString authority = u"%1:%2"_s.arg(ServerName).arg(port);
    const QStringList options{u"--resolve"_s, authority + u":127.0.0.1"_s, u"--cacert"_s, caFile};
    const QString url = u"https://"_s + authority + u"/health"_s;
    const Answer named = curl(options, url);
    QVERIFY2(named.status == 200, qPrintable(named.describe()));
    QCOMPARE(named.body, QByteArray(R"({"status":"ok"})"));

    const Answer other = curl(options + QStringList{u"-H"_s, u"Host: other.example.test"_s}, url);
    QVERIFY2(other.status == 421, qPrintable(other.describe()));
    QCOMPARE(other.type(), problem(u"misdirected-request"_s));
}

QTEST_GUILESS_MAIN(TestApiConfig)
#include "tst_apiconfig.moc"
