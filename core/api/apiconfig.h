#pragma once

#include "expected.h"
#include "requestparser.h"
#include "security/ipallowlist.h"

#include <QHostAddress>
#include <QSqlDatabase>
#include <QString>
#include <QStringList>

struct EngineSettings;

// Everything the API server runs with: the [api] section of the engine's
// settings and the api.* settings in the store, read once at start.
struct ApiConfig {
    QHostAddress address{QHostAddress::LocalHost};
    quint16 port = 8443;
    int threads = 1;

    QString certificateFile; // empty: the stored self-signed certificate
    QString privateKeyFile;
    QString clientCaFile;
    QStringList serverNames; // besides localhost and the host name

    IpAllowlist allowlist;
    IpAllowlist trustedProxies;
    QStringList corsOrigins;

    HttpLimits http;
    int handshakeTimeoutMs = 10000;
    int headTimeoutMs = 10000;
    int idleTimeoutMs = 60000;
    int bodyTimeoutMs = 60000;
    qint64 maxJsonBytes = 1 << 20;
    qint64 maxUploadBytes = 10LL << 30;
    int maxConnections = 1024;
    int maxConnectionsPerIp = 64;
    double ipRatePerSecond = 10;
    double ipBurst = 20;
    double keyRatePerHour = 1000;
    double keyBurst = 100;
    int banFailures = 10;
    qint64 banWindowMs = 300000;
    qint64 banMs = 3600000;
    qint64 uploadRetentionMs = 24LL * 3600 * 1000;

    QString uploadsDirectory;

    static Expected<ApiConfig> load(const EngineSettings &settings, QSqlDatabase db,
                                    const QString &uploadsDirectory);
    // The names a Host header may carry: the server names, localhost, this
    // machine's host name and the listen address (when not a wildcard).
    QStringList hostNames() const;
};
