#pragma once

#include "expected.h"

#include <memory>

class StoreLocation;

// Locks beside the database, as flock(2), which the kernel drops when the
// holder dies, however it dies: a killed process never leaves a stale lock.
//   Engine     framehouse.lock, exclusive: one engine per store; the file
//              records the holder's pid and name for the error message.
//   Reader     framehouse.readers, shared: check, info and backup.
//   NoReaders  framehouse.readers, exclusive: rekey and restore, which
//              replace the database file under any reader.
class StoreLock {
public:
    enum class Kind { Engine, Reader, NoReaders };
    static Expected<std::unique_ptr<StoreLock>> acquire(const StoreLocation &location,
                                                        Kind kind = Kind::Engine);
    ~StoreLock();
    StoreLock(const StoreLock &) = delete;
    StoreLock &operator=(const StoreLock &) = delete;

private:
    explicit StoreLock(int fd)
        : m_fd(fd)
    {}
    int m_fd;
};
