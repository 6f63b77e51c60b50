#include "apihandlers.h"
#include "apiservices.h"
#include "problem.h"

#include <QJsonArray>
#include <QJsonObject>

namespace {
HttpResponse invalid(const QString &detail)
{
    return Problem::response(422, QStringLiteral("invalid-key-request"), detail);
}

QString reasonFrom(const QJsonObject &body)
{
    return body.value(QLatin1StringView("reason")).toString().left(500);
}
} // namespace

HttpResponse ApiHandlers::listKeys(ApiCall &call)
{
    const bool all =
        call.request.query.queryItemValue(QStringLiteral("all")) == QLatin1StringView("true");
    Expected<QList<ApiKey>> keys = call.services.keys.list(call.db, all, call.now);
    if (!keys)
        return storeFailure(QStringLiteral("list keys:"), keys.error());
    QJsonArray list;
    for (const ApiKey &key : keys.value())
        list.append(key.toJson(call.now));
    return HttpResponse::json(200, QJsonObject{{QStringLiteral("keys"), list}});
}

// Body: {"name", "owner": {"id", "name", "email"}, "scopes": [..],
// "expires_in_days": N | "never_expires": true, "allow_cidrs": "...",
// "rate_limit_per_hour": N, "max_concurrent_jobs": N}. The response holds
// the token, the only time it is ever shown.
HttpResponse ApiHandlers::createKey(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<QJsonObject> body = jsonBody(call, problem);
    if (!body)
        return problem;
    ApiKeyRegistry::NewKey request;
    request.name = body->value(QLatin1StringView("name")).toString();
    const QJsonObject owner = body->value(QLatin1StringView("owner")).toObject();
    request.ownerUser = owner.value(QLatin1StringView("id")).toString();
    request.ownerName = owner.value(QLatin1StringView("name")).toString();
    request.ownerEmail = owner.value(QLatin1StringView("email")).toString();
    if (request.name.isEmpty() || request.ownerUser.isEmpty())
        return invalid(QStringLiteral("name and owner.id are required"));
    QStringList scopeNames;
    for (const QJsonValue &v : body->value(QLatin1StringView("scopes")).toArray())
        scopeNames << v.toString();
    Expected<Scopes> scopes = ScopeNames::parse(scopeNames.join(u','));
    if (!scopes)
        return invalid(QStringLiteral("scopes: ") + scopes.error());
    request.scopes = scopes.value();
    request.neverExpires = body->value(QLatin1StringView("never_expires")).toBool();
    if (body->contains(QLatin1StringView("expires_in_days")))
        request.expiresInDays = body->value(QLatin1StringView("expires_in_days")).toInt();
    Expected<IpAllowlist> allowlist =
        IpAllowlist::parse(body->value(QLatin1StringView("allow_cidrs")).toString());
    if (!allowlist)
        return invalid(QStringLiteral("allow_cidrs: ") + allowlist.error());
    request.allowlist = allowlist.value();
    if (body->contains(QLatin1StringView("rate_limit_per_hour")))
        request.rateLimitPerHour = body->value(QLatin1StringView("rate_limit_per_hour")).toInt();
    if (body->contains(QLatin1StringView("max_concurrent_jobs")))
        request.maxConcurrentJobs = body->value(QLatin1StringView("max_concurrent_jobs")).toInt();
    Expected<ApiKeyRegistry::Created> created =
        call.services.keys.create(call.db, request, call.actor(), call.now);
    if (!created)
        return invalid(created.error());
    QJsonObject view = created->key.toJson(call.now);
    view.insert(QStringLiteral("token"), created->token);
    return HttpResponse::json(201, view);
}

HttpResponse ApiHandlers::revokeKey(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<QJsonObject> body = jsonBody(call, problem);
    if (!body)
        return problem;
    const QString reason = reasonFrom(*body);
    if (reason.isEmpty())
        return invalid(QStringLiteral("reason: required"));
    Expected<ApiKey> revoked = call.services.keys.revoke(
        call.db, call.params.value(QStringLiteral("id")), reason, call.actor(), call.now);
    if (!revoked)
        return Problem::response(404, QStringLiteral("not-found"), revoked.error());
    return HttpResponse::json(200, revoked->toJson(call.now));
}

// Incident response: every key, the caller's own included. The body must
// say {"confirm": "revoke-all", "reason": "..."}.
HttpResponse ApiHandlers::revokeAllKeys(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<QJsonObject> body = jsonBody(call, problem);
    if (!body)
        return problem;
    if (body->value(QLatin1StringView("confirm")).toString() != QLatin1StringView("revoke-all"))
        return invalid(QStringLiteral("confirm: must be \"revoke-all\""));
    const QString reason = reasonFrom(*body);
    if (reason.isEmpty())
        return invalid(QStringLiteral("reason: required"));
    Expected<int> count = call.services.keys.revokeAll(call.db, reason, call.actor(), call.now);
    if (!count)
        return storeFailure(QStringLiteral("revoke all:"), count.error());
    return HttpResponse::json(200, QJsonObject{{QStringLiteral("revoked"), count.value()}});
}
