#pragma once

#include "expected.h"
#include "storelocation.h"

// The temporary files that backup, restore and rekey leave beside the
// database while they run, and the cleanup after a crash. Every swap of the
// database is a single rename, so a crash leaves either the old or the new
// file in place.
namespace StoreFiles {
QString rekeyTarget(const StoreLocation &location);   // framehouse.db.rekey
QString restoreTarget(const StoreLocation &location); // framehouse.db.restore
QString preRestore(const StoreLocation &location);    // framehouse.db.pre-restore

// Removes a database file with its -wal and -shm companions.
Expected<void> removeDatabaseFiles(const QString &path);
// Moves a database file with its -wal companion; drops the -shm index.
Expected<void> moveDatabaseFiles(const QString &from, const QString &to);

bool hasInterruptedRestore(const StoreLocation &location);
// Under the store lock: drops unfinished rekey/restore copies, and puts the
// old database back if a restore died between its two renames.
Expected<void> recoverInterruptedOperations(const StoreLocation &location);
} // namespace StoreFiles
