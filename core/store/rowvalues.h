#pragma once

#include <QDateTime>
#include <QJsonValue>
#include <QString>
#include <QVariant>

#include <optional>

// Conversions between nullable columns, C++ values and JSON, shared by the
// repositories (keys, jobs, audit). Times are UTC milliseconds in the store
// and ISO 8601 in JSON.
namespace RowValues {
inline std::optional<qint64> optionalInt64(const QVariant &column)
{
    return column.isNull() ? std::nullopt : std::optional<qint64>(column.toLongLong());
}

inline std::optional<int> optionalInt(const QVariant &column)
{
    return column.isNull() ? std::nullopt : std::optional<int>(column.toInt());
}

// Bind values: NULL for an empty text or an absent number.
inline QVariant nullIfEmpty(const QString &text)
{
    return text.isEmpty() ? QVariant(QMetaType::fromType<QString>()) : QVariant(text);
}

template <typename T> QVariant nullable(const std::optional<T> &value)
{
    return value ? QVariant(*value) : QVariant(QMetaType::fromType<T>());
}

inline QJsonValue jsonTime(const std::optional<qint64> &ms)
{
    if (!ms)
        return QJsonValue();
    return QDateTime::fromMSecsSinceEpoch(*ms, Qt::UTC).toString(Qt::ISODateWithMs);
}

inline QJsonValue jsonText(const QString &text) { return text.isEmpty() ? QJsonValue() : text; }

inline QJsonValue jsonInt(const std::optional<int> &value)
{
    return value ? QJsonValue(*value) : QJsonValue();
}
} // namespace RowValues
