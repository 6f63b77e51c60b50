#pragma once

#include "expected.h"
#include "jobqueue.h"

#include <QSqlDatabase>
#include <QStringList>

// jobs purge: a finished job goes with its output file and its uploaded
// input. The output is removed only where it still is what the job wrote:
// a regular file (not a link) that resolves inside an output root, and not
// already removed by retention; anything else is left in place and said so.
namespace JobPurge {
struct Result {
    QStringList removed; // files removed, also named in the "job.purged" audit record
    QStringList kept;    // "path: why it was left"
};
// `uploadsDirectory` holds the engine's uploads (<store dir>/uploads).
Expected<Result> run(QSqlDatabase db, const QString &uploadsDirectory, const JobQueue &queue,
                     qint64 id, const QString &actor, qint64 now);
} // namespace JobPurge
