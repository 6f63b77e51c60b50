#pragma once

#include "expected.h"
#include "storeopener.h"

#include <QList>
#include <QPair>
#include <QStringList>

// The operator's store operations: check, info, backup, restore, rekey.
// The command line, the console and the engine all call these.
namespace StoreMaintenance {
using Facts = QList<QPair<QString, QString>>;

// cipher_integrity_check (every page's HMAC), integrity_check and
// foreign_key_check. Returns the problems found; empty means healthy.
Expected<QStringList> check(QSqlDatabase &db);
Expected<Facts> info(OpenedStore &opened);

// Writes an encrypted online copy to `target` (never plaintext, not even
// temporarily): exported into a keyed temporary file beside it, verified,
// fsync'ed, renamed. Mode 0600.
Expected<void> backup(Store &store, const QString &target, const SecretKey &backupKey);

// Verifies the backup, re-encrypts it with the store key, swaps it in, and
// keeps the old database until the new one has opened. Needs an exclusive
// open; `opened.store` is replaced by the restored store.
Expected<void> restore(OpenedStore &opened, const QString &backup, const SecretKey &backupKey);

// Rotates the store key and updates the key source. At every instant one
// of the old and new keys opens the store (see StoreOpener for recovery).
using RekeyDone = std::function<void(Expected<void>)>;
void rekey(OpenedStore &opened, QObject *context, RekeyDone done);
} // namespace StoreMaintenance
