#include "outputfile.h"

#include <QCoreApplication>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("OutputFile", text); }

QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }

QString leftoverInfix(const QString &jobUuid) { return QStringLiteral(".fh-") + jobUuid + u'-'; }
} // namespace

OutputFile::~OutputFile()
{
    if (!m_committed)
        discard();
    if (m_dirFd >= 0)
        ::close(m_dirFd);
}

Expected<void> OutputFile::create(const QString &directory, const QString &name,
                                  const QString &jobUuid, int attempt)
{
    m_directory = directory;
    m_name = name;
    m_dirFd = ::open(directory.toLocal8Bit().constData(),
                     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (m_dirFd < 0)
        return fail(tr("cannot open the output directory %1: %2").arg(directory, errnoText()));
    removeLeftovers(m_dirFd, jobUuid);
    m_temporary =
        u'.' + name + leftoverInfix(jobUuid) + QString::number(attempt) + QStringLiteral(".part");
    m_fd = ::openat(m_dirFd, m_temporary.toLocal8Bit().constData(),
                    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (m_fd < 0)
        return fail(tr("cannot create the output in %1: %2").arg(directory, errnoText()));
    return {};
}

Expected<QString> OutputFile::commit()
{
    if (::fsync(m_fd) != 0)
        return fail(tr("cannot write the output to disk: %1").arg(errnoText()));
    if (::renameat(m_dirFd, m_temporary.toLocal8Bit().constData(), m_dirFd,
                   m_name.toLocal8Bit().constData()) != 0)
        return fail(tr("cannot rename the output to %1: %2").arg(m_name, errnoText()));
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

void OutputFile::removeLeftovers(int directoryFd, const QString &jobUuid)
{
    const int scanFd = ::dup(directoryFd);
    if (scanFd < 0)
        return;
    DIR *dir = ::fdopendir(scanFd);
    if (!dir) {
        ::close(scanFd);
        return;
    }
    ::rewinddir(dir);
    const QByteArray infix = leftoverInfix(jobUuid).toLocal8Bit();
    while (const dirent *entry = ::readdir(dir)) {
        const QByteArray entryName(entry->d_name);
        if (entryName.startsWith('.') && entryName.contains(infix) && entryName.endsWith(".part"))
            ::unlinkat(directoryFd, entry->d_name, 0);
    }
    ::closedir(dir);
}
