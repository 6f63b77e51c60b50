#pragma once

#include "expected.h"
#include "tlsidentity.h"

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QTimer>

#include <memory>

class QThread;
struct ApiServices;
class ApiWorker;

// The HTTPS API: one listening socket per thread, all bound to the same
// address with SO_REUSEPORT so the kernel spreads new connections over the
// threads; each thread runs its own QSslServer and connections and talks to
// the store through its own connection. There is no plaintext listener.
//
// The certificate comes from the configured PEM files, which are watched and
// reloaded when they change (a renewal needs no restart; a broken renewal
// keeps the old certificate and is logged), or else from the store's
// self-signed certificate.
class ApiServer : public QObject {
    Q_OBJECT
public:
    explicit ApiServer(std::shared_ptr<ApiServices> services, QObject *parent = nullptr);
    ~ApiServer() override;

    // Loads the identity, binds, and starts the threads. Errors name the
    // address or the file.
    Expected<void> start();
    // Closes the listeners and every connection; blocks until the threads end.
    void stop();

    quint16 port() const { return m_port; }
    const TlsIdentity &identity() const { return m_identity; }

private:
    Expected<TlsIdentity> loadIdentity() const;
    Expected<QList<int>> bindSockets(int count);
    void checkCertificateFiles();
    void removeAbandonedUploads(qint64 now);
    // Inode, size and modification time (ns) of both files: a renewal that
    // replaces them within one millisecond still changes it.
    QByteArray certificateFilesStamp() const;

    std::shared_ptr<ApiServices> m_services;
    TlsIdentity m_identity;
    QList<QSslCertificate> m_clientCa;
    QList<QThread *> m_threads;
    QList<ApiWorker *> m_workers;
    quint16 m_port = 0;
    QTimer m_reloadTimer;
    QTimer m_maintenanceTimer;
    QTimer m_banTimer;
    QByteArray m_filesStamp;
};
