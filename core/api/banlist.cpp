#include "banlist.h"

#include "audit/auditlog.h"
#include "audit/authfailurelog.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QMutexLocker>
#include <QSqlQuery>

#include <algorithm>
#include <utility>
#include <vector>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("BanList", text); }

// Sources with failures in their window that are remembered at most; past
// that the least recently failing go first, so a flood of addresses each
// failing once cannot grow memory without bound.
constexpr qsizetype MaxFailureSources = 100000;
// What is kept of them when the oldest are dropped: dropping a batch at a
// time keeps the cost per failure low under such a flood.
constexpr qsizetype KeptFailureSources = MaxFailureSources * 9 / 10;

void forgetBefore(QList<qint64> &times, qint64 windowStart)
{
    times.erase(times.begin(), std::find_if(times.begin(), times.end(),
                                            [&](qint64 at) { return at > windowStart; }));
}

// The address as it is written in api_bans: an operator may give one host
// of a banned IPv6 /64 or the /64 itself.
QString banKey(const QString &address)
{
    const QString trimmed = address.trimmed();
    const QHostAddress parsed(trimmed);
    return parsed.isNull() ? trimmed : AuthFailureLog::sourceOf(parsed);
}
} // namespace

BanList::BanList(std::shared_ptr<const AuditLog> audit, Policy policy)
    : m_audit(std::move(audit))
    , m_policy(policy)
{}

bool BanList::isBanned(const QHostAddress &address, qint64 now) const
{
    const QString source = AuthFailureLog::sourceOf(address);
    QMutexLocker lock(&m_mutex);
    const auto it = m_bannedUntil.constFind(source);
    return it != m_bannedUntil.cend() && now < *it;
}

Expected<bool> BanList::recordFailure(QSqlDatabase db, const QHostAddress &address, qint64 now)
{
    const QString source = AuthFailureLog::sourceOf(address);
    const qint64 expiresAt = now + m_policy.banMs;
    qint64 failures = 0;
    {
        QMutexLocker lock(&m_mutex);
        const auto banned = m_bannedUntil.constFind(source);
        if (banned != m_bannedUntil.cend() && now < *banned)
            return false;
        const bool known = m_failures.contains(source);
        QList<qint64> &times = m_failures[source];
        forgetBefore(times, now - m_policy.windowMs);
        times.append(now);
        if (times.size() < m_policy.failures) {
            if (!known && m_failures.size() > MaxFailureSources)
                dropOldestWindows(now);
            return false;
        }
        failures = times.size();
        m_failures.remove(source);
        // In force at once: failures on other threads while the ban is
        // written are refused instead of counted towards a second ban.
        m_bannedUntil.insert(source, expiresAt);
    }

    Expected<void> written = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral(
            "INSERT INTO api_bans (address, reason, failures, banned_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, "
            "failures = excluded.failures, banned_at = excluded.banned_at, "
            "expires_at = excluded.expires_at"));
        q.addBindValue(source);
        q.addBindValue(QStringLiteral("repeated authentication failures"));
        q.addBindValue(failures);
        q.addBindValue(now);
        q.addBindValue(expiresAt);
        if (!q.exec())
            return sqlFailure(tr("cannot ban %1").arg(source), q);
        AuditEvent event;
        event.actor = QStringLiteral("engine");
        event.action = QStringLiteral("api.address_banned");
        event.target = source;
        event.sourceIp = source;
        event.details = {{QStringLiteral("failures"), failures},
                         {QStringLiteral("window_s"), double(m_policy.windowMs) / 1000.0},
                         {QStringLiteral("expires_at"), expiresAt}};
        Expected<AuditRecord> appended = w.append(event);
        if (!appended)
            return appended.failure();
        return {};
    });

    // Set again after the commit: a refresh() that read the store before
    // the commit has dropped it from memory. refresh() reads under this
    // lock, so from here on no older read can replace it. When the store
    // cannot be written the source stays banned here until the next
    // refresh: a broken disk must not let a guesser go on.
    QMutexLocker lock(&m_mutex);
    m_bannedUntil.insert(source, expiresAt);
    if (!written)
        return written.failure();
    return true;
}

Expected<void> BanList::refresh(QSqlDatabase db, qint64 now)
{
    // The read is made under the lock so that it cannot overwrite a ban
    // recordFailure committed after it (see there).
    QMutexLocker lock(&m_mutex);
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT address, expires_at FROM api_bans WHERE expires_at > ?"));
    q.addBindValue(now);
    if (!q.exec())
        return sqlFailure(tr("cannot read the banned addresses"), q);
    QHash<QString, qint64> bannedUntil;
    while (q.next())
        bannedUntil.insert(q.value(0).toString(), q.value(1).toLongLong());
    m_bannedUntil = std::move(bannedUntil);

    const qint64 windowStart = now - m_policy.windowMs;
    for (auto it = m_failures.begin(); it != m_failures.end();) {
        forgetBefore(*it, windowStart);
        if (it->isEmpty())
            it = m_failures.erase(it);
        else
            ++it;
    }
    return {};
}

void BanList::dropOldestWindows(qint64 now)
{
    const qint64 windowStart = now - m_policy.windowMs;
    std::vector<std::pair<qint64, QString>> latest;
    latest.reserve(std::size_t(m_failures.size()));
    for (auto it = m_failures.begin(); it != m_failures.end();) {
        forgetBefore(*it, windowStart);
        if (it->isEmpty()) {
            it = m_failures.erase(it);
            continue;
        }
        latest.emplace_back(it->last(), it.key());
        ++it;
    }
    if (m_failures.size() <= MaxFailureSources)
        return;
    const auto firstKept = latest.end() - KeptFailureSources;
    std::nth_element(latest.begin(), firstKept, latest.end());
    for (auto it = latest.begin(); it != firstKept; ++it)
        m_failures.remove(it->second);
}

Expected<QList<BanList::Ban>> BanList::list(QSqlDatabase db, qint64 now)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT address, reason, failures, banned_at, expires_at "
                             "FROM api_bans WHERE expires_at > ? ORDER BY banned_at, address"));
    q.addBindValue(now);
    if (!q.exec())
        return sqlFailure(tr("cannot read the banned addresses"), q);
    QList<Ban> bans;
    while (q.next()) {
        Ban ban;
        ban.address = q.value(0).toString();
        ban.reason = q.value(1).toString();
        ban.failures = q.value(2).toLongLong();
        ban.bannedAt = q.value(3).toLongLong();
        ban.expiresAt = q.value(4).toLongLong();
        bans.append(ban);
    }
    return bans;
}

Expected<void> BanList::unban(QSqlDatabase db, const AuditLog &audit, const QString &address,
                              const QString &actor, qint64 now)
{
    const QString source = banKey(address);
    return audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery ban(w.db());
        ban.setForwardOnly(true);
        ban.prepare(QStringLiteral("SELECT failures, banned_at, expires_at FROM api_bans "
                                   "WHERE address = ? AND expires_at > ?"));
        ban.addBindValue(source);
        ban.addBindValue(now);
        if (!ban.exec())
            return sqlFailure(tr("cannot read the ban of %1").arg(source), ban);
        if (!ban.next())
            return fail(tr("%1 is not banned").arg(source), NotBanned);
        AuditEvent event;
        event.actor = actor;
        event.action = QStringLiteral("api.address_unbanned");
        event.target = source;
        event.details = {{QStringLiteral("failures"), ban.value(0).toLongLong()},
                         {QStringLiteral("banned_at"), ban.value(1).toLongLong()},
                         {QStringLiteral("expires_at"), ban.value(2).toLongLong()}};
        ban.finish();

        QSqlQuery lift(w.db());
        lift.prepare(QStringLiteral("DELETE FROM api_bans WHERE address = ?"));
        lift.addBindValue(source);
        if (!lift.exec())
            return sqlFailure(tr("cannot lift the ban of %1").arg(source), lift);
        Expected<AuditRecord> appended = w.append(event);
        if (!appended)
            return appended.failure();
        return {};
    });
}
