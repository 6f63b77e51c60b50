#pragma once

#include "requestgate.h"

#include <QObject>
#include <QSslConfiguration>
#include <QSslServer>

#include <memory>

struct ApiServices;
class HttpConnection;

// A QSslServer that drops a connection before any TLS work when its source
// is banned, outside the allowlist, or over the connection limits, and
// releases the connection's slot when its socket goes away.
class ApiListener : public QSslServer {
    Q_OBJECT
public:
    explicit ApiListener(ApiServices &services, QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    ApiServices &m_services;
};

// One API thread: a listener on its own SO_REUSEPORT socket and the
// connections it accepted. Lives in that thread.
class ApiWorker : public QObject {
    Q_OBJECT
public:
    ApiWorker(ApiServices &services, int listeningDescriptor, QSslConfiguration configuration);

    void start();
    void setSslConfiguration(const QSslConfiguration &configuration);
    void stop();

private:
    void acceptPending();

    ApiServices &m_services;
    int m_descriptor;
    QSslConfiguration m_configuration;
    RequestGate m_gate;
    ApiListener *m_listener = nullptr;
};
