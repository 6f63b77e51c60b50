#include "requestparser.h"

#include <QCoreApplication>
#include <QStringDecoder>

#include <http_parser.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <string_view>
#include <utility>

namespace {
// http_parser's own head limit is one value for the whole process: set it
// far above any configured limit so that the checks below decide.
constexpr uint32_t libraryHeadLimit = 8 * 1024 * 1024;

// Head bytes that no limit counts: line endings, ": " per field, stray
// blank lines before the request and optional whitespace. Bounds what a
// client can send that never reaches a callback.
constexpr qsizetype headSlack = 1024;

// What the client is told: one sentence, nothing about the server.
namespace Detail {
constexpr const char *headersTooLarge =
    QT_TRANSLATE_NOOP("RequestParser", "The request header fields are too large.");
constexpr const char *noTunnels =
    QT_TRANSLATE_NOOP("RequestParser", "CONNECT and protocol upgrades are not supported.");
constexpr const char *lineTooLong =
    QT_TRANSLATE_NOOP("RequestParser", "The request line is too long.");
constexpr const char *badVersion =
    QT_TRANSLATE_NOOP("RequestParser", "Only HTTP/1.0 and HTTP/1.1 are supported.");
constexpr const char *badTarget =
    QT_TRANSLATE_NOOP("RequestParser", "The request target must be an absolute path.");
constexpr const char *badName =
    QT_TRANSLATE_NOOP("RequestParser", "A header field name is not valid.");
constexpr const char *repeatedLength =
    QT_TRANSLATE_NOOP("RequestParser", "The request has more than one Content-Length.");
constexpr const char *badLength =
    QT_TRANSLATE_NOOP("RequestParser", "The request has an invalid Content-Length.");
constexpr const char *badValue =
    QT_TRANSLATE_NOOP("RequestParser", "A header field value is not valid.");
constexpr const char *ambiguousLength = QT_TRANSLATE_NOOP(
    "RequestParser", "The request has both Content-Length and Transfer-Encoding.");
constexpr const char *lengthRequired =
    QT_TRANSLATE_NOOP("RequestParser", "The request body must have a Content-Length.");
constexpr const char *notHttp =
    QT_TRANSLATE_NOOP("RequestParser", "The request is not valid HTTP/1.1.");
} // namespace Detail

// RFC 9110 tchar. http_parser also lets a space into names, which would
// make "Content-Length : 5" a different field to us than to a proxy.
bool isTokenChar(char c)
{
    static constexpr std::string_view symbols = "!#$%&'*+-.^_`|~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           symbols.find(c) != std::string_view::npos;
}

qsizetype longestMethod()
{
    static const qsizetype longest = [] {
        qsizetype size = 0;
#define FH_METHOD_SIZE(num, name, string) size = std::max<qsizetype>(size, qstrlen(#string));
        HTTP_METHOD_MAP(FH_METHOD_SIZE)
#undef FH_METHOD_SIZE
        return size;
    }();
    return longest;
}

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Strict percent-decoding: a '%' not followed by two hex digits is an error
// rather than a literal, so that no two spellings of a path disagree.
std::optional<QByteArray> percentDecoded(QByteArrayView text)
{
    QByteArray out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.append(text[i]);
            continue;
        }
        if (i + 2 >= text.size())
            return std::nullopt;
        const int high = hexValue(text[i + 1]);
        const int low = hexValue(text[i + 2]);
        if (high < 0 || low < 0)
            return std::nullopt;
        out.append(char(high * 16 + low));
        i += 2;
    }
    return out;
}

std::optional<qint64> parseContentLength(QByteArrayView text)
{
    if (text.isEmpty())
        return std::nullopt;
    qint64 value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        const int digit = c - '0';
        if (value > (std::numeric_limits<qint64>::max() - digit) / 10)
            return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

QByteArray trimmed(QByteArrayView value)
{
    qsizetype begin = 0;
    qsizetype end = value.size();
    while (begin < end && (value[begin] == ' ' || value[begin] == '\t'))
        ++begin;
    while (end > begin && (value[end - 1] == ' ' || value[end - 1] == '\t'))
        --end;
    // Present but empty stays distinguishable from absent (a null array).
    if (begin == end)
        return QByteArray("", 0);
    return QByteArray(value.data() + begin, end - begin);
}
} // namespace

struct RequestParser::Private {
    enum class Phase { Head, Body, Complete, Failed };
    enum class Field { None, Name, Value };

    explicit Private(const HttpLimits &l)
        : limits(l)
    {
        settings.on_message_begin = &Private::onMessageBegin;
        settings.on_url = &Private::onUrl;
        settings.on_header_field = &Private::onHeaderField;
        settings.on_header_value = &Private::onHeaderValue;
        settings.on_headers_complete = &Private::onHeadersComplete;
        settings.on_body = &Private::onBody;
        settings.on_message_complete = &Private::onMessageComplete;
        restart();
    }

    void restart()
    {
        http_parser_init(&parser, HTTP_REQUEST);
        parser.data = this;
        request = HttpRequest();
        phase = Phase::Head;
        started = false;
        headBytes = 0;
        url.clear();
        requestLineChecked = false;
        field = Field::None;
        name.clear();
        value.clear();
        fieldBytes = 0;
        fieldsBytes = 0;
        atLineStart = false;
        lastHeadByteWasCr = false;
        fieldCount = 0;
        contentLengthCount = 0;
        sawTransferEncoding = false;
        sawUpgrade = false;
        valueEndedAtBufferEnd = false;
    }

    qsizetype headBudget() const
    {
        return qsizetype(limits.maxRequestLine) + limits.maxHeadersBytes +
               4 * qsizetype(limits.maxHeaderFields) + headSlack;
    }

    qsizetype headSlice(QByteArrayView rest) const;

    // The first refusal wins; callbacks return its result to stop the parser.
    int refuse(int errorStatus, const char *errorType, const char *errorDetail)
    {
        if (status == 0) {
            status = errorStatus;
            type = QString::fromLatin1(errorType);
            detail = QCoreApplication::translate("RequestParser", errorDetail);
        }
        return -1;
    }
    int malformed(const char *why) { return refuse(400, "malformed-request", why); }
    int tooLarge() { return refuse(431, "headers-too-large", Detail::headersTooLarge); }
    int notImplemented() { return refuse(501, "not-implemented", Detail::noTunnels); }

    int checkRequestLine();
    int nameComplete();
    int finishField();
    void refuseLibraryError(http_errno error);

    static Private *of(http_parser *p) { return static_cast<Private *>(p->data); }
    static int onMessageBegin(http_parser *p);
    static int onUrl(http_parser *p, const char *at, size_t length);
    static int onHeaderField(http_parser *p, const char *at, size_t length);
    static int onHeaderValue(http_parser *p, const char *at, size_t length);
    static int onHeadersComplete(http_parser *p);
    static int onBody(http_parser *p, const char *at, size_t length);
    static int onMessageComplete(http_parser *p);

    HttpLimits limits;
    http_parser parser{};
    http_parser_settings settings{};
    HttpRequest request;
    Phase phase = Phase::Head;
    bool started = false;
    qsizetype headBytes = 0;

    QByteArray url;
    bool requestLineChecked = false;

    Field field = Field::None;
    QByteArray name;
    QByteArray value;
    qsizetype fieldBytes = 0;
    qsizetype fieldsBytes = 0;
    int fieldCount = 0;
    bool atLineStart = false;
    bool lastHeadByteWasCr = false;
    int contentLengthCount = 0;
    bool sawTransferEncoding = false;
    bool sawUpgrade = false;

    // The bytes of the current execute call, to tell a value split across
    // feeds (it resumes at the start of the next one) from a folded line.
    const char *bufferStart = nullptr;
    const char *bufferEnd = nullptr;
    bool valueEndedAtBufferEnd = false;
    QList<QByteArrayView> *body = nullptr;

    int status = 0;
    QString type;
    QString detail;
};

// How much of `rest` to hand http_parser next while in the head. Our checks
// run in callbacks, which http_parser makes at the end of a URL, name or
// value or of the bytes it was given, while its own syntax errors stop it
// at once. Handing it one line at a time, and no more than the limits
// still allow (plus one byte, to tell "at" from "over"), makes every check
// see the same bytes however the input was cut: a head refused for two
// reasons gets the same answer every time.
qsizetype RequestParser::Private::headSlice(QByteArrayView rest) const
{
    qsizetype allowed = headBudget() - headBytes;
    qsizetype from = 0;
    if (!requestLineChecked) {
        const qsizetype method =
            url.isEmpty() ? longestMethod() : qstrlen(http_method_str(http_method(parser.method)));
        allowed = std::min(allowed, limits.maxRequestLine - method - url.size() - 10);
        // Blank lines before a request are skipped, not its end.
        while (!started && from < rest.size() && (rest[from] == '\r' || rest[from] == '\n'))
            ++from;
    } else if (fieldCount >= limits.maxHeaderFields && atLineStart) {
        // The first byte of this line may begin a field over the count.
        allowed = 0;
    } else {
        allowed = std::min(
            {allowed, limits.maxHeaderBytes - fieldBytes, limits.maxHeadersBytes - fieldsBytes});
    }
    // http_parser takes the byte after a CR for its LF whatever it is (in
    // "Name: \rXY" the value is empty and a field starts at Y), so a line
    // ends there too and the field count is checked at the same byte as
    // after a CRLF, whether the CR came in this feed or the last one.
    qsizetype end = rest.size();
    if (lastHeadByteWasCr) {
        end = 1;
    } else {
        for (qsizetype i = from; i < rest.size(); ++i) {
            if (rest[i] == '\n' || rest[i] == '\r') {
                end = std::min(rest.size(), i + (rest[i] == '\r' ? 2 : 1));
                break;
            }
        }
    }
    return std::min(end, std::max<qsizetype>(allowed, 0) + 1);
}

int RequestParser::Private::onMessageBegin(http_parser *p)
{
    of(p)->started = true;
    return 0;
}

int RequestParser::Private::onUrl(http_parser *p, const char *at, size_t length)
{
    Private *d = of(p);
    d->url.append(at, qsizetype(length));
    // The canonical line: method, space, target, space, "HTTP/1.x".
    const qsizetype line =
        qsizetype(qstrlen(http_method_str(http_method(p->method)))) + 1 + d->url.size() + 9;
    if (line > d->limits.maxRequestLine)
        return d->refuse(414, "uri-too-long", Detail::lineTooLong);
    return 0;
}

int RequestParser::Private::checkRequestLine()
{
    if (requestLineChecked)
        return 0;
    requestLineChecked = true;
    if (parser.method == HTTP_CONNECT)
        return notImplemented();
    if (parser.http_major != 1 || parser.http_minor > 1)
        return refuse(505, "version-not-supported", Detail::badVersion);

    // Origin-form only: absolute-form, authority-form and "*" are refused.
    if (!url.startsWith('/'))
        return malformed(Detail::badTarget);
    for (const char c : std::as_const(url)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f || c == '#')
            return malformed(Detail::badTarget);
    }
    const qsizetype mark = url.indexOf('?');
    const QByteArrayView rawPath = QByteArrayView(url).first(mark < 0 ? url.size() : mark);
    const std::optional<QByteArray> decoded = percentDecoded(rawPath);
    if (!decoded)
        return malformed(Detail::badTarget);
    for (const char c : *decoded) {
        if (isControl(static_cast<unsigned char>(c)))
            return malformed(Detail::badTarget);
    }
    for (const QByteArray &segment : decoded->split('/')) {
        if (segment == "..")
            return malformed(Detail::badTarget);
    }
    QStringDecoder utf8(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    const QString path = utf8.decode(*decoded);
    if (utf8.hasError())
        return malformed(Detail::badTarget);

    request.method = QByteArray(http_method_str(http_method(parser.method)));
    request.target = url;
    request.path = path;
    if (mark >= 0)
        request.query.setQuery(QString::fromLatin1(QByteArrayView(url).sliced(mark + 1)));
    request.httpMinor = parser.http_minor;
    return 0;
}

int RequestParser::Private::nameComplete()
{
    if (name.isEmpty() || !std::all_of(name.cbegin(), name.cend(), isTokenChar))
        return malformed(Detail::badName);
    name = name.toLower();
    if (name == "content-length")
        ++contentLengthCount;
    else if (name == "transfer-encoding")
        sawTransferEncoding = true;
    else if (name == "upgrade")
        sawUpgrade = true;
    field = Field::Value;
    return 0;
}

int RequestParser::Private::finishField()
{
    if (field == Field::Name && nameComplete() != 0)
        return -1;
    const QByteArray fieldValue = trimmed(value);
    if (name == "content-length") {
        // Even two equal values are refused: something between the client
        // and here may have read the other one.
        if (contentLengthCount > 1)
            return malformed(Detail::repeatedLength);
        const std::optional<qint64> length = parseContentLength(fieldValue);
        if (!length)
            return malformed(Detail::badLength);
        request.contentLength = *length;
    }
    request.headers.append({name, fieldValue});
    field = Field::None;
    name.clear();
    value.clear();
    fieldBytes = 0;
    return 0;
}

int RequestParser::Private::onHeaderField(http_parser *p, const char *at, size_t length)
{
    Private *d = of(p);
    if (d->checkRequestLine() != 0)
        return -1;
    if (d->field == Private::Field::Value && d->finishField() != 0)
        return -1;
    if (d->field == Private::Field::None) {
        if (++d->fieldCount > d->limits.maxHeaderFields)
            return d->tooLarge();
        d->field = Private::Field::Name;
    }
    d->name.append(at, qsizetype(length));
    d->fieldBytes += qsizetype(length);
    d->fieldsBytes += qsizetype(length);
    if (d->fieldBytes > d->limits.maxHeaderBytes || d->fieldsBytes > d->limits.maxHeadersBytes)
        return d->tooLarge();
    return 0;
}

int RequestParser::Private::onHeaderValue(http_parser *p, const char *at, size_t length)
{
    Private *d = of(p);
    if (d->field == Private::Field::Name) {
        if (d->nameComplete() != 0)
            return -1;
    } else if (!d->valueEndedAtBufferEnd || at != d->bufferStart) {
        // A second piece of one value that is not a continuation across
        // feeds: an obsolete line fold, which a server must not join.
        return d->malformed(Detail::badValue);
    }
    d->valueEndedAtBufferEnd = at + length == d->bufferEnd;
    for (size_t i = 0; i < length; ++i) {
        const auto c = static_cast<unsigned char>(at[i]);
        if (isControl(c) && c != '\t')
            return d->malformed(Detail::badValue);
    }
    d->value.append(at, qsizetype(length));
    d->fieldBytes += qsizetype(length);
    d->fieldsBytes += qsizetype(length);
    if (d->fieldBytes > d->limits.maxHeaderBytes || d->fieldsBytes > d->limits.maxHeadersBytes)
        return d->tooLarge();
    return 0;
}

int RequestParser::Private::onHeadersComplete(http_parser *p)
{
    Private *d = of(p);
    if (d->checkRequestLine() != 0)
        return -1;
    if (d->field != Private::Field::None && d->finishField() != 0)
        return -1;
    if (p->upgrade || d->sawUpgrade)
        return d->notImplemented();
    if (d->contentLengthCount > 0 && d->sawTransferEncoding)
        return d->refuse(400, "ambiguous-length", Detail::ambiguousLength);
    if (d->sawTransferEncoding)
        return d->refuse(411, "length-required", Detail::lengthRequired);
    d->request.keepAlive = http_should_keep_alive(p) != 0;
    d->phase = Private::Phase::Body;
    http_parser_pause(p, 1);
    return 0;
}

int RequestParser::Private::onBody(http_parser *p, const char *at, size_t length)
{
    Private *d = of(p);
    if (d->body && length > 0)
        d->body->append(QByteArrayView(at, qsizetype(length)));
    return 0;
}

int RequestParser::Private::onMessageComplete(http_parser *p)
{
    of(p)->phase = Private::Phase::Complete;
    http_parser_pause(p, 1);
    return 0;
}

void RequestParser::Private::refuseLibraryError(http_errno error)
{
    switch (error) {
    case HPE_UNEXPECTED_CONTENT_LENGTH: {
        // http_parser stops on the second framing header before its value
        // reaches us, so the pending name counts too.
        const QByteArray pending = field == Field::Name ? name.toLower() : QByteArray();
        const bool hasLength = contentLengthCount > 0 || pending == "content-length";
        const bool hasEncoding = sawTransferEncoding || pending == "transfer-encoding";
        if (hasLength && hasEncoding)
            refuse(400, "ambiguous-length", Detail::ambiguousLength);
        else
            malformed(Detail::repeatedLength);
        break;
    }
    case HPE_INVALID_CONTENT_LENGTH:
        malformed(Detail::badLength);
        break;
    case HPE_HEADER_OVERFLOW:
        tooLarge();
        break;
    default:
        malformed(Detail::notHttp);
        break;
    }
}

RequestParser::RequestParser(const HttpLimits &limits)
{
    static std::once_flag limitSet;
    std::call_once(limitSet, [] { http_parser_set_max_header_size(libraryHeadLimit); });
    d = std::make_unique<Private>(limits);
}

RequestParser::~RequestParser() = default;

RequestParser::Progress RequestParser::feed(QByteArrayView data)
{
    Progress progress;
    switch (d->phase) {
    case Private::Phase::Failed:
        progress.stop = Stop::Failed;
        return progress;
    case Private::Phase::Complete:
        // Nothing more until reset(): the next request waits for the caller.
        progress.stop = Stop::MessageComplete;
        return progress;
    case Private::Phase::Head:
    case Private::Phase::Body:
        break;
    }
    // An empty buffer would mean end of stream to http_parser.
    if (data.isEmpty())
        return progress;
    if (HTTP_PARSER_ERRNO(&d->parser) == HPE_PAUSED)
        http_parser_pause(&d->parser, 0);

    d->body = &progress.body;
    auto error = HPE_OK;
    while (progress.consumed < data.size() && d->status == 0) {
        const QByteArrayView rest = data.sliced(progress.consumed);
        const bool inHead = d->phase == Private::Phase::Head;
        const qsizetype length = inHead ? d->headSlice(rest) : rest.size();
        d->bufferStart = rest.data();
        d->bufferEnd = rest.data() + length;
        const auto used =
            qsizetype(http_parser_execute(&d->parser, &d->settings, rest.data(), size_t(length)));
        progress.consumed += used;
        if (inHead) {
            d->headBytes += used;
            if (used > 0) {
                const bool followsCr = used > 1 ? rest[used - 2] == '\r' : d->lastHeadByteWasCr;
                d->atLineStart = rest[used - 1] == '\n' || followsCr;
                d->lastHeadByteWasCr = rest[used - 1] == '\r';
            }
        }
        error = HTTP_PARSER_ERRNO(&d->parser);
        if (error == HPE_PAUSED)
            break;
        if (error != HPE_OK) {
            d->refuseLibraryError(error);
        } else if (used < length) {
            // Only an upgrade stops early without an error, and those are refused.
            d->malformed(Detail::notHttp);
        } else if (inHead && d->headBytes > d->headBudget()) {
            d->tooLarge();
        } else if (inHead && !d->requestLineChecked && d->started && rest[length - 1] == '\n') {
            d->checkRequestLine();
        }
    }
    d->body = nullptr;
    d->bufferStart = d->bufferEnd = nullptr;

    if (d->status != 0) {
        d->phase = Private::Phase::Failed;
        progress.stop = Stop::Failed;
        progress.body.clear();
        return progress;
    }
    if (error == HPE_PAUSED)
        progress.stop =
            d->phase == Private::Phase::Complete ? Stop::MessageComplete : Stop::HeadComplete;
    return progress;
}

void RequestParser::reset()
{
    if (d->phase != Private::Phase::Failed)
        d->restart();
}

bool RequestParser::hasStarted() const { return d->started; }

const HttpRequest &RequestParser::request() const { return d->request; }

int RequestParser::errorStatus() const { return d->status; }

QString RequestParser::errorType() const { return d->type; }

QString RequestParser::errorDetail() const { return d->detail; }
