#include "problem.h"

#include <QJsonObject>

QString Problem::typeUri(const QString &slug)
{
    return QStringLiteral("urn:framehouse:problem:") + slug;
}

HttpResponse Problem::response(int status, const QString &type, const QString &detail)
{
    QJsonObject body{
        {QStringLiteral("type"), typeUri(type)},
        {QStringLiteral("title"), QString::fromLatin1(HttpResponse::reasonPhrase(status))},
        {QStringLiteral("status"), status}};
    if (!detail.isEmpty())
        body.insert(QStringLiteral("detail"), detail);
    HttpResponse r = HttpResponse::json(status, body);
    r.setHeader("Content-Type", "application/problem+json");
    return r;
}
