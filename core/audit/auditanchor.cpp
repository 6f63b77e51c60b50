#include "auditanchor.h"

#include "security/secretslot.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QFile>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("AuditAnchor", text); }

// The keychain answers asynchronously; the anchor is small and written
// after a commit, so waiting for it here keeps the callers simple. File
// slots call back before returning and never spin the loop.
template <typename Result, typename Start> Result waitFor(Start start)
{
    std::optional<Result> result;
    QEventLoop loop;
    QObject context;
    start(&context, [&](Result r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec(QEventLoop::ExcludeUserInputEvents);
    return std::move(*result);
}

// The lock between processes. A keychain anchor is waited for in a nested
// event loop, in which another commit on the same thread may move the anchor
// too: that one must not wait for the lock its own thread holds, so the lock
// is taken once per thread and the forward-only check uses m_known.
thread_local int lockDepth = 0;

class LockFile {
public:
    explicit LockFile(const QString &path)
    {
        if (lockDepth++ > 0) {
            m_fd = -2; // held further up this thread's stack
            return;
        }
        m_fd = ::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (m_fd >= 0 && ::flock(m_fd, LOCK_EX) != 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }
    ~LockFile()
    {
        --lockDepth;
        if (m_fd >= 0)
            ::close(m_fd);
    }
    LockFile(const LockFile &) = delete;
    LockFile &operator=(const LockFile &) = delete;
    bool held() const { return m_fd >= 0 || m_fd == -2; }

private:
    int m_fd;
};

Expected<std::optional<AuditTip>> parse(const QByteArray &text, const QString &source)
{
    // "<seq> <64 hex digits>\n"
    const QList<QByteArray> parts = text.trimmed().split(' ');
    bool ok = parts.size() == 2;
    const qint64 seq = ok ? parts.at(0).toLongLong(&ok) : 0;
    const QByteArray mac = ok ? QByteArray::fromHex(parts.at(1)) : QByteArray();
    if (!ok || seq < 1 || mac.size() != 32 || parts.at(1).size() != 64)
        return fail(tr("%1 does not hold a valid audit anchor").arg(source));
    return std::optional<AuditTip>(AuditTip{seq, mac});
}
} // namespace

AuditAnchor::AuditAnchor(std::shared_ptr<SecretSlot> slot, QString lockPath)
    : m_slot(std::move(slot))
    , m_lockPath(std::move(lockPath))
{}

QString AuditAnchor::describe() const { return m_slot->describe(); }

Expected<std::optional<AuditTip>> AuditAnchor::read() const
{
    using Read = Expected<std::optional<QByteArray>>;
    Read text = waitFor<Read>([this](QObject *context, SecretSlot::ReadDone done) {
        m_slot->read(context, std::move(done));
    });
    if (!text)
        return text.failure();
    if (!text.value())
        return std::optional<AuditTip>();
    return parse(*text.value(), describe());
}

Expected<void> AuditAnchor::advance(const AuditTip &tip) const { return write(tip, true); }

Expected<void> AuditAnchor::reset(const AuditTip &tip) const { return write(tip, false); }

Expected<std::optional<AuditTip>> AuditAnchor::known() const
{
    {
        const QMutexLocker locker(&m_mutex);
        if (m_loaded)
            return m_known;
    }
    Expected<std::optional<AuditTip>> current = read();
    if (!current)
        return current.failure();
    const QMutexLocker locker(&m_mutex);
    if (!m_loaded || (current.value() && (!m_known || current.value()->seq > m_known->seq)))
        m_known = current.value();
    m_loaded = true;
    return m_known;
}

Expected<void> AuditAnchor::write(const AuditTip &tip, bool forwardOnly) const
{
    const LockFile lock(m_lockPath);
    if (!lock.held())
        return fail(tr("cannot lock %1 to update the audit anchor").arg(m_lockPath));
    if (forwardOnly) {
        // An anchor that cannot be read is never overwritten with a tip that
        // might be older than what it holds.
        Expected<std::optional<AuditTip>> current = read();
        if (!current)
            return current.failure();
        const QMutexLocker locker(&m_mutex);
        const qint64 newest =
            qMax(current.value() ? current.value()->seq : 0, m_known ? m_known->seq : 0);
        if (newest >= tip.seq)
            return {};
    }
    {
        const QMutexLocker locker(&m_mutex);
        m_known = tip;
        m_loaded = true;
    }
    const QByteArray text = QByteArray::number(tip.seq) + ' ' + tip.mac.toHex() + '\n';
    return waitFor<Expected<void>>([this, &text](QObject *context, SecretSlot::WriteDone done) {
        m_slot->write(text, context, std::move(done));
    });
}
