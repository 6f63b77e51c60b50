#pragma once

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>
#include <QUrlQuery>

#include <optional>

// One parsed HTTP/1.1 request head. Header names are lower-case, values have
// surrounding spaces and tabs removed; order and repeats are kept.
struct HttpRequest {
    QByteArray method; // "GET"
    QByteArray target; // as sent: "/v1/jobs?state=queued"
    QString path;      // percent-decoded, without the query: "/v1/jobs"
    QUrlQuery query;   // decoded
    int httpMinor = 1; // HTTP/1.<minor>
    QList<QPair<QByteArray, QByteArray>> headers;
    std::optional<qint64> contentLength;
    bool keepAlive = true; // http_should_keep_alive()

    // Filled in by the connection, not the parser.
    QHostAddress peer;

    // The first value of `name` (lower-case), or a null QByteArray.
    QByteArray header(QByteArrayView name) const;
    int headerCount(QByteArrayView name) const;
};
