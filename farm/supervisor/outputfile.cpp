#include "outputfile.h"

#include "jobs/farmroots.h"

#include <QCoreApplication>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("OutputFile", text); }

QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }

QString leftoverInfix(const QString &jobUuid) { return QStringLiteral(".fh-") + jobUuid + u'-'; }

// The job uuid recorded on the file `name` in `dirFd`, "" when none.
QByteArray writtenBy(int dirFd, const QByteArray &name)
{
    const int fd =
        ::openat(dirFd, name.constData(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return {};
    char value[64];
    const ssize_t size = ::fgetxattr(fd, OutputFile::JobAttribute, value, sizeof value);
    ::close(fd);
    return size > 0 ? QByteArray(value, int(size)) : QByteArray();
}
} // namespace

OutputFile::~OutputFile()
{
    if (!m_committed)
        discard();
    if (m_dirFd >= 0)
        ::close(m_dirFd);
}

QString OutputFile::descriptorPath(int fd)
{
    char target[4096];
    const QByteArray link = "/proc/self/fd/" + QByteArray::number(fd);
    const ssize_t size = ::readlink(link.constData(), target, sizeof target - 1);
    return size > 0 ? QString::fromLocal8Bit(target, int(size)) : QString();
}

Expected<void> OutputFile::create(const QString &directory, const QStringList &roots,
                                  const QString &name, const QString &jobUuid, const QString &token)
{
    m_name = name;
    m_jobUuid = jobUuid;
    m_dirFd = ::open(directory.toLocal8Bit().constData(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (m_dirFd < 0)
        return fail(tr("output.directory: cannot open %1: %2").arg(directory, errnoText()),
                    Refused);
    Expected<QString> inside =
        FarmRoots::resolveInside(descriptorPath(m_dirFd), roots, FarmRoots::Kind::Output);
    if (!inside)
        return fail(tr("output.directory: %1").arg(inside.error()), Refused);
    m_directory = inside.value();
    removeLeftovers();
    return recreate(token);
}

Expected<void> OutputFile::recreate(const QString &token)
{
    discard();
    m_temporary = u'.' + m_name + leftoverInfix(m_jobUuid) + token + QStringLiteral(".part");
    m_fd = ::openat(m_dirFd, m_temporary.toLocal8Bit().constData(),
                    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (m_fd < 0)
        return fail(tr("cannot create the output in %1: %2").arg(m_directory, errnoText()));
    return {};
}

Expected<QString> OutputFile::commit()
{
    if (::fsync(m_fd) != 0)
        return fail(tr("cannot write the output to disk: %1").arg(errnoText()));
    const QByteArray uuid = m_jobUuid.toLatin1();
    // Best effort: without user xattrs (some file systems) an existing
    // output is simply never replaced.
    ::fsetxattr(m_fd, JobAttribute, uuid.constData(), size_t(uuid.size()), 0);
    const QByteArray temporary = m_temporary.toLocal8Bit();
    const QByteArray final = m_name.toLocal8Bit();
    if (::renameat2(m_dirFd, temporary.constData(), m_dirFd, final.constData(), RENAME_NOREPLACE) !=
        0) {
        if (errno != EEXIST)
            return fail(tr("cannot rename the output to %1: %2").arg(m_name, errnoText()));
        if (writtenBy(m_dirFd, final) != uuid)
            return fail(tr("%1 already exists in %2 and was not written by this job; remove it "
                           "or choose another output name")
                            .arg(m_name, m_directory),
                        EEXIST);
        if (::renameat(m_dirFd, temporary.constData(), m_dirFd, final.constData()) != 0)
            return fail(tr("cannot rename the output to %1: %2").arg(m_name, errnoText()));
    }
    m_committed = true;
    ::close(m_fd);
    m_fd = -1;
    if (::fsync(m_dirFd) != 0)
        return fail(tr("cannot sync the output directory: %1").arg(errnoText()));
    return QString(m_directory + u'/' + m_name);
}

void OutputFile::discard()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (m_dirFd >= 0 && !m_temporary.isEmpty() && !m_committed) {
        ::unlinkat(m_dirFd, m_temporary.toLocal8Bit().constData(), 0);
        m_temporary.clear();
    }
}

void OutputFile::removeCommitted()
{
    if (m_committed && m_dirFd >= 0)
        ::unlinkat(m_dirFd, m_name.toLocal8Bit().constData(), 0);
}

void OutputFile::removeLeftovers()
{
    const int scanFd = ::fcntl(m_dirFd, F_DUPFD_CLOEXEC, 0);
    if (scanFd < 0)
        return;
    DIR *dir = ::fdopendir(scanFd);
    if (!dir) {
        ::close(scanFd);
        return;
    }
    ::rewinddir(dir);
    const QByteArray infix = leftoverInfix(m_jobUuid).toLocal8Bit();
    while (const dirent *entry = ::readdir(dir)) {
        const QByteArray entryName(entry->d_name);
        if (entryName.startsWith('.') && entryName.contains(infix) && entryName.endsWith(".part"))
            ::unlinkat(m_dirFd, entry->d_name, 0);
    }
    ::closedir(dir);
}
