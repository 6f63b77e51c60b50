#include "httpconnection.h"

#include "apiservices.h"
#include "audit/auditevent.h"
#include "problem.h"
#include "store/store.h"

#include <QDateTime>
#include <QFile>
#include <QLoggingCategory>
#include <QSslSocket>

namespace {
Q_LOGGING_CATEGORY(lcHttp, "framehouse.api")

constexpr qint64 ReadChunk = 256 * 1024;
constexpr qint64 FileChunk = 256 * 1024;
// Unsent bytes a response may queue in the socket before it waits.
constexpr qint64 WriteHighWater = 1024 * 1024;

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }
} // namespace

HttpConnection::HttpConnection(QSslSocket *socket, ApiServices &services, RequestGate &gate,
                               QObject *parent)
    : QObject(parent)
    , m_socket(socket)
    , m_services(services)
    , m_gate(gate)
    , m_parser(services.config.http)
{
    socket->setParent(this);
    // Bytes the socket buffers while the connection is busy; past this the
    // kernel's window closes and the client waits.
    socket->setReadBufferSize(ReadChunk);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &HttpConnection::onTimeout);
    connect(socket, &QSslSocket::readyRead, this, &HttpConnection::onReadyRead);
    connect(socket, &QSslSocket::bytesWritten, this, &HttpConnection::pumpFile);
    connect(socket, &QSslSocket::encryptedBytesWritten, this, &HttpConnection::pumpFile);
    connect(socket, &QSslSocket::disconnected, this, &QObject::deleteLater);
    connect(socket, &QSslSocket::errorOccurred, this, [this] {
        if (m_socket && m_socket->state() != QAbstractSocket::ConnectedState)
            deleteLater();
    });
    armTimer(m_services.config.idleTimeoutMs);
    if (socket->bytesAvailable() > 0)
        QMetaObject::invokeMethod(this, &HttpConnection::onReadyRead, Qt::QueuedConnection);
}

HttpConnection::~HttpConnection()
{
    if (m_sink)
        m_sink.reset(); // an unfinished upload removes its temporary file
}

void HttpConnection::abort()
{
    if (m_socket)
        m_socket->abort();
    deleteLater();
}

void HttpConnection::armTimer(int ms) { m_timer.start(ms); }

void HttpConnection::onTimeout()
{
    switch (m_state) {
    case State::Idle:
    case State::Responding: // a client that stopped reading
    case State::Closing:
        closeNow();
        return;
    case State::Head:
    case State::Body:
        respond(Problem::response(408, QStringLiteral("request-timeout"),
                                  QStringLiteral("The request did not arrive in time.")),
                true);
        return;
    }
}

void HttpConnection::closeNow()
{
    m_state = State::Closing;
    m_timer.stop();
    if (m_socket)
        m_socket->abort();
    deleteLater();
}

void HttpConnection::onReadyRead()
{
    if (!m_socket || m_state == State::Responding || m_state == State::Closing)
        return;
    m_buffer += m_socket->read(ReadChunk);
    process();
    // More may be waiting beyond the chunk we took.
    if (m_socket && m_socket->bytesAvailable() > 0 &&
        (m_state == State::Idle || m_state == State::Head || m_state == State::Body))
        QMetaObject::invokeMethod(this, &HttpConnection::onReadyRead, Qt::QueuedConnection);
}

void HttpConnection::process()
{
    while (!m_buffer.isEmpty() &&
           (m_state == State::Idle || m_state == State::Head || m_state == State::Body)) {
        if (m_state == State::Idle) {
            m_state = State::Head;
            m_started.start();
            armTimer(m_services.config.headTimeoutMs);
        }
        const RequestParser::Progress progress = m_parser.feed(m_buffer);
        const bool bodyOk = takeBody(progress.body);
        m_buffer.remove(0, progress.consumed);
        if (!bodyOk)
            return;
        switch (progress.stop) {
        case RequestParser::Stop::NeedMore:
            return;
        case RequestParser::Stop::HeadComplete:
            onHead();
            break;
        case RequestParser::Stop::MessageComplete:
            onMessageComplete();
            break;
        case RequestParser::Stop::Failed:
            m_routeLabel = QStringLiteral("unmatched");
            respond(Problem::response(m_parser.errorStatus(), m_parser.errorType(),
                                      m_parser.errorDetail()),
                    true);
            return;
        }
    }
}

void HttpConnection::onHead()
{
    m_request = m_parser.request();
    m_request.peer = m_socket->peerAddress();
    m_body.clear();
    m_sink.reset();
    m_bodyRefusal.reset();
    m_admitted.reset();

    Expected<QSqlDatabase> db = m_services.store->connection();
    if (!db) {
        qCWarning(lcHttp).noquote() << "no store connection:" << db.error();
        respond(Problem::response(503, QStringLiteral("unavailable"),
                                  QStringLiteral("The engine cannot serve requests right now.")),
                true);
        return;
    }
    RequestGate::Decision decision = m_gate.check(m_request, db.value(), nowMs());
    m_routeLabel = decision.routeLabel;
    if (!decision.admitted) {
        respond(decision.refusal, decision.close);
        return;
    }
    m_admitted = decision.admitted;
    if (m_admitted->route->body == ApiRoute::Body::Stream &&
        m_request.contentLength.value_or(0) > 0) {
        ApiCall call{m_request,       m_services,         db.value(), m_admitted->client,
                     m_admitted->key, m_admitted->params, {},         nowMs()};
        AuditSourceScope source(m_admitted->client.toString());
        HttpResponse refusal;
        m_sink = m_admitted->route->openSink(call, refusal);
        if (!m_sink) {
            respond(refusal, true);
            return;
        }
    }
    if (m_request.contentLength.value_or(0) > 0) {
        m_state = State::Body;
        armTimer(m_services.config.bodyTimeoutMs);
        if (m_request.header("expect").compare("100-continue", Qt::CaseInsensitive) == 0)
            m_socket->write("HTTP/1.1 100 Continue\r\n\r\n");
    }
}

bool HttpConnection::takeBody(const QList<QByteArrayView> &body)
{
    if (body.isEmpty())
        return true;
    armTimer(m_services.config.bodyTimeoutMs);
    for (const QByteArrayView chunk : body) {
        if (m_sink) {
            if (m_bodyRefusal)
                continue;
            std::optional<HttpResponse> refused = m_sink->write(chunk);
            if (refused) {
                // Answer now and close: the rest of the body is not read.
                m_sink.reset();
                respond(*refused, true);
                return false;
            }
        } else {
            m_body += chunk;
        }
    }
    return true;
}

void HttpConnection::onMessageComplete()
{
    if (!m_admitted) {
        // A head that was refused without closing, now complete.
        m_parser.reset();
        return;
    }
    Expected<QSqlDatabase> db = m_services.store->connection();
    if (!db) {
        respond(Problem::response(503, QStringLiteral("unavailable"),
                                  QStringLiteral("The engine cannot serve requests right now.")),
                true);
        return;
    }
    ApiCall call{m_request,       m_services,         db.value(),        m_admitted->client,
                 m_admitted->key, m_admitted->params, std::move(m_body), nowMs()};
    m_body.clear();
    HttpResponse response;
    {
        AuditSourceScope source(m_admitted->client.toString());
        if (m_sink) {
            response = m_sink->finish(call);
            m_sink.reset();
        } else {
            response = m_admitted->route->handle(call);
        }
    }
    m_admitted.reset();
    respond(std::move(response), !m_request.keepAlive);
}

void HttpConnection::respond(HttpResponse response, bool close)
{
    if (!m_socket)
        return;
    const bool headRequest = m_request.method == "HEAD";
    m_gate.decorate(m_state == State::Head || m_state == State::Body || m_admitted ? &m_request
                                                                                   : nullptr,
                    response);
    m_services.metrics.countRequest(
        m_routeLabel.isEmpty() ? QStringLiteral("unmatched") : m_routeLabel, response.status,
        m_started.isValid() ? m_started.nsecsElapsed() / 1e9 : 0);
    if (response.status >= 500)
        qCWarning(lcHttp).noquote() << m_request.method << m_routeLabel << "->" << response.status;
    m_closeAfter = close;
    m_state = State::Responding;
    m_sink.reset();
    armTimer(m_services.config.idleTimeoutMs);
    // Head and a small body in one write: one TLS record, one system call.
    if (headRequest || !response.file) {
        m_socket->write(headRequest ? response.serializeHead(close, true)
                                    : response.serializeHead(close, false) + response.body);
        finishResponse();
        return;
    }
    m_socket->write(response.serializeHead(close, false));
    m_response = std::move(response);
    m_fileSent = 0;
    if (!m_response.file->seek(m_response.fileOffset)) {
        closeNow();
        return;
    }
    pumpFile();
}

void HttpConnection::pumpFile()
{
    if (m_state != State::Responding || !m_response.file || !m_socket)
        return;
    while (m_fileSent < m_response.fileLength &&
           m_socket->bytesToWrite() + m_socket->encryptedBytesToWrite() < WriteHighWater) {
        const QByteArray chunk =
            m_response.file->read(qMin(FileChunk, m_response.fileLength - m_fileSent));
        if (chunk.isEmpty()) {
            // The file shrank under us: the length promised cannot be kept.
            qCWarning(lcHttp) << "output file ended early; closing the connection";
            closeNow();
            return;
        }
        m_socket->write(chunk);
        m_fileSent += chunk.size();
        armTimer(m_services.config.idleTimeoutMs);
    }
    if (m_fileSent >= m_response.fileLength) {
        m_response = HttpResponse();
        finishResponse();
    }
}

void HttpConnection::finishResponse()
{
    m_parser.reset();
    if (m_closeAfter) {
        m_state = State::Closing;
        m_buffer.clear();
        m_socket->disconnectFromHost();
        armTimer(m_services.config.idleTimeoutMs);
        return;
    }
    m_state = State::Idle;
    m_request = HttpRequest();
    armTimer(m_services.config.idleTimeoutMs);
    // A pipelined request may already be buffered.
    if (!m_buffer.isEmpty() || (m_socket && m_socket->bytesAvailable() > 0))
        QMetaObject::invokeMethod(this, &HttpConnection::onReadyRead, Qt::QueuedConnection);
}
