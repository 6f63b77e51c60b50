#include "apikey.h"

#include <QDateTime>
#include <QJsonArray>
#include <QSqlQuery>

namespace {
std::optional<qint64> optionalTime(const QVariant &value)
{
    return value.isNull() ? std::nullopt : std::optional<qint64>(value.toLongLong());
}

std::optional<int> optionalInt(const QVariant &value)
{
    return value.isNull() ? std::nullopt : std::optional<int>(value.toInt());
}

QJsonValue timeJson(const std::optional<qint64> &ms)
{
    if (!ms)
        return QJsonValue();
    return QDateTime::fromMSecsSinceEpoch(*ms, Qt::UTC).toString(Qt::ISODateWithMs);
}

QJsonValue intJson(const std::optional<int> &value)
{
    return value ? QJsonValue(*value) : QJsonValue();
}

QJsonValue textJson(const QString &text) { return text.isEmpty() ? QJsonValue() : text; }
} // namespace

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
    k.expiresAt = optionalTime(q.value(7));
    k.neverExpires = q.value(8).toInt() == 1;
    k.lastUsedAt = optionalTime(q.value(9));
    k.lastUsedIp = q.value(10).toString();
    k.revokedAt = optionalTime(q.value(11));
    k.revokedBy = q.value(12).toString();
    k.revokedReason = q.value(13).toString();
    // Same as the scopes: an unparsable allowlist allows nothing.
    Expected<IpAllowlist> allowlist = IpAllowlist::parse(q.value(14).toString());
    k.allowlist = allowlist ? allowlist.value() : IpAllowlist::denyingAll();
    k.rateLimitPerHour = optionalInt(q.value(15));
    k.maxConcurrentJobs = optionalInt(q.value(16));
    k.rotatedFrom = q.value(17).toString();
    return k;
}

QJsonObject ApiKey::toJson(qint64 now) const
{
    return QJsonObject{
        {QStringLiteral("id"), id},
        {QStringLiteral("name"), name},
        {QStringLiteral("owner"), QJsonObject{{QStringLiteral("id"), ownerUser},
                                              {QStringLiteral("name"), textJson(ownerName)},
                                              {QStringLiteral("email"), textJson(ownerEmail)}}},
        {QStringLiteral("scopes"), QJsonArray::fromStringList(ScopeNames::names(scopes))},
        {QStringLiteral("status"), statusName(status(now))},
        {QStringLiteral("created_at"), timeJson(createdAt)},
        {QStringLiteral("expires_at"), timeJson(expiresAt)},
        {QStringLiteral("never_expires"), neverExpires},
        {QStringLiteral("last_used_at"), timeJson(lastUsedAt)},
        {QStringLiteral("last_used_ip"), textJson(lastUsedIp)},
        {QStringLiteral("revoked_at"), timeJson(revokedAt)},
        {QStringLiteral("revoked_by"), textJson(revokedBy)},
        {QStringLiteral("revoked_reason"), textJson(revokedReason)},
        {QStringLiteral("allow_cidrs"), textJson(allowlist.toString())},
        {QStringLiteral("rate_limit_per_hour"), intJson(rateLimitPerHour)},
        {QStringLiteral("max_concurrent_jobs"), intJson(maxConcurrentJobs)},
        {QStringLiteral("rotated_from"), textJson(rotatedFrom)},
    };
}
