#pragma once

#include "expected.h"

#include <QHash>
#include <QHostAddress>
#include <QList>
#include <QMutex>
#include <QSqlDatabase>
#include <QString>

#include <memory>

class AuditLog;

// Addresses banned after repeated authentication failures. The store's
// api_bans table is the record (framehousectl lists and lifts bans there,
// also while the engine runs); the engine keeps an in-memory copy that
// refresh() reloads, so a check costs no query. Failures are counted in
// memory in a sliding window per source (AuthFailureLog::sourceOf: IPv6
// per /64); reaching `failures` within `windowMs` bans the source for
// `banMs` (audited "api.address_banned", with the count). Thread-safe.
class BanList {
public:
    struct Policy {
        int failures = 10;
        qint64 windowMs = 300000;
        qint64 banMs = 3600000;
    };
    struct Ban {
        QString address;
        QString reason;
        qint64 failures = 0;
        qint64 bannedAt = 0;
        qint64 expiresAt = 0;
    };

    BanList(std::shared_ptr<const AuditLog> audit, Policy policy);

    // From the in-memory copy; an expired ban does not count.
    bool isBanned(const QHostAddress &address, qint64 now) const;
    // Counts one failure; returns true when this failure banned the source
    // (the ban is written to the store and applies at once).
    Expected<bool> recordFailure(QSqlDatabase db, const QHostAddress &address, qint64 now);
    // Reloads the bans from the store (picks up unbans made elsewhere) and
    // forgets failure windows that have run out.
    Expected<void> refresh(QSqlDatabase db, qint64 now);

    // For framehousectl and the admin API: the store's bans still in force.
    static Expected<QList<Ban>> list(QSqlDatabase db, qint64 now);
    // Deletes the ban (audited "api.address_unbanned"); an address that is
    // not banned is an error (Failure::code NotBanned).
    static Expected<void> unban(QSqlDatabase db, const AuditLog &audit, const QString &address,
                                const QString &actor, qint64 now);
    static constexpr int NotBanned = 404;

private:
    void dropOldestWindows(qint64 now); // with m_mutex held

    std::shared_ptr<const AuditLog> m_audit;
    Policy m_policy;
    mutable QMutex m_mutex;
    QHash<QString, qint64> m_bannedUntil;     // source -> expiresAt
    QHash<QString, QList<qint64>> m_failures; // source -> failure times in window
};
