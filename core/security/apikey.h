#pragma once

#include "ipallowlist.h"
#include "scopes.h"

#include <QJsonObject>
#include <QString>

#include <optional>

class QSqlQuery;

// One row of api_keys: everything about a key except its secret, which is
// stored nowhere (only HMAC-SHA256(pepper, secret) is).
struct ApiKey {
    enum class Status { Active, Expired, Revoked };

    QString id;
    QString name;
    QString ownerUser;
    QString ownerName;
    QString ownerEmail;
    Scopes scopes;
    qint64 createdAt = 0;
    std::optional<qint64> expiresAt; // absent only for a key that never expires
    bool neverExpires = false;
    std::optional<qint64> lastUsedAt;
    QString lastUsedIp;
    std::optional<qint64> revokedAt;
    QString revokedBy;
    QString revokedReason;
    IpAllowlist allowlist;
    std::optional<int> rateLimitPerHour;
    std::optional<int> maxConcurrentJobs;
    QString rotatedFrom;

    // Expired from the very millisecond `expiresAt` is reached.
    Status status(qint64 now) const;
    static QString statusName(Status status);

    static QString selectColumns(); // the columns fromQuery reads, in order
    static ApiKey fromQuery(const QSqlQuery &query);
    QJsonObject toJson(qint64 now) const;
};
