#include "apiconfig.h"

#include "engine/enginesettings.h"
#include "store/storesettings.h"

#include <QHostInfo>
#include <QThread>

Expected<ApiConfig> ApiConfig::load(const EngineSettings &settings, QSqlDatabase db,
                                    const QString &uploadsDirectory)
{
    ApiConfig c;
    c.address = QHostAddress(settings.listenAddress);
    c.port = settings.listenPort;
    c.certificateFile = settings.tlsCertificate;
    c.privateKeyFile = settings.tlsPrivateKey;
    c.clientCaFile = settings.tlsClientCa;
    c.serverNames = settings.serverNames;
    c.allowlist = settings.allowlist;
    c.trustedProxies = settings.trustedProxies;
    c.corsOrigins = settings.corsOrigins;
    c.uploadsDirectory = uploadsDirectory;

    QString error;
    auto read = [&](QLatin1StringView key) -> qint64 {
        Expected<qint64> v = StoreSettings::value(db, key);
        if (!v) {
            error = v.error();
            return 0;
        }
        return v.value();
    };
    const qint64 threads = read(StoreSettings::ApiThreads);
    c.threads = threads > 0 ? int(threads) : qMax(1, QThread::idealThreadCount());
    c.handshakeTimeoutMs = int(read(StoreSettings::ApiHandshakeTimeoutSeconds) * 1000);
    c.headTimeoutMs = int(read(StoreSettings::ApiHeadTimeoutSeconds) * 1000);
    c.idleTimeoutMs = int(read(StoreSettings::ApiIdleTimeoutSeconds) * 1000);
    c.bodyTimeoutMs = int(read(StoreSettings::ApiBodyTimeoutSeconds) * 1000);
    c.http.maxRequestLine = int(read(StoreSettings::ApiMaxRequestLineBytes));
    c.http.maxHeaderBytes = int(read(StoreSettings::ApiMaxHeaderBytes));
    c.http.maxHeadersBytes = int(read(StoreSettings::ApiMaxHeadersBytes));
    c.http.maxHeaderFields = int(read(StoreSettings::ApiMaxHeaderFields));
    c.maxJsonBytes = read(StoreSettings::ApiMaxJsonBytes);
    c.maxUploadBytes = read(StoreSettings::ApiMaxUploadMb) * 1024 * 1024;
    c.maxConnections = int(read(StoreSettings::ApiMaxConnections));
    c.maxConnectionsPerIp = int(read(StoreSettings::ApiMaxConnectionsPerIp));
    c.ipRatePerSecond = double(read(StoreSettings::ApiIpRatePerSecond));
    c.ipBurst = double(read(StoreSettings::ApiIpBurst));
    c.keyRatePerHour = double(read(StoreSettings::ApiKeyRatePerHour));
    c.keyBurst = double(read(StoreSettings::ApiKeyBurst));
    c.banFailures = int(read(StoreSettings::ApiBanFailures));
    c.banWindowMs = read(StoreSettings::ApiBanWindowSeconds) * 1000;
    c.banMs = read(StoreSettings::ApiBanSeconds) * 1000;
    c.uploadRetentionMs = read(StoreSettings::ApiUploadRetentionHours) * 3600 * 1000;
    if (!error.isEmpty())
        return fail(error);
    return c;
}

QStringList ApiConfig::hostNames() const
{
    QStringList names = serverNames;
    names << QStringLiteral("localhost") << QHostInfo::localHostName();
    if (address == QHostAddress::LocalHost || address == QHostAddress::Any ||
        address == QHostAddress::AnyIPv4)
        names << QStringLiteral("127.0.0.1");
    if (address == QHostAddress::LocalHostIPv6 || address == QHostAddress::Any ||
        address == QHostAddress::AnyIPv6)
        names << QStringLiteral("[::1]");
    if (!address.isNull() && address != QHostAddress::Any && address != QHostAddress::AnyIPv4 &&
        address != QHostAddress::AnyIPv6)
        names << (address.protocol() == QAbstractSocket::IPv6Protocol
                      ? u'[' + address.toString() + u']'
                      : address.toString());
    for (QString &n : names)
        n = n.toLower();
    names.removeDuplicates();
    names.removeAll(QString());
    return names;
}
