#include "storelock.h"

#include "storelocation.h"

#include <QCoreApplication>

StoreLock::StoreLock(const QString &path) : m_file(path)
{
    // Age alone never makes a lock stale: only a dead holder does.
    m_file.setStaleLockTime(0);
}

Expected<std::unique_ptr<StoreLock>> StoreLock::acquire(const StoreLocation &location)
{
    std::unique_ptr<StoreLock> lock(new StoreLock(location.lockPath()));
    if (lock->m_file.tryLock(0))
        return lock;
    qint64 pid = 0;
    QString host;
    QString application;
    if (lock->m_file.error() == QLockFile::LockFailedError &&
        lock->m_file.getLockInfo(&pid, &host, &application))
        return fail(QCoreApplication::translate(
                        "StoreLock", "the store %1 is in use by process %2 (%3 on %4); stop it "
                                     "first, only one engine may use a store at a time")
                        .arg(location.directory())
                        .arg(pid)
                        .arg(application, host));
    return fail(QCoreApplication::translate("StoreLock", "cannot create the lock file %1")
                    .arg(location.lockPath()));
}
