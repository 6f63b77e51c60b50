#pragma once

#include "expected.h"

#include <memory>

class StoreLocation;

// The one-engine-per-store lock: an flock(2) on a lock file beside the
// database, which records the holder's pid and name for the error message.
// The kernel drops the lock when the holder dies, however it dies, so a
// killed engine never leaves a stale lock behind.
class StoreLock {
public:
    static Expected<std::unique_ptr<StoreLock>> acquire(const StoreLocation &location);
    ~StoreLock();
    StoreLock(const StoreLock &) = delete;
    StoreLock &operator=(const StoreLock &) = delete;

private:
    explicit StoreLock(int fd)
        : m_fd(fd)
    {}
    int m_fd;
};
