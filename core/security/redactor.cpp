#include "redactor.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QtGlobal>

// Every pass is a single left-to-right scan with no backtracking: the input
// is often chosen by a remote client (a path, a header), so the cost must
// stay linear in its length whatever it holds.
namespace {
constexpr char16_t Ellipsis = u'\u2026';
constexpr int KeyIdLength = 12; // see ApiKeyToken::IdLength

bool isAsciiAlnum(char16_t c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z');
}

bool needsEscape(char16_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) // C0, DEL, C1 (NEL included)
           || c == 0x2028 || c == 0x2029        // line and paragraph separators
           || c == 0x200e || c == 0x200f        // bidirectional marks and overrides:
           || (c >= 0x202a && c <= 0x202e)      // they can make a line read
           || (c >= 0x2066 && c <= 0x2069);     // differently from what it holds
}

// Where a key's tail (or a home directory's user name) ends. A real secret is
// base62; anything up to the next separator is dropped so that a mangled
// one (URL-encoded, base64, cut short and glued to other text) goes too.
bool endsToken(QChar c)
{
    static constexpr QStringView separators = u"\"'`<>()[]{},;&|\\";
    return c.isSpace() || needsEscape(c.unicode()) || separators.contains(c);
}

// A character that may continue a path component: "/root" in "/rootfs" is
// not root's home.
bool isPathChar(QChar c)
{
    return c.isLetterOrNumber() || c == u'.' || c == u'_' || c == u'-' || c == u'+' || c == u'@' ||
           c == u'~';
}

QString redactKeys(QStringView in)
{
    static constexpr QStringView prefix = u"fhk_";
    QString out;
    out.reserve(in.size());
    qsizetype pos = 0;
    while (pos < in.size()) {
        const qsizetype hit = in.indexOf(prefix, pos, Qt::CaseInsensitive);
        if (hit < 0) {
            out += in.mid(pos);
            break;
        }
        qsizetype cut = hit + prefix.size();
        out += in.mid(pos, cut - pos);
        qsizetype idEnd = cut;
        while (idEnd < in.size() && idEnd - cut < KeyIdLength && isAsciiAlnum(in[idEnd].unicode()))
            ++idEnd;
        // The id is public and is what an operator needs to find the key.
        if (idEnd - cut == KeyIdLength && idEnd < in.size() && in[idEnd] == u'_') {
            out += in.mid(cut, KeyIdLength + 1);
            cut = idEnd + 1;
        }
        while (cut < in.size() && !endsToken(in[cut]))
            ++cut;
        out += Ellipsis;
        pos = cut;
    }
    return out;
}

// Replaces each `needle` that ends at a path boundary with "~". With
// `withUserName`, the needle must be followed by a non-empty path component
// (the user name), which goes too.
QString replaceHome(const QString &in, QStringView needle, bool withUserName)
{
    QString out;
    qsizetype pos = 0;
    while (pos < in.size()) {
        const qsizetype hit = in.indexOf(needle, pos);
        if (hit < 0)
            break;
        qsizetype end = hit + needle.size();
        if (withUserName) {
            const qsizetype nameStart = end;
            while (end < in.size() && in[end] != u'/' && !endsToken(in[end]))
                ++end;
            if (end == nameStart) {
                out += QStringView(in).mid(pos, end - pos);
                pos = end;
                continue;
            }
        } else if (end < in.size() && isPathChar(in[end])) {
            out += QStringView(in).mid(pos, end - pos);
            pos = end;
            continue;
        }
        out += QStringView(in).mid(pos, hit - pos);
        out += u'~';
        pos = end;
    }
    if (pos == 0)
        return in;
    out += QStringView(in).mid(pos);
    return out;
}

QString redactHomes(QString text)
{
    // Read each time: tests and services change HOME, and this is cheap.
    QString home = qEnvironmentVariable("HOME");
    while (home.size() > 1 && home.endsWith(u'/'))
        home.chop(1);
    if (home.size() > 1 && home.startsWith(u'/'))
        text = replaceHome(text, home, false);
    text = replaceHome(text, u"/home/", true);
    return replaceHome(text, u"/root", false);
}

bool isLocalPartChar(QChar c)
{
    const char16_t u = c.unicode();
    return isAsciiAlnum(u) || u == u'.' || u == u'_' || u == u'%' || u == u'+' || u == u'-';
}

bool isDomainChar(QChar c) { return isAsciiAlnum(c.unicode()) || c == u'.' || c == u'-'; }

bool isDomain(QStringView domain)
{
    if (domain.isEmpty() || domain.startsWith(u'.') || domain.startsWith(u'-') ||
        domain.contains(u".."))
        return false;
    const qsizetype lastDot = domain.lastIndexOf(u'.');
    return lastDot > 0 && domain.size() - lastDot - 1 >= 2;
}

QString redactEmails(const QString &in)
{
    QString out;
    qsizetype copied = 0; // in[0, copied) is already in `out`
    for (qsizetype at = in.indexOf(u'@'); at >= 0; at = in.indexOf(u'@', at + 1)) {
        qsizetype localStart = at;
        while (localStart > copied && isLocalPartChar(in[localStart - 1]))
            --localStart;
        while (localStart < at && in[localStart] == u'.')
            ++localStart;
        qsizetype domainEnd = at + 1;
        while (domainEnd < in.size() && isDomainChar(in[domainEnd]))
            ++domainEnd;
        // "mail alice@example.org." ends a sentence, not the domain.
        while (domainEnd > at + 1 && (in[domainEnd - 1] == u'.' || in[domainEnd - 1] == u'-'))
            --domainEnd;
        const QStringView domain = QStringView(in).mid(at + 1, domainEnd - at - 1);
        if (localStart == at || !isDomain(domain))
            continue;
        out += QStringView(in).mid(copied, localStart - copied);
        out += in[localStart];
        out += u"***@";
        out += domain;
        copied = domainEnd;
        at = domainEnd - 1;
    }
    if (copied == 0)
        return in;
    out += QStringView(in).mid(copied);
    return out;
}

void appendUnicodeEscape(QString &out, char16_t c)
{
    static constexpr char16_t hex[] = u"0123456789abcdef";
    out += u"\\u";
    for (int shift = 12; shift >= 0; shift -= 4)
        out += QChar(hex[(c >> shift) & 0xf]);
}
} // namespace

QString Redactor::escapeControls(QStringView in)
{
    QString out;
    out.reserve(in.size());
    for (qsizetype i = 0; i < in.size(); ++i) {
        const char16_t c = in[i].unicode();
        if (c == u'\\') {
            out += u"\\\\";
        } else if (c == u'\n') {
            out += u"\\n";
        } else if (c == u'\r') {
            out += u"\\r";
        } else if (c == u'\t') {
            out += u"\\t";
        } else if (needsEscape(c)) {
            appendUnicodeEscape(out, c);
        } else if (QChar::isHighSurrogate(c) && i + 1 < in.size() &&
                   QChar::isLowSurrogate(in[i + 1].unicode())) {
            out += in[i];
            out += in[++i];
        } else if (QChar::isSurrogate(c)) {
            // Unpaired: it would turn into U+FFFD in UTF-8 and hide what
            // was there.
            appendUnicodeEscape(out, c);
        } else {
            out += in[i];
        }
    }
    return out;
}

QString Redactor::text(QStringView input)
{
    // Keys first, on the raw text, so no later pass can split one; escaping
    // last, so nothing a pass inserts can be mistaken for input.
    return escapeControls(redactEmails(redactHomes(redactKeys(input))));
}

QJsonValue Redactor::json(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::String:
        return text(value.toString());
    case QJsonValue::Array: {
        QJsonArray out;
        for (const QJsonValue &item : value.toArray())
            out.append(json(item));
        return out;
    }
    case QJsonValue::Object: {
        QJsonObject out;
        const QJsonObject object = value.toObject();
        for (auto it = object.constBegin(); it != object.constEnd(); ++it)
            out.insert(text(it.key()), json(it.value()));
        return out;
    }
    default:
        return value;
    }
}
