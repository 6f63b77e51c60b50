#include "storelock.h"

#include "storelocation.h"

#include <QCoreApplication>
#include <QFile>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("StoreLock", text); }
} // namespace

StoreLock::~StoreLock() { ::close(m_fd); }

Expected<std::unique_ptr<StoreLock>> StoreLock::acquire(const StoreLocation &location, Kind kind)
{
    const QString path = kind == Kind::Engine
                             ? location.lockPath()
                             : location.directory() + QStringLiteral("/framehouse.readers");
    const int fd = ::open(QFile::encodeName(path).constData(),
                          O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fail(tr("cannot open the lock file %1: %2")
                        .arg(path, QString::fromLocal8Bit(std::strerror(errno))));
    if (::flock(fd, (kind == Kind::Reader ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        const int error = errno;
        if (error == EWOULDBLOCK && kind == Kind::Reader) {
            ::close(fd);
            return fail(tr("the store %1 is being rekeyed or restored; try again when that is "
                           "done")
                            .arg(location.directory()));
        }
        if (error == EWOULDBLOCK && kind == Kind::NoReaders) {
            ::close(fd);
            return fail(tr("the store %1 is being read (a check, info or backup is running); "
                           "try again when it is done")
                            .arg(location.directory()));
        }
        char holder[256] = {};
        const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
        ::close(fd);
        if (error != EWOULDBLOCK)
            return fail(
                tr("cannot lock %1: %2").arg(path, QString::fromLocal8Bit(std::strerror(error))));
        const QStringList fields =
            QString::fromUtf8(holder, n > 0 ? static_cast<qsizetype>(n) : 0).split(u'\n');
        return fail(tr("the store %1 is in use by process %2 (%3); stop it first, only one "
                       "engine may use a store at a time")
                        .arg(location.directory(), fields.value(0, QStringLiteral("?")),
                             fields.value(1).trimmed()));
    }
    if (kind != Kind::Engine)
        return std::unique_ptr<StoreLock>(new StoreLock(fd));
    const QByteArray holder = QByteArray::number(QCoreApplication::applicationPid()) + '\n' +
                              QCoreApplication::applicationName().toUtf8() + '\n';
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, holder.constData(), static_cast<size_t>(holder.size()), 0) != holder.size()) {
        ::close(fd);
        return fail(tr("cannot write the lock file %1").arg(path));
    }
    return std::unique_ptr<StoreLock>(new StoreLock(fd));
}
