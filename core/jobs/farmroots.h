#pragma once

#include "expected.h"
#include "jobspec.h"

#include <QSqlDatabase>
#include <QStringList>

class AuditLog;

// The directories jobs may read from (input roots) and write into (output
// roots), kept in the store and changed only through audited commands. A
// spec's input path and output directory must resolve (symlinks followed)
// to a place inside one of them; with no root of a kind configured, every
// job naming such a path is refused with the command that adds one.
namespace FarmRoots {
enum class Kind { Input, Output };

QString kindName(Kind kind);
Expected<QStringList> list(QSqlDatabase db, Kind kind);
// The directory must exist; it is stored resolved (realpath).
Expected<QString> add(QSqlDatabase db, const AuditLog &audit, Kind kind, const QString &path,
                      const QString &actor, qint64 now);
Expected<void> remove(QSqlDatabase db, const AuditLog &audit, Kind kind, const QString &path,
                      const QString &actor, qint64 now);
// `path` resolved, when it lies inside one of `roots` (a root itself counts).
Expected<QString> resolveInside(const QString &path, const QStringList &roots, Kind kind);
// Checks the spec's input path (uploads are the engine's own) and output
// directory against the roots.
Expected<void> check(QSqlDatabase db, const JobSpec &spec);
} // namespace FarmRoots
