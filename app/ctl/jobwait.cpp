#include "jobwait.h"

#include "ctloutput.h"
#include "enginestatus.h"
#include "security/redactor.h"

#include <QDateTime>

#include <unistd.h>

using namespace CtlOutput;

namespace {
constexpr int BarWidth = 24;
// The engine is looked for again this often, to warn once when it stops.
constexpr qint64 EngineCheckMs = 5000;

QString clock(qint64 seconds)
{
    const qint64 h = seconds / 3600;
    const qint64 m = seconds / 60 % 60;
    const qint64 s = seconds % 60;
    const QString ms = QStringLiteral("%1:%2")
                           .arg(m, h > 0 ? 2 : 1, 10, QLatin1Char('0'))
                           .arg(s, 2, 10, QLatin1Char('0'));
    return h > 0 ? QString(QString::number(h) + u':' + ms) : ms;
}
} // namespace

JobWait::JobWait(std::shared_ptr<StoreSession> session, JobQueue queue, qint64 id, bool json,
                 bool warned, Finished finished, QObject *parent)
    : QObject(parent)
    , m_session(std::move(session))
    , m_queue(std::move(queue))
    , m_id(id)
    , m_json(json)
    , m_warned(warned)
    , m_terminal(::isatty(STDOUT_FILENO) == 1 && !json)
    , m_finished(std::move(finished))
{
    m_timer.setInterval(PollMs);
    connect(&m_timer, &QTimer::timeout, this, &JobWait::poll);
}

void JobWait::start()
{
    m_timer.start();
    poll();
}

QString JobWait::progressLine(const Job &job, qint64 now)
{
    if (job.state == Job::State::Queued)
        return tr("job %1 queued, waiting for a worker").arg(job.id);
    const double fraction = std::clamp(job.progress, 0.0, 1.0);
    const int filled = int(fraction * BarWidth);
    QString line = u'[' + QString(filled, u'#') + QString(BarWidth - filled, u'-') +
                   QStringLiteral("] ") + QStringLiteral("%1%").arg(int(fraction * 100), 3);
    if (job.fps > 0)
        line += QStringLiteral("  %1 fps").arg(job.fps, 0, 'f', 1);
    if (job.speed > 0)
        line += QStringLiteral("  %1x").arg(job.speed, 0, 'f', 2);
    const qint64 elapsedMs = job.startedAt ? now - *job.startedAt : 0;
    if (fraction > 0.001 && elapsedMs > 0) {
        const qint64 leftS = qint64(elapsedMs * (1 - fraction) / fraction / 1000);
        line += QStringLiteral("  ETA ") + clock(leftS);
    } else {
        line += QStringLiteral("  ETA --:--");
    }
    return line;
}

void JobWait::poll()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QSqlDatabase db = m_session->db();
    Expected<Job> job = m_queue.find(db, m_id);
    if (!job) {
        m_timer.stop();
        if (m_drawnWidth > 0)
            out() << Qt::endl;
        m_finished(report(job.error()));
        return;
    }
    if (job->isFinal()) {
        end(job.value());
        return;
    }
    if (!m_warned && now - m_engineCheckedAt >= EngineCheckMs) {
        m_engineCheckedAt = now;
        const QString warning = EngineStatus::whyJobsWait(db, now);
        if (!warning.isEmpty()) {
            if (m_drawnWidth > 0)
                out() << Qt::endl;
            m_drawnWidth = 0;
            EngineStatus::warn(warning);
            m_warned = true;
        }
    }
    if (m_terminal)
        draw(job.value(), now);
}

void JobWait::draw(const Job &job, qint64 now)
{
    const QString line = Redactor::escapeControls(progressLine(job, now));
    // Spaces over what is left of a longer previous line.
    out() << u'\r' << line.leftJustified(std::max(line.size(), m_drawnWidth));
    out().flush();
    m_drawnWidth = line.size();
}

void JobWait::end(const Job &job)
{
    m_timer.stop();
    if (m_drawnWidth > 0)
        out() << Qt::endl;
    if (m_json)
        printJson(QJsonDocument(job.toJson()));
    if (job.state == Job::State::Succeeded) {
        if (!m_json)
            out() << Redactor::escapeControls(job.outputPath) << Qt::endl;
        m_finished(Success);
    } else if (job.state == Job::State::Cancelled) {
        m_finished(report(tr("job %1 was cancelled: %2").arg(job.id).arg(job.error)));
    } else {
        m_finished(report(tr("job %1 failed: %2").arg(job.id).arg(job.error)));
    }
}
