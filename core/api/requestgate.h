#pragma once

#include "apiroute.h"
#include "httprequest.h"
#include "httpresponse.h"

#include <QHostAddress>
#include <QSqlDatabase>

#include <optional>

struct ApiServices;

// The checks every request passes before a handler sees it, in this order:
// ban, IP allowlist, Host, CORS preflight, per-IP rate limit, authentication
// (X-API-Key or Authorization: Bearer), the key's own allowlist, route,
// scope, per-key rate limit, body size (from Content-Length, before any
// body byte is read). Unauthenticated requests reach only GET /health.
class RequestGate {
public:
    struct Admitted {
        const ApiRoute *route = nullptr;
        QHash<QString, QString> params;
        ApiKey key;
        QHostAddress client;
    };
    struct Decision {
        std::optional<Admitted> admitted;
        HttpResponse refusal; // when not admitted
        bool close = false;   // the connection must close after the refusal
        QString routeLabel;   // for metrics: the route pattern or "unmatched"
    };

    explicit RequestGate(ApiServices &services);

    Decision check(const HttpRequest &request, QSqlDatabase db, qint64 now);

    // The client: the peer, or when the peer is a trusted proxy, the
    // right-most X-Forwarded-For address that is not itself a trusted proxy.
    QHostAddress clientOf(const HttpRequest &request) const;
    // Security headers, and CORS headers when the request's Origin is
    // allowed; added to every response.
    void decorate(const HttpRequest *request, HttpResponse &response) const;

private:
    Decision refuse(HttpResponse response, const QString &route, bool close = false) const;
    std::optional<HttpResponse> authenticate(const HttpRequest &request, const QHostAddress &client,
                                             QSqlDatabase db, qint64 now, ApiKey &key);
    bool originAllowed(const QByteArray &origin) const;
    bool hostAllowed(const QByteArray &host) const;

    ApiServices &m_services;
    QStringList m_hostNames;
};
