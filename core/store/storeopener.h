#pragma once

#include "expected.h"
#include "security/storekeysource.h"
#include "store.h"
#include "storelock.h"

#include <QObject>

#include <functional>
#include <memory>
#include <optional>

struct StoreRequest {
    QString directory;
    QString keyFile; // empty: systemd credential, else the OS keychain
    bool createIfMissing = false;
    // Exclusive: take the engine lock, migrate, and finish or clean up an
    // interrupted rekey or restore. Shared opens only read.
    bool exclusive = true;
    // Also keep readers (check, info, backup) out: for rekey and restore.
    bool excludeReaders = false;
};

struct OpenedStore {
    std::shared_ptr<Store> store;
    std::shared_ptr<StoreLock> lock;        // the engine lock; null for a shared open
    std::shared_ptr<StoreLock> readersLock; // shared for readers, exclusive for rekey/restore
    std::shared_ptr<StoreKeySource> keySource;
    std::shared_ptr<SecretKey> key;
    QString storeId;
    bool created = false;
};

// Finds the store's key, creates key and store on first run when asked,
// recovers from an interrupted rekey, and opens the store. Never creates a
// new store where one exists that the key does not open.
namespace StoreOpener {
using Done = std::function<void(Expected<OpenedStore>)>;
void open(const StoreRequest &request, QObject *context, Done done);
} // namespace StoreOpener
