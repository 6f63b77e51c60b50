#pragma once

#include "httprequest.h"

#include <QByteArrayView>
#include <QList>
#include <QString>

#include <memory>

// Limits the parser enforces while it reads a request head.
struct HttpLimits {
    int maxRequestLine = 8192;   // method + target + version (else 414)
    int maxHeaderBytes = 8192;   // one field, name and value (else 431)
    int maxHeadersBytes = 65536; // all fields together (else 431)
    int maxHeaderFields = 100;   // (else 431)
};

// An incremental HTTP/1.1 request parser over libhttp-parser, with no
// sockets: bytes in, request heads, body bytes and errors out. It stops
// after a head (so the caller can decide about the body before any of it
// is read) and after each complete message (so a pipelined request that
// follows stays unconsumed until the caller is ready for it).
//
// Refused (Failed, with the status to answer and a stable problem type):
// malformed syntax (400 "malformed-request"), request line too long
// (414 "uri-too-long"), header field too long / too many fields / all
// fields too long (431 "headers-too-large"), both Content-Length and
// Transfer-Encoding (400 "ambiguous-length"), repeated or invalid
// Content-Length (400 "malformed-request"), Transfer-Encoding alone
// (411 "length-required": bodies must declare their length), CONNECT and
// Upgrade requests (501 "not-implemented"), any HTTP version other than
// 1.0 and 1.1 (505 "version-not-supported"). After Failed the parser
// stays failed.
class RequestParser {
public:
    enum class Stop {
        NeedMore,        // all of `data` consumed, feed more
        HeadComplete,    // request() is ready; no body byte consumed yet
        MessageComplete, // the whole request (and its body) was consumed
        Failed,
    };
    struct Progress {
        Stop stop = Stop::NeedMore;
        qsizetype consumed = 0;     // bytes of `data` used
        QList<QByteArrayView> body; // body bytes among them (views into `data`)
    };

    explicit RequestParser(const HttpLimits &limits);
    ~RequestParser();
    RequestParser(const RequestParser &) = delete;
    RequestParser &operator=(const RequestParser &) = delete;

    // Feeds bytes; call again with the unconsumed rest after handling a stop.
    Progress feed(QByteArrayView data);
    // After MessageComplete: ready for the next request on the connection.
    void reset();
    // True once the first byte of a request was seen (for the head timer).
    bool hasStarted() const;

    const HttpRequest &request() const;
    int errorStatus() const;     // 400, 411, 414, 431, 501, 505
    QString errorType() const;   // "malformed-request", ...
    QString errorDetail() const; // one sentence for the client, no internals

private:
    struct Private;
    std::unique_ptr<Private> d;
};
