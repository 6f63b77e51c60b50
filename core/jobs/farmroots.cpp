#include "farmroots.h"

#include "audit/auditlog.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("FarmRoots", text); }

bool inside(const QString &path, const QString &root)
{
    if (path == root)
        return true;
    const QString prefix = root.endsWith(QLatin1Char('/')) ? root : root + QLatin1Char('/');
    return path.startsWith(prefix);
}
} // namespace

QString FarmRoots::kindName(Kind kind)
{
    return kind == Kind::Input ? QStringLiteral("input") : QStringLiteral("output");
}

Expected<QStringList> FarmRoots::list(QSqlDatabase db, Kind kind)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT path FROM farm_roots WHERE kind = ? ORDER BY path"));
    q.addBindValue(kindName(kind));
    if (!q.exec())
        return sqlFailure(tr("cannot read the %1 roots").arg(kindName(kind)), q);
    QStringList roots;
    while (q.next())
        roots << q.value(0).toString();
    return roots;
}

Expected<QString> FarmRoots::add(QSqlDatabase db, const AuditLog &audit, Kind kind,
                                 const QString &path, const QString &actor, qint64 now)
{
    const QFileInfo info(path);
    if (!info.isAbsolute())
        return fail(tr("%1 root %2: give an absolute path").arg(kindName(kind), path));
    if (!info.isDir())
        return fail(tr("%1 root %2: not an existing directory").arg(kindName(kind), path));
    const QString resolved = info.canonicalFilePath();
    if (resolved == QLatin1String("/"))
        return fail(tr("%1 root /: the whole file system cannot be a root").arg(kindName(kind)));
    Expected<void> done = audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("INSERT OR IGNORE INTO farm_roots (kind, path, added_at) "
                                 "VALUES (?, ?, ?)"));
        q.addBindValue(kindName(kind));
        q.addBindValue(resolved);
        q.addBindValue(now);
        if (!q.exec())
            return sqlFailure(tr("cannot add the root"), q);
        AuditEvent event;
        event.actor = actor;
        event.action = QStringLiteral("farm.root_added");
        event.target = resolved;
        event.details = {{QStringLiteral("kind"), kindName(kind)}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
    if (!done)
        return done.failure();
    return resolved;
}

Expected<void> FarmRoots::remove(QSqlDatabase db, const AuditLog &audit, Kind kind,
                                 const QString &path, const QString &actor, qint64 now)
{
    return audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("DELETE FROM farm_roots WHERE kind = ? AND path = ?"));
        q.addBindValue(kindName(kind));
        q.addBindValue(path);
        if (!q.exec())
            return sqlFailure(tr("cannot remove the root"), q);
        if (q.numRowsAffected() != 1)
            return fail(tr("%1 is not an %2 root").arg(path, kindName(kind)));
        AuditEvent event;
        event.actor = actor;
        event.action = QStringLiteral("farm.root_removed");
        event.target = path;
        event.details = {{QStringLiteral("kind"), kindName(kind)}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
}

Expected<QString> FarmRoots::resolveInside(const QString &path, const QStringList &roots, Kind kind)
{
    const QString command =
        QStringLiteral("framehousectl farm roots add %1 DIR").arg(kindName(kind));
    if (roots.isEmpty())
        return fail(tr("no %1 root is configured; add one with: %2").arg(kindName(kind), command));
    const QString resolved = QFileInfo(path).canonicalFilePath();
    if (resolved.isEmpty())
        return fail(tr("%1 does not exist").arg(path));
    for (const QString &root : roots) {
        if (inside(resolved, root))
            return resolved;
    }
    return fail(tr("%1 is outside every %2 root (%3)")
                    .arg(path, kindName(kind), roots.join(QStringLiteral(", "))));
}

Expected<void> FarmRoots::check(QSqlDatabase db, const JobSpec &spec)
{
    if (!spec.inputPath.isEmpty()) {
        Expected<QStringList> inputs = list(db, Kind::Input);
        if (!inputs)
            return inputs.failure();
        Expected<QString> input = resolveInside(spec.inputPath, inputs.value(), Kind::Input);
        if (!input)
            return fail(QStringLiteral("input.path: ") + input.error());
        if (!QFileInfo(input.value()).isFile())
            return fail(tr("input.path: %1 is not a regular file").arg(spec.inputPath));
    }
    Expected<QStringList> outputs = list(db, Kind::Output);
    if (!outputs)
        return outputs.failure();
    Expected<QString> output = resolveInside(spec.outputDirectory, outputs.value(), Kind::Output);
    if (!output)
        return fail(QStringLiteral("output.directory: ") + output.error());
    if (!QFileInfo(output.value()).isDir())
        return fail(tr("output.directory: %1 is not a directory").arg(spec.outputDirectory));
    return {};
}
