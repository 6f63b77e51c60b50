#pragma once

#include "expected.h"

#include <QJsonObject>
#include <QSqlDatabase>

// Farm facts the engine publishes for framehousectl and the console: the
// hardware capability matrix of this engine start and a snapshot of the
// pool (pid, workers and what they run), refreshed every few seconds.
namespace FarmState {
inline constexpr QLatin1StringView Capabilities{"capabilities"};
inline constexpr QLatin1StringView Pool{"pool"};

Expected<void> put(QSqlDatabase db, QLatin1StringView key, const QJsonObject &value, qint64 now);
// {} when never written; "updated_at" (ms) is added to the object.
Expected<QJsonObject> get(QSqlDatabase db, QLatin1StringView key);
} // namespace FarmState
