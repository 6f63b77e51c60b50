#pragma once

#include "apikey.h"
#include "expected.h"

#include <QHostAddress>
#include <QList>
#include <QSqlDatabase>

#include <memory>

class AuditLog;
class SecretKey;

// The lifecycle of API keys in the store. Every change is one transaction
// together with its audit record. There is no verification cache: every
// authentication reads the key's row, so a revocation or an expiry takes
// effect on the very next request, in every process.
class ApiKeyRegistry {
public:
    struct NewKey {
        QString name;
        QString ownerUser;
        QString ownerName;
        QString ownerEmail;
        Scopes scopes;
        std::optional<int> expiresInDays; // default: the keys.default_expiry_days setting
        bool neverExpires = false;
        IpAllowlist allowlist;
        std::optional<int> rateLimitPerHour;
        std::optional<int> maxConcurrentJobs;
    };
    struct Created {
        ApiKey key;
        QString token; // the whole key: shown once, stored nowhere
    };

    // Why authenticate() refused (Failure::code).
    enum Refusal {
        Malformed = 1, // shape or checksum: no store lookup was made
        UnknownKey,
        WrongSecret,
        Revoked,
        Expired,
        AddressNotAllowed,
        StoreError,
    };

    ApiKeyRegistry(std::shared_ptr<const SecretKey> pepper, std::shared_ptr<const AuditLog> audit);

    Expected<Created> create(QSqlDatabase db, const NewKey &request, const QString &actor,
                             qint64 now) const;
    // Active keys only, unless `includeInactive`; newest first.
    Expected<QList<ApiKey>> list(QSqlDatabase db, bool includeInactive, qint64 now) const;
    Expected<ApiKey> find(QSqlDatabase db, const QString &id) const;
    Expected<ApiKey> revoke(QSqlDatabase db, const QString &id, const QString &reason,
                            const QString &actor, qint64 now) const;
    // Incident response: every key that is not yet revoked, in one transaction.
    Expected<int> revokeAll(QSqlDatabase db, const QString &reason, const QString &actor,
                            qint64 now) const;
    // A new key with the same owner, scopes and limits; the old one stays
    // valid for `graceMs` more (never longer than it already would).
    Expected<Created> rotate(QSqlDatabase db, const QString &id, qint64 graceMs,
                             const QString &actor, qint64 now) const;
    // The key behind `presented`, if it may be used now from `from`. The
    // first use is audited; the last use is recorded (at most once a minute
    // per address).
    Expected<ApiKey> authenticate(QSqlDatabase db, QStringView presented, const QHostAddress &from,
                                  qint64 now) const;

    static constexpr qint64 DefaultRotationGraceMs = 24LL * 3600 * 1000;

private:
    QByteArray digest(const QByteArray &secret) const;

    std::shared_ptr<const SecretKey> m_pepper;
    std::shared_ptr<const AuditLog> m_audit;
};
