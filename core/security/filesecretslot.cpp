#include "filesecretslot.h"

#include "durablefile.h"

#include <QCoreApplication>
#include <QFile>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("FileSecretSlot", text); }
QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }
} // namespace

FileSecretSlot::FileSecretSlot(QString path, bool writable)
    : m_path(std::move(path))
    , m_writable(writable)
{}

QString FileSecretSlot::describe() const { return tr("key file %1").arg(m_path); }

void FileSecretSlot::read(QObject *, ReadDone done) const { done(readNow()); }

void FileSecretSlot::write(const QByteArray &secret, QObject *, WriteDone done) const
{
    done(writeNow(secret));
}

void FileSecretSlot::remove(QObject *, WriteDone done) const { done(removeNow()); }

Expected<std::optional<QByteArray>> FileSecretSlot::readNow() const
{
    const QByteArray path = QFile::encodeName(m_path);
    const int fd = ::open(path.constData(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return std::optional<QByteArray>{};
        return fail(tr("cannot read %1: %2").arg(describe(), errnoText()));
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail(tr("%1 is not a regular file").arg(describe()));
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        ::close(fd);
        return fail(tr("%1 can be accessed by group or others (mode %2); refusing to use it. "
                       "Fix it with: chmod 600 %3")
                        .arg(describe(), QString::number(st.st_mode & 07777, 8), m_path));
    }
    if (st.st_size > 64 * 1024) {
        ::close(fd);
        return fail(tr("%1 is too large to be a key file").arg(describe()));
    }
    QByteArray data(static_cast<qsizetype>(st.st_size), '\0');
    qsizetype got = 0;
    while (got < data.size()) {
        const ssize_t n = ::read(fd, data.data() + got, static_cast<size_t>(data.size() - got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    ::close(fd);
    data.truncate(got);
    return std::optional<QByteArray>(data);
}

Expected<void> FileSecretSlot::writeNow(const QByteArray &secret) const
{
    if (!m_writable)
        return fail(tr("%1 is read-only for Framehouse").arg(describe()));
    return DurableFile::replace(m_path, secret, 0600);
}

Expected<void> FileSecretSlot::removeNow() const
{
    if (!m_writable)
        return fail(tr("%1 is read-only for Framehouse").arg(describe()));
    return DurableFile::remove(m_path);
}
