#pragma once

#include <QByteArray>
#include <QJsonDocument>
#include <QList>
#include <QPair>
#include <QString>

#include <memory>

class QFile;

// One response. The body is either in memory or a byte range of an open
// file that the connection streams in bounded chunks.
struct HttpResponse {
    int status = 200;
    QList<QPair<QByteArray, QByteArray>> headers; // besides the ones every response gets
    QByteArray body;
    std::shared_ptr<QFile> file; // streamed instead of `body` when set
    qint64 fileOffset = 0;
    qint64 fileLength = 0;

    void setHeader(const QByteArray &name, const QByteArray &value);
    QByteArray header(QByteArrayView name) const;

    static HttpResponse json(int status, const QJsonDocument &document);
    static HttpResponse json(int status, const QJsonObject &object);
    static HttpResponse text(int status, const QByteArray &contentType, const QByteArray &body);
    static HttpResponse noContent(int status = 204);

    // Status line and headers, ending with the empty line; Content-Length
    // from the body, `Connection: close` when `close`.
    QByteArray serializeHead(bool close, bool headRequest) const;
    qint64 contentLength() const { return file ? fileLength : body.size(); }

    static QByteArray reasonPhrase(int status);
};
