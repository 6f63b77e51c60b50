#include "workerprocess.h"

#include "security/redactor.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QTimer>

#include <csignal>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace {

// Only what encoding and its diagnostics need; never the engine's own
// variables (configuration, key paths).
QProcessEnvironment workerEnvironment()
{
    static const char *const passed[] = {
        "ASAN_OPTIONS",       "UBSAN_OPTIONS",        "LSAN_OPTIONS",          "LIBVA_DRIVER_NAME",
        "LIBVA_DRIVERS_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"};
    const QProcessEnvironment system = QProcessEnvironment::systemEnvironment();
    QProcessEnvironment env;
    for (const char *name : passed) {
        const QString key = QString::fromLatin1(name);
        if (system.contains(key))
            env.insert(key, system.value(key));
    }
    env.insert(QStringLiteral("LC_ALL"), QStringLiteral("C"));
    return env;
}

// Errors that another attempt will not change.
bool permanent(const QString &code)
{
    return code == WorkerMessage::InputInvalid || code == WorkerMessage::Unsupported ||
           code == WorkerMessage::LimitExceeded || code == WorkerMessage::RequestInvalid ||
           code == WorkerMessage::SandboxFailed || code == WorkerMessage::EncoderFailed;
}
} // namespace

WorkerProcess::WorkerProcess(const QString &program, QObject *parent)
    : QObject(parent)
{
    m_process.setProgram(program);
    m_process.setProcessEnvironment(workerEnvironment());
    m_process.setWorkingDirectory(QStringLiteral("/"));
    connect(&m_process, &QProcess::readyReadStandardOutput, this, &WorkerProcess::readOutput);
    connect(&m_process, &QProcess::readyReadStandardError, this, &WorkerProcess::readErrors);
    connect(&m_process, &QProcess::finished, this, &WorkerProcess::processEnded);
    connect(&m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart) {
            m_end = End{false,
                        {},
                        QString(Crashed),
                        tr("cannot start %1: %2").arg(m_process.program(), m_process.errorString()),
                        false,
                        false};
            processEnded(-1, QProcess::CrashExit);
        }
    });
}

WorkerProcess::~WorkerProcess()
{
    if (m_process.state() != QProcess::NotRunning) {
        m_process.kill();
        m_process.waitForFinished(5000);
    }
}

void WorkerProcess::start(const WorkerRequest &request, int inputFd, int outputFd)
{
    const pid_t parent = ::getpid();
    m_process.setChildProcessModifier([inputFd, outputFd, parent] {
        // Between fork and exec: async-signal-safe calls only. Duplicate
        // above 10 first so that placing one descriptor cannot close the
        // other, then onto 3 and 4 (dup2 clears close-on-exec there).
        const int in = ::fcntl(inputFd, F_DUPFD_CLOEXEC, 10);
        const int out = ::fcntl(outputFd, F_DUPFD_CLOEXEC, 10);
        if (in < 0 || out < 0 || ::dup2(in, 3) < 0 || ::dup2(out, 4) < 0)
            ::_exit(127);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) // the engine died before the line above
            ::_exit(127);
    });
    m_started.start();
    m_lastOutput.start();
    m_process.start(QIODevice::ReadWrite);
    QByteArray line = QJsonDocument(request.toJson()).toJson(QJsonDocument::Compact);
    line.append('\n');
    m_process.write(line);
    m_process.closeWriteChannel();
}

void WorkerProcess::stop(const QString &reason, bool retryable, int graceMs)
{
    if (!m_end)
        m_end = End{false, {}, QString(Stopped), reason, retryable, false};
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    QTimer::singleShot(graceMs, this, [this] {
        if (m_process.state() != QProcess::NotRunning)
            m_process.kill();
    });
}

qint64 WorkerProcess::pid() const { return m_process.processId(); }

QString WorkerProcess::log() const
{
    QByteArray text = m_logHead;
    if (m_logDropped > 0)
        text += "\n[... " + QByteArray::number(m_logDropped) + " bytes left out ...]\n";
    text += m_logTail;
    // Redacted line by line: the log keeps its lines, and a line cannot
    // smuggle control characters or another line in.
    QStringList lines = QString::fromUtf8(text).split(u'\n');
    for (QString &line : lines)
        line = Redactor::text(line);
    return lines.join(u'\n');
}

void WorkerProcess::readOutput()
{
    m_lastOutput.restart();
    m_lineBuffer += m_process.readAllStandardOutput();
    qsizetype newline;
    while ((newline = m_lineBuffer.indexOf('\n')) >= 0) {
        const QByteArray line = m_lineBuffer.left(newline);
        m_lineBuffer.remove(0, newline + 1);
        handleLine(line);
    }
    if (m_lineBuffer.size() > MaxLineBytes)
        protocolError(tr("a line of more than %1 bytes").arg(MaxLineBytes));
}

void WorkerProcess::readErrors()
{
    const QByteArray chunk = m_process.readAllStandardError();
    const qsizetype headRoom = MaxLogBytes / 4 - m_logHead.size();
    if (headRoom > 0)
        m_logHead += chunk.left(headRoom);
    if (chunk.size() > headRoom) {
        m_logTail += chunk.mid(std::max<qsizetype>(headRoom, 0));
        const qsizetype excess = m_logTail.size() - (MaxLogBytes - MaxLogBytes / 4);
        if (excess > 0) {
            m_logTail.remove(0, excess);
            m_logDropped += excess;
        }
    }
}

void WorkerProcess::handleLine(const QByteArray &line)
{
    if (m_end)
        return; // already decided; the rest is noise
    Expected<WorkerMessage> message = WorkerMessage::parse(line);
    if (!message) {
        protocolError(message.error());
        return;
    }
    switch (message->type) {
    case WorkerMessage::Type::Started:
        Q_EMIT started(message->body);
        break;
    case WorkerMessage::Type::Progress:
        Q_EMIT progressed(message->body);
        break;
    case WorkerMessage::Type::Finished:
        m_end = End{true, message->body, {}, {}, false, false};
        break;
    case WorkerMessage::Type::Error: {
        const QString code = message->errorCode();
        m_end = End{false,
                    {},
                    code,
                    Redactor::text(message->errorMessage()),
                    !permanent(code),
                    code == WorkerMessage::HardwareFailed};
        break;
    }
    }
}

void WorkerProcess::protocolError(const QString &message)
{
    m_end = End{false,
                {},
                QString(Protocol),
                tr("worker %1 broke the protocol: %2").arg(pid()).arg(Redactor::text(message)),
                true,
                false};
    m_process.kill();
}

void WorkerProcess::processEnded(int exitCode, QProcess::ExitStatus status)
{
    if (m_reported)
        return;
    readErrors();
    if (m_process.bytesAvailable() > 0 || !m_lineBuffer.isEmpty())
        readOutput();
    m_reported = true;
    End end;
    if (m_end && !(m_end->finished && (status != QProcess::NormalExit || exitCode != 0))) {
        end = *m_end;
    } else if (status == QProcess::CrashExit && (exitCode == SIGSYS || exitCode == SIGXFSZ)) {
        // The sandbox stopped it (a forbidden system call, the file size
        // limit): the input is treated as hostile, not tried again.
        end = End{false,
                  {},
                  QString(Crashed),
                  exitCode == SIGSYS
                      ? tr("the worker was stopped by its sandbox (a forbidden system call)")
                      : tr("the worker was stopped by its sandbox (the output size limit)"),
                  false,
                  false};
    } else if (status == QProcess::CrashExit) {
        end = End{false,
                  {},
                  QString(Crashed),
                  tr("the worker crashed or was killed (signal %1)").arg(exitCode),
                  true,
                  false};
    } else {
        end = End{false,
                  {},
                  QString(Crashed),
                  tr("the worker exited with status %1 without a result").arg(exitCode),
                  true,
                  false};
    }
    Q_EMIT ended(end);
}
