#pragma once

#include "expected.h"

#include <QHostAddress>
#include <QSqlDatabase>

#include <memory>

class AuditLog;

// Failed authentications, counted so that a flood cannot fill the disk:
// auth_failures holds one row per source and hour with the exact count;
// the audit log gets a record at the 1st, 10th, 100th, ... failure of a
// source in that hour, carrying the count. IPv6 sources are counted per
// /64, and past DistinctSourcesPerHour sources in one hour the rest are
// counted together under "*". Each failure is also logged as the fixed
// line fail2ban matches (LogSink::authenticationFailure).
class AuthFailureLog {
public:
    static constexpr qint64 WindowMs = 3600 * 1000;
    static constexpr int DistinctSourcesPerHour = 1000;

    explicit AuthFailureLog(std::shared_ptr<const AuditLog> audit);

    // Returns the source's count in the current hour, this failure included.
    Expected<qint64> record(QSqlDatabase db, const QHostAddress &source, const QString &keyId,
                            const QString &reason, qint64 now) const;
    // Deletes the counters of hours that ended before `before`.
    Expected<qint64> prune(QSqlDatabase db, qint64 before) const;

    static QString sourceOf(const QHostAddress &address);

private:
    std::shared_ptr<const AuditLog> m_audit;
};
