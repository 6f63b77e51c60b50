#include "keycommands.h"

#include "ctloutput.h"
#include "security/apikeyregistry.h"
#include "security/redactor.h"
#include "storesession.h"

#include <QDateTime>
#include <QJsonArray>
#include <QRegularExpression>

using namespace CtlOutput;

namespace {
QString option(const QCommandLineParser &parser, const char *name)
{
    return parser.value(QString::fromLatin1(name));
}

bool isSet(const QCommandLineParser &parser, const char *name)
{
    return parser.isSet(QString::fromLatin1(name));
}

// "1000/h", "1000/hour", "50/m" (per minute, scaled to an hour) or "1000".
bool parseRateLimit(const QString &text, int *perHour)
{
    static const QRegularExpression pattern(QStringLiteral("^(\\d{1,7})(?:/(h|hour|m|min))?$"));
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return false;
    const qint64 n = match.captured(1).toLongLong();
    const bool perMinute = match.captured(2).startsWith(u'm');
    const qint64 hourly = perMinute ? n * 60 : n;
    if (hourly < 1 || hourly > 100000000)
        return false;
    *perHour = static_cast<int>(hourly);
    return true;
}

Expected<ApiKeyRegistry::NewKey> newKeyFrom(const QCommandLineParser &parser)
{
    ApiKeyRegistry::NewKey request;
    request.name = option(parser, "name");
    request.ownerUser = option(parser, "owner-id");
    request.ownerName = option(parser, "owner-name");
    request.ownerEmail = option(parser, "owner-email");
    if (request.name.isEmpty() || request.ownerUser.isEmpty() || !isSet(parser, "scopes"))
        return fail(QObject::tr("keys create needs --name, --owner-id and --scopes"), Usage);
    Expected<Scopes> scopes = ScopeNames::parse(option(parser, "scopes"));
    if (!scopes)
        return fail(scopes.error(), Usage);
    request.scopes = scopes.value();
    request.neverExpires = isSet(parser, "never-expires");
    if (isSet(parser, "expires-in-days")) {
        bool ok = false;
        request.expiresInDays = option(parser, "expires-in-days").toInt(&ok);
        if (!ok)
            return fail(QObject::tr("--expires-in-days needs a whole number of days"), Usage);
    }
    Expected<IpAllowlist> allowlist = IpAllowlist::parse(option(parser, "allow-cidr"));
    if (!allowlist)
        return fail(allowlist.error(), Usage);
    request.allowlist = allowlist.value();
    if (isSet(parser, "rate-limit")) {
        int perHour = 0;
        if (!parseRateLimit(option(parser, "rate-limit"), &perHour))
            return fail(QObject::tr("--rate-limit takes requests per hour, like 1000/h"), Usage);
        request.rateLimitPerHour = perHour;
    }
    if (isSet(parser, "max-concurrent-jobs")) {
        bool ok = false;
        request.maxConcurrentJobs = option(parser, "max-concurrent-jobs").toInt(&ok);
        if (!ok || *request.maxConcurrentJobs < 1)
            return fail(QObject::tr("--max-concurrent-jobs needs a whole number above 0"), Usage);
    }
    return request;
}

QString expiryText(const ApiKey &key)
{
    return key.neverExpires ? QObject::tr("never (!)") : time(key.expiresAt.value_or(0));
}

void printTable(const QList<ApiKey> &keys, qint64 now)
{
    const QStringList header{QObject::tr("ID"),       QObject::tr("NAME"),   QObject::tr("OWNER"),
                             QObject::tr("SCOPES"),   QObject::tr("STATUS"), QObject::tr("EXPIRES"),
                             QObject::tr("LAST USED")};
    QList<QStringList> rows{header};
    for (const ApiKey &key : keys) {
        rows << QStringList{key.id,
                            key.name,
                            key.ownerUser,
                            ScopeNames::names(key.scopes).join(u','),
                            ApiKey::statusName(key.status(now)),
                            expiryText(key),
                            time(key.lastUsedAt.value_or(0))};
    }
    QList<int> widths(header.size(), 0);
    for (const QStringList &row : rows) {
        for (int i = 0; i < row.size(); ++i)
            widths[i] = qMax(widths[i], static_cast<int>(Redactor::text(row[i]).size()));
    }
    for (const QStringList &row : rows) {
        QString line;
        for (int i = 0; i < row.size(); ++i)
            line += Redactor::text(row[i]).leftJustified(i + 1 < row.size() ? widths[i] + 2 : 0);
        out() << line << Qt::endl;
    }
}

void printKey(const ApiKey &key, qint64 now)
{
    const QList<QPair<QString, QString>> fields{
        {QObject::tr("id"), key.id},
        {QObject::tr("name"), key.name},
        {QObject::tr("owner"),
         QStringLiteral("%1 (%2, %3)").arg(key.ownerUser, key.ownerName, key.ownerEmail)},
        {QObject::tr("scopes"), ScopeNames::names(key.scopes).join(u' ')},
        {QObject::tr("status"), ApiKey::statusName(key.status(now))},
        {QObject::tr("created"), time(key.createdAt)},
        {QObject::tr("expires"), expiryText(key)},
        {QObject::tr("last used"),
         key.lastUsedAt ? time(*key.lastUsedAt) + QStringLiteral(" from ") + key.lastUsedIp
                        : QStringLiteral("-")},
        {QObject::tr("revoked"),
         key.revokedAt ? QStringLiteral("%1 by %2: %3")
                             .arg(time(*key.revokedAt), key.revokedBy, key.revokedReason)
                       : QStringLiteral("-")},
        {QObject::tr("allowed from"), key.allowlist.isDenyingAll()
                                          ? QObject::tr("no address (the stored list is damaged)")
                                      : key.allowlist.isEmpty() ? QObject::tr("any address")
                                                                : key.allowlist.toString()},
        {QObject::tr("rate limit"), key.rateLimitPerHour
                                        ? QObject::tr("%1 requests/hour").arg(*key.rateLimitPerHour)
                                        : QObject::tr("engine default")},
        {QObject::tr("max concurrent jobs"), key.maxConcurrentJobs
                                                 ? QString::number(*key.maxConcurrentJobs)
                                                 : QObject::tr("engine default")},
        {QObject::tr("rotated from"),
         key.rotatedFrom.isEmpty() ? QStringLiteral("-") : key.rotatedFrom},
    };
    for (const auto &[label, value] : fields)
        out() << QString(label + u':').leftJustified(21) << Redactor::text(value) << Qt::endl;
}

int printCreated(const ApiKeyRegistry::Created &created, bool json, qint64 now)
{
    if (json) {
        QJsonObject object = created.key.toJson(now);
        object.insert(QStringLiteral("token"), created.token);
        printJson(QJsonDocument(object));
        return Success;
    }
    out() << QObject::tr("API key %1 (%2), expires %3:")
                 .arg(created.key.id, Redactor::text(created.key.name), expiryText(created.key))
          << Qt::endl
          << created.token << Qt::endl
          << QObject::tr("Keep it now: it is shown only once and cannot be recovered.") << Qt::endl;
    return Success;
}
} // namespace

KeyCommands::KeyCommands(QObject *parent)
    : QObject(parent)
{}

QString KeyCommands::synopsis()
{
    return tr("keys create       --name N --owner-id U [--owner-name \"...\"] [--owner-email E]\n"
              "                  --scopes jobs:submit,jobs:read [--expires-in-days 90 | "
              "--never-expires]\n"
              "                  [--allow-cidr 10.0.0.0/8,...] [--rate-limit 1000/h] "
              "[--max-concurrent-jobs N]\n"
              "keys list         [--all] [--json]   active keys; --all adds revoked and expired\n"
              "keys show ID      [--json]\n"
              "keys revoke ID    --reason \"...\"\n"
              "keys revoke-all   --reason \"...\" --yes   revoke every key at once (incident)\n"
              "keys rotate ID    [--grace 24h]   a new key; the old one expires after the grace");
}

void KeyCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {QStringLiteral("name"), tr("keys create: a name for the key."), QStringLiteral("N")},
        {QStringLiteral("owner-id"), tr("keys create: the owner's user id."), QStringLiteral("U")},
        {QStringLiteral("owner-name"), tr("keys create: the owner's display name."),
         QStringLiteral("NAME")},
        {QStringLiteral("owner-email"), tr("keys create: the owner's e-mail address."),
         QStringLiteral("E")},
        {QStringLiteral("scopes"),
         tr("keys create: comma-separated scopes (%1).")
             .arg(ScopeNames::all().join(QStringLiteral(", "))),
         QStringLiteral("LIST")},
        {QStringLiteral("expires-in-days"), tr("keys create: days until the key expires."),
         QStringLiteral("DAYS")},
        {QStringLiteral("never-expires"), tr("keys create: a key that never expires (flagged).")},
        {QStringLiteral("allow-cidr"), tr("keys create: addresses the key may be used from."),
         QStringLiteral("CIDRS")},
        {QStringLiteral("rate-limit"), tr("keys create: requests per hour, like 1000/h."),
         QStringLiteral("N/h")},
        {QStringLiteral("max-concurrent-jobs"), tr("keys create: jobs the key may run at once."),
         QStringLiteral("N")},
        {QStringLiteral("all"), tr("keys list: include revoked and expired keys.")},
        {QStringLiteral("reason"), tr("keys revoke, revoke-all: why (recorded in the audit log)."),
         QStringLiteral("TEXT")},
        {QStringLiteral("yes"), tr("keys revoke-all: confirm.")},
        {QStringLiteral("grace"), tr("keys rotate: how long the old key stays valid (24h)."),
         QStringLiteral("DURATION")},
    });
}

void KeyCommands::run(const QStringList &words, const QCommandLineParser &parser, Finished finished)
{
    static const QStringList takesId{QStringLiteral("show"), QStringLiteral("revoke"),
                                     QStringLiteral("rotate")};
    static const QStringList noId{QStringLiteral("create"), QStringLiteral("list"),
                                  QStringLiteral("revoke-all")};
    const QString command = words.value(0);
    if (!(takesId.contains(command) && words.size() == 2) &&
        !(noId.contains(command) && words.size() == 1)) {
        finished(unknownCommand(QStringLiteral("keys"), words));
        return;
    }
    if ((command == QLatin1String("revoke") || command == QLatin1String("revoke-all")) &&
        option(parser, "reason").trimmed().isEmpty()) {
        finished(report(
            tr("keys %1 needs --reason \"...\" (it goes into the audit log)").arg(command), Usage));
        return;
    }
    if (command == QLatin1String("revoke-all") && !isSet(parser, "yes")) {
        finished(report(tr("keys revoke-all revokes every API key at once; add --yes to confirm"),
                        Usage));
        return;
    }
    qint64 graceMs = ApiKeyRegistry::DefaultRotationGraceMs;
    if (isSet(parser, "grace") && !parseDuration(option(parser, "grace"), &graceMs)) {
        finished(report(tr("--grace takes a duration like 24h, 90m or 7d"), Usage));
        return;
    }
    std::optional<ApiKeyRegistry::NewKey> newKey;
    if (command == QLatin1String("create")) {
        Expected<ApiKeyRegistry::NewKey> parsed = newKeyFrom(parser);
        if (!parsed) {
            finished(report(parsed.error(), parsed.code()));
            return;
        }
        newKey = parsed.value();
    }

    StoreSession::open(parser, this, [=, &parser](Expected<StoreSession> session) {
        if (!session) {
            finished(report(session.error()));
            return;
        }
        const ApiKeyRegistry registry(session->secrets.pepper, session->secrets.audit);
        const QString actor = AuditEvent::operatorActor();
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        const bool json = isSet(parser, "json");
        const QString id = words.value(1);
        QSqlDatabase db = session->db();

        if (command == QLatin1String("create")) {
            Expected<ApiKeyRegistry::Created> created = registry.create(db, *newKey, actor, now);
            finished(created ? printCreated(created.value(), json, now) : report(created.error()));
        } else if (command == QLatin1String("list")) {
            Expected<QList<ApiKey>> keys = registry.list(db, isSet(parser, "all"), now);
            if (!keys) {
                finished(report(keys.error()));
                return;
            }
            if (json) {
                QJsonArray array;
                for (const ApiKey &key : keys.value())
                    array.append(key.toJson(now));
                printJson(QJsonDocument(array));
            } else {
                printTable(keys.value(), now);
            }
            finished(Success);
        } else if (command == QLatin1String("show")) {
            Expected<ApiKey> key = registry.find(db, id);
            if (!key) {
                finished(report(key.error()));
                return;
            }
            if (json)
                printJson(QJsonDocument(key->toJson(now)));
            else
                printKey(key.value(), now);
            finished(Success);
        } else if (command == QLatin1String("revoke")) {
            Expected<ApiKey> key = registry.revoke(db, id, option(parser, "reason"), actor, now);
            if (!key) {
                finished(report(key.error()));
                return;
            }
            out() << tr("revoked API key %1; it is refused from its next request").arg(id)
                  << Qt::endl;
            finished(Success);
        } else if (command == QLatin1String("revoke-all")) {
            Expected<int> count = registry.revokeAll(db, option(parser, "reason"), actor, now);
            if (!count) {
                finished(report(count.error()));
                return;
            }
            out() << tr("revoked %1 API keys").arg(count.value()) << Qt::endl;
            finished(Success);
        } else {
            Expected<ApiKeyRegistry::Created> created =
                registry.rotate(db, id, graceMs, actor, now);
            if (!created) {
                finished(report(created.error()));
                return;
            }
            if (!json)
                out() << tr("API key %1 stays valid until %2 at the latest; its replacement:")
                             .arg(id, time(now + graceMs))
                      << Qt::endl;
            finished(printCreated(created.value(), json, now));
        }
    });
}
