#pragma once

#include "worker/workermessage.h"
#include "worker/workerrequest.h"

#include <QElapsedTimer>
#include <QObject>
#include <QProcess>

// One framehouse-worker process running one attempt: the request goes in on
// stdin, the input and output descriptors become the child's fds 3 and 4,
// stdout is read as WorkerMessage lines and stderr is kept (bounded) for
// the job's log. The child gets a minimal environment and dies with the
// thread that started it (PR_SET_PDEATHSIG), so a killed engine leaves no
// worker behind.
class WorkerProcess : public QObject {
    Q_OBJECT
public:
    // How an attempt ended, from the supervisor's point of view.
    struct End {
        bool finished = false; // a valid "finished" message and exit 0
        QJsonObject result;    // the finished message
        QString errorCode;     // a WorkerMessage code, or "crashed" / "protocol"
        QString message;
        bool retryable = false;
        bool hardwareFailed = false;
    };
    static constexpr QLatin1StringView Crashed{"crashed"};
    static constexpr QLatin1StringView Protocol{"protocol"};
    static constexpr QLatin1StringView Stopped{"stopped"};

    static constexpr qsizetype MaxLogBytes = 64 * 1024;
    static constexpr qsizetype MaxLineBytes = 64 * 1024;

    WorkerProcess(const QString &program, QObject *parent = nullptr);
    ~WorkerProcess() override;

    // Starts the worker; the descriptors are duplicated into the child.
    void start(const WorkerRequest &request, int inputFd, int outputFd);
    // SIGTERM now, SIGKILL after `graceMs` if it is still there. The
    // attempt then ends with `reason` (retryable or not).
    void stop(const QString &reason, bool retryable, int graceMs);
    qint64 pid() const;
    // Milliseconds since the last line on stdout (or the start).
    qint64 silentMs() const { return m_lastOutput.elapsed(); }
    qint64 runningMs() const { return m_started.elapsed(); }
    // The redacted stderr (head and tail when longer than MaxLogBytes).
    QString log() const;

Q_SIGNALS:
    void started(const QJsonObject &message);
    void progressed(const QJsonObject &message);
    void ended(const WorkerProcess::End &end);

private:
    void readOutput();
    void readErrors();
    void handleLine(const QByteArray &line);
    void processEnded(int exitCode, QProcess::ExitStatus status);
    void protocolError(const QString &message);

    QProcess m_process;
    QByteArray m_lineBuffer;
    QByteArray m_logHead;
    QByteArray m_logTail;
    qint64 m_logDropped = 0;
    QElapsedTimer m_lastOutput;
    QElapsedTimer m_started;
    std::optional<End> m_end; // decided before the process is gone (error line, stop)
    bool m_reported = false;
};
