#include "enginefixture.h"
#include "mediagen.h"

#include "api/tlsidentity.h"
#include "jobs/presets.h"
#include "security/apikeyregistry.h"
#include "security/apikeytoken.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QSslCertificate>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <functional>
#include <optional>

using namespace Qt::StringLiterals;

namespace {
constexpr qint64 MiB = 1024 * 1024;
constexpr int JobTimeoutMs = 180000;
const QString Operator = u"operator:test"_s;

QString problem(const QString &slug) { return u"urn:framehouse:problem:"_s + slug; }

// One request as curl sends it.
struct Call {
    explicit Call(QString path, QByteArray verb = "GET")
        : method(std::move(verb))
        , target(std::move(path))
    {}
    Call &withKey(const QString &key)
    {
        token = key;
        return *this;
    }
    Call &withHeaders(const QList<QByteArray> &lines)
    {
        headers += lines;
        return *this;
    }
    Call &withBody(const QByteArray &bytes)
    {
        body = bytes;
        return *this;
    }
    Call &withFile(const QString &path)
    {
        bodyFile = path;
        return *this;
    }
    Call &withOptions(const QStringList &more)
    {
        options += more;
        return *this;
    }

    QByteArray method;
    QString target;                 // path and query: "/v1/jobs?limit=1"
    QString token;                  // sent as X-API-Key
    QList<QByteArray> headers;      // further "Name: value" lines
    std::optional<QByteArray> body; // sent as it is
    QString bodyFile;               // or a file's bytes
    QStringList options;            // further curl options, e.g. {"-r", "100-199"}
};

// The final response curl received (a 100 Continue before it is skipped).
struct Reply {
    int status = 0;      // 0: no HTTP response at all; `error` says why
    qint64 uploaded = 0; // request body bytes curl sent
    QString error;
    QList<QPair<QByteArray, QByteArray>> headers; // names in lower case
    QByteArray body;

    QByteArray header(QByteArrayView name) const
    {
        for (const auto &h : headers) {
            if (h.first == name)
                return h.second;
        }
        return {};
    }
    bool has(QByteArrayView name) const { return !header(name).isNull(); }
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QString type() const { return json().value("type"_L1).toString(); }
    QString describe() const
    {
        QString text = u"HTTP %1"_s.arg(status);
        if (!error.isEmpty())
            text += u" (curl: %1)"_s.arg(error);
        for (const auto &h : headers)
            text += u"\n%1: %2"_s.arg(QString::fromLatin1(h.first), QString::fromLatin1(h.second));
        return text + u"\n\n"_s + QString::fromUtf8(body.left(2000));
    }
};

QList<QPair<QByteArray, QByteArray>> lastHead(const QByteArray &dump)
{
    const QList<QByteArray> lines = dump.split('\n');
    qsizetype start = -1;
    for (qsizetype i = 0; i < lines.size(); ++i) {
        if (lines.at(i).startsWith("HTTP/"))
            start = i;
    }
    QList<QPair<QByteArray, QByteArray>> headers;
    for (qsizetype i = start + 1; start >= 0 && i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        if (line.isEmpty())
            break;
        const qsizetype colon = line.indexOf(':');
        if (colon > 0)
            headers.append({line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed()});
    }
    return headers;
}

QByteArray readFile(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate,
                     QFileDevice::ReadOwner | QFileDevice::WriteOwner) &&
           file.write(bytes) == bytes.size();
}

// A program run to its end; stdout, or an empty string when it failed.
QByteArray runTool(const QString &program, const QStringList &arguments, const QByteArray &input,
                   int *exitCode = nullptr, QByteArray *errors = nullptr)
{
    QProcess tool;
    tool.start(program, arguments);
    if (!tool.waitForStarted())
        return {};
    tool.write(input);
    tool.closeWriteChannel();
    tool.waitForFinished(600000);
    if (exitCode)
        *exitCode = tool.exitStatus() == QProcess::NormalExit ? tool.exitCode() : -1;
    if (errors)
        *errors = tool.readAllStandardError();
    return tool.readAllStandardOutput();
}

// The digest as the sha256sum tool reports it: an independent opinion.
QString sha256sum(const QString &path)
{
    const QByteArray out = runTool(u"sha256sum"_s, {path}, {});
    return QString::fromLatin1(out.left(out.indexOf(' ')));
}

QString sha256(const QByteArray &bytes)
{
    return QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
}

// The engine's resident set, from /proc; -1 when it cannot be read.
qint64 residentBytes(qint64 pid)
{
    const QByteArray status = readFile(u"/proc/%1/status"_s.arg(pid));
    for (const QByteArray &line : status.split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong() * 1024;
    }
    return -1;
}

// A real MP4 of at least `bytes` (one large mdat of noisy MPEG-4 frames).
QString writeLargeMp4(const QString &path, qint64 bytes)
{
    int exitCode = -1;
    QByteArray errors;
    runTool(u"ffmpeg"_s,
            {u"-v"_s, u"error"_s, u"-y"_s, u"-f"_s, u"lavfi"_s, u"-i"_s,
             u"testsrc2=size=1280x720:rate=30"_s, u"-vf"_s, u"noise=alls=60:allf=t"_s, u"-t"_s,
             u"600"_s, u"-fs"_s, QString::number(bytes + bytes / 20), u"-c:v"_s, u"mpeg4"_s,
             u"-q:v"_s, u"2"_s, path},
            {}, &exitCode, &errors);
    if (exitCode != 0)
        return u"ffmpeg failed: "_s + QString::fromLocal8Bit(errors);
    if (QFileInfo(path).size() < bytes)
        return u"ffmpeg wrote only %1 bytes"_s.arg(QFileInfo(path).size());
    return {};
}

// A framehoused with its own store, reached only through the curl binary,
// which trusts nothing but the certificate the engine presented and named
// in its log.
class ApiEngine {
public:
    using Settings = QList<QPair<QString, QString>>;

    // Limits that would otherwise get in the way of a test making many
    // requests, some of them refused.
    static Settings relaxed()
    {
        return {{u"api.ip_rate_per_s"_s, u"100000"_s},
                {u"api.ip_burst"_s, u"100000"_s},
                {u"api.key_rate_per_hour"_s, u"100000000"_s},
                {u"api.key_burst"_s, u"100000"_s},
                {u"api.ban_failures"_s, u"100000"_s}};
    }

    // Empty on success, else what went wrong.
    QString start(const Settings &settings, const QByteArray &configFile = {})
    {
        for (const auto &[key, value] : settings) {
            Expected<void> set = m_engine.setSetting(key, value);
            if (!set)
                return set.error();
        }
        QStringList arguments;
        if (!configFile.isEmpty()) {
            const QString path = m_engine.path(u"framehoused.ini"_s);
            if (!writeFile(path, configFile))
                return u"cannot write "_s + path;
            arguments << u"--config"_s << path;
        }
        if (!m_engine.startEngine(arguments))
            return u"framehoused did not start: "_s + m_engine.engineLog();
        return fetchCertificate();
    }

    EngineFixture &fixture() { return m_engine; }
    QString uploadsDirectory() const { return m_engine.path(u"store/uploads"_s); }
    QStringList uploadFiles() const
    {
        return QDir(uploadsDirectory())
            .entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
    }
    QString scratch(const QString &name) const { return m_scratch.filePath(name); }

    ApiKeyRegistry::Created key(Scopes scopes,
                                const std::function<void(ApiKeyRegistry::NewKey &)> &adjust = {},
                                qint64 now = QDateTime::currentMSecsSinceEpoch())
    {
        ApiKeyRegistry::NewKey request;
        request.name = u"key %1"_s.arg(++m_keys);
        request.ownerUser = u"tester"_s;
        request.scopes = scopes;
        if (adjust)
            adjust(request);
        Expected<ApiKeyRegistry::Created> created =
            registry().create(m_engine.db(), request, Operator, now);
        if (!created)
            qFatal("cannot create a key: %s", qPrintable(created.error()));
        TestSupport::recordSecret(created->token);
        return created.value();
    }
    ApiKeyRegistry registry() const
    {
        return ApiKeyRegistry(m_engine.secrets().pepper, m_engine.secrets().audit);
    }

    struct Running {
        std::unique_ptr<QProcess> curl;
        QString headFile;
        QString bodyFile;
    };
    Running start(const Call &call)
    {
        const int n = ++m_calls;
        Running running;
        running.headFile = scratch(u"head-%1"_s.arg(n));
        running.bodyFile = scratch(u"body-%1"_s.arg(n));
        QStringList arguments{u"--disable"_s,   u"-sS"_s,         u"--http1.1"_s,
                              u"--noproxy"_s,   u"*"_s,           u"--max-time"_s,
                              u"300"_s,         u"--cacert"_s,    m_certificate,
                              u"-D"_s,          running.headFile, u"-o"_s,
                              running.bodyFile, u"-w"_s,          u"%{http_code} %{size_upload}"_s};
        if (call.method != "GET")
            arguments << u"-X"_s << QString::fromLatin1(call.method);
        // Request headers go through a file: a key on the command line
        // would be visible to every user of the machine.
        QList<QByteArray> headers = call.headers;
        if (!call.token.isEmpty())
            headers << "X-API-Key: " + call.token.toLatin1();
        if (!headers.isEmpty()) {
            const QString headerFile = scratch(u"request-%1"_s.arg(n));
            writeFile(headerFile, headers.join("\r\n") + "\r\n");
            arguments << u"-H"_s << u"@"_s + headerFile;
        }
        QString bodyFile = call.bodyFile;
        if (call.body) {
            bodyFile = scratch(u"request-body-%1"_s.arg(n));
            writeFile(bodyFile, *call.body);
        }
        if (!bodyFile.isEmpty())
            arguments << u"--data-binary"_s << u"@"_s + bodyFile;
        arguments << call.options << m_engine.apiUrl() + call.target;
        running.curl = std::make_unique<QProcess>();
        running.curl->start(u"curl"_s, arguments);
        return running;
    }
    Reply finish(Running &running)
    {
        Reply reply;
        QProcess &curl = *running.curl;
        if (!curl.waitForFinished(330000)) {
            curl.kill();
            curl.waitForFinished();
            reply.error = u"curl did not finish"_s;
        }
        const QList<QByteArray> written = curl.readAllStandardOutput().trimmed().split(' ');
        reply.status = written.first().toInt();
        reply.uploaded = written.last().toLongLong();
        if (curl.exitCode() != 0)
            reply.error = QString::fromLocal8Bit(curl.readAllStandardError()).trimmed();
        reply.headers = lastHead(readFile(running.headFile));
        reply.body = readFile(running.bodyFile);
        QFile::remove(running.headFile);
        QFile::remove(running.bodyFile);
        return reply;
    }
    Reply send(const Call &call)
    {
        Running running = start(call);
        return finish(running);
    }

    Reply json(const QByteArray &method, const QString &target, const QString &token,
               const QJsonObject &body)
    {
        return send(Call(target, method)
                        .withKey(token)
                        .withHeaders({"Content-Type: application/json"})
                        .withBody(QJsonDocument(body).toJson(QJsonDocument::Compact)));
    }
    Reply upload(const QString &token, const QString &file, const QString &name,
                 const QByteArray &contentType = "video/mp4")
    {
        return send(
            Call(u"/v1/uploads?name="_s + QString::fromLatin1(QUrl::toPercentEncoding(name)),
                 "POST")
                .withKey(token)
                .withHeaders({"Content-Type: " + contentType})
                .withFile(file));
    }

private:
    // The certificate as the engine presents it, kept only when its digest
    // is the one the engine logged.
    QString fetchCertificate()
    {
        static const QRegularExpression logged(u"SHA-256 ([0-9A-F:]{95})"_s);
        QString fingerprint;
        QRegularExpressionMatchIterator it = logged.globalMatch(m_engine.engineLog());
        while (it.hasNext())
            fingerprint = it.next().captured(1);
        if (fingerprint.isEmpty())
            return u"the engine's log names no certificate digest"_s;
        const QByteArray shown =
            runTool(u"openssl"_s,
                    {u"s_client"_s, u"-connect"_s, u"127.0.0.1:%1"_s.arg(m_engine.apiPort()),
                     u"-showcerts"_s},
                    {});
        const qsizetype begin = shown.indexOf("-----BEGIN CERTIFICATE-----");
        const QByteArray endMarker = "-----END CERTIFICATE-----";
        const qsizetype end = shown.indexOf(endMarker, begin);
        if (begin < 0 || end < 0)
            return u"openssl s_client showed no certificate: "_s + QString::fromLatin1(shown);
        const QByteArray pem = shown.mid(begin, end + endMarker.size() - begin) + '\n';
        const QList<QSslCertificate> certificates = QSslCertificate::fromData(pem);
        if (certificates.size() != 1)
            return u"the certificate does not parse"_s;
        const QString presented = TlsIdentity::fingerprintSha256(certificates.first());
        if (presented != fingerprint)
            return u"the engine presented %1 but logged %2"_s.arg(presented, fingerprint);
        m_certificate = scratch(u"engine.pem"_s);
        if (!writeFile(m_certificate, pem))
            return u"cannot write the certificate"_s;
        return {};
    }

    EngineFixture m_engine;
    QTemporaryDir m_scratch;
    QString m_certificate;
    int m_calls = 0;
    int m_keys = 0;
};

const Scopes AllJobScopes =
    Scopes(Scope::JobsSubmit) | Scope::JobsRead | Scope::JobsCancel | Scope::UploadsWrite;

bool hasJob(const Reply &list, qint64 id)
{
    for (const QJsonValue &job : list.json().value("jobs"_L1).toArray()) {
        if (job.toObject().value("id"_L1).toInteger() == id)
            return true;
    }
    return false;
}
} // namespace

// The HTTPS API from the outside: a real framehoused, its real TLS, and the
// real curl binary for every request.
class TestApi : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void healthIsOpenReadyIsNot();
    void securityHeaders_data();
    void securityHeaders();
    void unknownHostIsMisdirected();
    void corsGrantsOnlyConfiguredOrigins_data();
    void corsGrantsOnlyConfiguredOrigins();
    void preflight_data();
    void preflight();

    void refusedKeys_data();
    void refusedKeys();
    void eachFailureIsLoggedOnce();
    void revocationTakesEffectAtOnce();
    void scopeIsEnforced_data();
    void scopeIsEnforced();
    void keyAllowlistNarrows();
    void bearerWorksLikeApiKeyHeader_data();
    void bearerWorksLikeApiKeyHeader();
    void perKeyRateLimit();

    void uploadIsStoredWithItsDigest();
    void uploadThatDisagreesIsRefused_data();
    void uploadThatDisagreesIsRefused();
    void largeUploadStreams();

    void jobLifecycle();
    void invalidJobBodies_data();
    void invalidJobBodies();
    void jobBodyOverLimit();
    void presetsAreListed();

    void keyAdministration();
    void revokeAllNeedsConfirmation();
    void auditNamesKeyAndAddress();
    void metricsForPrometheus();
    void unknownRoutesAndMethods_data();
    void unknownRoutesAndMethods();

    void perAddressRateLimit();
    void repeatedFailuresBanTheAddress();
    void uploadOverLimitIsRefusedBeforeTheBody();

private:
    // A clip uploaded by `token`; its upload id, or an empty string.
    QString uploadClip(const QString &token, const QString &name);
    // Polls GET /v1/jobs/{id} until the job is in `state` (or final).
    QJsonObject waitJob(const QString &token, qint64 id, const QString &state);

    std::unique_ptr<ApiEngine> m_api;
    QTemporaryDir m_media;
    QString m_clip; // a real MP4
    QString m_png;
    QString m_elf;
};

void TestApi::initTestCase()
{
    for (const QString &tool :
         {u"curl"_s, u"openssl"_s, u"promtool"_s, u"sha256sum"_s, u"ffmpeg"_s})
        QVERIFY2(!QStandardPaths::findExecutable(tool).isEmpty(), qPrintable(tool));
    QVERIFY(QFile::exists(QStringLiteral(FRAMEHOUSE_WORKER_PATH)));

    MediaGen::ClipOptions options;
    options.seconds = 1;
    m_clip = m_media.filePath(u"clip.mp4"_s);
    const QString made = MediaGen::writeClip(m_clip, options);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    m_png = m_media.filePath(u"picture.png"_s);
    int exitCode = -1;
    runTool(u"ffmpeg"_s,
            {u"-v"_s, u"error"_s, u"-f"_s, u"lavfi"_s, u"-i"_s, u"testsrc2=size=64x64"_s,
             u"-frames:v"_s, u"1"_s, m_png},
            {}, &exitCode);
    QCOMPARE(exitCode, 0);
    QVERIFY(readFile(m_png).startsWith("\x89PNG"));
    m_elf = QStandardPaths::findExecutable(u"true"_s);
    QVERIFY(readFile(m_elf).startsWith("\177ELF"));

    m_api = std::make_unique<ApiEngine>();
    ApiEngine::Settings settings = ApiEngine::relaxed();
    settings.append({u"api.max_json_bytes"_s, u"65536"_s});
    const QString started = m_api->start(settings, "[api]\ncors_origins = https://app.example\n");
    QVERIFY2(started.isEmpty(), qPrintable(started));
}

void TestApi::cleanupTestCase()
{
    // An engine that never started has no process to stop.
    if (m_api && m_api->fixture().enginePid() > 0)
        QVERIFY(m_api->fixture().stopEngine());
    m_api.reset();
}

QString TestApi::uploadClip(const QString &token, const QString &name)
{
    const Reply r = m_api->upload(token, m_clip, name);
    if (r.status != 201) {
        qWarning().noquote() << "upload refused:" << r.describe();
        return {};
    }
    return r.json().value("id"_L1).toString();
}

QJsonObject TestApi::waitJob(const QString &token, qint64 id, const QString &state)
{
    QDeadlineTimer deadline(JobTimeoutMs);
    QJsonObject job;
    while (!deadline.hasExpired()) {
        const Reply r = m_api->send(Call(u"/v1/jobs/%1"_s.arg(id)).withKey(token));
        job = r.json();
        const QString now = job.value("state"_L1).toString();
        if (r.status != 200 || now == state || now == "failed"_L1 || now == "cancelled"_L1)
            return job;
        QTest::qWait(250);
    }
    return job;
}

void TestApi::healthIsOpenReadyIsNot()
{
    const Reply health = m_api->send(Call(u"/health"_s));
    QVERIFY2(health.status == 200, qPrintable(health.describe()));
    // Nothing about the engine beyond that it answers.
    QCOMPARE(health.json(), (QJsonObject{{u"status"_s, u"ok"_s}}));

    const Reply anonymous = m_api->send(Call(u"/ready"_s));
    QVERIFY2(anonymous.status == 401, qPrintable(anonymous.describe()));
    QCOMPARE(anonymous.type(), problem(u"unauthenticated"_s));
    QCOMPARE(anonymous.header("www-authenticate"), QByteArray("Bearer"));
    QVERIFY(!anonymous.body.contains("farm"));

    const Reply ready = m_api->send(Call(u"/ready"_s).withKey(m_api->key(Scope::JobsRead).token));
    QVERIFY2(ready.status == 200, qPrintable(ready.describe()));
    QCOMPARE(ready.json().value("status"_L1).toString(), u"ready"_s);
}

void TestApi::securityHeaders_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<bool>("withKey");
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<int>("status");

    QTest::newRow("health") << u"/health"_s << false << QByteArray() << 200;
    QTest::newRow("presets") << u"/v1/presets"_s << true << QByteArray() << 200;
    QTest::newRow("no key") << u"/ready"_s << false << QByteArray() << 401;
    QTest::newRow("no such route") << u"/v1/nothing"_s << true << QByteArray() << 404;
    QTest::newRow("no such job") << u"/v1/jobs/987654"_s << true << QByteArray() << 404;
    QTest::newRow("wrong scope") << u"/metrics"_s << true << QByteArray() << 403;
    QTest::newRow("misdirected") << u"/health"_s << false << QByteArray("evil.example") << 421;
}

void TestApi::securityHeaders()
{
    QFETCH(QString, target);
    QFETCH(bool, withKey);
    QFETCH(QByteArray, host);
    QFETCH(int, status);

    Call call = Call(target);
    if (withKey)
        call.token = m_api->key(Scope::JobsRead).token;
    if (!host.isEmpty())
        call.headers << "Host: " + host;
    const Reply r = m_api->send(call);
    QVERIFY2(r.status == status, qPrintable(r.describe()));
    QCOMPARE(r.header("strict-transport-security"),
             QByteArray("max-age=63072000; includeSubDomains"));
    QCOMPARE(r.header("x-content-type-options"), QByteArray("nosniff"));
    QCOMPARE(r.header("x-frame-options"), QByteArray("DENY"));
    QCOMPARE(r.header("content-security-policy"),
             QByteArray("default-src 'none'; frame-ancestors 'none'"));
    QCOMPARE(r.header("referrer-policy"), QByteArray("no-referrer"));
    QCOMPARE(r.header("cache-control"), QByteArray("no-store"));
    // Obsolete, and harmful in old browsers.
    QVERIFY(!r.has("x-xss-protection"));
    if (status >= 400)
        QCOMPARE(r.header("content-type"), QByteArray("application/problem+json"));
}

void TestApi::unknownHostIsMisdirected()
{
    const QString token = m_api->key(Scope::JobsRead).token;
    const Reply evil =
        m_api->send(Call(u"/v1/presets"_s).withKey(token).withHeaders({"Host: evil.example"}));
    QVERIFY2(evil.status == 421, qPrintable(evil.describe()));
    QCOMPARE(evil.type(), problem(u"misdirected-request"_s));
    QVERIFY(!evil.body.contains("presets"));

    const Reply local = m_api->send(
        Call(u"/v1/presets"_s)
            .withKey(token)
            .withHeaders({"Host: localhost:" + QByteArray::number(m_api->fixture().apiPort())}));
    QVERIFY2(local.status == 200, qPrintable(local.describe()));
}

void TestApi::corsGrantsOnlyConfiguredOrigins_data()
{
    QTest::addColumn<QByteArray>("origin");
    QTest::addColumn<bool>("granted");

    QTest::newRow("configured") << QByteArray("https://app.example") << true;
    QTest::newRow("unknown") << QByteArray("https://evil.example") << false;
    QTest::newRow("null") << QByteArray("null") << false;
    QTest::newRow("prefix of another") << QByteArray("https://app.example.evil.example") << false;
    QTest::newRow("other scheme") << QByteArray("http://app.example") << false;
}

void TestApi::corsGrantsOnlyConfiguredOrigins()
{
    QFETCH(QByteArray, origin);
    QFETCH(bool, granted);

    const Reply r = m_api->send(Call(u"/v1/presets"_s)
                                    .withKey(m_api->key(Scope::JobsRead).token)
                                    .withHeaders({"Origin: " + origin}));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QCOMPARE(r.header("vary"), QByteArray("Origin"));
    if (granted)
        QCOMPARE(r.header("access-control-allow-origin"), origin);
    else
        QVERIFY2(!r.has("access-control-allow-origin"), qPrintable(r.describe()));
    QVERIFY(!r.has("access-control-allow-credentials"));
}

void TestApi::preflight_data()
{
    QTest::addColumn<QByteArray>("origin");
    QTest::addColumn<bool>("granted");

    QTest::newRow("configured") << QByteArray("https://app.example") << true;
    QTest::newRow("unknown") << QByteArray("https://evil.example") << false;
    QTest::newRow("null") << QByteArray("null") << false;
}

void TestApi::preflight()
{
    QFETCH(QByteArray, origin);
    QFETCH(bool, granted);

    // As a browser sends it: no key.
    const Reply r =
        m_api->send(Call(u"/v1/jobs"_s, "OPTIONS")
                        .withHeaders({"Origin: " + origin, "Access-Control-Request-Method: POST",
                                      "Access-Control-Request-Headers: x-api-key, "
                                      "content-type"}));
    if (granted) {
        QVERIFY2(r.status == 204, qPrintable(r.describe()));
        QCOMPARE(r.header("access-control-allow-origin"), origin);
        const QByteArray methods = r.header("access-control-allow-methods");
        for (const char *method : {"GET", "POST", "DELETE"})
            QVERIFY2(methods.contains(method), methods.constData());
        const QByteArray headers = r.header("access-control-allow-headers").toLower();
        for (const char *header : {"x-api-key", "content-type", "authorization"})
            QVERIFY2(headers.contains(header), headers.constData());
        QCOMPARE(r.header("access-control-max-age"), QByteArray("600"));
    } else {
        QVERIFY2(r.status != 204 && r.status != 200, qPrintable(r.describe()));
        QVERIFY2(!r.has("access-control-allow-origin"), qPrintable(r.describe()));
        QVERIFY(!r.has("access-control-allow-methods"));
        QVERIFY(!r.has("access-control-allow-headers"));
    }
}

void TestApi::refusedKeys_data()
{
    QTest::addColumn<QString>("kind");

    for (const char *kind : {"missing", "bad checksum", "unknown", "revoked", "expired",
                             "basic scheme", "empty bearer"})
        QTest::newRow(kind) << QString::fromLatin1(kind);
}

void TestApi::refusedKeys()
{
    QFETCH(QString, kind);

    Call call = Call(u"/v1/presets"_s);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (kind == "bad checksum"_L1) {
        QString token = m_api->key(Scope::JobsRead).token;
        token.back() = token.back() == u'A' ? u'B' : u'A';
        call.token = token;
    } else if (kind == "unknown"_L1) {
        call.token = ApiKeyToken::generate().toString();
    } else if (kind == "revoked"_L1) {
        const ApiKeyRegistry::Created created = m_api->key(Scope::JobsRead);
        VERIFY_EXPECTED(m_api->registry().revoke(m_api->fixture().db(), created.key.id, u"test"_s,
                                                 Operator, now.toMSecsSinceEpoch()));
        call.token = created.token;
    } else if (kind == "expired"_L1) {
        // Made two days ago for one day: expired a day ago.
        call.token =
            m_api
                ->key(
                    Scope::JobsRead, [](ApiKeyRegistry::NewKey &k) { k.expiresInDays = 1; },
                    now.addDays(-2).toMSecsSinceEpoch())
                .token;
    } else if (kind == "basic scheme"_L1) {
        call.headers << "Authorization: Basic " +
                            m_api->key(Scope::JobsRead).token.toLatin1().toBase64();
    } else if (kind == "empty bearer"_L1) {
        call.headers << "Authorization: Bearer ";
    }
    const Reply r = m_api->send(call);
    QVERIFY2(r.status == 401, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(u"unauthenticated"_s));
    QVERIFY(r.header("www-authenticate").startsWith("Bearer"));
    QVERIFY(!r.body.contains("presets"));
}

void TestApi::eachFailureIsLoggedOnce()
{
    // fail2ban counts the fixed-form lines: one failed request must make
    // exactly one, or an address is banned after half the failures allowed.
    const QString unknown = ApiKeyToken::generate().toString();
    const QString id = unknown.split(u'_').at(1);
    const Reply r = m_api->send(Call(u"/v1/presets"_s).withKey(unknown));
    QVERIFY2(r.status == 401, qPrintable(r.describe()));
    const QString log = m_api->fixture().engineLog();
    QCOMPARE(log.count(u"framehouse: authentication failure from 127.0.0.1 key=%1 "
                       "reason=unknown_key"_s.arg(id)),
             1);
    QCOMPARE(log.count(u"authentication failed from 127.0.0.1 for key %1"_s.arg(id)), 1);
}

void TestApi::revocationTakesEffectAtOnce()
{
    const ApiKeyRegistry::Created created = m_api->key(Scope::JobsRead);
    const Call call = Call(u"/v1/presets"_s).withKey(created.token);
    const Reply before = m_api->send(call);
    QVERIFY2(before.status == 200, qPrintable(before.describe()));
    VERIFY_EXPECTED(m_api->registry().revoke(m_api->fixture().db(), created.key.id, u"test"_s,
                                             Operator, QDateTime::currentMSecsSinceEpoch()));
    const Reply after = m_api->send(call);
    QVERIFY2(after.status == 401, qPrintable(after.describe()));
    QCOMPARE(after.type(), problem(u"unauthenticated"_s));
}

void TestApi::scopeIsEnforced_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("target");
    QTest::addColumn<int>("scope");
    QTest::addColumn<QByteArray>("contentType");

    QTest::newRow("metrics without metrics:read")
        << QByteArray("GET") << u"/metrics"_s << int(Scope::JobsRead) << QByteArray();
    QTest::newRow("keys without admin")
        << QByteArray("GET") << u"/v1/keys"_s << int(Scope::JobsRead) << QByteArray();
    QTest::newRow("submit without jobs:submit")
        << QByteArray("POST") << u"/v1/jobs"_s << int(Scope::JobsRead)
        << QByteArray("application/json");
    QTest::newRow("upload without uploads:write")
        << QByteArray("POST") << u"/v1/uploads?name=clip.mp4"_s << int(Scope::JobsSubmit)
        << QByteArray("video/mp4");
    QTest::newRow("jobs with admin alone")
        << QByteArray("GET") << u"/v1/jobs"_s << int(Scope::Admin) << QByteArray();
}

void TestApi::scopeIsEnforced()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, target);
    QFETCH(int, scope);
    QFETCH(QByteArray, contentType);

    const QStringList before = m_api->uploadFiles();
    Call call = Call(target, method).withKey(m_api->key(Scopes::fromInt(scope)).token);
    if (!contentType.isEmpty()) {
        call.headers << "Content-Type: " + contentType;
        call.bodyFile = contentType == "video/mp4" ? m_clip : QString();
        if (call.bodyFile.isEmpty())
            call.body = QByteArray(R"({"preset":"web-720p-h264","input":{"path":"/x.mp4"}})");
    }
    const Reply r = m_api->send(call);
    QVERIFY2(r.status == 403, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(u"insufficient-scope"_s));
    QCOMPARE(m_api->uploadFiles(), before);
}

void TestApi::keyAllowlistNarrows()
{
    const auto from = [](const char *cidrs) {
        return [cidrs](ApiKeyRegistry::NewKey &k) {
            k.allowlist = IpAllowlist::parse(QString::fromLatin1(cidrs)).value();
        };
    };
    const Reply elsewhere = m_api->send(
        Call(u"/v1/presets"_s).withKey(m_api->key(Scope::JobsRead, from("10.0.0.0/8")).token));
    QVERIFY2(elsewhere.status == 403, qPrintable(elsewhere.describe()));
    QCOMPARE(elsewhere.type(), problem(u"address-not-allowed"_s));
    QVERIFY(!elsewhere.body.contains("presets"));

    const Reply here = m_api->send(
        Call(u"/v1/presets"_s).withKey(m_api->key(Scope::JobsRead, from("127.0.0.0/8")).token));
    QVERIFY2(here.status == 200, qPrintable(here.describe()));
}

void TestApi::bearerWorksLikeApiKeyHeader_data()
{
    QTest::addColumn<QByteArray>("header");

    QTest::newRow("X-API-Key") << QByteArray("X-API-Key: ");
    QTest::newRow("Bearer") << QByteArray("Authorization: Bearer ");
    QTest::newRow("bearer in lower case") << QByteArray("Authorization: bearer ");
}

void TestApi::bearerWorksLikeApiKeyHeader()
{
    QFETCH(QByteArray, header);

    const ApiKeyRegistry::Created created = m_api->key(Scope::JobsRead);
    const Reply r =
        m_api->send(Call(u"/v1/presets"_s).withHeaders({header + created.token.toLatin1()}));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    const Reply wrong =
        m_api->send(Call(u"/v1/presets"_s)
                        .withHeaders({header + ApiKeyToken::generate().toString().toLatin1()}));
    QVERIFY2(wrong.status == 401, qPrintable(wrong.describe()));
}

void TestApi::perKeyRateLimit()
{
    const QString limited =
        m_api->key(Scope::JobsRead, [](ApiKeyRegistry::NewKey &k) { k.rateLimitPerHour = 2; })
            .token;
    const Call call = Call(u"/v1/presets"_s).withKey(limited);
    for (int i = 0; i < 2; ++i) {
        const Reply r = m_api->send(call);
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
    }
    const Reply third = m_api->send(call);
    QVERIFY2(third.status == 429, qPrintable(third.describe()));
    QCOMPARE(third.type(), problem(u"rate-limited"_s));
    bool isNumber = false;
    QVERIFY2(third.header("retry-after").toInt(&isNumber) >= 1 && isNumber,
             third.header("retry-after").constData());

    // The limit is the key's, not the address's.
    const Reply other =
        m_api->send(Call(u"/v1/presets"_s).withKey(m_api->key(Scope::JobsRead).token));
    QVERIFY2(other.status == 200, qPrintable(other.describe()));
}

void TestApi::uploadIsStoredWithItsDigest()
{
    const Reply r = m_api->upload(m_api->key(Scope::UploadsWrite).token, m_clip, u"clip.mp4"_s);
    QVERIFY2(r.status == 201, qPrintable(r.describe()));
    const QJsonObject upload = r.json();
    const QString id = upload.value("id"_L1).toString();
    QVERIFY2(QRegularExpression(u"^upl_[0-9A-Za-z]{24}$"_s).match(id).hasMatch(), qPrintable(id));
    QCOMPARE(upload.value("name"_L1).toString(), u"clip.mp4"_s);
    QCOMPARE(upload.value("media_type"_L1).toString(), u"video/mp4"_s);
    QCOMPARE(upload.value("size"_L1).toInteger(), QFileInfo(m_clip).size());
    const QString digest = sha256sum(m_clip);
    QCOMPARE(digest.size(), 64);
    QCOMPARE(upload.value("sha256"_L1).toString(), digest);
    // What the engine keeps is byte for byte what was sent.
    QCOMPARE(sha256sum(m_api->uploadsDirectory() + u'/' + id), digest);
    QVERIFY(!m_api->uploadFiles().join(u' ').contains(u".part"_s));
}

void TestApi::uploadThatDisagreesIsRefused_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QString>("content"); // "mp4", "png" or "elf"

    QTest::newRow("mkv name, mp4 bytes") << u"clip.mkv"_s << QByteArray("video/mp4") << u"mp4"_s;
    QTest::newRow("txt name") << u"clip.txt"_s << QByteArray("video/mp4") << u"mp4"_s;
    QTest::newRow("matroska content type")
        << u"clip.mp4"_s << QByteArray("video/x-matroska") << u"mp4"_s;
    QTest::newRow("text content type") << u"clip.mp4"_s << QByteArray("text/plain") << u"mp4"_s;
    QTest::newRow("png named mp4") << u"clip.mp4"_s << QByteArray("video/mp4") << u"png"_s;
    QTest::newRow("elf named mp4") << u"clip.mp4"_s << QByteArray("video/mp4") << u"elf"_s;
}

void TestApi::uploadThatDisagreesIsRefused()
{
    QFETCH(QString, name);
    QFETCH(QByteArray, contentType);
    QFETCH(QString, content);

    const QString file = content == "png"_L1 ? m_png : content == "elf"_L1 ? m_elf : m_clip;
    const QStringList before = m_api->uploadFiles();
    const Reply r = m_api->upload(m_api->key(Scope::UploadsWrite).token, file, name, contentType);
    QVERIFY2(r.status == 415, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(u"unsupported-media-type"_s));
    // Nothing is left behind, not even a temporary file.
    QCOMPARE(m_api->uploadFiles(), before);
}

void TestApi::largeUploadStreams()
{
    const QString big = m_api->scratch(u"big.mp4"_s);
    const QString made = writeLargeMp4(big, 200 * MiB);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const qint64 size = QFileInfo(big).size();
    const QString digest = sha256sum(big);
    const QString token = m_api->key(Scope::UploadsWrite).token;

    const qint64 pid = m_api->fixture().enginePid();
    const qint64 baseline = residentBytes(pid);
    QVERIFY(baseline > 0);
    qint64 peak = baseline;
    ApiEngine::Running running = m_api->start(Call(u"/v1/uploads?name=big.mp4"_s, "POST")
                                                  .withKey(token)
                                                  .withHeaders({"Content-Type: video/mp4"})
                                                  .withFile(big));
    QVERIFY(running.curl->waitForStarted());
    while (running.curl->state() != QProcess::NotRunning) {
        peak = qMax(peak, residentBytes(pid));
        QTest::qWait(100);
    }
    peak = qMax(peak, residentBytes(pid));
    const Reply r = m_api->finish(running);
    QFile::remove(big);
    QVERIFY2(r.status == 201, qPrintable(r.describe()));
    QCOMPARE(r.json().value("size"_L1).toInteger(), size);
    QCOMPARE(r.uploaded, size);
    QCOMPARE(r.json().value("sha256"_L1).toString(), digest);
    const qint64 growth = peak - baseline;
    qInfo("upload of %.1f MiB: engine RSS %.1f MiB before, peak %.1f MiB, growth %.1f MiB",
          double(size) / MiB, double(baseline) / MiB, double(peak) / MiB, double(growth) / MiB);
    QVERIFY2(growth < 64 * MiB, qPrintable(u"RSS grew by %1 bytes"_s.arg(growth)));
}

void TestApi::jobLifecycle()
{
    const ApiKeyRegistry::Created owner = m_api->key(AllJobScopes);
    const QString token = owner.token;
    const QString firstUpload = uploadClip(token, u"first.mp4"_s);
    const QString secondUpload = uploadClip(token, u"second.mp4"_s);
    QVERIFY(!firstUpload.isEmpty() && !secondUpload.isEmpty());

    // Submitted: 201 with where to find it.
    QList<qint64> ids;
    for (const QString &upload : {firstUpload, secondUpload}) {
        const Reply r = m_api->json(
            "POST", u"/v1/jobs"_s, token,
            {{u"preset"_s, u"web-720p-h264"_s}, {u"input"_s, QJsonObject{{u"upload"_s, upload}}}});
        QVERIFY2(r.status == 201, qPrintable(r.describe()));
        const qint64 id = r.json().value("id"_L1).toInteger();
        QVERIFY(id > 0);
        QCOMPARE(r.header("location"), "/v1/jobs/" + QByteArray::number(id));
        QCOMPARE(r.json().value("submitted_by"_L1).toString(), u"key:"_s + owner.key.id);
        ids << id;
    }
    const qint64 id = ids.first();
    for (qint64 each : ids) {
        const QJsonObject done = waitJob(token, each, u"succeeded"_s);
        QVERIFY2(done.value("state"_L1).toString() == "succeeded"_L1,
                 QJsonDocument(done).toJson().constData());
    }
    const QJsonObject first = waitJob(token, id, u"succeeded"_s);
    QCOMPARE(first.value("output"_L1).toObject().value("href"_L1).toString(),
             u"/v1/jobs/%1/output"_s.arg(id));
    // No server paths in what a client sees.
    QVERIFY(!QJsonDocument(first).toJson().contains(m_api->fixture().outputDir().toUtf8()));

    // Listed, a page at a time, newest first.
    const Reply all = m_api->send(Call(u"/v1/jobs"_s).withKey(token));
    QVERIFY2(all.status == 200, qPrintable(all.describe()));
    QVERIFY(hasJob(all, ids.at(0)) && hasJob(all, ids.at(1)));
    const Reply page1 = m_api->send(Call(u"/v1/jobs?limit=1"_s).withKey(token));
    QVERIFY2(page1.status == 200, qPrintable(page1.describe()));
    QCOMPARE(page1.json().value("jobs"_L1).toArray().size(), 1);
    QVERIFY(hasJob(page1, ids.at(1)));
    const QString next = page1.json().value("next"_L1).toString();
    QVERIFY2(next.startsWith(u"/v1/jobs?"_s), qPrintable(page1.describe()));
    const Reply page2 = m_api->send(Call(next).withKey(token));
    QVERIFY2(page2.status == 200, qPrintable(page2.describe()));
    QCOMPARE(page2.json().value("jobs"_L1).toArray().size(), 1);
    QVERIFY(hasJob(page2, ids.at(0)));
    QVERIFY(!page2.json().contains("next"_L1));

    // Filtered by state.
    const Reply succeeded = m_api->send(Call(u"/v1/jobs?state=succeeded"_s).withKey(token));
    QVERIFY(hasJob(succeeded, ids.at(0)) && hasJob(succeeded, ids.at(1)));
    const Reply queued = m_api->send(Call(u"/v1/jobs?state=queued"_s).withKey(token));
    QVERIFY2(queued.status == 200, qPrintable(queued.describe()));
    QVERIFY(!hasJob(queued, ids.at(0)) && !hasJob(queued, ids.at(1)));
    const Reply badState = m_api->send(Call(u"/v1/jobs?state=done"_s).withKey(token));
    QVERIFY2(badState.status == 400, qPrintable(badState.describe()));
    QCOMPARE(badState.type(), problem(u"invalid-parameter"_s));

    // Another key does not see it at all; an admin does.
    const QString stranger = m_api->key(AllJobScopes).token;
    const Reply hidden = m_api->send(Call(u"/v1/jobs/%1"_s.arg(id)).withKey(stranger));
    QVERIFY2(hidden.status == 404, qPrintable(hidden.describe()));
    QCOMPARE(hidden.type(), problem(u"not-found"_s));
    const Reply strangerList = m_api->send(Call(u"/v1/jobs"_s).withKey(stranger));
    QVERIFY2(strangerList.status == 200, qPrintable(strangerList.describe()));
    QVERIFY(!hasJob(strangerList, ids.at(0)) && !hasJob(strangerList, ids.at(1)));
    const Reply strangerOutput =
        m_api->send(Call(u"/v1/jobs/%1/output"_s.arg(id)).withKey(stranger));
    QVERIFY2(strangerOutput.status == 404, qPrintable(strangerOutput.describe()));
    const QString admin = m_api->key(Scopes(Scope::Admin) | Scope::JobsRead).token;
    const Reply seen = m_api->send(Call(u"/v1/jobs/%1"_s.arg(id)).withKey(admin));
    QVERIFY2(seen.status == 200, qPrintable(seen.describe()));
    QVERIFY(hasJob(m_api->send(Call(u"/v1/jobs"_s).withKey(admin)), id));

    // The output, whole and in part.
    Expected<Job> stored = m_api->fixture().job(id);
    VERIFY_EXPECTED(stored);
    const QString outputPath = stored->outputPath;
    QVERIFY(outputPath.startsWith(m_api->fixture().outputDir()));
    const QByteArray output = readFile(outputPath);
    QVERIFY(output.size() > 200);
    const Reply whole = m_api->send(Call(u"/v1/jobs/%1/output"_s.arg(id)).withKey(token));
    QVERIFY2(whole.status == 200, qPrintable(whole.describe()));
    QCOMPARE(sha256(whole.body), sha256sum(outputPath));
    QCOMPARE(whole.header("content-length"), QByteArray::number(output.size()));
    QCOMPARE(whole.header("content-type"), QByteArray("video/mp4"));
    const QByteArray disposition = whole.header("content-disposition");
    const QByteArray expected =
        "attachment; filename=\"" + QFileInfo(outputPath).fileName().toUtf8() + '"';
    QVERIFY2(disposition.startsWith(expected), disposition.constData());
    const Reply part = m_api->send(
        Call(u"/v1/jobs/%1/output"_s.arg(id)).withKey(token).withOptions({u"-r"_s, u"100-199"_s}));
    QVERIFY2(part.status == 206, qPrintable(part.describe()));
    QCOMPARE(part.header("content-range"), "bytes 100-199/" + QByteArray::number(output.size()));
    QCOMPARE(part.body.size(), 100);
    QCOMPARE(part.body, output.mid(100, 100));
    const Reply outside =
        m_api->send(Call(u"/v1/jobs/%1/output"_s.arg(id))
                        .withKey(token)
                        .withOptions({u"-r"_s, u"%1-"_s.arg(output.size() + 10)}));
    QVERIFY2(outside.status == 416, qPrintable(outside.describe()));
    QCOMPARE(outside.type(), problem(u"range-not-satisfiable"_s));
    QCOMPARE(outside.header("content-range"), "bytes */" + QByteArray::number(output.size()));

    // Finished: cannot be cancelled; deleted only when the purge is confirmed.
    const Reply cancel = m_api->send(Call(u"/v1/jobs/%1/cancel"_s.arg(id), "POST").withKey(token));
    QVERIFY2(cancel.status == 409, qPrintable(cancel.describe()));
    QCOMPARE(cancel.type(), problem(u"wrong-state"_s));
    const Reply unconfirmed = m_api->send(Call(u"/v1/jobs/%1"_s.arg(id), "DELETE").withKey(token));
    QVERIFY2(unconfirmed.status == 400, qPrintable(unconfirmed.describe()));
    QCOMPARE(unconfirmed.type(), problem(u"invalid-parameter"_s));
    QVERIFY(QFile::exists(outputPath));
    const Reply purged =
        m_api->send(Call(u"/v1/jobs/%1?purge=true"_s.arg(id), "DELETE").withKey(token));
    QVERIFY2(purged.status == 204, qPrintable(purged.describe()));
    QVERIFY(purged.body.isEmpty());
    QVERIFY(!QFile::exists(outputPath));
    const Reply gone = m_api->send(Call(u"/v1/jobs/%1"_s.arg(id)).withKey(token));
    QVERIFY2(gone.status == 404, qPrintable(gone.describe()));
}

void TestApi::invalidJobBodies_data()
{
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("type");

    const QByteArray json = "application/json";
    QTest::newRow("unknown field")
        << json << QByteArray(R"({"preset":"web-720p-h264","input":{"path":"/x.mp4"},"colour":1})")
        << 422 << u"invalid-job"_s;
    QTest::newRow("unknown preset")
        << json << QByteArray(R"({"preset":"no-such-preset","input":{"path":"/x.mp4"}})") << 422
        << u"invalid-job"_s;
    QTest::newRow("no preset") << json << QByteArray(R"({"input":{"path":"/x.mp4"}})") << 422
                               << u"invalid-job"_s;
    QTest::newRow("someone else's upload")
        << json
        << QByteArray(
               R"({"preset":"web-720p-h264","input":{"upload":"upl_AAAAAAAAAAAAAAAAAAAAAAAA"}})")
        << 422 << u"invalid-job"_s;
    QTest::newRow("malformed JSON")
        << json << QByteArray(R"({"preset": "web-720p-h264",)") << 400 << u"malformed-json"_s;
    QTest::newRow("not an object") << json << QByteArray("[1, 2]") << 400 << u"malformed-json"_s;
    QTest::newRow("empty") << json << QByteArray() << 400 << u"malformed-json"_s;
    QTest::newRow("text/plain") << QByteArray("text/plain")
                                << QByteArray(
                                       R"({"preset":"web-720p-h264","input":{"path":"/x.mp4"}})")
                                << 415 << u"unsupported-media-type"_s;
    QTest::newRow("form") << QByteArray("application/x-www-form-urlencoded")
                          << QByteArray("preset=web-720p-h264") << 415
                          << u"unsupported-media-type"_s;
}

void TestApi::invalidJobBodies()
{
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QString, type);

    const QString token = m_api->key(AllJobScopes).token;
    const Reply r = m_api->send(Call(u"/v1/jobs"_s, "POST")
                                    .withKey(token)
                                    .withHeaders({"Content-Type: " + contentType})
                                    .withBody(body));
    QVERIFY2(r.status == status, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(type));
    QCOMPARE(r.header("content-type"), QByteArray("application/problem+json"));
    const Reply list = m_api->send(Call(u"/v1/jobs"_s).withKey(token));
    QCOMPARE(list.json().value("jobs"_L1).toArray().size(), 0);
}

void TestApi::jobBodyOverLimit()
{
    // api.max_json_bytes is 65536 for this engine.
    const QByteArray name(70000, 'n');
    const Reply r =
        m_api->json("POST", u"/v1/jobs"_s, m_api->key(AllJobScopes).token,
                    {{u"preset"_s, u"web-720p-h264"_s}, {u"name"_s, QString::fromLatin1(name)}});
    QVERIFY2(r.status == 413, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(u"content-too-large"_s));
}

void TestApi::presetsAreListed()
{
    const Reply r = m_api->send(Call(u"/v1/presets"_s).withKey(m_api->key(Scope::JobsRead).token));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QStringList names;
    for (const QJsonValue &preset : r.json().value("presets"_L1).toArray()) {
        names << preset.toObject().value("name"_L1).toString();
        QVERIFY(!preset.toObject().value("spec"_L1).toObject().isEmpty());
    }
    QVERIFY(names.contains(u"web-720p-h264"_s));
    QCOMPARE(names, Presets::names());
}

void TestApi::keyAdministration()
{
    const ApiKeyRegistry::Created admin = m_api->key(Scope::Admin);
    const ApiKeyRegistry::Created plain = m_api->key(Scope::JobsRead);

    // Listed without anything secret.
    const Reply list = m_api->send(Call(u"/v1/keys"_s).withKey(admin.token));
    QVERIFY2(list.status == 200, qPrintable(list.describe()));
    TestSupport::recordOutput(u"GET /v1/keys"_s, QString::fromUtf8(list.body));
    QStringList ids;
    for (const QJsonValue &key : list.json().value("keys"_L1).toArray()) {
        ids << key.toObject().value("id"_L1).toString();
        QVERIFY(!key.toObject().contains("token"_L1));
        QVERIFY(!key.toObject().contains("digest"_L1));
        QVERIFY(!key.toObject().contains("secret"_L1));
    }
    QVERIFY(ids.contains(admin.key.id) && ids.contains(plain.key.id));
    QVERIFY(!list.body.contains("fhk_"));
    QVERIFY(!list.body.contains(admin.token.toLatin1()));
    QVERIFY(!list.body.contains(plain.token.toLatin1()));
    QVERIFY(!list.body.toLower().contains("digest"));
    const Reply refused = m_api->send(Call(u"/v1/keys"_s).withKey(plain.token));
    QVERIFY2(refused.status == 403, qPrintable(refused.describe()));
    QCOMPARE(refused.type(), problem(u"insufficient-scope"_s));

    // Created: the token works at once.
    const Reply created = m_api->json("POST", u"/v1/keys"_s, admin.token,
                                      {{u"name"_s, u"made over the API"_s},
                                       {u"owner"_s, QJsonObject{{u"id"_s, u"alice"_s}}},
                                       {u"scopes"_s, QJsonArray{u"jobs:read"_s}},
                                       {u"expires_in_days"_s, 1}});
    QVERIFY2(created.status == 201, qPrintable(created.describe()));
    const QString token = created.json().value("token"_L1).toString();
    const QString id = created.json().value("id"_L1).toString();
    TestSupport::recordSecret(token);
    QVERIFY(token.startsWith(u"fhk_"_s + id));
    QCOMPARE(created.json().value("scopes"_L1).toArray(), QJsonArray{u"jobs:read"_s});
    const Reply used = m_api->send(Call(u"/v1/presets"_s).withKey(token));
    QVERIFY2(used.status == 200, qPrintable(used.describe()));
    const Reply invalid =
        m_api->json("POST", u"/v1/keys"_s, admin.token,
                    {{u"name"_s, u"no owner"_s}, {u"scopes"_s, QJsonArray{u"jobs:read"_s}}});
    QVERIFY2(invalid.status == 422, qPrintable(invalid.describe()));
    QCOMPARE(invalid.type(), problem(u"invalid-key-request"_s));
    const Reply malformed = m_api->send(Call(u"/v1/keys"_s, "POST")
                                            .withKey(admin.token)
                                            .withHeaders({"Content-Type: application/json"})
                                            .withBody(QByteArray("{\"name\": ")));
    QVERIFY2(malformed.status == 400, qPrintable(malformed.describe()));
    QCOMPARE(malformed.type(), problem(u"malformed-json"_s));

    // Revoked: needs a reason, then refused on the next request.
    const QString revokePath = u"/v1/keys/%1/revoke"_s.arg(id);
    const Reply noReason = m_api->json("POST", revokePath, admin.token, {});
    QVERIFY2(noReason.status == 422, qPrintable(noReason.describe()));
    QCOMPARE(m_api->send(Call(u"/v1/presets"_s).withKey(token)).status, 200);
    const Reply revoked =
        m_api->json("POST", revokePath, admin.token, {{u"reason"_s, u"left the team"_s}});
    QVERIFY2(revoked.status == 200, qPrintable(revoked.describe()));
    QCOMPARE(revoked.json().value("status"_L1).toString(), u"revoked"_s);
    const Reply after = m_api->send(Call(u"/v1/presets"_s).withKey(token));
    QVERIFY2(after.status == 401, qPrintable(after.describe()));
    const Reply unknown = m_api->json("POST", u"/v1/keys/AAAAAAAAAAAA/revoke"_s, admin.token,
                                      {{u"reason"_s, u"typo"_s}});
    QVERIFY2(unknown.status == 404, qPrintable(unknown.describe()));
}

void TestApi::revokeAllNeedsConfirmation()
{
    const QString admin = m_api->key(Scope::Admin).token;
    const QString other = m_api->key(Scope::JobsRead).token;
    for (const QJsonObject &body :
         {QJsonObject{}, QJsonObject{{u"reason"_s, u"drill"_s}},
          QJsonObject{{u"confirm"_s, u"yes"_s}, {u"reason"_s, u"drill"_s}},
          QJsonObject{{u"confirm"_s, u"revoke-all"_s}}}) {
        const Reply r = m_api->json("POST", u"/v1/keys/revoke-all"_s, admin, body);
        QVERIFY2(r.status == 422, qPrintable(r.describe()));
        QCOMPARE(r.type(), problem(u"invalid-key-request"_s));
    }
    QCOMPARE(m_api->send(Call(u"/v1/presets"_s).withKey(other)).status, 200);

    const Reply r = m_api->json("POST", u"/v1/keys/revoke-all"_s, admin,
                                {{u"confirm"_s, u"revoke-all"_s}, {u"reason"_s, u"drill"_s}});
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QVERIFY(r.json().value("revoked"_L1).toInt() >= 2);
    QCOMPARE(m_api->send(Call(u"/v1/presets"_s).withKey(other)).status, 401);
    QCOMPARE(m_api->send(Call(u"/v1/keys"_s).withKey(admin)).status, 401);
}

void TestApi::auditNamesKeyAndAddress()
{
    const ApiKeyRegistry::Created submitter = m_api->key(AllJobScopes);
    const QString upload = uploadClip(submitter.token, u"audited.mp4"_s);
    QVERIFY(!upload.isEmpty());
    const Reply submitted = m_api->json(
        "POST", u"/v1/jobs"_s, submitter.token,
        {{u"preset"_s, u"web-720p-h264"_s}, {u"input"_s, QJsonObject{{u"upload"_s, upload}}}});
    QVERIFY2(submitted.status == 201, qPrintable(submitted.describe()));
    const QString uuid = submitted.json().value("uuid"_L1).toString();
    QVERIFY(!uuid.isEmpty());

    const QString admin = m_api->key(Scope::Admin).token;
    QList<QJsonObject> records;
    QString since = u"0"_s;
    for (int page = 0; page < 100 && !since.isEmpty(); ++page) {
        const Reply r = m_api->send(Call(u"/v1/audit?since="_s + since).withKey(admin));
        QVERIFY2(r.status == 200, qPrintable(r.describe()));
        TestSupport::recordOutput(u"GET /v1/audit"_s, QString::fromUtf8(r.body));
        for (const QJsonValue &record : r.json().value("records"_L1).toArray())
            records << record.toObject();
        const QJsonValue next = r.json().value("next"_L1);
        since = next.isUndefined() ? QString() : QString::number(next.toInteger());
    }
    QVERIFY(records.size() > 1);
    QCOMPARE(records.first().value("seq"_L1).toInteger(), 1);
    const QJsonObject *found = nullptr;
    for (const QJsonObject &record : std::as_const(records)) {
        if (record.value("action"_L1).toString() == "job.submitted"_L1 &&
            record.value("target"_L1).toString() == uuid)
            found = &record;
    }
    QVERIFY2(found, qPrintable(uuid));
    QCOMPARE(found->value("actor"_L1).toString(), u"key:"_s + submitter.key.id);
    QCOMPARE(found->value("source_ip"_L1).toString(), u"127.0.0.1"_s);
    QVERIFY(!found->value("mac"_L1).toString().isEmpty());

    const Reply refused =
        m_api->send(Call(u"/v1/audit?since=0"_s).withKey(m_api->key(AllJobScopes).token));
    QVERIFY2(refused.status == 403, qPrintable(refused.describe()));
    QCOMPARE(refused.type(), problem(u"insufficient-scope"_s));
}

void TestApi::metricsForPrometheus()
{
    // A job submitted over the API, so that the counter has that route.
    const QString submitter = m_api->key(AllJobScopes).token;
    const QString upload = uploadClip(submitter, u"counted.mp4"_s);
    QVERIFY(!upload.isEmpty());
    const Reply submitted = m_api->json(
        "POST", u"/v1/jobs"_s, submitter,
        {{u"preset"_s, u"web-720p-h264"_s}, {u"input"_s, QJsonObject{{u"upload"_s, upload}}}});
    QVERIFY2(submitted.status == 201, qPrintable(submitted.describe()));

    const Reply r = m_api->send(Call(u"/metrics"_s).withKey(m_api->key(Scope::MetricsRead).token));
    QVERIFY2(r.status == 200, qPrintable(r.describe()));
    QVERIFY(r.header("content-type").startsWith("text/plain; version=0.0.4"));
    TestSupport::recordOutput(u"GET /metrics"_s, QString::fromUtf8(r.body));
    for (const QByteArray &sample :
         {QByteArray(R"(framehouse_http_requests_total{route="/v1/jobs",code="201"} )"),
          QByteArray(R"(framehouse_http_requests_total{route="/v1/uploads",code="201"} )"),
          QByteArray(R"(framehouse_http_requests_total{route="/health",code="200"} )"),
          QByteArray("framehouse_http_request_duration_seconds_bucket{"),
          QByteArray("framehouse_auth_attempts_total{"), QByteArray("framehouse_queue_depth ")})
        QVERIFY2(r.body.contains(sample), sample.constData());
    // No key material or paths in the figures.
    QVERIFY(!r.body.contains("fhk_"));
    QVERIFY(!r.body.contains(m_api->fixture().outputDir().toUtf8()));

    int exitCode = -1;
    QByteArray errors;
    const QByteArray lint =
        runTool(u"promtool"_s, {u"check"_s, u"metrics"_s}, r.body, &exitCode, &errors);
    QVERIFY2(exitCode == 0, QByteArray(lint + errors).constData());

    const Reply refused = m_api->send(Call(u"/metrics"_s).withKey(m_api->key(AllJobScopes).token));
    QVERIFY2(refused.status == 403, qPrintable(refused.describe()));
    QCOMPARE(refused.type(), problem(u"insufficient-scope"_s));
}

void TestApi::unknownRoutesAndMethods_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("target");
    QTest::addColumn<bool>("withKey");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("type");
    QTest::addColumn<QStringList>("allow");

    // Without a key nothing is revealed, not even whether the route exists.
    QTest::newRow("unknown route, no key") << QByteArray("GET") << u"/v1/nothing"_s << false << 401
                                           << u"unauthenticated"_s << QStringList();
    QTest::newRow("unknown route")
        << QByteArray("GET") << u"/v1/nothing"_s << true << 404 << u"not-found"_s << QStringList();
    QTest::newRow("dot segments") << QByteArray("GET") << u"/v1/../etc/passwd"_s << true << 400
                                  << u"malformed-request"_s << QStringList();
    QTest::newRow("wrong method, no key") << QByteArray("PUT") << u"/v1/jobs"_s << false << 401
                                          << u"unauthenticated"_s << QStringList();
    QTest::newRow("PUT jobs") << QByteArray("PUT") << u"/v1/jobs"_s << true << 405
                              << u"method-not-allowed"_s << QStringList{u"GET"_s, u"POST"_s};
    QTest::newRow("PATCH a job") << QByteArray("PATCH") << u"/v1/jobs/1"_s << true << 405
                                 << u"method-not-allowed"_s << QStringList{u"DELETE"_s, u"GET"_s};
    QTest::newRow("DELETE presets") << QByteArray("DELETE") << u"/v1/presets"_s << true << 405
                                    << u"method-not-allowed"_s << QStringList{u"GET"_s};
}

void TestApi::unknownRoutesAndMethods()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, target);
    QFETCH(bool, withKey);
    QFETCH(int, status);
    QFETCH(QString, type);
    QFETCH(QStringList, allow);

    Call call = Call(target, method).withOptions({u"--path-as-is"_s});
    if (withKey)
        call.token = m_api->key(AllJobScopes).token;
    const Reply r = m_api->send(call);
    QVERIFY2(r.status == status, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(type));
    if (!allow.isEmpty()) {
        QStringList methods = QString::fromLatin1(r.header("allow")).split(u',');
        for (QString &m : methods)
            m = m.trimmed();
        methods.sort();
        QCOMPARE(methods, allow);
    }
}

void TestApi::perAddressRateLimit()
{
    ApiEngine api;
    const QString started =
        api.start({{u"api.ip_rate_per_s"_s, u"1"_s}, {u"api.ip_burst"_s, u"3"_s}});
    QVERIFY2(started.isEmpty(), qPrintable(started));
    QList<int> statuses;
    Reply limited;
    for (int i = 0; i < 12 && limited.status != 429; ++i) {
        const Reply r = api.send(Call(u"/health"_s));
        statuses << r.status;
        if (r.status == 429)
            limited = r;
    }
    QStringList seenList;
    for (int s : std::as_const(statuses))
        seenList << QString::number(s);
    const QString seen = seenList.join(u' ');
    // The burst first, then the limit.
    QVERIFY2(statuses.mid(0, 3) == (QList<int>{200, 200, 200}), qPrintable(seen));
    QVERIFY2(limited.status == 429, qPrintable(seen));
    QCOMPARE(limited.type(), problem(u"rate-limited"_s));
    bool isNumber = false;
    QVERIFY2(limited.header("retry-after").toInt(&isNumber) >= 1 && isNumber,
             limited.header("retry-after").constData());
}

void TestApi::repeatedFailuresBanTheAddress()
{
    ApiEngine api;
    ApiEngine::Settings settings = ApiEngine::relaxed();
    settings.removeIf([](const auto &s) { return s.first == "api.ban_failures"_L1; });
    settings.append({u"api.ban_failures"_s, u"3"_s});
    const QString started = api.start(settings);
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString valid = api.key(Scope::JobsRead).token;
    QCOMPARE(api.send(Call(u"/v1/presets"_s).withKey(valid)).status, 200);

    for (int i = 0; i < 3; ++i) {
        const Reply r =
            api.send(Call(u"/v1/presets"_s).withKey(ApiKeyToken::generate().toString()));
        QVERIFY2(r.status == 401, qPrintable(r.describe()));
    }
    // Refused now even with a valid key: closed, or told it is banned.
    for (const Call &call : {Call(u"/v1/presets"_s).withKey(valid), Call(u"/health"_s)}) {
        const Reply r = api.send(call);
        QVERIFY2(r.status == 0 || (r.status == 403 && r.type() == problem(u"banned"_s)),
                 qPrintable(r.describe()));
        QVERIFY(!r.body.contains("presets"));
    }
    QSqlQuery q(api.fixture().db());
    QVERIFY(q.exec(u"SELECT count(*) FROM audit_records WHERE action = 'api.address_banned'"_s));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), 1);
}

void TestApi::uploadOverLimitIsRefusedBeforeTheBody()
{
    ApiEngine api;
    ApiEngine::Settings settings = ApiEngine::relaxed();
    settings.append({u"api.max_upload_mb"_s, u"1"_s});
    const QString started = api.start(settings);
    QVERIFY2(started.isEmpty(), qPrintable(started));
    const QString token = api.key(Scope::UploadsWrite).token;

    // Within the limit: accepted.
    QVERIFY(QFileInfo(m_clip).size() < MiB);
    const Reply small = api.upload(token, m_clip, u"clip.mp4"_s);
    QVERIFY2(small.status == 201, qPrintable(small.describe()));
    const QStringList before = api.uploadFiles();

    const QString large = api.scratch(u"large.mp4"_s);
    const QString made = writeLargeMp4(large, 3 * MiB);
    QVERIFY2(made.isEmpty(), qPrintable(made));
    const Reply r = api.upload(token, large, u"large.mp4"_s);
    QVERIFY2(r.status == 413, qPrintable(r.describe()));
    QCOMPARE(r.type(), problem(u"content-too-large"_s));
    QCOMPARE(api.uploadFiles(), before);
    // Decided from Content-Length: curl waited for 100 Continue and got the
    // refusal instead, so the body was never sent in full.
    QVERIFY2(r.uploaded < QFileInfo(large).size(), qPrintable(QString::number(r.uploaded)));
}

QTEST_GUILESS_MAIN(TestApi)
#include "tst_api.moc"
