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
    if (QFileInfo::exists(from + QStringLiteral("-wal"))) {
        Expected<void> wal =
            DurableFile::rename(from + QStringLiteral("-wal"), to + QStringLiteral("-wal"));
        if (!wal)
            return wal;
    }
    return DurableFile::rename(from, to);
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
    return {};
}
