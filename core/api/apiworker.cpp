#include "apiworker.h"

#include "apiservices.h"
#include "httpconnection.h"
#include "store/store.h"

#include <QDateTime>
#include <QLoggingCategory>
#include <QSslSocket>
#include <QThread>

#include <sys/socket.h>
#include <unistd.h>

namespace {
Q_LOGGING_CATEGORY(lcWorker, "framehouse.api")

QHostAddress peerOf(qintptr descriptor)
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(int(descriptor), reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return {};
    QHostAddress peer;
    peer.setAddress(reinterpret_cast<const sockaddr *>(&address));
    return peer;
}
} // namespace

ApiListener::ApiListener(ApiServices &services, QObject *parent)
    : QSslServer(parent)
    , m_services(services)
{}

void ApiListener::incomingConnection(qintptr descriptor)
{
    const QHostAddress peer = peerOf(descriptor);
    const ApiConfig &config = m_services.config;
    const bool proxy = !config.trustedProxies.isEmpty() && config.trustedProxies.allows(peer);
    // Cheapest first, and all of it before a TLS handshake costs anything.
    const bool refused = peer.isNull() ||
                         m_services.bans.isBanned(peer, QDateTime::currentMSecsSinceEpoch()) ||
                         (!proxy && !config.allowlist.isEmpty() && !config.allowlist.allows(peer));
    if (refused) {
        ::close(int(descriptor));
        return;
    }
    if (m_services.connections.acquire(peer) != ConnectionLimiter::Verdict::Accepted) {
        ::close(int(descriptor));
        return;
    }
    QSslServer::incomingConnection(descriptor);
    // QSslServer made the socket our child; find it to release the slot
    // when it goes (handshake failure, timeout, or the connection's end).
    QSslSocket *socket = nullptr;
    if (!children().isEmpty())
        socket = qobject_cast<QSslSocket *>(children().constLast());
    if (!socket || socket->socketDescriptor() != descriptor) {
        socket = nullptr;
        for (QSslSocket *candidate : findChildren<QSslSocket *>(Qt::FindDirectChildrenOnly)) {
            if (candidate->socketDescriptor() == descriptor)
                socket = candidate;
        }
    }
    if (!socket) {
        // Never seen; counted as released so the slot is not lost.
        m_services.connections.release(peer);
        return;
    }
    // Not `this` as the context: QSslServer drops every connection from the
    // socket to itself once the handshake is done.
    ApiServices *services = &m_services;
    connect(
        socket, &QObject::destroyed, parent(),
        [services, peer] { services->connections.release(peer); }, Qt::DirectConnection);
}

ApiWorker::ApiWorker(ApiServices &services, int listeningDescriptor,
                     QSslConfiguration configuration)
    : m_services(services)
    , m_descriptor(listeningDescriptor)
    , m_configuration(std::move(configuration))
    , m_gate(services)
{}

void ApiWorker::start()
{
    m_listener = new ApiListener(m_services, this);
    m_listener->setSslConfiguration(m_configuration);
    m_listener->setHandshakeTimeout(m_services.config.handshakeTimeoutMs);
    // Sockets still in their handshake count as pending in QSslServer; the
    // connection limiter bounds them, not Qt's default of 30.
    m_listener->setMaxPendingConnections(m_services.config.maxConnections + 1);
    connect(m_listener, &QSslServer::pendingConnectionAvailable, this, &ApiWorker::acceptPending);
    if (!m_listener->setSocketDescriptor(m_descriptor))
        qCCritical(lcWorker).noquote() << "cannot listen:" << m_listener->errorString();
}

void ApiWorker::acceptPending()
{
    while (m_listener->hasPendingConnections()) {
        auto *socket = qobject_cast<QSslSocket *>(m_listener->nextPendingConnection());
        if (!socket)
            continue;
        new HttpConnection(socket, m_services, m_gate, this);
    }
}

void ApiWorker::setSslConfiguration(const QSslConfiguration &configuration)
{
    m_configuration = configuration;
    if (m_listener)
        m_listener->setSslConfiguration(configuration);
}

void ApiWorker::stop()
{
    if (m_listener)
        m_listener->close();
    // Deleted here, not later: the thread's event loop ends after this.
    qDeleteAll(findChildren<HttpConnection *>(Qt::FindDirectChildrenOnly));
    delete m_listener;
    m_listener = nullptr;
    m_services.store->releaseThreadConnection();
}
