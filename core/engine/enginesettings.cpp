#include "enginesettings.h"

#include "security/redactor.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QMap>
#include <QRegularExpression>
#include <QStringDecoder>
#include <QStringList>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <optional>

// A small parser of our own rather than QSettings: QSettings turns
// "a, b" into a list, decodes %-escapes in keys, accepts anything in a
// [General] section and cannot say on which line something was wrong.
namespace {
QString tr(const char *text) { return QCoreApplication::translate("EngineSettings", text); }

constexpr qint64 MaxFileSize = 1024 * 1024;

const QString ApiSection = QStringLiteral("api");

const QStringList &knownKeys(const QString &section)
{
    static const QStringList api{
        QStringLiteral("listen"),          QStringLiteral("enabled"),
        QStringLiteral("tls_certificate"), QStringLiteral("tls_private_key"),
        QStringLiteral("tls_client_ca"),   QStringLiteral("server_names"),
        QStringLiteral("cors_origins"),    QStringLiteral("allowlist"),
        QStringLiteral("trusted_proxies")};
    static const QStringList none;
    return section == ApiSection ? api : none;
}

std::optional<bool> parseBool(QStringView text)
{
    for (const QStringView yes : {u"true", u"yes", u"on", u"1"}) {
        if (text.compare(yes, Qt::CaseInsensitive) == 0)
            return true;
    }
    for (const QStringView no : {u"false", u"no", u"off", u"0"}) {
        if (text.compare(no, Qt::CaseInsensitive) == 0)
            return false;
    }
    return std::nullopt;
}

bool parseIPv4(QStringView text, in_addr *out)
{
    return inet_pton(AF_INET, text.toUtf8().constData(), out) == 1;
}

bool parseIPv6(QStringView text, in6_addr *out)
{
    return inet_pton(AF_INET6, text.toUtf8().constData(), out) == 1;
}

struct Entry {
    QString value;
    int line = 0;
};
} // namespace

Expected<void> EngineSettings::setListen(QStringView text)
{
    const QString shown = Redactor::escapeControls(text);
    QStringView host;
    QStringView port;
    if (text.startsWith(u'[')) {
        const qsizetype close = text.indexOf(u']');
        if (close < 0 || close + 1 >= text.size() || text[close + 1] != u':')
            return fail(
                tr("\"%1\" is not host:port; write an IPv6 address as [::1]:8443").arg(shown));
        host = text.mid(1, close - 1);
        port = text.mid(close + 2);
        in6_addr address{};
        if (!parseIPv6(host, &address))
            return fail(tr("\"%1\" is not an IPv6 address").arg(Redactor::escapeControls(host)));
    } else {
        const qsizetype colon = text.lastIndexOf(u':');
        if (colon < 0)
            return fail(
                tr("\"%1\" has no port; write it as address:port, e.g. 127.0.0.1:8443").arg(shown));
        host = text.left(colon);
        port = text.mid(colon + 1);
        if (host.contains(u':'))
            return fail(tr("\"%1\": an IPv6 address needs brackets, e.g. [::1]:8443").arg(shown));
        in_addr address{};
        if (!parseIPv4(host, &address))
            return fail(tr("\"%1\" is not an IP address; use one such as 127.0.0.1, 0.0.0.0, "
                           "[::1] or [::]")
                            .arg(Redactor::escapeControls(host)));
    }
    bool digitsOnly = !port.isEmpty() && port.size() <= 5;
    for (const QChar c : port)
        digitsOnly = digitsOnly && c >= u'0' && c <= u'9';
    // Port 0 asks the system for a free one (the engine logs which).
    const uint number = digitsOnly ? port.toUInt() : 65536;
    if (number > 65535)
        return fail(
            tr("port \"%1\" is not a number from 0 to 65535").arg(Redactor::escapeControls(port)));
    listenAddress = host.toString();
    listenPort = static_cast<quint16>(number);
    return {};
}

QString EngineSettings::listen() const
{
    const QString port = QString::number(listenPort);
    if (listenAddress.contains(u':'))
        return QStringLiteral("[%1]:%2").arg(listenAddress, port);
    return QStringLiteral("%1:%2").arg(listenAddress, port);
}

Expected<EngineSettings> EngineSettings::load(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(tr("cannot read engine settings %1: %2").arg(path, file.errorString()));
    const QByteArray bytes = file.read(MaxFileSize + 1);
    if (bytes.size() > MaxFileSize)
        return fail(
            tr("engine settings %1 are larger than 1 MiB; is it the right file?").arg(path));
    QStringDecoder decoder(QStringDecoder::Utf8);
    QString text = decoder.decode(bytes);
    if (decoder.hasError())
        return fail(tr("engine settings %1 are not UTF-8 text").arg(path));
    if (text.startsWith(u'\uFEFF'))
        text.remove(0, 1);

    QStringList errors;
    QMap<QString, Entry> entries; // "section/key"
    QString section;
    bool inSection = false;
    bool sectionKnown = false;
    int lineNumber = 0;
    for (const QStringView rawLine : QStringView(text).split(u'\n')) {
        ++lineNumber;
        const QStringView line = rawLine.trimmed();
        if (line.isEmpty() || line.startsWith(u'#') || line.startsWith(u';'))
            continue;
        const QString where = QStringLiteral("%1:%2").arg(path, QString::number(lineNumber));
        if (line.startsWith(u'[')) {
            inSection = true;
            section =
                line.endsWith(u']') ? line.mid(1, line.size() - 2).trimmed().toString() : QString();
            sectionKnown = !knownKeys(section).isEmpty();
            if (!sectionKnown)
                errors << tr("%1: unknown section \"%2\"; the only section is [api]")
                              .arg(where, Redactor::escapeControls(line));
            continue;
        }
        const qsizetype equals = line.indexOf(u'=');
        if (equals <= 0) {
            errors << tr("%1: expected \"key = value\"").arg(where);
            continue;
        }
        const QString key = line.left(equals).trimmed().toString();
        QStringView value = line.mid(equals + 1).trimmed();
        if (value.size() >= 2 && value.startsWith(u'"') && value.endsWith(u'"'))
            value = value.mid(1, value.size() - 2);
        if (!inSection) {
            errors << tr("%1: %2 is outside any section; put it under [api]")
                          .arg(where, Redactor::escapeControls(key));
            continue;
        }
        if (!sectionKnown)
            continue; // the section header is already reported
        const QStringList &known = knownKeys(section);
        if (!known.contains(key)) {
            // The value is not shown: a misplaced secret may be in it.
            errors << tr("%1: unknown key \"%2\" in [%3]; the keys there are: %4")
                          .arg(where, Redactor::escapeControls(key), section,
                               known.join(QStringLiteral(", ")));
            continue;
        }
        const QString id = QStringLiteral("%1/%2").arg(section, key);
        if (entries.contains(id)) {
            errors << tr("%1: [%2] %3 is set twice (first on line %4)")
                          .arg(where, section, key, QString::number(entries.value(id).line));
            continue;
        }
        entries.insert(id, Entry{value.toString(), lineNumber});
    }

    EngineSettings settings;
    const QDir base = QFileInfo(path).absoluteDir();
    auto valueError = [&](const QString &id, const QString &why) {
        const Entry entry = entries.value(id);
        const QString name =
            QStringLiteral("[%1] %2").arg(id.section(u'/', 0, 0), id.section(u'/', 1, 1));
        errors << QStringLiteral("%1:%2: %3: %4").arg(path, QString::number(entry.line), name, why);
    };
    auto readBool = [&](const QString &id, bool &target) {
        if (!entries.contains(id))
            return;
        const QString value = entries.value(id).value;
        if (const std::optional<bool> parsed = parseBool(value))
            target = *parsed;
        else
            valueError(id, tr("\"%1\" is not a boolean; use true or false")
                               .arg(Redactor::escapeControls(value)));
    };
    auto readPath = [&](const QString &id, QString &target) {
        const QString value = entries.value(id).value;
        target = value.isEmpty() ? QString() : QDir::cleanPath(base.filePath(value));
    };

    const QString listenId = QStringLiteral("api/listen");
    if (entries.contains(listenId)) {
        const Expected<void> listen = settings.setListen(entries.value(listenId).value);
        if (!listen)
            valueError(listenId, listen.error());
    }
    readBool(QStringLiteral("api/enabled"), settings.apiEnabled);
    readPath(QStringLiteral("api/tls_certificate"), settings.tlsCertificate);
    readPath(QStringLiteral("api/tls_private_key"), settings.tlsPrivateKey);
    readPath(QStringLiteral("api/tls_client_ca"), settings.tlsClientCa);
    auto readList = [&](const QString &id, QStringList &target) {
        target = entries.value(id).value.split(QRegularExpression(QStringLiteral("[\\s,]+")),
                                               Qt::SkipEmptyParts);
    };
    readList(QStringLiteral("api/server_names"), settings.serverNames);
    for (const QString &name : std::as_const(settings.serverNames)) {
        static const QRegularExpression hostName(
            QStringLiteral("^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-"
                           "z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"));
        if (!hostName.match(name).hasMatch())
            valueError(QStringLiteral("api/server_names"),
                       tr("\"%1\" is not a host name").arg(Redactor::escapeControls(name)));
    }
    readList(QStringLiteral("api/cors_origins"), settings.corsOrigins);
    for (const QString &origin : std::as_const(settings.corsOrigins)) {
        static const QRegularExpression shape(
            QStringLiteral("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://"
                           "\\[[0-9A-Fa-f:.]+\\](:[0-9]{1,5})?$"));
        if (!shape.match(origin).hasMatch())
            valueError(QStringLiteral("api/cors_origins"),
                       tr("\"%1\" is not an origin like https://app.example.com (no path, no "
                          "wildcard)")
                           .arg(Redactor::escapeControls(origin)));
    }
    auto readAllowlist = [&](const QString &id, IpAllowlist &target) {
        if (!entries.contains(id))
            return;
        Expected<IpAllowlist> parsed = IpAllowlist::parse(entries.value(id).value);
        if (parsed)
            target = parsed.value();
        else
            valueError(id, parsed.error());
    };
    readAllowlist(QStringLiteral("api/allowlist"), settings.allowlist);
    readAllowlist(QStringLiteral("api/trusted_proxies"), settings.trustedProxies);

    if (!errors.isEmpty())
        return fail(errors.join(u'\n'));
    return settings;
}
