#pragma once

#include "expected.h"

#include <QLockFile>

#include <memory>

class StoreLocation;

// The one-engine-per-store lock: a lock file beside the database holding
// the owner's pid. A lock left by a dead process is taken over.
class StoreLock {
public:
    static Expected<std::unique_ptr<StoreLock>> acquire(const StoreLocation &location);

private:
    explicit StoreLock(const QString &path);
    QLockFile m_file;
};
