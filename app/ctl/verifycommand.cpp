#include "verifycommand.h"

#include "ctloutput.h"
#include "security/apikeytoken.h"
#include "security/redactor.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QFile>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSslConfiguration>
#include <QSslSocket>
#include <QUrl>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace CtlOutput;

namespace {
QString tr(const char *text) { return VerifyCommand::tr(text); }

// For connecting, each handshake and each response.
constexpr int TimeoutMs = 10000;
// Enough to empty any sensible per-address burst allowance.
constexpr int BurstRequests = 60;
constexpr qint64 MinHstsSeconds = 31536000;
constexpr qsizetype MaxHeadBytes = 64 * 1024;
constexpr qsizetype MaxBodyBytes = 16 * 1024 * 1024;
const QByteArray UnknownOrigin = "https://verify.invalid";

using Headers = QList<QPair<QByteArray, QByteArray>>;

struct Check {
    QString name;
    bool passed = false;
    QString detail;
};

// Where to connect and whom to trust there.
struct Target {
    QString host; // an IPv6 address without brackets
    quint16 port = 443;
    QString basePath; // "" or "/prefix", before every request path
    QString caFile;
    QList<QSslCertificate> ca; // empty: the system's CAs
    QByteArray pin;            // the leaf's SHA-256, 32 bytes; empty: none

    bool hostIsAddress() const { return !QHostAddress(host).isNull(); }
    QByteArray hostHeader() const
    {
        const bool v6 = QHostAddress(host).protocol() == QAbstractSocket::IPv6Protocol;
        QByteArray h = v6 ? '[' + host.toLatin1() + ']' : host.toUtf8();
        if (port != 443)
            h += ':' + QByteArray::number(port);
        return h;
    }
};

QString errnoText(int error) { return QString::fromLocal8Bit(std::strerror(error)); }

QString fingerprint(const QByteArray &digest)
{
    return QString::fromLatin1(digest.toHex(':').toUpper());
}

// ---- TLS versions, probed with OpenSSL directly: Qt's own client would
// not offer TLS 1.0 or 1.1, and a refusal proves something only when the
// client was willing.

struct FdCloser {
    int fd;
    ~FdCloser()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

int connectTo(const Target &target, QString *error)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo *found = nullptr;
    const int resolved = ::getaddrinfo(target.host.toUtf8().constData(),
                                       QByteArray::number(target.port).constData(), &hints, &found);
    if (resolved != 0) {
        *error = tr("cannot resolve %1: %2")
                     .arg(target.host, QString::fromLocal8Bit(::gai_strerror(resolved)));
        return -1;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, ::freeaddrinfo);
    QString why;
    for (const addrinfo *a = found; a; a = a->ai_next) {
        FdCloser socket{
            ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol)};
        if (socket.fd < 0) {
            why = errnoText(errno);
            continue;
        }
        if (::connect(socket.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            why = errnoText(errno);
            continue;
        }
        pollfd writable{socket.fd, POLLOUT, 0};
        const int ready = ::poll(&writable, 1, TimeoutMs);
        int soError = 0;
        socklen_t length = sizeof soError;
        if (ready <= 0) {
            why = ready == 0 ? tr("no answer within %1 s").arg(TimeoutMs / 1000) : errnoText(errno);
            continue;
        }
        ::getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &soError, &length);
        if (soError != 0) {
            why = errnoText(soError);
            continue;
        }
        // Blocking from here on, with a bound on every read and write.
        ::fcntl(socket.fd, F_SETFL, ::fcntl(socket.fd, F_GETFL) & ~O_NONBLOCK);
        const timeval timeout{TimeoutMs / 1000, 0};
        ::setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        ::setsockopt(socket.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        const int fd = socket.fd;
        socket.fd = -1;
        return fd;
    }
    *error = tr("cannot connect to %1 port %2: %3").arg(target.host).arg(target.port).arg(why);
    return -1;
}

QString versionName(int version)
{
    switch (version) {
    case TLS1_VERSION:
        return QStringLiteral("TLS 1.0");
    case TLS1_1_VERSION:
        return QStringLiteral("TLS 1.1");
    case TLS1_2_VERSION:
        return QStringLiteral("TLS 1.2");
    default:
        return QStringLiteral("TLS 1.3");
    }
}

QString opensslReason(unsigned long code)
{
    if (code == 0)
        return tr("no detail from OpenSSL");
    const char *reason = ERR_reason_error_string(code);
    return reason ? QString::fromLatin1(reason)
                  : QStringLiteral("OpenSSL error %1").arg(code, 0, 16);
}

struct Handshake {
    enum Outcome {
        Accepted,
        RefusedByAlert,
        RefusedByClose, // no alert: the connection was closed or reset
        Failed,         // no connection, not TLS, no answer, or this side gave up
    };
    Outcome outcome = Failed;
    QString detail;
};

Handshake handshake(const Target &target, int version)
{
    QString error;
    FdCloser socket{connectTo(target, &error)};
    if (socket.fd < 0)
        return {Handshake::Failed, error};
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                              SSL_CTX_free);
    if (!context)
        return {Handshake::Failed, tr("OpenSSL cannot make a client context")};
    SSL_CTX_set_min_proto_version(context.get(), version);
    SSL_CTX_set_max_proto_version(context.get(), version);
    if (version < TLS1_2_VERSION) {
        // The system's OpenSSL settings forbid these versions in the client;
        // lift that here so that only the server can say no.
        SSL_CTX_set_security_level(context.get(), 0);
        SSL_CTX_set_cipher_list(context.get(), "DEFAULT:@SECLEVEL=0");
    }
    // Whether the certificate is trusted is the certificate check's question.
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), SSL_free);
    if (!ssl)
        return {Handshake::Failed, tr("OpenSSL cannot make a client connection")};
    SSL_set_fd(ssl.get(), socket.fd);
    const QByteArray serverName = target.host.toUtf8();
    if (!target.hostIsAddress())
        SSL_set_tlsext_host_name(ssl.get(), serverName.constData());
    ERR_clear_error();
    errno = 0;
    const int result = SSL_connect(ssl.get());
    const int savedErrno = errno;
    if (result == 1) {
        const QString detail = tr("negotiated %1 with %2")
                                   .arg(QString::fromLatin1(SSL_get_version(ssl.get())),
                                        QString::fromLatin1(SSL_get_cipher_name(ssl.get())));
        SSL_shutdown(ssl.get());
        return {Handshake::Accepted, detail};
    }
    const int sslError = SSL_get_error(ssl.get(), result);
    const unsigned long code = ERR_peek_error();
    const int reason = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
    ERR_clear_error();
    if (BIO_number_written(SSL_get_wbio(ssl.get())) == 0)
        return {Handshake::Failed, tr("this machine's OpenSSL would not offer %1 (%2), so the "
                                      "server was not asked")
                                       .arg(versionName(version), opensslReason(code))};
    if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256)
        return {Handshake::RefusedByAlert, tr("the server answered with the alert \"%1\"")
                                               .arg(QString::fromLatin1(SSL_alert_desc_string_long(
                                                   reason - SSL_AD_REASON_OFFSET)))};
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
        reason == SSL_R_RECORD_LENGTH_MISMATCH)
        return {
            Handshake::Failed,
            tr("the answer was not TLS (%1); is this a plain HTTP port?").arg(opensslReason(code))};
    if (sslError == SSL_ERROR_WANT_READ || sslError == SSL_ERROR_WANT_WRITE)
        return {Handshake::Failed, tr("no answer within %1 s").arg(TimeoutMs / 1000)};
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
        (sslError == SSL_ERROR_SYSCALL && code == 0))
        return {Handshake::RefusedByClose,
                savedErrno == 0 || reason != 0
                    ? tr("the server closed the connection")
                    : tr("the server reset the connection (%1)").arg(errnoText(savedErrno))};
    return {Handshake::Failed,
            tr("the handshake failed on this side: %1").arg(opensslReason(code))};
}

Check refusalCheck(const QString &name, int version, const Handshake &probe,
                   const Handshake &modern)
{
    const QString what = versionName(version);
    switch (probe.outcome) {
    case Handshake::Accepted:
        return {name, false, tr("the server accepted %1: %2").arg(what, probe.detail)};
    case Handshake::RefusedByAlert:
        return {name, true, tr("%1 refused: %2").arg(what, probe.detail)};
    case Handshake::RefusedByClose:
        // A server that closes every connection (or bans this address)
        // refuses TLS 1.0 too; that says nothing about its settings.
        if (modern.outcome != Handshake::Accepted)
            return {name, false,
                    tr("%1 refused (%2), but so is TLS 1.2; nothing is learnt")
                        .arg(what, probe.detail)};
        return {name, true, tr("%1 refused: %2").arg(what, probe.detail)};
    case Handshake::Failed:
        break;
    }
    return {name, false, probe.detail};
}

Check acceptanceCheck(const QString &name, int version, const Handshake &probe)
{
    if (probe.outcome == Handshake::Accepted)
        return {name, true, probe.detail};
    if (probe.outcome == Handshake::Failed)
        return {name, false, probe.detail};
    return {name, false, tr("the server refused %1: %2").arg(versionName(version), probe.detail)};
}

// ---- HTTP/1.1 over QSslSocket, synchronous: this client controls when
// the certificate is checked (before any byte of a request is written) and
// which connection a request goes over.

struct Reply {
    int status = 0;
    Headers headers; // names in lower case
    QByteArray body;

    // The values of `name`, joined with ", " when repeated; null when absent.
    QByteArray header(const QByteArray &name) const
    {
        QByteArray joined;
        bool found = false;
        for (const auto &h : headers) {
            if (h.first != name)
                continue;
            if (found)
                joined += ", ";
            joined += h.second;
            found = true;
        }
        return found ? joined : QByteArray();
    }
    bool has(const QByteArray &name) const { return !header(name).isNull(); }
    // The problem type's slug ("insufficient-scope") of a problem+json body.
    QString problemType() const
    {
        const QString type =
            QJsonDocument::fromJson(body).object().value(QLatin1StringView("type")).toString();
        return type.mid(type.lastIndexOf(u':') + 1);
    }
};

class HttpsClient {
public:
    explicit HttpsClient(const Target &target)
        : m_target(target)
    {}

    // Connects unless connected; checks the certificate on every new
    // connection.
    Expected<void> open()
    {
        if (m_socket.state() == QAbstractSocket::ConnectedState && m_socket.isEncrypted())
            return {};
        m_socket.abort();
        m_buffer.clear();
        QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
        configuration.setProtocol(QSsl::TlsV1_2OrLater);
        if (!m_target.ca.isEmpty())
            configuration.setCaCertificates(m_target.ca);
        // A pin alone is the whole trust: the fingerprint is compared below,
        // before a byte is sent, and the chain and the name are not asked.
        configuration.setPeerVerifyMode(!m_target.pin.isEmpty() && m_target.ca.isEmpty()
                                            ? QSslSocket::VerifyNone
                                            : QSslSocket::VerifyPeer);
        m_socket.setSslConfiguration(configuration);
        m_socket.setPeerVerifyName(m_target.host);
        m_socket.connectToHostEncrypted(m_target.host, m_target.port);
        if (!m_socket.waitForEncrypted(TimeoutMs)) {
            const QList<QSslError> errors = m_socket.sslHandshakeErrors();
            const QString why = m_socket.errorString();
            m_socket.abort();
            if (errors.isEmpty())
                return fail(tr("no TLS connection to %1 port %2: %3")
                                .arg(m_target.host)
                                .arg(m_target.port)
                                .arg(why));
            QStringList reasons;
            for (const QSslError &e : errors)
                reasons << e.errorString();
            reasons.removeDuplicates();
            if (m_target.ca.isEmpty())
                return fail(tr("the server's certificate is not trusted by this machine's CAs "
                               "(%1); pass --ca FILE with the CA that issued it, or --pin "
                               "SHA256 with its fingerprint ('framehousectl api info' on the "
                               "engine's machine shows it)")
                                .arg(reasons.join(QStringLiteral("; "))));
            return fail(tr("the server's certificate is not trusted by %1 (%2)")
                            .arg(m_target.caFile, reasons.join(QStringLiteral("; "))));
        }
        m_leaf = m_socket.peerCertificate();
        const QByteArray digest = m_leaf.digest(QCryptographicHash::Sha256);
        if (!m_target.pin.isEmpty() && digest != m_target.pin) {
            m_socket.abort();
            return fail(tr("the server's certificate has the SHA-256 fingerprint %1, not the "
                           "pinned %2")
                            .arg(fingerprint(digest), fingerprint(m_target.pin)));
        }
        const QDateTime now = QDateTime::currentDateTimeUtc();
        if (now < m_leaf.effectiveDate() || now >= m_leaf.expiryDate()) {
            m_socket.abort();
            return fail(tr("the server's certificate is valid only from %1 to %2")
                            .arg(time(m_leaf.effectiveDate().toMSecsSinceEpoch()),
                                 time(m_leaf.expiryDate().toMSecsSinceEpoch())));
        }
        return {};
    }

    QString trustDescription() const
    {
        const QString until = time(m_leaf.expiryDate().toMSecsSinceEpoch());
        QString how;
        if (!m_target.ca.isEmpty())
            how = tr("verified for %1 against %2").arg(m_target.host, m_target.caFile);
        else if (m_target.pin.isEmpty())
            how = tr("verified for %1 against this machine's CAs").arg(m_target.host);
        if (!m_target.pin.isEmpty())
            how +=
                (how.isEmpty() ? QString() : QStringLiteral("; ")) + tr("SHA-256 matches the pin");
        return tr("%1; valid until %2").arg(how, until);
    }

    Expected<Reply> exchange(const QByteArray &method, const QString &path,
                             const Headers &headers = {})
    {
        // A kept-alive connection the server has closed meanwhile fails
        // before any answer; that is retried once on a new connection.
        const bool reused = m_socket.state() == QAbstractSocket::ConnectedState;
        Expected<Reply> reply = attempt(method, path, headers);
        if (!reply && reused && m_received == 0)
            reply = attempt(method, path, headers);
        return reply;
    }

private:
    Expected<Reply> attempt(const QByteArray &method, const QString &path, const Headers &headers)
    {
        m_received = 0;
        Expected<void> opened = open();
        if (!opened)
            return opened.failure();
        QByteArray request = method + ' ' + QUrl::toPercentEncoding(path, "/") +
                             " HTTP/1.1\r\nHost: " + m_target.hostHeader() +
                             "\r\nUser-Agent: framehousectl-verify\r\nAccept: */*\r\n";
        for (const auto &h : headers)
            request += h.first + ": " + h.second + "\r\n";
        request += "\r\n";
        m_socket.write(request);
        request.fill('\0');
        // Nothing runs an event loop here: hand the bytes to the network now.
        m_socket.flush();
        Expected<Reply> reply = readReply(method);
        if (!reply)
            m_socket.abort();
        return reply;
    }

    // More bytes into m_buffer; false when the connection closed or went
    // quiet.
    bool fill()
    {
        if (m_socket.bytesAvailable() == 0)
            m_socket.waitForReadyRead(TimeoutMs);
        const QByteArray more = m_socket.readAll();
        m_received += more.size();
        m_buffer += more;
        return !more.isEmpty();
    }

    Failure cutShort() const
    {
        return fail(m_socket.state() == QAbstractSocket::ConnectedState
                        ? tr("no answer within %1 s").arg(TimeoutMs / 1000)
                        : tr("the server closed the connection (%1)").arg(m_socket.errorString()));
    }

    Expected<QByteArray> line()
    {
        qsizetype end;
        while ((end = m_buffer.indexOf("\r\n")) < 0) {
            if (m_buffer.size() > MaxHeadBytes)
                return fail(tr("a line of the response is longer than %1 bytes").arg(MaxHeadBytes));
            if (!fill())
                return cutShort();
        }
        const QByteArray text = m_buffer.left(end);
        m_buffer.remove(0, end + 2);
        return text;
    }

    Expected<QByteArray> take(qsizetype count)
    {
        while (m_buffer.size() < count) {
            if (!fill())
                return cutShort();
        }
        const QByteArray bytes = m_buffer.left(count);
        m_buffer.remove(0, count);
        return bytes;
    }

    Expected<QByteArray> chunkedBody()
    {
        QByteArray body;
        for (;;) {
            Expected<QByteArray> sizeLine = line();
            if (!sizeLine)
                return sizeLine.failure();
            bool ok = false;
            const qsizetype size = sizeLine->split(';').first().trimmed().toLongLong(&ok, 16);
            if (!ok || size < 0 || body.size() + size > MaxBodyBytes)
                return fail(tr("a malformed or oversized chunk in the response"));
            if (size == 0)
                break;
            Expected<QByteArray> chunk = take(size + 2);
            if (!chunk)
                return chunk.failure();
            body += chunk->first(size);
        }
        for (;;) { // trailer fields, up to the empty line
            Expected<QByteArray> trailer = line();
            if (!trailer)
                return trailer.failure();
            if (trailer->isEmpty())
                return body;
        }
    }

    Expected<QByteArray> readBody(const Reply &reply)
    {
        if (reply.header("transfer-encoding").toLower().contains("chunked"))
            return chunkedBody();
        const QByteArray length = reply.header("content-length");
        if (!length.isNull()) {
            bool ok = false;
            const qsizetype size = length.toLongLong(&ok);
            if (!ok || size < 0 || size > MaxBodyBytes)
                return fail(tr("an unusable Content-Length in the response"));
            return take(size);
        }
        // Delimited by the end of the connection.
        while (m_buffer.size() <= MaxBodyBytes && fill()) {
        }
        const QByteArray rest = m_buffer;
        m_buffer.clear();
        m_socket.abort();
        return rest;
    }

    Expected<Reply> readReply(const QByteArray &method)
    {
        Reply reply;
        Expected<QByteArray> statusLine = line();
        if (!statusLine)
            return statusLine.failure();
        const QList<QByteArray> parts = statusLine->split(' ');
        bool numeric = false;
        reply.status = parts.value(1).toInt(&numeric);
        if (!statusLine->startsWith("HTTP/1.") || !numeric)
            return fail(tr("the answer is not HTTP/1.1: %1")
                            .arg(QString::fromLatin1(statusLine->left(80))));
        for (;;) {
            Expected<QByteArray> field = line();
            if (!field)
                return field.failure();
            if (field->isEmpty())
                break;
            const qsizetype colon = field->indexOf(':');
            if (colon <= 0)
                return fail(tr("a malformed header line in the response"));
            reply.headers.append(
                {field->first(colon).trimmed().toLower(), field->mid(colon + 1).trimmed()});
        }
        const bool closes = reply.header("connection").toLower().contains("close");
        const bool bodiless =
            method == "HEAD" || reply.status < 200 || reply.status == 204 || reply.status == 304;
        if (!bodiless) {
            Expected<QByteArray> body = readBody(reply);
            if (!body)
                return body.failure();
            reply.body = body.value();
        }
        if (closes)
            m_socket.abort();
        return reply;
    }

    Target m_target;
    QSslSocket m_socket;
    QSslCertificate m_leaf;
    QByteArray m_buffer;
    qint64 m_received = 0;
};

// ---- The HTTP checks.

QString describe(const QByteArray &method, const QString &path, const Expected<Reply> &reply)
{
    return QStringLiteral("%1 %2: %3")
        .arg(QString::fromLatin1(method), path,
             reply ? QString::number(reply->status) : reply.error());
}

// What is wrong with the security headers of one response; empty when
// nothing is.
QStringList headerProblems(const Reply &reply)
{
    QStringList problems;
    const auto expect = [&](const QByteArray &name, bool good, const char *wanted) {
        const QByteArray value = reply.header(name);
        if (value.isNull())
            problems << tr("no %1").arg(QString::fromLatin1(name));
        else if (!good)
            problems << tr("%1 is \"%2\", not %3")
                            .arg(QString::fromLatin1(name), QString::fromLatin1(value),
                                 QString::fromLatin1(wanted));
    };
    const QByteArray hsts = reply.header("strict-transport-security").toLower();
    qint64 maxAge = -1;
    bool subDomains = false;
    for (const QByteArray &directive : hsts.split(';')) {
        const QByteArray d = directive.trimmed();
        if (d.startsWith("max-age="))
            maxAge = d.mid(8).replace('"', "").toLongLong();
        else if (d == "includesubdomains")
            subDomains = true;
    }
    expect("strict-transport-security", maxAge >= MinHstsSeconds && subDomains,
           "max-age >= 31536000 with includeSubDomains");
    expect(
        "x-content-type-options",
        reply.header("x-content-type-options").trimmed().compare("nosniff", Qt::CaseInsensitive) ==
            0,
        "nosniff");
    expect("x-frame-options",
           reply.header("x-frame-options").trimmed().compare("DENY", Qt::CaseInsensitive) == 0,
           "DENY");
    expect("content-security-policy",
           reply.header("content-security-policy").toLower().contains("default-src 'none'"),
           "one with default-src 'none'");
    expect("referrer-policy",
           reply.header("referrer-policy").trimmed().compare("no-referrer", Qt::CaseInsensitive) ==
               0,
           "no-referrer");
    bool noStore = false;
    for (const QByteArray &directive : reply.header("cache-control").split(','))
        noStore = noStore || directive.trimmed().toLower() == "no-store";
    expect("cache-control", noStore, "no-store");
    // The XSS auditor it switched on is gone from browsers and could be
    // abused to leak data; the header should not be sent at all.
    if (reply.has("x-xss-protection"))
        problems << tr("X-XSS-Protection is sent");
    return problems;
}

QList<Check> httpChecks(HttpsClient &client, const Target &target, const QByteArray &key)
{
    QList<Check> checks;
    const QString jobs = target.basePath + QStringLiteral("/v1/jobs");
    const QByteArray bearer = "Bearer " + key;

    // (d) A key is required.
    const Expected<Reply> anonymous = client.exchange("GET", jobs);
    checks << Check{
        QStringLiteral("auth-required"), anonymous && anonymous->status == 401,
        describe("GET", jobs + tr(" without a key"), anonymous) +
            (anonymous && anonymous->status != 401 ? tr(" (expected 401)") : QString())};

    // (e) An origin nobody configured gets no CORS grant, on a simple
    // request or a preflight. Without a key: a failed key would count
    // towards a ban of this address.
    const Headers origin{{"Origin", UnknownOrigin}};
    const Expected<Reply> simple = client.exchange("GET", jobs, origin);
    const Expected<Reply> preflight =
        client.exchange("OPTIONS", jobs,
                        origin + Headers{{"Access-Control-Request-Method", "GET"},
                                         {"Access-Control-Request-Headers", "authorization"}});
    {
        Check cors{QStringLiteral("cors-unknown-origin"), false, {}};
        if (!simple || !preflight) {
            cors.detail =
                !simple ? describe("GET", jobs, simple) : describe("OPTIONS", jobs, preflight);
        } else {
            QStringList granted;
            if (simple->has("access-control-allow-origin"))
                granted << QStringLiteral("GET (%1)")
                               .arg(QString::fromLatin1(
                                   simple->header("access-control-allow-origin")));
            if (preflight->has("access-control-allow-origin"))
                granted << QStringLiteral("OPTIONS (%1)")
                               .arg(QString::fromLatin1(
                                   preflight->header("access-control-allow-origin")));
            cors.passed = granted.isEmpty();
            cors.detail =
                cors.passed
                    ? tr("no Access-Control-Allow-Origin for %1 (GET: %2, preflight OPTIONS: %3)")
                          .arg(QString::fromLatin1(UnknownOrigin))
                          .arg(simple->status)
                          .arg(preflight->status)
                    : tr("Access-Control-Allow-Origin granted to %1 on %2")
                          .arg(QString::fromLatin1(UnknownOrigin),
                               granted.join(QStringLiteral(", ")));
        }
        checks << cors;
    }

    // (f) The key is accepted; one without jobs:read still proves itself
    // on GET /ready.
    const Expected<Reply> keyed = client.exchange("GET", jobs, {{"Authorization", bearer}});
    {
        Check accepted{QStringLiteral("key-accepted"), false, describe("GET", jobs, keyed)};
        if (keyed && keyed->status == 200) {
            accepted.passed = true;
        } else if (keyed && keyed->status == 403 &&
                   keyed->problemType() == QLatin1String("insufficient-scope")) {
            const QString readyPath = target.basePath + QStringLiteral("/ready");
            const Expected<Reply> ready =
                client.exchange("GET", readyPath, {{"Authorization", bearer}});
            accepted.passed = ready && ready->status == 200;
            accepted.detail = tr("%1 (the key lacks jobs:read); %2")
                                  .arg(accepted.detail, describe("GET", readyPath, ready));
        } else if (keyed && keyed->status == 401) {
            accepted.detail += tr(" (the server does not accept this key)");
        } else if (keyed && !keyed->problemType().isEmpty()) {
            accepted.detail += QStringLiteral(" (%1)").arg(keyed->problemType());
        }
        checks << accepted;
    }

    // (g) Security headers, on the refusal and on the answer.
    {
        Check headers{QStringLiteral("security-headers"), false, {}};
        QStringList problems;
        int seen = 0;
        for (const Expected<Reply> *reply : {&anonymous, &keyed}) {
            if (!*reply)
                continue;
            ++seen;
            for (const QString &p : headerProblems(reply->value()))
                problems << QStringLiteral("%1 (%2)").arg(p).arg((*reply)->status);
        }
        problems.removeDuplicates();
        headers.passed = seen > 0 && problems.isEmpty();
        headers.detail =
            seen == 0 ? tr("no response to look at")
            : headers.passed
                ? tr("HSTS, nosniff, DENY, CSP default-src 'none', no-referrer, no-store present "
                     "and no X-XSS-Protection on %1 response(s) to GET %2")
                      .arg(seen)
                      .arg(jobs)
                : problems.join(QStringLiteral("; "));
        checks << headers;
    }

    // (h) A burst from one address meets the per-address rate limit.
    {
        Check limited{QStringLiteral("rate-limit"), false, {}};
        const QString health = target.basePath + QStringLiteral("/health");
        QMap<int, int> statuses;
        for (int i = 1; i <= BurstRequests && limited.detail.isEmpty(); ++i) {
            const Expected<Reply> reply = client.exchange("GET", health);
            if (!reply) {
                limited.detail = tr("request %1 of the burst: %2").arg(i).arg(reply.error());
                break;
            }
            ++statuses[reply->status];
            if (reply->status != 429)
                continue;
            const QByteArray retryAfter = reply->header("retry-after");
            bool numeric = false;
            const int seconds = retryAfter.trimmed().toInt(&numeric);
            limited.passed = !retryAfter.isNull() && (!numeric || seconds >= 0);
            limited.detail =
                limited.passed
                    ? tr("429 at request %1 of %2 to GET %3, with Retry-After: %4")
                          .arg(i)
                          .arg(BurstRequests)
                          .arg(health, QString::fromLatin1(retryAfter))
                    : tr("429 at request %1 of %2 to GET %3, but without a usable Retry-After")
                          .arg(i)
                          .arg(BurstRequests)
                          .arg(health);
        }
        if (limited.detail.isEmpty()) {
            QStringList counts;
            for (auto it = statuses.cbegin(); it != statuses.cend(); ++it)
                counts << QStringLiteral("%1 x %2").arg(it.value()).arg(it.key());
            limited.detail = tr("%1 requests to GET %2 in a row, none refused with 429 (%3)")
                                 .arg(BurstRequests)
                                 .arg(health, counts.join(QStringLiteral(", ")));
        }
        checks << limited;
    }
    return checks;
}

QByteArray parsePin(const QString &text)
{
    QString hex = text.trimmed();
    hex.remove(u':');
    static const QRegularExpression sha256(QStringLiteral("^[0-9A-Fa-f]{64}$"));
    return sha256.match(hex).hasMatch() ? QByteArray::fromHex(hex.toLatin1()) : QByteArray();
}

// The key from --key, "-" for a line on stdin, or $FRAMEHOUSE_API_KEY.
QString readKey(const QCommandLineParser &parser)
{
    QString key = parser.isSet(QStringLiteral("key")) ? parser.value(QStringLiteral("key"))
                                                      : qEnvironmentVariable("FRAMEHOUSE_API_KEY");
    if (key == QLatin1String("-")) {
        QFile in;
        key.clear();
        if (in.open(stdin, QIODevice::ReadOnly))
            key = QString::fromUtf8(in.readLine(4096));
    }
    return key.trimmed();
}
} // namespace

VerifyCommand::VerifyCommand(QObject *parent)
    : QObject(parent)
{}

QString VerifyCommand::synopsis()
{
    return tr("verify https://HOST:PORT --key KEY [--ca FILE] [--pin SHA256] [--json]\n"
              "                  check a running API from outside: TLS versions, certificate,\n"
              "                  keys, CORS, security headers, rate limit; exit 0 if all pass");
}

void VerifyCommand::addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {QStringLiteral("key"),
         tr("verify: the API key to check with; - reads it from stdin (default: "
            "$FRAMEHOUSE_API_KEY). It is sent only once the certificate is trusted."),
         QStringLiteral("KEY")},
        {QStringLiteral("ca"),
         tr("verify: trust the server's certificate when it chains to a CA certificate in FILE "
            "(PEM), instead of this machine's CAs."),
         QStringLiteral("FILE")},
        {QStringLiteral("pin"),
         tr("verify: trust the server's certificate when its SHA-256 fingerprint is this one "
            "('framehousectl api info' shows it)."),
         QStringLiteral("SHA256")},
    });
}

void VerifyCommand::run(const QStringList &words, const QCommandLineParser &parser,
                        Finished finished)
{
    if (words.size() != 1) {
        finished(report(tr("verify takes one address, https://HOST:PORT; see 'framehousectl "
                           "verify --help'"),
                        Usage));
        return;
    }
    const QUrl url(words.first(), QUrl::StrictMode);
    if (!url.isValid() || url.scheme() != QLatin1String("https") || url.host().isEmpty() ||
        !url.userInfo().isEmpty() || url.hasQuery() || url.hasFragment()) {
        finished(report(tr("verify takes the API's address as https://HOST:PORT (the API has no "
                           "plaintext listener)"),
                        Usage));
        return;
    }
    Target target;
    target.host = url.host();
    target.port = quint16(url.port(443));
    target.basePath = url.path();
    while (target.basePath.endsWith(u'/'))
        target.basePath.chop(1);
    if (parser.isSet(QStringLiteral("pin"))) {
        target.pin = parsePin(parser.value(QStringLiteral("pin")));
        if (target.pin.isEmpty()) {
            finished(report(tr("--pin takes a SHA-256 fingerprint: 64 hex digits, colons allowed "
                               "('framehousectl api info' shows it)"),
                            Usage));
            return;
        }
    }
    if (parser.isSet(QStringLiteral("ca"))) {
        target.caFile = parser.value(QStringLiteral("ca"));
        target.ca = QSslCertificate::fromPath(target.caFile, QSsl::Pem,
                                              QSslCertificate::PatternSyntax::FixedString);
        if (target.ca.isEmpty()) {
            finished(report(
                tr("--ca %1 cannot be read or holds no PEM certificate").arg(target.caFile)));
            return;
        }
    }
    const QString key = readKey(parser);
    if (key.isEmpty()) {
        finished(report(tr("verify needs an API key: --key KEY, --key - to read it from stdin, "
                           "or $FRAMEHOUSE_API_KEY"),
                        Usage));
        return;
    }
    Expected<ApiKeyToken> token = ApiKeyToken::parse(key);
    if (!token) {
        finished(report(tr("the key given to verify is %1").arg(token.error()), Usage));
        return;
    }

    // OpenSSL writes to its sockets with write(): a server that hangs up in
    // the middle of a handshake must not end this process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    const Handshake tls10 = handshake(target, TLS1_VERSION);
    const Handshake tls11 = handshake(target, TLS1_1_VERSION);
    const Handshake tls12 = handshake(target, TLS1_2_VERSION);
    const Handshake tls13 = handshake(target, TLS1_3_VERSION);
    QList<Check> checks{
        refusalCheck(QStringLiteral("tls1.0-refused"), TLS1_VERSION, tls10, tls12),
        refusalCheck(QStringLiteral("tls1.1-refused"), TLS1_1_VERSION, tls11, tls12),
        acceptanceCheck(QStringLiteral("tls1.2-accepted"), TLS1_2_VERSION, tls12),
        acceptanceCheck(QStringLiteral("tls1.3-accepted"), TLS1_3_VERSION, tls13),
    };

    HttpsClient client(target);
    const Expected<void> trusted = client.open();
    checks << Check{QStringLiteral("certificate"), bool(trusted),
                    trusted ? client.trustDescription() : trusted.error()};
    if (trusted) {
        checks << httpChecks(client, target, token->toString().toLatin1());
    } else {
        for (const char *name : {"auth-required", "cors-unknown-origin", "key-accepted",
                                 "security-headers", "rate-limit"})
            checks << Check{QString::fromLatin1(name), false,
                            tr("not checked: the certificate check failed, so no request was "
                               "sent")};
    }

    bool passed = true;
    for (const Check &c : checks)
        passed = passed && c.passed;
    if (parser.isSet(QStringLiteral("json"))) {
        QJsonArray array;
        for (const Check &c : checks)
            array.append(QJsonObject{{QStringLiteral("name"), c.name},
                                     {QStringLiteral("passed"), c.passed},
                                     {QStringLiteral("detail"), Redactor::text(c.detail)}});
        printJson(QJsonDocument(QJsonObject{{QStringLiteral("url"), url.toString()},
                                            {QStringLiteral("passed"), passed},
                                            {QStringLiteral("checks"), array}}));
    } else {
        for (const Check &c : checks)
            out() << (c.passed ? QStringLiteral("PASS ") : QStringLiteral("FAIL ")) << c.name
                  << QStringLiteral(": ") << Redactor::text(c.detail) << Qt::endl;
    }
    finished(passed ? Success : Failed);
}
