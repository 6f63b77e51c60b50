#include "auditrecord.h"

#include "security/secretkey.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlQuery>
#include <QtEndian>

namespace {
void appendBigEndian(QByteArray &out, qint64 value)
{
    char bytes[8];
    qToBigEndian(value, bytes);
    out.append(bytes, 8);
}

QJsonValue textOrNull(const QString &text) { return text.isNull() ? QJsonValue() : text; }
} // namespace

QByteArray AuditRecord::computeMac(const SecretKey &key, const QByteArray &previousMac) const
{
    const QJsonArray fields{
        actor, action, textOrNull(target), outcome, textOrNull(sourceIp), textOrNull(details)};
    QByteArray input;
    appendBigEndian(input, seq);
    appendBigEndian(input, at);
    input += QJsonDocument(fields).toJson(QJsonDocument::Compact);
    input += previousMac;
    return key.hmac(input);
}

QString AuditRecord::selectColumns()
{
    return QStringLiteral("seq, at, actor, action, target, outcome, source_ip, details, mac");
}

AuditRecord AuditRecord::fromQuery(const QSqlQuery &query)
{
    AuditRecord r;
    r.seq = query.value(0).toLongLong();
    r.at = query.value(1).toLongLong();
    r.actor = query.value(2).toString();
    r.action = query.value(3).toString();
    r.target = query.value(4).toString();
    r.outcome = query.value(5).toString();
    r.sourceIp = query.value(6).toString();
    r.details = query.value(7).toString();
    r.mac = query.value(8).toByteArray();
    return r;
}

QJsonObject AuditRecord::toJson() const
{
    QJsonObject out{{QStringLiteral("seq"), seq},
                    {QStringLiteral("at"), at},
                    {QStringLiteral("time"),
                     QDateTime::fromMSecsSinceEpoch(at, Qt::UTC).toString(Qt::ISODateWithMs)},
                    {QStringLiteral("actor"), actor},
                    {QStringLiteral("action"), action},
                    {QStringLiteral("target"), textOrNull(target)},
                    {QStringLiteral("outcome"), outcome},
                    {QStringLiteral("source_ip"), textOrNull(sourceIp)},
                    {QStringLiteral("mac"), QString::fromLatin1(mac.toHex())}};
    const QJsonDocument parsed = QJsonDocument::fromJson(details.toUtf8());
    out.insert(QStringLiteral("details"),
               parsed.isObject() ? QJsonValue(parsed.object()) : textOrNull(details));
    return out;
}
