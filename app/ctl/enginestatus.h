#pragma once

#include "expected.h"

#include <QJsonObject>
#include <QSqlDatabase>

// Whether an engine runs the farm, as far as framehousectl can tell: the
// engine rewrites its pool snapshot (FarmState "pool") every few seconds and
// marks it stopped when it stops, so a snapshot that is missing, stopped or
// stale means no engine is taking jobs.
struct EngineStatus {
    // A snapshot older than this belongs to an engine that is gone.
    static constexpr qint64 StaleAfterMs = 10000;

    QJsonObject pool; // the snapshot; empty when never written
    qint64 seenAt = 0;
    qint64 now = 0;

    static Expected<EngineStatus> read(QSqlDatabase db, qint64 now);
    bool running() const;
    qint64 pid() const;
    // "running (pid 4242, seen 1 s ago)", "not running (pid 4242 stopped at ...)".
    QString describe() const;
    QJsonObject toJson() const;

    // Why queued jobs will not start now: no engine runs the farm, or it is
    // paused; empty when they will.
    static QString whyJobsWait(QSqlDatabase db, qint64 now);
    // "framehousectl: warning: <text>" on stderr, redacted.
    static void warn(const QString &text);
};
