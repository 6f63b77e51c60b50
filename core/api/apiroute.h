#pragma once

#include "httprequest.h"
#include "httpresponse.h"
#include "security/apikey.h"
#include "security/scopes.h"

#include <QHash>
#include <QHostAddress>
#include <QSqlDatabase>

#include <functional>
#include <memory>
#include <optional>

struct ApiServices;

// One authenticated request as a handler sees it.
struct ApiCall {
    const HttpRequest &request;
    ApiServices &services;
    QSqlDatabase db;
    QHostAddress client;            // the peer, or the client behind a trusted proxy
    ApiKey key;                     // the authenticated key (routes without auth: empty)
    QHash<QString, QString> params; // {id} and friends from the path
    QByteArray body;                // a JSON route's whole body
    qint64 now = 0;                 // UTC milliseconds

    QString actor() const; // "key:<id>"
    bool isAdmin() const { return key.scopes.testFlag(Scope::Admin); }
};

// A request body consumed as it arrives (uploads): the connection feeds it
// chunk by chunk and asks for the response at the end.
class BodySink {
public:
    virtual ~BodySink() = default;
    // A failure ends the request with that response (the sink cleans up).
    virtual std::optional<HttpResponse> write(QByteArrayView bytes) = 0;
    virtual HttpResponse finish(ApiCall &call) = 0;
};

struct ApiRoute {
    enum class Body { None, Json, Stream };

    QByteArray method;
    QString pattern; // "/v1/jobs/{id}"
    bool authenticated = true;
    std::optional<Scope> scope;
    Body body = Body::None;
    std::function<HttpResponse(ApiCall &)> handle;
    // Body::Stream only: called after every check passed, before any body
    // byte is read; returns the sink or the response that refuses.
    std::function<std::unique_ptr<BodySink>(ApiCall &, HttpResponse &refusal)> openSink;
};

namespace ApiRoutes {
const QList<ApiRoute> &all();

struct Match {
    const ApiRoute *route = nullptr;
    QHash<QString, QString> params;
    QList<QByteArray> allowedMethods; // when the path matched but not the method
};
Match match(const QByteArray &method, const QString &path);
} // namespace ApiRoutes
