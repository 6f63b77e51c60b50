#pragma once

#include "apiroute.h"
#include "requestgate.h"
#include "requestparser.h"

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <memory>

class QSslSocket;
struct ApiServices;

// One TLS connection after its handshake: reads requests with
// RequestParser, runs them through the RequestGate and the route's handler,
// and writes the responses in order. Requests are served one at a time:
// while a response is being written, pipelined bytes wait unread, so the
// kernel's buffers push back on the client and memory stays bounded. The
// connection deletes itself (and its socket) when it closes.
class HttpConnection : public QObject {
    Q_OBJECT
public:
    HttpConnection(QSslSocket *socket, ApiServices &services, RequestGate &gate,
                   QObject *parent = nullptr);
    ~HttpConnection() override;

    // Ends the connection at once (engine stopping).
    void abort();

private:
    enum class State { Idle, Head, Body, Responding, Closing };

    void onReadyRead();
    void process();
    void onHead();
    void onMessageComplete();
    bool takeBody(const QList<QByteArrayView> &body);
    void respond(HttpResponse response, bool close);
    void pumpFile();
    void finishResponse();
    void onTimeout();
    void armTimer(int ms);
    void closeNow();

    QPointer<QSslSocket> m_socket;
    ApiServices &m_services;
    RequestGate &m_gate;
    RequestParser m_parser;
    QByteArray m_buffer;
    State m_state = State::Idle;
    QTimer m_timer;

    // The request being served.
    HttpRequest m_request;
    std::optional<RequestGate::Admitted> m_admitted;
    QString m_routeLabel;
    QByteArray m_body;
    std::unique_ptr<BodySink> m_sink;
    std::optional<HttpResponse> m_bodyRefusal; // a sink that failed: answer at the end
    QElapsedTimer m_started;

    // The response being written.
    HttpResponse m_response;
    qint64 m_fileSent = 0;
    bool m_closeAfter = false;
};
