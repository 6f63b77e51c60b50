// libFuzzer target for RequestParser. The input is the byte stream of one
// connection; where it is cut into reads comes from a hash of the input,
// so corpus files stay plain HTTP. Each input is parsed twice, as one read
// and cut up, and both runs must say the same thing.
#include "api/requestparser.h"

#include <QByteArray>
#include <QByteArrayList>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {
HttpLimits fuzzLimits()
{
    // Small, so that inputs of a few hundred bytes reach every limit.
    HttpLimits limits;
    limits.maxRequestLine = 256;
    limits.maxHeaderBytes = 128;
    limits.maxHeadersBytes = 512;
    limits.maxHeaderFields = 8;
    return limits;
}

[[noreturn]] void broken(const char *what)
{
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

void require(bool condition, const char *what)
{
    if (!condition)
        broken(what);
}

// xorshift64*, seeded from the input's FNV-1a hash.
class Cuts {
public:
    Cuts(const uint8_t *data, size_t size)
    {
        uint64_t hash = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < size; ++i)
            hash = (hash ^ data[i]) * 0x100000001b3ULL;
        m_state = hash | 1;
    }

    // The size of the next read: often tiny, sometimes large.
    qsizetype next()
    {
        m_state ^= m_state >> 12;
        m_state ^= m_state << 25;
        m_state ^= m_state >> 27;
        const uint64_t r = m_state * 0x2545f4914f6cdd1dULL;
        switch (r % 4) {
        case 0:
            return 1;
        case 1:
            return qsizetype(1 + (r >> 8) % 8);
        case 2:
            return qsizetype(1 + (r >> 8) % 64);
        default:
            return qsizetype(1 + (r >> 8) % 4096);
        }
    }

private:
    uint64_t m_state;
};

void checkHead(const HttpRequest &request)
{
    require(!request.method.isEmpty(), "a head without a method");
    require(request.target.startsWith('/'), "a target that is not a path");
    require(request.path.startsWith(u'/'), "a path that does not start with '/'");
    require(!request.path.contains(QChar(0)), "a NUL in the path");
    for (const QStringView segment : QStringView(request.path).split(u'/'))
        require(segment != u"..", "a parent segment in the path");
    require(request.httpMinor == 0 || request.httpMinor == 1, "an unsupported version");
    require(request.headerCount("transfer-encoding") == 0, "a Transfer-Encoding accepted");
    require(request.headerCount("content-length") <= 1, "a repeated Content-Length");
    require(request.contentLength.has_value() == (request.headerCount("content-length") == 1),
            "a Content-Length header without a length");
    for (const auto &field : request.headers) {
        require(!field.first.isEmpty() && field.first == field.first.toLower(),
                "a header name that is empty or not lower-case");
        for (const char c : field.second) {
            const auto byte = static_cast<unsigned char>(c);
            require(byte >= 0x20 ? byte != 0x7f : byte == '\t', "a control byte in a value");
        }
        require(field.second.isEmpty() ||
                    (field.second.front() != ' ' && field.second.back() != ' ' &&
                     field.second.front() != '\t' && field.second.back() != '\t'),
                "a value that is not trimmed");
    }
}

// Runs the stream through one parser the way a connection does and
// describes what came out.
QByteArrayList run(const QByteArray &stream, Cuts *cuts)
{
    static const HttpLimits limits = fuzzLimits();
    RequestParser parser(limits);
    QByteArrayList events;
    QByteArray pending;
    qsizetype from = 0;
    qint64 bodyBytes = 0;
    bool inMessage = false;
    while (from < stream.size()) {
        const qsizetype take = cuts ? cuts->next() : stream.size();
        pending += stream.mid(from, take);
        from += take;
        for (int idle = 0;; ++idle) {
            require(idle < 4, "no progress");
            const RequestParser::Progress progress = parser.feed(pending);
            require(progress.consumed >= 0 && progress.consumed <= pending.size(),
                    "consumed out of range");
            for (const QByteArrayView view : progress.body) {
                require(inMessage, "body bytes outside a message");
                require(view.data() >= pending.constData() &&
                            view.data() + view.size() <= pending.constData() + progress.consumed,
                        "a body view outside the consumed bytes");
                bodyBytes += view.size();
            }
            pending.remove(0, progress.consumed);
            if (progress.consumed > 0)
                idle = 0;
            if (progress.stop == RequestParser::Stop::NeedMore) {
                require(pending.isEmpty(), "need more with bytes left");
                break;
            }
            if (progress.stop == RequestParser::Stop::HeadComplete) {
                require(!inMessage, "a second head in one message");
                require(parser.hasStarted(), "a head before the request started");
                checkHead(parser.request());
                inMessage = true;
                events << parser.request().method + ' ' + parser.request().target + ' ' +
                              QByteArray::number(parser.request().headers.size());
            } else if (progress.stop == RequestParser::Stop::MessageComplete) {
                require(inMessage, "a message without a head");
                require(bodyBytes == parser.request().contentLength.value_or(0),
                        "a body that is not its Content-Length");
                events << "complete " + QByteArray::number(bodyBytes);
                inMessage = false;
                bodyBytes = 0;
                parser.reset();
                require(!parser.hasStarted(), "started after reset");
            } else {
                const int status = parser.errorStatus();
                require(status == 400 || status == 411 || status == 414 || status == 431 ||
                            status == 501 || status == 505,
                        "an unexpected status");
                require(!parser.errorType().isEmpty() && !parser.errorDetail().isEmpty(),
                        "a refusal without a type or detail");
                require(parser.feed("GET / HTTP/1.1\r\n\r\n").stop == RequestParser::Stop::Failed,
                        "a failed parser that recovered");
                events << "failed " + QByteArray::number(status) + ' ' +
                              parser.errorType().toUtf8();
                return events;
            }
        }
    }
    return events;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray stream =
        QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    const QByteArrayList whole = run(stream, nullptr);
    Cuts cuts(data, size);
    const QByteArrayList split = run(stream, &cuts);
    if (split != whole) {
        std::fprintf(stderr, "whole: %s\nsplit: %s\n", whole.join(" | ").constData(),
                     split.join(" | ").constData());
        broken("the result depends on how the input was cut");
    }
    return 0;
}
