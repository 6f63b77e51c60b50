#include "storefiles.h"

#include "security/durablefile.h"

#include <QFileInfo>

QString StoreFiles::rekeyTarget(const StoreLocation &location)
{
    return location.databasePath() + QStringLiteral(".rekey");
}

QString StoreFiles::restoreTarget(const StoreLocation &location)
{
    return location.databasePath() + QStringLiteral(".restore");
}

QString StoreFiles::preRestore(const StoreLocation &location)
{
    return location.databasePath() + QStringLiteral(".pre-restore");
}

Expected<void> StoreFiles::removeDatabaseFiles(const QString &path)
{
    for (const QString &suffix :
         {QStringLiteral("-wal"), QStringLiteral("-shm"), QStringLiteral("-journal"), QString()}) {
        Expected<void> removed = DurableFile::remove(path + suffix);
        if (!removed)
            return removed;
    }
    return {};
}

Expected<void> StoreFiles::moveDatabaseFiles(const QString &from, const QString &to)
{
    Expected<void> shm = DurableFile::remove(from + QStringLiteral("-shm"));
    if (!shm)
        return shm;
    // All or nothing, judged by where the files are (a rename can succeed
    // and still report a failed directory flush). The main file moves first:
    // after a crash, "database missing, moved copy present" is what recovery
    // looks for.
    const QString fromWal = from + QStringLiteral("-wal");
    Expected<void> moved = DurableFile::rename(from, to);
    if (QFileInfo::exists(from))
        return moved.ok() ? fail(QStringLiteral("cannot move %1").arg(from)) : moved;
    if (QFileInfo::exists(fromWal)) {
        moved = DurableFile::rename(fromWal, to + QStringLiteral("-wal"));
        if (QFileInfo::exists(fromWal)) {
            (void)DurableFile::rename(to, from);
            return moved.ok() ? fail(QStringLiteral("cannot move %1").arg(fromWal)) : moved;
        }
    }
    return moved;
}

bool StoreFiles::hasInterruptedRestore(const StoreLocation &location)
{
    return !location.databaseExists() && QFileInfo::exists(preRestore(location));
}

Expected<void> StoreFiles::recoverInterruptedOperations(const StoreLocation &location)
{
    for (const QString &leftover : {rekeyTarget(location), restoreTarget(location)}) {
        Expected<void> removed = removeDatabaseFiles(leftover);
        if (!removed)
            return removed;
    }
    if (hasInterruptedRestore(location))
        return moveDatabaseFiles(preRestore(location), location.databasePath());
    // A crash between moving the main file back and its WAL.
    const QString wal = location.databasePath() + QStringLiteral("-wal");
    const QString strayWal = preRestore(location) + QStringLiteral("-wal");
    if (!QFileInfo::exists(preRestore(location)) && QFileInfo::exists(strayWal) &&
        !QFileInfo::exists(wal))
        return DurableFile::rename(strayWal, wal);
    return {};
}
