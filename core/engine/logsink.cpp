#include "logsink.h"

#include "security/redactor.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFile>
#include <QLoggingCategory>
#include <QMutex>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

namespace {
Q_LOGGING_CATEGORY(lcAuth, "framehouse.auth")

QString tr(const char *text) { return QCoreApplication::translate("LogSink", text); }
QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }

struct State {
    QMutex mutex;
    bool installed = false;
    QtMessageHandler previous = nullptr;
    int fd = -1;
    QString path;
    bool fileFailureReported = false;
};

// Never destroyed: Qt can deliver messages while static objects are being
// torn down at exit, and the handler must still find its state.
State &state()
{
    static State *const s = new State;
    return *s;
}

// Set while this thread is inside the handler: if anything below ever logs,
// that message goes straight to stderr instead of deadlocking on the mutex.
thread_local bool t_inHandler = false;

// A reader that went away (a closed pipe, a stopped journald) must not kill
// the engine with SIGPIPE, and the process-wide disposition is not ours to
// change: block it for this thread, and swallow the one our write caused.
bool writeAll(int fd, const QByteArray &data)
{
    sigset_t pipeOnly;
    sigset_t previousMask;
    sigemptyset(&pipeOnly);
    sigaddset(&pipeOnly, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeOnly, &previousMask);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    const bool wasPending = sigismember(&pending, SIGPIPE) == 1;

    bool ok = true;
    qsizetype done = 0;
    while (done < data.size()) {
        const ssize_t n =
            ::write(fd, data.constData() + done, static_cast<size_t>(data.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        done += n;
    }
    const int savedErrno = errno;
    if (!ok && savedErrno == EPIPE && !wasPending) {
        const timespec noWait{0, 0};
        while (sigtimedwait(&pipeOnly, nullptr, &noWait) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &previousMask, nullptr);
    errno = savedErrno;
    return ok;
}

void appendJsonString(QByteArray &out, const QString &text)
{
    out += '"';
    for (const char ch : text.toUtf8()) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += ch;
        }
    }
    out += '"';
}

const char *levelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return "debug";
    case QtInfoMsg:
        return "info";
    case QtWarningMsg:
        return "warning";
    case QtCriticalMsg:
        return "critical";
    case QtFatalMsg:
        return "fatal";
    }
    return "unknown";
}

// Written by hand rather than with QJsonDocument so that the fields keep
// this order, which is the order a person reads them in.
QByteArray jsonLine(const char *level, const char *category, const QString &message)
{
    QByteArray line;
    line.reserve(message.size() + 128);
    line += "{\"time\":";
    appendJsonString(line, QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs));
    line += ",\"level\":";
    appendJsonString(line, QString::fromLatin1(level));
    line += ",\"category\":";
    appendJsonString(line, Redactor::text(QString::fromUtf8(category)));
    line += ",\"pid\":";
    line += QByteArray::number(QCoreApplication::applicationPid());
    line += ",\"message\":";
    appendJsonString(line, Redactor::text(message));
    line += "}\n";
    return line;
}

// One write per destination per line, under the lock, so lines from
// different threads never interleave.
void emitLine(const QByteArray &line)
{
    State &s = state();
    const QMutexLocker lock(&s.mutex);
    writeAll(STDERR_FILENO, line);
    if (s.fd < 0 || writeAll(s.fd, line))
        return;
    // Reported once, on stderr only, and not through qWarning: that would
    // come back here and fail again.
    if (!s.fileFailureReported) {
        s.fileFailureReported = true;
        const QString why = errnoText();
        writeAll(STDERR_FILENO, jsonLine("critical", "framehouse.log",
                                         QStringLiteral("cannot write log file %1: %2; "
                                                        "further failures are not reported")
                                             .arg(s.path, why)));
    }
}

void handleMessage(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    const QByteArray line =
        jsonLine(levelName(type), context.category ? context.category : "default", message);
    if (t_inHandler) {
        writeAll(STDERR_FILENO, line);
        return;
    }
    t_inHandler = true;
    emitLine(line);
    t_inHandler = false;
}

// Redacted, one token: the filter splits on spaces, so a space in a field
// would let a client choose what fail2ban reads as the address.
QString authField(const QString &value)
{
    QString out = Redactor::text(value);
    for (QChar &c : out) {
        if (c.isSpace())
            c = u'_';
    }
    return out.isEmpty() ? QStringLiteral("-") : out;
}
} // namespace

Expected<void> LogSink::install(const QString &filePath)
{
    int fd = -1;
    if (!filePath.isEmpty()) {
        fd = ::open(QFile::encodeName(filePath).constData(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
            return fail(tr("cannot open log file %1: %2").arg(filePath, errnoText()));
    }
    State &s = state();
    const QMutexLocker lock(&s.mutex);
    if (s.fd >= 0)
        ::close(s.fd);
    s.fd = fd;
    s.path = filePath;
    s.fileFailureReported = false;
    if (!s.installed) {
        s.previous = qInstallMessageHandler(handleMessage);
        s.installed = true;
    }
    return {};
}

void LogSink::uninstall()
{
    State &s = state();
    const QMutexLocker lock(&s.mutex);
    if (!s.installed)
        return;
    qInstallMessageHandler(s.previous);
    s.previous = nullptr;
    s.installed = false;
    if (s.fd >= 0)
        ::close(s.fd);
    s.fd = -1;
    s.path.clear();
}

bool LogSink::isInstalled()
{
    State &s = state();
    const QMutexLocker lock(&s.mutex);
    return s.installed;
}

QString LogSink::authenticationFailureLine(const QString &sourceIp, const QString &keyId,
                                           const QString &reason)
{
    // A fixed, untranslated form: it is matched by the fail2ban filter.
    return QStringLiteral("framehouse: authentication failure from ") + authField(sourceIp) +
           QStringLiteral(" key=") + authField(keyId) + QStringLiteral(" reason=") +
           authField(reason);
}

void LogSink::authenticationFailure(const QString &sourceIp, const QString &keyId,
                                    const QString &reason)
{
    // Worded differently from the plain line, so that a filter matching
    // anywhere in a line still counts each failure once.
    qCWarning(lcAuth).noquote() << QStringLiteral("authentication failed from %1 for key %2: %3")
                                       .arg(sourceIp, keyId.isEmpty() ? QStringLiteral("-") : keyId,
                                            reason);
    emitLine(authenticationFailureLine(sourceIp, keyId, reason).toUtf8() + '\n');
}
