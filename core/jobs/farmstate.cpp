#include "farmstate.h"

#include "store/store.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("FarmState", text); }
} // namespace

Expected<void> FarmState::put(QSqlDatabase db, QLatin1StringView key, const QJsonObject &value,
                              qint64 now)
{
    QSqlQuery q(db);
    q.prepare(QStringLiteral("INSERT INTO farm_state (key, value, updated_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                             "updated_at = excluded.updated_at"));
    q.addBindValue(QString(key));
    q.addBindValue(QString::fromUtf8(QJsonDocument(value).toJson(QJsonDocument::Compact)));
    q.addBindValue(now);
    if (!q.exec())
        return sqlFailure(tr("cannot save the farm state"), q);
    return {};
}

Expected<QJsonObject> FarmState::get(QSqlDatabase db, QLatin1StringView key)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT value, updated_at FROM farm_state WHERE key = ?"));
    q.addBindValue(QString(key));
    if (!q.exec())
        return sqlFailure(tr("cannot read the farm state"), q);
    if (!q.next())
        return QJsonObject();
    QJsonObject value = QJsonDocument::fromJson(q.value(0).toString().toUtf8()).object();
    value.insert(QStringLiteral("updated_at"), q.value(1).toLongLong());
    return value;
}
