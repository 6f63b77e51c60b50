#pragma once

#include "jobs/jobqueue.h"
#include "storesession.h"

#include <QObject>
#include <QTimer>

#include <functional>
#include <memory>

// jobs submit --wait: follows one job through the store until it is final.
// On a terminal a one-line progress bar is redrawn in place; otherwise
// nothing is printed until the end, so a script reads only the result.
// Interrupting the wait leaves the job as it is.
class JobWait : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static constexpr int PollMs = 200;

    // `warned`: the caller already said that the job waits for an engine.
    JobWait(std::shared_ptr<StoreSession> session, JobQueue queue, qint64 id, bool json,
            bool warned, Finished finished, QObject *parent = nullptr);
    void start();

    // "[#######-----]  58%  96.0 fps  3.20x  ETA 0:41"
    static QString progressLine(const Job &job, qint64 now);

private:
    void poll();
    void draw(const Job &job, qint64 now);
    void end(const Job &job);

    std::shared_ptr<StoreSession> m_session;
    JobQueue m_queue;
    qint64 m_id;
    bool m_json;
    bool m_warned;
    bool m_terminal;
    qsizetype m_drawnWidth = 0;
    qint64 m_engineCheckedAt = 0;
    QTimer m_timer;
    Finished m_finished;
};
