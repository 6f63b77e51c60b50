#include "durablefile.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("DurableFile", text); }
QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }

Expected<void> writeAll(int fd, const QByteArray &content, const QString &path)
{
    qsizetype done = 0;
    while (done < content.size()) {
        const ssize_t n =
            ::write(fd, content.constData() + done, static_cast<size_t>(content.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(tr("cannot write %1: %2").arg(path, errnoText()));
        done += n;
    }
    return {};
}
} // namespace

Expected<void> DurableFile::replace(const QString &path, const QByteArray &content, unsigned mode)
{
    const QString dir = QFileInfo(path).absolutePath();
    const QString temp = path + QStringLiteral(".tmp-%1").arg(::getpid());
    const QByteArray tempName = QFile::encodeName(temp);
    ::unlink(tempName.constData());
    const int fd =
        ::open(tempName.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
               static_cast<mode_t>(mode));
    if (fd < 0)
        return fail(tr("cannot create %1: %2").arg(temp, errnoText()));
    // The umask may have narrowed the mode; never widen it beyond `mode`.
    ::fchmod(fd, static_cast<mode_t>(mode));
    Expected<void> written = writeAll(fd, content, temp);
    if (written && ::fsync(fd) != 0)
        written = fail(tr("cannot flush %1 to disk: %2").arg(temp, errnoText()));
    ::close(fd);
    if (!written) {
        ::unlink(tempName.constData());
        return written;
    }
    if (::rename(tempName.constData(), QFile::encodeName(path).constData()) != 0) {
        const QString why = errnoText();
        ::unlink(tempName.constData());
        return fail(tr("cannot replace %1: %2").arg(path, why));
    }
    return syncDirectory(dir);
}

Expected<void> DurableFile::rename(const QString &from, const QString &to)
{
    if (::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) != 0)
        return fail(tr("cannot rename %1 to %2: %3").arg(from, to, errnoText()));
    return syncDirectory(QFileInfo(to).absolutePath());
}

Expected<void> DurableFile::remove(const QString &path)
{
    if (::unlink(QFile::encodeName(path).constData()) != 0 && errno != ENOENT)
        return fail(tr("cannot remove %1: %2").arg(path, errnoText()));
    return syncDirectory(QFileInfo(path).absolutePath());
}

Expected<void> DurableFile::syncFile(const QString &path)
{
    const int fd = ::open(QFile::encodeName(path).constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(tr("cannot open %1: %2").arg(path, errnoText()));
    const bool ok = ::fsync(fd) == 0;
    const QString why = ok ? QString() : errnoText();
    ::close(fd);
    if (!ok)
        return fail(tr("cannot flush %1 to disk: %2").arg(path, why));
    return {};
}

Expected<void> DurableFile::syncDirectory(const QString &dir)
{
    const int fd = ::open(QFile::encodeName(dir).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(tr("cannot open directory %1: %2").arg(dir, errnoText()));
    if (::fsync(fd) != 0) {
        const QString why = errnoText();
        ::close(fd);
        return fail(tr("cannot flush directory %1 to disk: %2").arg(dir, why));
    }
    ::close(fd);
    return {};
}

Expected<void> DurableFile::ensurePrivateDirectory(const QString &dir)
{
    const QByteArray name = QFile::encodeName(dir);
    struct stat st {};
    if (::stat(name.constData(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return fail(tr("%1 exists and is not a directory").arg(dir));
        // An existing directory is never loosened or tightened behind the
        // operator's back: a shared one is refused with the fix.
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            return fail(tr("directory %1 can be accessed by group or others (mode %2); use a "
                           "private directory or fix it with: chmod 700 %1")
                            .arg(dir, QString::number(st.st_mode & 07777, 8)));
        return {};
    }
    if (!QDir().mkpath(dir))
        return fail(tr("cannot create directory %1").arg(dir));
    if (::chmod(name.constData(), 0700) != 0)
        return fail(tr("cannot make directory %1 private (chmod 700): %2").arg(dir, errnoText()));
    return {};
}
