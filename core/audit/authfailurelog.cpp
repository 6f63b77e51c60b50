#include "authfailurelog.h"

#include "auditlog.h"
#include "engine/logsink.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QSqlError>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("AuthFailureLog", text); }

bool isPowerOfTen(qint64 n)
{
    while (n >= 10 && n % 10 == 0)
        n /= 10;
    return n == 1;
}

} // namespace

AuthFailureLog::AuthFailureLog(std::shared_ptr<const AuditLog> audit)
    : m_audit(std::move(audit))
{}

QString AuthFailureLog::sourceOf(const QHostAddress &address)
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    if (isV4)
        return QHostAddress(v4).toString();
    // One host usually holds a whole /64: count it as one source.
    Q_IPV6ADDR bytes = address.toIPv6Address();
    for (int i = 8; i < 16; ++i)
        bytes[i] = 0;
    return QHostAddress(bytes).toString() + QStringLiteral("/64");
}

Expected<qint64> AuthFailureLog::record(QSqlDatabase db, const QHostAddress &address,
                                        const QString &keyId, const QString &reason,
                                        qint64 now) const
{
    // The log line first: it reaches fail2ban even if the store cannot be
    // written.
    LogSink::authenticationFailure(address.toString(), keyId, reason);
    const qint64 window = now - now % WindowMs;
    qint64 count = 0;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QString source = sourceOf(address);
        QSqlQuery known(w.db());
        known.setForwardOnly(true);
        known.prepare(QStringLiteral(
            "SELECT (SELECT count(*) FROM auth_failures WHERE window_from = ?), "
            "EXISTS (SELECT 1 FROM auth_failures WHERE window_from = ? AND source_ip = ?)"));
        known.addBindValue(window);
        known.addBindValue(window);
        known.addBindValue(source);
        if (!known.exec() || !known.next())
            return sqlFailure(tr("cannot count the authentication failure"), known);
        if (known.value(1).toInt() == 0 && known.value(0).toLongLong() >= DistinctSourcesPerHour)
            source = QStringLiteral("*");

        QSqlQuery bump(w.db());
        bump.prepare(
            QStringLiteral("INSERT INTO auth_failures (source_ip, window_from, count, last_at) "
                           "VALUES (?, ?, 1, ?) "
                           "ON CONFLICT (source_ip, window_from) DO UPDATE SET count = count + 1, "
                           "last_at = excluded.last_at"));
        bump.addBindValue(source);
        bump.addBindValue(window);
        bump.addBindValue(now);
        if (!bump.exec())
            return sqlFailure(tr("cannot count the authentication failure"), bump);
        QSqlQuery current(w.db());
        current.setForwardOnly(true);
        current.prepare(QStringLiteral(
            "SELECT count FROM auth_failures WHERE source_ip = ? AND window_from = ?"));
        current.addBindValue(source);
        current.addBindValue(window);
        if (!current.exec() || !current.next())
            return sqlFailure(tr("cannot count the authentication failure"), current);
        count = current.value(0).toLongLong();
        if (!isPowerOfTen(count))
            return {};
        AuditEvent event;
        event.actor = AuditEvent::systemActor();
        event.action = QStringLiteral("auth.failure");
        event.target = keyId;
        event.outcome = QStringLiteral("denied");
        event.sourceIp = source;
        event.details = {{QStringLiteral("reason"), reason},
                         {QStringLiteral("count_this_hour"), count},
                         {QStringLiteral("hour_from"), window}};
        Expected<AuditRecord> r = w.append(event);
        if (!r)
            return r.failure();
        return {};
    });
    if (!done)
        return done.failure();
    return count;
}

Expected<qint64> AuthFailureLog::prune(QSqlDatabase db, qint64 before) const
{
    QSqlQuery q(db);
    q.prepare(QStringLiteral("DELETE FROM auth_failures WHERE window_from + ? <= ?"));
    q.addBindValue(WindowMs);
    q.addBindValue(before);
    if (!q.exec())
        return sqlFailure(tr("cannot count the authentication failure"), q);
    return static_cast<qint64>(q.numRowsAffected());
}
