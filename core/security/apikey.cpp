#include "apikey.h"

#include "store/rowvalues.h"

#include <QJsonArray>
#include <QSqlQuery>

ApiKey::Status ApiKey::status(qint64 now) const
{
    if (revokedAt)
        return Status::Revoked;
    if (!neverExpires && (!expiresAt || now >= *expiresAt))
        return Status::Expired;
    return Status::Active;
}

QString ApiKey::statusName(Status status)
{
    switch (status) {
    case Status::Active:
        return QStringLiteral("active");
    case Status::Expired:
        return QStringLiteral("expired");
    case Status::Revoked:
        break;
    }
    return QStringLiteral("revoked");
}

QString ApiKey::selectColumns()
{
    return QStringLiteral(
        "id, name, owner_user, owner_name, owner_email, scopes, created_at, expires_at, "
        "never_expires, last_used_at, last_used_ip, revoked_at, revoked_by, revoked_reason, "
        "allowlist, rate_limit_per_hour, max_concurrent_jobs, rotated_from");
}

ApiKey ApiKey::fromQuery(const QSqlQuery &q)
{
    ApiKey k;
    k.id = q.value(0).toString();
    k.name = q.value(1).toString();
    k.ownerUser = q.value(2).toString();
    k.ownerName = q.value(3).toString();
    k.ownerEmail = q.value(4).toString();
    // Rows are only written through ScopeNames, so they parse; a damaged
    // row parses to no scopes, which grants nothing.
    const Expected<Scopes> scopes = ScopeNames::parse(q.value(5).toString());
    k.scopes = scopes ? scopes.value() : Scopes();
    k.createdAt = q.value(6).toLongLong();
    k.expiresAt = RowValues::optionalInt64(q.value(7));
    k.neverExpires = q.value(8).toInt() == 1;
    k.lastUsedAt = RowValues::optionalInt64(q.value(9));
    k.lastUsedIp = q.value(10).toString();
    k.revokedAt = RowValues::optionalInt64(q.value(11));
    k.revokedBy = q.value(12).toString();
    k.revokedReason = q.value(13).toString();
    // Same as the scopes: an unparsable allowlist allows nothing.
    Expected<IpAllowlist> allowlist = IpAllowlist::parse(q.value(14).toString());
    k.allowlist = allowlist ? allowlist.value() : IpAllowlist::denyingAll();
    k.rateLimitPerHour = RowValues::optionalInt(q.value(15));
    k.maxConcurrentJobs = RowValues::optionalInt(q.value(16));
    k.rotatedFrom = q.value(17).toString();
    return k;
}

QJsonObject ApiKey::toJson(qint64 now) const
{
    return QJsonObject{
        {QStringLiteral("id"), id},
        {QStringLiteral("name"), name},
        {QStringLiteral("owner"),
         QJsonObject{{QStringLiteral("id"), ownerUser},
                     {QStringLiteral("name"), RowValues::jsonText(ownerName)},
                     {QStringLiteral("email"), RowValues::jsonText(ownerEmail)}}},
        {QStringLiteral("scopes"), QJsonArray::fromStringList(ScopeNames::names(scopes))},
        {QStringLiteral("status"), statusName(status(now))},
        {QStringLiteral("created_at"), RowValues::jsonTime(createdAt)},
        {QStringLiteral("expires_at"), RowValues::jsonTime(expiresAt)},
        {QStringLiteral("never_expires"), neverExpires},
        {QStringLiteral("last_used_at"), RowValues::jsonTime(lastUsedAt)},
        {QStringLiteral("last_used_ip"), RowValues::jsonText(lastUsedIp)},
        {QStringLiteral("revoked_at"), RowValues::jsonTime(revokedAt)},
        {QStringLiteral("revoked_by"), RowValues::jsonText(revokedBy)},
        {QStringLiteral("revoked_reason"), RowValues::jsonText(revokedReason)},
        {QStringLiteral("allow_cidrs"), RowValues::jsonText(allowlist.toString())},
        {QStringLiteral("rate_limit_per_hour"), RowValues::jsonInt(rateLimitPerHour)},
        {QStringLiteral("max_concurrent_jobs"), RowValues::jsonInt(maxConcurrentJobs)},
        {QStringLiteral("rotated_from"), RowValues::jsonText(rotatedFrom)},
    };
}
