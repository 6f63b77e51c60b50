#pragma once

#include "expected.h"

#include <QList>
#include <QSqlDatabase>
#include <QString>

class AuditLog;

// Operator settings kept in the store's settings table. Every change is
// audited ("settings.changed") in the same transaction.
namespace StoreSettings {
struct Definition {
    QLatin1StringView key;
    qint64 defaultValue;
    qint64 minimum;
    qint64 maximum;
    const char *description;
};

inline constexpr QLatin1StringView DefaultKeyExpiryDays{"keys.default_expiry_days"};
inline constexpr QLatin1StringView MaximumKeyExpiryDays{"keys.max_expiry_days"};
inline constexpr QLatin1StringView AuditRetentionDays{"audit.retention_days"};
inline constexpr QLatin1StringView FarmWorkers{"farm.workers"};
inline constexpr QLatin1StringView FarmPaused{"farm.paused"};
inline constexpr QLatin1StringView FarmMaxAttempts{"farm.max_attempts"};
inline constexpr QLatin1StringView FarmNvencSessions{"farm.nvenc_sessions"};
inline constexpr QLatin1StringView FarmJobTimeoutMinutes{"farm.job_timeout_minutes"};
inline constexpr QLatin1StringView FarmStallTimeoutSeconds{"farm.stall_timeout_s"};
inline constexpr QLatin1StringView FarmOutputRetentionDays{"farm.output_retention_days"};
inline constexpr QLatin1StringView FarmWorkerMemoryMb{"farm.worker_memory_mb"};
inline constexpr QLatin1StringView FarmMaxOutputMb{"farm.max_output_mb"};
inline constexpr QLatin1StringView ApiThreads{"api.threads"};
inline constexpr QLatin1StringView ApiHandshakeTimeoutSeconds{"api.handshake_timeout_s"};
inline constexpr QLatin1StringView ApiHeadTimeoutSeconds{"api.head_timeout_s"};
inline constexpr QLatin1StringView ApiIdleTimeoutSeconds{"api.idle_timeout_s"};
inline constexpr QLatin1StringView ApiBodyTimeoutSeconds{"api.body_timeout_s"};
inline constexpr QLatin1StringView ApiMaxRequestLineBytes{"api.max_request_line_bytes"};
inline constexpr QLatin1StringView ApiMaxHeaderBytes{"api.max_header_bytes"};
inline constexpr QLatin1StringView ApiMaxHeadersBytes{"api.max_headers_bytes"};
inline constexpr QLatin1StringView ApiMaxHeaderFields{"api.max_header_fields"};
inline constexpr QLatin1StringView ApiMaxJsonBytes{"api.max_json_bytes"};
inline constexpr QLatin1StringView ApiMaxUploadMb{"api.max_upload_mb"};
inline constexpr QLatin1StringView ApiMaxConnections{"api.max_connections"};
inline constexpr QLatin1StringView ApiMaxConnectionsPerIp{"api.max_connections_per_ip"};
inline constexpr QLatin1StringView ApiIpRatePerSecond{"api.ip_rate_per_s"};
inline constexpr QLatin1StringView ApiIpBurst{"api.ip_burst"};
inline constexpr QLatin1StringView ApiKeyRatePerHour{"api.key_rate_per_hour"};
inline constexpr QLatin1StringView ApiKeyBurst{"api.key_burst"};
inline constexpr QLatin1StringView ApiBanFailures{"api.ban_failures"};
inline constexpr QLatin1StringView ApiBanWindowSeconds{"api.ban_window_s"};
inline constexpr QLatin1StringView ApiBanSeconds{"api.ban_s"};
inline constexpr QLatin1StringView ApiUploadRetentionHours{"api.upload_retention_hours"};

const QList<Definition> &definitions();
// The stored value, or the default when unset.
Expected<qint64> value(QSqlDatabase db, QLatin1StringView key);
Expected<void> set(QSqlDatabase db, const AuditLog &audit, const QString &key, const QString &value,
                   const QString &actor, qint64 now);
} // namespace StoreSettings
