#include "requestgate.h"

#include "apiservices.h"
#include "problem.h"

#include <QLoggingCategory>

#include <cmath>

namespace {
Q_LOGGING_CATEGORY(lcGate, "framehouse.api")

const QByteArray AllowedMethods = "GET, POST, DELETE, OPTIONS";
const QByteArray AllowedHeaders = "Authorization, X-API-Key, Content-Type, Range";
const QByteArray ExposedHeaders = "Retry-After, Location, Content-Disposition, Content-Range";
constexpr int PreflightMaxAgeSeconds = 600;

HttpResponse rateLimited(int retryAfter)
{
    HttpResponse r =
        Problem::response(429, QStringLiteral("rate-limited"),
                          QStringLiteral("Too many requests; retry after %1 s.").arg(retryAfter));
    r.setHeader("Retry-After", QByteArray::number(retryAfter));
    return r;
}

QString reasonName(int refusal)
{
    switch (refusal) {
    case ApiKeyRegistry::Malformed:
        return QStringLiteral("malformed_key");
    case ApiKeyRegistry::UnknownKey:
        return QStringLiteral("unknown_key");
    case ApiKeyRegistry::WrongSecret:
        return QStringLiteral("wrong_secret");
    case ApiKeyRegistry::Revoked:
        return QStringLiteral("revoked");
    case ApiKeyRegistry::Expired:
        return QStringLiteral("expired");
    case ApiKeyRegistry::AddressNotAllowed:
        return QStringLiteral("address_not_allowed");
    default:
        return QStringLiteral("store_error");
    }
}
} // namespace

RequestGate::RequestGate(ApiServices &services)
    : m_services(services)
    , m_hostNames(services.config.hostNames())
{}

RequestGate::Decision RequestGate::refuse(HttpResponse response, const QString &route,
                                          bool close) const
{
    Decision d;
    d.refusal = std::move(response);
    d.close = close;
    d.routeLabel = route;
    return d;
}

QHostAddress RequestGate::clientOf(const HttpRequest &request) const
{
    const ApiConfig &config = m_services.config;
    if (config.trustedProxies.isEmpty() || !config.trustedProxies.allows(request.peer))
        return request.peer;
    QList<QByteArray> hops;
    for (const auto &h : request.headers) {
        if (h.first == "x-forwarded-for")
            hops += h.second.split(',');
    }
    for (qsizetype i = hops.size() - 1; i >= 0; --i) {
        const QHostAddress hop(QString::fromLatin1(hops.at(i).trimmed()));
        if (hop.isNull())
            return request.peer; // a malformed chain is not trusted at all
        if (!config.trustedProxies.allows(hop))
            return hop;
    }
    return request.peer;
}

bool RequestGate::originAllowed(const QByteArray &origin) const
{
    // "null" (sandboxed frames, file: pages) is never allowed.
    if (origin.isEmpty() || origin == "null")
        return false;
    for (const QString &allowed : m_services.config.corsOrigins) {
        if (QString::fromLatin1(origin).compare(allowed, Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}

bool RequestGate::hostAllowed(const QByteArray &host) const
{
    QString name = QString::fromLatin1(host).toLower();
    // Strip the port: "[::1]:8443" -> "[::1]", "example.com:8443" -> "example.com".
    const qsizetype colon = name.lastIndexOf(u':');
    if (colon > 0 && (name.startsWith(u'[') ? name.at(colon - 1) == u']' : true))
        name.truncate(colon);
    return m_hostNames.contains(name);
}

void RequestGate::decorate(const HttpRequest *request, HttpResponse &response) const
{
    response.setHeader("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
    response.setHeader("X-Content-Type-Options", "nosniff");
    response.setHeader("X-Frame-Options", "DENY");
    response.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    response.setHeader("Referrer-Policy", "no-referrer");
    response.setHeader("Cache-Control", "no-store");
    if (response.header("content-type").isEmpty() && response.contentLength() > 0)
        response.setHeader("Content-Type", "application/octet-stream");
    if (!request)
        return;
    const QByteArray origin = request->header("origin");
    if (!origin.isNull()) {
        response.setHeader("Vary", "Origin");
        if (originAllowed(origin)) {
            response.setHeader("Access-Control-Allow-Origin", origin);
            response.setHeader("Access-Control-Expose-Headers", ExposedHeaders);
        }
    }
}

std::optional<HttpResponse> RequestGate::authenticate(const HttpRequest &request,
                                                      const QHostAddress &client, QSqlDatabase db,
                                                      qint64 now, ApiKey &key)
{
    QByteArray presented = request.header("x-api-key");
    const QByteArray authorization = request.header("authorization");
    if (presented.isNull() && !authorization.isNull()) {
        if (authorization.size() > 7 &&
            authorization.first(7).compare("Bearer ", Qt::CaseInsensitive) == 0)
            presented = authorization.mid(7).trimmed();
        else
            presented = QByteArray(""); // some other scheme: a failed attempt, not a missing key
    }
    if (presented.isNull()) {
        m_services.metrics.countAuthentication(QStringLiteral("missing"));
        HttpResponse r = Problem::response(401, QStringLiteral("unauthenticated"),
                                           QStringLiteral("Send an API key in X-API-Key or "
                                                          "Authorization: Bearer."));
        r.setHeader("WWW-Authenticate", "Bearer");
        return r;
    }
    Expected<ApiKey> found =
        m_services.keys.authenticate(db, QString::fromLatin1(presented), client, now);
    if (found) {
        m_services.metrics.countAuthentication(QStringLiteral("success"));
        key = found.value();
        return std::nullopt;
    }
    const int refusal = found.failure().code;
    if (refusal == ApiKeyRegistry::StoreError) {
        qCWarning(lcGate).noquote() << "authentication could not read the store:" << found.error();
        m_services.metrics.countAuthentication(QStringLiteral("error"));
        return Problem::response(503, QStringLiteral("unavailable"),
                                 QStringLiteral("The engine cannot check keys right now."));
    }
    const QString reason = reasonName(refusal);
    m_services.metrics.countAuthentication(reason);
    // The key id, when the token had the shape of one, names it in the log.
    QString keyId;
    if (refusal != ApiKeyRegistry::Malformed) {
        const QList<QByteArray> parts = presented.split('_');
        if (parts.size() >= 2)
            keyId = QString::fromLatin1(parts.at(1)).left(32);
    }
    const QString source = AuthFailureLog::sourceOf(client);
    Expected<qint64> counted = m_services.authFailures.record(db, client, keyId, reason, now);
    if (!counted)
        qCWarning(lcGate).noquote() << "cannot count an authentication failure:" << counted.error();
    Expected<bool> banned = m_services.bans.recordFailure(db, client, now);
    if (!banned)
        qCWarning(lcGate).noquote() << "cannot record a ban:" << banned.error();
    else if (banned.value())
        qCWarning(lcGate).noquote() << "banned" << source
                                    << "after repeated authentication "
                                       "failures";
    if (refusal == ApiKeyRegistry::AddressNotAllowed)
        return Problem::response(403, QStringLiteral("address-not-allowed"),
                                 QStringLiteral("This key may not be used from this address."));
    HttpResponse r = Problem::response(401, QStringLiteral("unauthenticated"),
                                       QStringLiteral("The API key is not valid."));
    r.setHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return r;
}

RequestGate::Decision RequestGate::check(const HttpRequest &request, QSqlDatabase db, qint64 now)
{
    const ApiConfig &config = m_services.config;
    const QHostAddress client = clientOf(request);
    const QString unmatched = QStringLiteral("unmatched");
    const bool hasBody = request.contentLength.value_or(0) > 0;

    if (m_services.bans.isBanned(client, now))
        return refuse(Problem::response(403, QStringLiteral("banned"),
                                        QStringLiteral("Too many failed authentications from "
                                                       "this address.")),
                      unmatched, true);
    if (!config.allowlist.isEmpty() && !config.allowlist.allows(client))
        return refuse(Problem::response(403, QStringLiteral("address-not-allowed"),
                                        QStringLiteral("This address may not use the API.")),
                      unmatched, true);
    const QByteArray host = request.header("host");
    if (request.headerCount("host") != 1 && request.httpMinor == 1)
        return refuse(Problem::response(400, QStringLiteral("malformed-request"),
                                        QStringLiteral("Send exactly one Host header.")),
                      unmatched, true);
    if (!host.isNull() && !hostAllowed(host))
        return refuse(Problem::response(421, QStringLiteral("misdirected-request"),
                                        QStringLiteral("This server does not answer for that "
                                                       "host name.")),
                      unmatched, hasBody);

    // CORS preflight: answered here, without a key (browsers send none).
    const QByteArray origin = request.header("origin");
    if (request.method == "OPTIONS" && !origin.isNull() &&
        !request.header("access-control-request-method").isNull()) {
        if (!originAllowed(origin))
            return refuse(Problem::response(403, QStringLiteral("origin-not-allowed"),
                                            QStringLiteral("This origin may not use the API.")),
                          QStringLiteral("preflight"), hasBody);
        HttpResponse r = HttpResponse::noContent();
        r.setHeader("Access-Control-Allow-Methods", AllowedMethods);
        r.setHeader("Access-Control-Allow-Headers", AllowedHeaders);
        r.setHeader("Access-Control-Max-Age", QByteArray::number(PreflightMaxAgeSeconds));
        return refuse(r, QStringLiteral("preflight"), hasBody);
    }

    const RateLimiter::Decision ipRate =
        m_services.ipRates.take(AuthFailureLog::sourceOf(client), config.ipRatePerSecond,
                                config.ipBurst, m_services.monotonicMs());
    if (!ipRate.allowed) {
        m_services.metrics.countRateLimited();
        return refuse(rateLimited(ipRate.retryAfterSeconds), unmatched, hasBody);
    }

    ApiRoutes::Match match = ApiRoutes::match(request.method, request.path);
    const bool open = match.route && !match.route->authenticated;
    Admitted admitted;
    admitted.client = client;
    if (!open) {
        std::optional<HttpResponse> refused = authenticate(request, client, db, now, admitted.key);
        if (refused)
            return refuse(*refused, match.route ? match.route->pattern : unmatched, hasBody);
    }
    if (!match.route) {
        if (!match.allowedMethods.isEmpty()) {
            HttpResponse r =
                Problem::response(405, QStringLiteral("method-not-allowed"),
                                  QStringLiteral("Use %1 here.")
                                      .arg(QString::fromLatin1(match.allowedMethods.join(", "))));
            r.setHeader("Allow", match.allowedMethods.join(", "));
            return refuse(r, unmatched, hasBody);
        }
        return refuse(Problem::response(404, QStringLiteral("not-found"),
                                        QStringLiteral("No such resource.")),
                      unmatched, hasBody);
    }
    const ApiRoute &route = *match.route;
    if (!open) {
        if (route.scope && !admitted.key.scopes.testFlag(*route.scope))
            return refuse(Problem::response(403, QStringLiteral("insufficient-scope"),
                                            QStringLiteral("This key lacks the scope %1.")
                                                .arg(ScopeNames::names(*route.scope).join(u','))),
                          route.pattern, hasBody);
        const double perHour = admitted.key.rateLimitPerHour
                                   ? double(*admitted.key.rateLimitPerHour)
                                   : config.keyRatePerHour;
        const RateLimiter::Decision keyRate =
            m_services.keyRates.take(admitted.key.id, perHour / 3600.0,
                                     qMin(config.keyBurst, perHour), m_services.monotonicMs());
        if (!keyRate.allowed) {
            m_services.metrics.countRateLimited();
            return refuse(rateLimited(keyRate.retryAfterSeconds), route.pattern, hasBody);
        }
    }
    const qint64 declared = request.contentLength.value_or(0);
    const qint64 limit = route.body == ApiRoute::Body::Stream ? config.maxUploadBytes
                         : route.body == ApiRoute::Body::Json ? config.maxJsonBytes
                                                              : 0;
    if (declared > limit)
        return refuse(Problem::response(413, QStringLiteral("content-too-large"),
                                        limit == 0 ? QStringLiteral("This request takes no body.")
                                                   : QStringLiteral("The body may be at most %1 "
                                                                    "bytes.")
                                                         .arg(limit)),
                      route.pattern, true);
    admitted.route = &route;
    admitted.params = match.params;
    Decision d;
    d.admitted = admitted;
    d.routeLabel = route.pattern;
    return d;
}
