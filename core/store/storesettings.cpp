#include "storesettings.h"

#include "audit/auditlog.h"
#include "store.h"

#include <QCoreApplication>
#include <QSqlError>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("StoreSettings", text); }

const StoreSettings::Definition *find(QStringView key)
{
    for (const StoreSettings::Definition &d : StoreSettings::definitions()) {
        if (key == d.key)
            return &d;
    }
    return nullptr;
}
} // namespace

const QList<StoreSettings::Definition> &StoreSettings::definitions()
{
    static const QList<Definition> all{
        {DefaultKeyExpiryDays, 90, 1, 3650,
         QT_TRANSLATE_NOOP("StoreSettings", "days until a new API key expires")},
        {MaximumKeyExpiryDays, 365, 1, 3650,
         QT_TRANSLATE_NOOP("StoreSettings", "the longest expiry an API key may be given")},
        {AuditRetentionDays, 365, 30, 36500,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "audit records older than this may be pruned (with a checkpoint)")},
        {FarmWorkers, 0, 0, 256,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "worker processes in the pool; 0 derives it from the cores")},
        {FarmPaused, 0, 0, 1,
         QT_TRANSLATE_NOOP("StoreSettings", "1: start no new jobs (running ones finish)")},
        {FarmMaxAttempts, 3, 1, 20,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "attempts a job gets when workers crash, hang or are killed")},
        {FarmNvencSessions, 8, 1, 64,
         QT_TRANSLATE_NOOP("StoreSettings", "concurrent NVENC sessions allowed per GPU")},
        {FarmJobTimeoutMinutes, 360, 1, 10080,
         QT_TRANSLATE_NOOP("StoreSettings", "wall-clock limit of one attempt")},
        {FarmStallTimeoutSeconds, 120, 5, 3600,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "a worker silent this long is taken for hung and killed")},
        {FarmOutputRetentionDays, 30, 1, 36500,
         QT_TRANSLATE_NOOP("StoreSettings", "finished jobs' outputs older than this are removed")},
        {FarmWorkerMemoryMb, 8192, 256, 1048576,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "address-space limit of a worker that encodes in software (MiB); GPU "
                           "drivers reserve far more, so a worker offered hardware has none")},
        {FarmMaxOutputMb, 65536, 1, 16777216,
         QT_TRANSLATE_NOOP("StoreSettings", "largest output file a worker may write (MiB)")},
        {ApiThreads, 0, 0, 64,
         QT_TRANSLATE_NOOP("StoreSettings", "API server threads; 0 derives it from the cores")},
        {ApiHandshakeTimeoutSeconds, 10, 1, 120,
         QT_TRANSLATE_NOOP("StoreSettings", "a TLS handshake must finish within this")},
        {ApiHeadTimeoutSeconds, 10, 1, 120,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "a request's line and headers must arrive within this (else 408)")},
        {ApiIdleTimeoutSeconds, 60, 1, 3600,
         QT_TRANSLATE_NOOP("StoreSettings", "an idle keep-alive connection is closed after this")},
        {ApiBodyTimeoutSeconds, 60, 1, 3600,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "a request body that sends nothing for this long is dropped (408)")},
        {ApiMaxRequestLineBytes, 8192, 256, 1048576,
         QT_TRANSLATE_NOOP("StoreSettings", "longest request line (else 414)")},
        {ApiMaxHeaderBytes, 8192, 256, 1048576,
         QT_TRANSLATE_NOOP("StoreSettings", "longest single header field (else 431)")},
        {ApiMaxHeadersBytes, 65536, 1024, 4194304,
         QT_TRANSLATE_NOOP("StoreSettings", "all header fields together (else 431)")},
        {ApiMaxHeaderFields, 100, 8, 1000,
         QT_TRANSLATE_NOOP("StoreSettings", "most header fields in one request (else 431)")},
        {ApiMaxJsonBytes, 1048576, 1024, 67108864,
         QT_TRANSLATE_NOOP("StoreSettings", "largest JSON request body (else 413)")},
        {ApiMaxUploadMb, 10240, 1, 1048576,
         QT_TRANSLATE_NOOP("StoreSettings", "largest upload in MiB (else 413)")},
        {ApiMaxConnections, 1024, 1, 100000,
         QT_TRANSLATE_NOOP("StoreSettings", "open connections in total (more are closed)")},
        {ApiMaxConnectionsPerIp, 64, 1, 100000,
         QT_TRANSLATE_NOOP("StoreSettings", "open connections from one address (more are closed)")},
        {ApiIpRatePerSecond, 10, 1, 1000000,
         QT_TRANSLATE_NOOP("StoreSettings", "requests per second from one address (else 429)")},
        {ApiIpBurst, 20, 1, 1000000,
         QT_TRANSLATE_NOOP("StoreSettings", "burst of requests one address may send at once")},
        {ApiKeyRatePerHour, 1000, 1, 1000000000,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "requests per hour per API key unless the key sets its own (else 429)")},
        {ApiKeyBurst, 100, 1, 1000000,
         QT_TRANSLATE_NOOP("StoreSettings", "burst of requests one API key may send at once")},
        {ApiBanFailures, 10, 1, 100000,
         QT_TRANSLATE_NOOP("StoreSettings",
                           "authentication failures from one address that ban it")},
        {ApiBanWindowSeconds, 300, 1, 86400,
         QT_TRANSLATE_NOOP("StoreSettings", "the window in which those failures are counted")},
        {ApiBanSeconds, 3600, 1, 31536000,
         QT_TRANSLATE_NOOP("StoreSettings", "how long a ban lasts")},
        {ApiUploadRetentionHours, 24, 1, 8760,
         QT_TRANSLATE_NOOP("StoreSettings", "an upload no job used is removed after this")},
    };
    return all;
}

Expected<qint64> StoreSettings::value(QSqlDatabase db, QLatin1StringView key)
{
    const Definition *definition = find(QString(key));
    Q_ASSERT(definition);
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT value FROM settings WHERE key = ?"));
    q.addBindValue(QString(key));
    if (!q.exec())
        return fail(tr("cannot read setting %1: %2").arg(key, describeSqlError(q.lastError())));
    if (!q.next())
        return definition->defaultValue;
    bool ok = false;
    const qint64 stored = q.value(0).toString().toLongLong(&ok);
    if (!ok || stored < definition->minimum || stored > definition->maximum)
        return definition->defaultValue;
    return stored;
}

Expected<void> StoreSettings::set(QSqlDatabase db, const AuditLog &audit, const QString &key,
                                  const QString &value, const QString &actor, qint64 now)
{
    const Definition *definition = find(key);
    if (!definition) {
        QStringList keys;
        for (const Definition &d : definitions())
            keys << QString(d.key);
        return fail(
            tr("unknown setting '%1'; one of: %2").arg(key, keys.join(QStringLiteral(", "))));
    }
    bool ok = false;
    const qint64 number = value.toLongLong(&ok);
    if (!ok || number < definition->minimum || number > definition->maximum)
        return fail(tr("%1 must be a whole number from %2 to %3")
                        .arg(key)
                        .arg(definition->minimum)
                        .arg(definition->maximum));
    return audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<qint64> previous = StoreSettings::value(w.db(), definition->key);
        if (!previous)
            return previous.failure();
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                                 "updated_at = excluded.updated_at"));
        q.addBindValue(key);
        q.addBindValue(QString::number(number));
        q.addBindValue(now);
        if (!q.exec())
            return fail(tr("cannot save setting %1: %2").arg(key, describeSqlError(q.lastError())));
        AuditEvent event;
        event.actor = actor;
        event.action = QStringLiteral("settings.changed");
        event.target = key;
        event.details = {{QStringLiteral("from"), previous.value()},
                         {QStringLiteral("to"), number}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
}
