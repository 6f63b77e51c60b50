#include "apiserver.h"

#include "apiservices.h"
#include "apiworker.h"
#include "store/store.h"
#include "uploadstore.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFile>
#include <QHostInfo>
#include <QLoggingCategory>
#include <QThread>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
Q_LOGGING_CATEGORY(lcServer, "framehouse.api")

constexpr int ListenBacklog = 1024;
constexpr int ReloadCheckMs = 2000;
constexpr int MaintenanceMs = 60000;
constexpr int BanReloadMs = 5000;
// A live upload writes at least every api.body_timeout_s (at most an hour).
constexpr qint64 AbandonedUploadMs = 2LL * 3600 * 1000;

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }
} // namespace

ApiServer::ApiServer(std::shared_ptr<ApiServices> services, QObject *parent)
    : QObject(parent)
    , m_services(std::move(services))
{
    connect(&m_reloadTimer, &QTimer::timeout, this, &ApiServer::checkCertificateFiles);
    // An unban made with framehousectl reaches the engine through the store.
    connect(&m_banTimer, &QTimer::timeout, this, [this] {
        Expected<QSqlDatabase> db = m_services->store->connection();
        Expected<void> refreshed =
            db ? m_services->bans.refresh(db.value(), nowMs()) : Expected<void>(db.failure());
        if (!refreshed)
            qCWarning(lcServer).noquote() << "cannot reload bans:" << refreshed.error();
    });
    connect(&m_maintenanceTimer, &QTimer::timeout, this, [this] {
        Expected<QSqlDatabase> db = m_services->store->connection();
        if (!db)
            return;
        const qint64 now = nowMs();
        Expected<int> expired =
            UploadStore::expire(db.value(), *m_services->audit, m_services->config.uploadsDirectory,
                                now - m_services->config.uploadRetentionMs, now);
        if (!expired)
            qCWarning(lcServer).noquote() << "cannot remove old uploads:" << expired.error();
        removeAbandonedUploads(now);
    });
}

ApiServer::~ApiServer() { stop(); }

Expected<TlsIdentity> ApiServer::loadIdentity() const
{
    const ApiConfig &config = m_services->config;
    if (!config.certificateFile.isEmpty())
        return TlsIdentity::fromPemFiles(config.certificateFile, config.privateKeyFile);
    Expected<QSqlDatabase> db = m_services->store->connection();
    if (!db)
        return db.failure();
    QStringList names = config.serverNames;
    names.prepend(QStringLiteral("localhost"));
    const QString host = QHostInfo::localHostName();
    if (!host.isEmpty() && !names.contains(host, Qt::CaseInsensitive))
        names << host;
    QList<QHostAddress> addresses{QHostAddress(QHostAddress::LocalHost),
                                  QHostAddress(QHostAddress::LocalHostIPv6)};
    if (!config.address.isLoopback() && config.address != QHostAddress::Any &&
        config.address != QHostAddress::AnyIPv4 && config.address != QHostAddress::AnyIPv6)
        addresses << config.address;
    return TlsIdentity::storedSelfSigned(db.value(), *m_services->audit, names, addresses, nowMs());
}

Expected<QList<int>> ApiServer::bindSockets(int count)
{
    const QHostAddress &address = m_services->config.address;
    const bool v6 =
        address.protocol() == QAbstractSocket::IPv6Protocol || address == QHostAddress::Any;
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (v6) {
        auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
        in6->sin6_family = AF_INET6;
        const Q_IPV6ADDR bytes = address == QHostAddress::Any
                                     ? QHostAddress(QHostAddress::AnyIPv6).toIPv6Address()
                                     : address.toIPv6Address();
        std::memcpy(&in6->sin6_addr, &bytes, sizeof bytes);
        in6->sin6_scope_id = address.scopeId().toUInt();
        length = sizeof(sockaddr_in6);
    } else {
        auto *in4 = reinterpret_cast<sockaddr_in *>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(address.toIPv4Address());
        length = sizeof(sockaddr_in);
    }
    quint16 port = m_services->config.port;
    QList<int> sockets;
    auto closeAll = [&] {
        for (int fd : sockets)
            ::close(fd);
    };
    for (int i = 0; i < count; ++i) {
        const int fd =
            ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            closeAll();
            return fail(tr("cannot create a socket: %1").arg(errnoText()));
        }
        sockets << fd;
        const int one = 1;
        const int zero = 0;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (count > 1 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            closeAll();
            return fail(tr("cannot share the listening port between threads: %1").arg(errnoText()));
        }
        if (address == QHostAddress::Any)
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (v6)
            reinterpret_cast<sockaddr_in6 *>(&storage)->sin6_port = htons(port);
        else
            reinterpret_cast<sockaddr_in *>(&storage)->sin_port = htons(port);
        if (::bind(fd, reinterpret_cast<sockaddr *>(&storage), length) != 0 ||
            ::listen(fd, ListenBacklog) != 0) {
            const QString why = errnoText();
            closeAll();
            const QString where = (v6 ? QStringLiteral("[%1]:%2") : QStringLiteral("%1:%2"))
                                      .arg(address.toString())
                                      .arg(port);
            return fail(tr("cannot listen on %1: %2").arg(where, why));
        }
        if (port == 0) {
            // The first socket picked a free port; the others join it.
            sockaddr_storage bound{};
            socklen_t boundLength = sizeof bound;
            ::getsockname(fd, reinterpret_cast<sockaddr *>(&bound), &boundLength);
            port = v6 ? ntohs(reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
        }
    }
    m_port = port;
    return sockets;
}

Expected<void> ApiServer::start()
{
    Expected<TlsIdentity> identity = loadIdentity();
    if (!identity)
        return identity.failure();
    m_identity = identity.value();
    const ApiConfig &config = m_services->config;
    if (!config.clientCaFile.isEmpty()) {
        m_clientCa = QSslCertificate::fromPath(config.clientCaFile, QSsl::Pem);
        if (m_clientCa.isEmpty())
            return fail(
                tr("[api] tls_client_ca %1 holds no PEM certificate").arg(config.clientCaFile));
    }
    // Bans made before this start apply from the first connection on.
    if (Expected<QSqlDatabase> db = m_services->store->connection(); db) {
        Expected<void> loaded = m_services->bans.refresh(db.value(), nowMs());
        if (!loaded)
            return loaded.failure();
    }
    Expected<QList<int>> sockets = bindSockets(config.threads);
    if (!sockets)
        return sockets.failure();
    const QSslConfiguration tls = m_identity.serverConfiguration(m_clientCa);
    for (int i = 0; i < sockets->size(); ++i) {
        auto *thread = new QThread(this);
        thread->setObjectName(QStringLiteral("api-%1").arg(i));
        auto *worker = new ApiWorker(*m_services, sockets->at(i), tls);
        worker->moveToThread(thread);
        connect(thread, &QThread::started, worker, &ApiWorker::start);
        connect(thread, &QThread::finished, worker, &QObject::deleteLater);
        m_threads << thread;
        m_workers << worker;
        thread->start();
    }
    if (!config.certificateFile.isEmpty()) {
        m_filesStamp = certificateFilesStamp();
        m_reloadTimer.start(ReloadCheckMs);
    }
    removeAbandonedUploads(nowMs());
    m_maintenanceTimer.start(MaintenanceMs);
    m_banTimer.start(BanReloadMs);
    qCInfo(lcServer).noquote()
        << QStringLiteral("API listening on https://%1:%2 with %3 thread(s); certificate %4 "
                          "SHA-256 %5")
               .arg(config.address.protocol() == QAbstractSocket::IPv6Protocol
                        ? u'[' + config.address.toString() + u']'
                        : config.address.toString())
               .arg(m_port)
               .arg(m_threads.size())
               .arg(m_identity.selfSigned ? QStringLiteral("(self-signed)")
                                          : QStringLiteral("(from files)"))
               .arg(TlsIdentity::fingerprintSha256(m_identity.certificate));
    return {};
}

void ApiServer::removeAbandonedUploads(qint64 now)
{
    Expected<int> parts = UploadStore::removeAbandonedParts(m_services->config.uploadsDirectory,
                                                            now - AbandonedUploadMs);
    if (!parts)
        qCWarning(lcServer).noquote() << parts.error();
    else if (parts.value() > 0)
        qCInfo(lcServer).noquote() << "removed" << parts.value()
                                   << "temporary upload file(s) an earlier engine left behind";
}

void ApiServer::stop()
{
    m_reloadTimer.stop();
    m_maintenanceTimer.stop();
    m_banTimer.stop();
    for (qsizetype i = 0; i < m_threads.size(); ++i) {
        QMetaObject::invokeMethod(m_workers.at(i), &ApiWorker::stop, Qt::BlockingQueuedConnection);
        m_threads.at(i)->quit();
        m_threads.at(i)->wait();
        delete m_threads.at(i);
    }
    m_threads.clear();
    m_workers.clear();
}

QByteArray ApiServer::certificateFilesStamp() const
{
    QByteArray stamp;
    for (const QString &path :
         {m_services->config.certificateFile, m_services->config.privateKeyFile}) {
        struct stat st {};
        if (::stat(QFile::encodeName(path).constData(), &st) != 0) {
            stamp += "missing;";
            continue;
        }
        stamp += QByteArray::number(qulonglong(st.st_ino)) + ':' +
                 QByteArray::number(qlonglong(st.st_size)) + ':' +
                 QByteArray::number(qlonglong(st.st_mtim.tv_sec)) + '.' +
                 QByteArray::number(qlonglong(st.st_mtim.tv_nsec)) + ';';
    }
    return stamp;
}

void ApiServer::checkCertificateFiles()
{
    const QByteArray stamp = certificateFilesStamp();
    if (stamp == m_filesStamp)
        return;
    m_filesStamp = stamp;
    Expected<TlsIdentity> renewed = loadIdentity();
    if (!renewed) {
        qCWarning(lcServer).noquote() << "the changed certificate files were not loaded, the "
                                         "previous certificate stays in use:"
                                      << renewed.error();
        return;
    }
    m_identity = renewed.value();
    const QSslConfiguration tls = m_identity.serverConfiguration(m_clientCa);
    for (ApiWorker *worker : std::as_const(m_workers))
        QMetaObject::invokeMethod(
            worker, [worker, tls] { worker->setSslConfiguration(tls); }, Qt::QueuedConnection);
    qCInfo(lcServer).noquote() << "API certificate reloaded; SHA-256"
                               << TlsIdentity::fingerprintSha256(m_identity.certificate);
}
