#include "jobcommands.h"

#include "ctloutput.h"
#include "enginestatus.h"
#include "jobs/jobpurge.h"
#include "jobs/presets.h"
#include "jobsubmission.h"
#include "jobwait.h"
#include "security/redactor.h"
#include "storesession.h"
#include "texttable.h"

#include <QDateTime>
#include <QJsonArray>

using namespace CtlOutput;

namespace {
constexpr int DefaultListLimit = 50;
constexpr int MaxListLimit = 100000;
constexpr int ErrorWidth = 48;

QString option(const QCommandLineParser &parser, const char *name)
{
    return parser.value(QString::fromLatin1(name));
}

bool isSet(const QCommandLineParser &parser, const char *name)
{
    return parser.isSet(QString::fromLatin1(name));
}

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

Expected<qint64> jobId(const QString &text)
{
    bool ok = false;
    const qint64 id = text.toLongLong(&ok);
    if (!ok || id < 1)
        return fail(QObject::tr("a job id is a whole number like 42, not \"%1\"").arg(text), Usage);
    return id;
}

QString percent(double fraction)
{
    return QString::number(std::clamp(fraction, 0.0, 1.0) * 100, 'f', 0) + u'%';
}

QString orDash(const QString &text) { return text.isEmpty() ? QStringLiteral("-") : text; }

void printList(const QList<Job> &jobs)
{
    QList<QStringList> rows{{QObject::tr("ID"), QObject::tr("STATE"), QObject::tr("PROGRESS"),
                             QObject::tr("ENCODER"), QObject::tr("NAME"), QObject::tr("SUBMITTED"),
                             QObject::tr("ERROR")}};
    for (const Job &job : jobs)
        rows << QStringList{QString::number(job.id),
                            Job::stateName(job.state),
                            percent(job.progress),
                            orDash(job.encoder),
                            job.name,
                            time(job.submittedAt),
                            TextTable::truncated(orDash(job.error), ErrorWidth)};
    TextTable::print(rows);
}

QJsonArray eventsJson(const QList<JobQueue::Event> &events)
{
    QJsonArray array;
    for (const JobQueue::Event &e : events)
        array.append(
            QJsonObject{{QStringLiteral("at"),
                         QDateTime::fromMSecsSinceEpoch(e.at, Qt::UTC).toString(Qt::ISODateWithMs)},
                        {QStringLiteral("kind"), e.kind},
                        {QStringLiteral("message"), e.message}});
    return array;
}

QString optionalTime(const std::optional<qint64> &ms) { return time(ms.value_or(0)); }

void printJob(const Job &job, const QList<JobQueue::Event> &events, const QString *log)
{
    const QList<QPair<QString, QString>> fields{
        {QObject::tr("id"), QString::number(job.id)},
        {QObject::tr("uuid"), job.uuid},
        {QObject::tr("name"), job.name},
        {QObject::tr("state"), Job::stateName(job.state)},
        {QObject::tr("preset"), orDash(job.preset)},
        {QObject::tr("priority"), QString::number(job.priority)},
        {QObject::tr("submitted"), time(job.submittedAt) + QObject::tr(" by ") + job.submittedBy},
        {QObject::tr("started"), optionalTime(job.startedAt)},
        {QObject::tr("finished"), optionalTime(job.finishedAt)},
        {QObject::tr("attempts"), QString::number(job.attempts)},
        {QObject::tr("progress"), percent(job.progress)},
        {QObject::tr("encoder"), orDash(job.encoder)},
        {QObject::tr("worker pid"),
         job.workerPid ? QString::number(*job.workerPid) : QStringLiteral("-")},
        {QObject::tr("output"),
         orDash(job.outputPath) +
             (job.outputRemovedAt ? QObject::tr(" (removed %1)").arg(time(*job.outputRemovedAt))
                                  : QString())},
        {QObject::tr("error"), orDash(job.error)},
        {QObject::tr("spec"),
         QString::fromUtf8(QJsonDocument(job.spec).toJson(QJsonDocument::Compact))},
    };
    for (const auto &[label, value] : fields)
        out() << QString(label + u':').leftJustified(12) << Redactor::text(value) << Qt::endl;
    out() << QObject::tr("events:") << Qt::endl;
    for (const JobQueue::Event &e : events)
        out() << QStringLiteral("  ") << time(e.at) << QStringLiteral("  ")
              << Redactor::text(e.kind) << QStringLiteral("  ") << Redactor::text(e.message)
              << Qt::endl;
    if (!log)
        return;
    out() << QObject::tr("log:") << Qt::endl;
    if (log->trimmed().isEmpty())
        out() << QStringLiteral("  ") << QObject::tr("(none yet)") << Qt::endl;
    // Stored redacted; escaped again line by line so that it stays lines.
    for (const QString &line : log->split(u'\n', Qt::SkipEmptyParts))
        out() << QStringLiteral("  ") << Redactor::escapeControls(line) << Qt::endl;
}

int listJobs(QSqlDatabase db, const JobQueue &queue, const QString &state, int limit, bool json)
{
    Expected<QList<Job>> jobs = queue.list(db, state, limit);
    if (!jobs)
        return report(jobs.error());
    if (json) {
        QJsonArray array;
        for (const Job &job : jobs.value())
            array.append(job.toJson());
        printJson(QJsonDocument(array));
    } else {
        printList(jobs.value());
    }
    return Success;
}

int showJob(QSqlDatabase db, const JobQueue &queue, qint64 id, bool withLog, bool json)
{
    Expected<Job> job = queue.find(db, id);
    if (!job)
        return report(job.error());
    Expected<QList<JobQueue::Event>> events = queue.events(db, id);
    if (!events)
        return report(events.error());
    std::optional<Expected<QString>> log;
    if (withLog) {
        log.emplace(queue.log(db, id));
        if (!*log)
            return report(log->error());
    }
    if (json) {
        QJsonObject object = job->toJson();
        object.insert(QStringLiteral("events"), eventsJson(events.value()));
        if (log)
            object.insert(QStringLiteral("log"), log->value());
        printJson(QJsonDocument(object));
    } else {
        printJob(job.value(), events.value(), log ? &log->value() : nullptr);
    }
    return Success;
}

int purgeJob(const StoreSession &session, const JobQueue &queue, qint64 id, bool json)
{
    Expected<JobPurge::Result> purged = JobPurge::run(
        session.db(), session.uploadsDirectory(), queue, id, AuditEvent::operatorActor(), nowMs());
    if (!purged)
        return report(purged.error());
    if (json) {
        printJson(QJsonDocument(
            QJsonObject{{QStringLiteral("id"), id},
                        {QStringLiteral("removed"), QJsonArray::fromStringList(purged->removed)},
                        {QStringLiteral("kept"), QJsonArray::fromStringList(purged->kept)}}));
        return Success;
    }
    out() << QObject::tr("job %1 purged").arg(id) << Qt::endl;
    for (const QString &file : purged->removed)
        out() << QObject::tr("removed %1").arg(Redactor::escapeControls(file)) << Qt::endl;
    for (const QString &file : purged->kept)
        out() << QObject::tr("left in place: %1").arg(Redactor::escapeControls(file)) << Qt::endl;
    return Success;
}
} // namespace

JobCommands::JobCommands(QObject *parent)
    : QObject(parent)
{}

QString JobCommands::synopsis()
{
    return tr("jobs submit FILE  --preset P [--set key=value]... [--output-dir DIR] [--name N]\n"
              "                  [--priority N] [--wait] [--json]   queue a transcode; prints "
              "its id\n"
              "jobs list         [--state S] [--limit 50] [--json]   newest first\n"
              "jobs show ID      [--log] [--json]   the job, its events and the worker's log\n"
              "jobs cancel ID    [--reason \"...\"]\n"
              "jobs retry ID     queue a failed or cancelled job again\n"
              "jobs purge ID     --yes   delete a finished job, its output file and its upload");
}

void JobCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {QStringLiteral("preset"),
         tr("jobs submit: the preset (%1).").arg(Presets::names().join(QStringLiteral(", "))),
         QStringLiteral("P")},
        {QStringLiteral("set"), tr("jobs submit: override one preset setting, like video.crf=20."),
         QStringLiteral("key=value")},
        {QStringLiteral("output-dir"), tr("jobs submit: where the output goes (an output root)."),
         QStringLiteral("DIR")},
        {QStringLiteral("priority"), tr("jobs submit: -100 to 100; higher starts first."),
         QStringLiteral("N")},
        {QStringLiteral("wait"), tr("jobs submit: wait until the job ends; exit 1 unless it "
                                    "succeeded.")},
        {QStringLiteral("state"),
         tr("jobs list: only jobs in this state (queued, running, succeeded, failed, "
            "cancelled)."),
         QStringLiteral("S")},
        {QStringLiteral("limit"), tr("jobs list: at most N jobs (50)."), QStringLiteral("N")},
        {QStringLiteral("log"), tr("jobs show: include the worker's log.")},
    });
}

void JobCommands::run(const QStringList &words, const QCommandLineParser &parser, Finished finished)
{
    static const QStringList takesId{QStringLiteral("show"), QStringLiteral("cancel"),
                                     QStringLiteral("retry"), QStringLiteral("purge")};
    const QString command = words.value(0);
    const bool shaped =
        (command == QLatin1String("list") && words.size() == 1) ||
        ((command == QLatin1String("submit") || takesId.contains(command)) && words.size() == 2);
    if (!shaped) {
        finished(unknownCommand(QStringLiteral("jobs"), words));
        return;
    }
    qint64 id = 0;
    if (takesId.contains(command)) {
        Expected<qint64> parsed = jobId(words.at(1));
        if (!parsed) {
            finished(report(parsed.error(), parsed.code()));
            return;
        }
        id = parsed.value();
    }
    if (command == QLatin1String("purge") && !isSet(parser, "yes")) {
        finished(report(tr("jobs purge deletes job %1 with its events and log, its output file "
                           "and its uploaded input; add --yes to confirm")
                            .arg(id),
                        Usage));
        return;
    }
    QString state;
    int limit = DefaultListLimit;
    if (command == QLatin1String("list")) {
        state = option(parser, "state");
        if (!state.isEmpty() && !Job::stateFromName(state)) {
            finished(
                report(tr("--state takes queued, running, succeeded, failed or cancelled"), Usage));
            return;
        }
        if (isSet(parser, "limit")) {
            bool ok = false;
            limit = option(parser, "limit").toInt(&ok);
            if (!ok || limit < 1 || limit > MaxListLimit) {
                finished(report(tr("--limit takes a whole number from 1 to %1").arg(MaxListLimit),
                                Usage));
                return;
            }
        }
    }
    std::optional<JobSubmission> submission;
    if (command == QLatin1String("submit")) {
        Expected<JobSubmission> parsed = JobSubmission::fromCommandLine(words.at(1), parser);
        if (!parsed) {
            finished(report(parsed.error(), parsed.code()));
            return;
        }
        submission = parsed.value();
    }

    StoreSession::open(parser, this, [=, this, &parser](Expected<StoreSession> opened) {
        if (!opened) {
            finished(report(opened.error()));
            return;
        }
        auto session = std::make_shared<StoreSession>(std::move(opened).value());
        const JobQueue queue(session->secrets.audit);
        const QString actor = AuditEvent::operatorActor();
        const bool json = isSet(parser, "json");
        QSqlDatabase db = session->db();

        if (command == QLatin1String("submit")) {
            submit(session, *submission, isSet(parser, "wait"), json, finished);
        } else if (command == QLatin1String("list")) {
            finished(listJobs(db, queue, state, limit, json));
        } else if (command == QLatin1String("show")) {
            finished(showJob(db, queue, id, isSet(parser, "log"), json));
        } else if (command == QLatin1String("cancel")) {
            const QString reason = option(parser, "reason").trimmed().isEmpty()
                                       ? tr("cancelled from the command line")
                                       : option(parser, "reason").trimmed();
            Expected<Job> job = queue.cancel(db, id, actor, reason, nowMs());
            if (job)
                out() << tr("job %1 cancelled").arg(id) << Qt::endl;
            finished(job ? Success : report(job.error()));
        } else if (command == QLatin1String("retry")) {
            Expected<Job> job = queue.retry(db, id, actor, nowMs());
            if (job)
                out() << tr("job %1 queued again").arg(id) << Qt::endl;
            finished(job ? Success : report(job.error()));
        } else {
            finished(purgeJob(*session, queue, id, json));
        }
    });
}

void JobCommands::submit(std::shared_ptr<StoreSession> session, const JobSubmission &submission,
                         bool wait, bool json, const Finished &finished)
{
    QSqlDatabase db = session->db();
    Expected<JobSpec> spec = submission.compose(db);
    if (!spec) {
        finished(report(spec.error(), spec.code() == Usage ? Usage : Failed));
        return;
    }
    const JobQueue queue(session->secrets.audit);
    JobQueue::NewJob request;
    request.name = submission.jobName();
    request.preset = submission.preset;
    request.spec = spec->toJson();
    request.priority = spec->priority;
    const qint64 now = nowMs();
    Expected<Job> job = queue.submit(db, request, AuditEvent::operatorActor(), now);
    if (!job) {
        finished(report(job.error()));
        return;
    }
    if (json && !wait)
        printJson(QJsonDocument(job->toJson()));
    else if (!json)
        out() << job->id << Qt::endl;
    const QString why = EngineStatus::whyJobsWait(db, now);
    if (!why.isEmpty())
        EngineStatus::warn(why);
    if (!wait) {
        finished(Success);
        return;
    }
    auto *waiting =
        new JobWait(std::move(session), queue, job->id, json, !why.isEmpty(), finished, this);
    waiting->start();
}
