#include "job.h"

#include "store/rowvalues.h"

#include <QJsonDocument>
#include <QSqlQuery>

#include <array>
#include <utility>

namespace {
const std::array<std::pair<Job::State, QLatin1StringView>, 5> names{{
    {Job::State::Queued, QLatin1StringView("queued")},
    {Job::State::Running, QLatin1StringView("running")},
    {Job::State::Succeeded, QLatin1StringView("succeeded")},
    {Job::State::Failed, QLatin1StringView("failed")},
    {Job::State::Cancelled, QLatin1StringView("cancelled")},
}};

} // namespace

QString Job::stateName(State state)
{
    for (const auto &[s, name] : names) {
        if (s == state)
            return QString(name);
    }
    return {};
}

std::optional<Job::State> Job::stateFromName(QStringView name)
{
    for (const auto &[s, text] : names) {
        if (name == text)
            return s;
    }
    return std::nullopt;
}

QString Job::selectColumns()
{
    return QStringLiteral(
        "id, uuid, name, preset, spec, state, priority, submitted_by, "
        "submitted_at, started_at, finished_at, attempts, lease_owner, "
        "lease_expires_at, progress, encoder, output_path, error, not_before, fps, "
        "speed, worker_pid, output_removed_at");
}

Job Job::fromQuery(const QSqlQuery &q)
{
    Job job;
    job.id = q.value(0).toLongLong();
    job.uuid = q.value(1).toString();
    job.name = q.value(2).toString();
    job.preset = q.value(3).toString();
    job.spec = QJsonDocument::fromJson(q.value(4).toString().toUtf8()).object();
    job.state = stateFromName(q.value(5).toString()).value_or(State::Failed);
    job.priority = q.value(6).toInt();
    job.submittedBy = q.value(7).toString();
    job.submittedAt = q.value(8).toLongLong();
    job.startedAt = RowValues::optionalInt64(q.value(9));
    job.finishedAt = RowValues::optionalInt64(q.value(10));
    job.attempts = q.value(11).toInt();
    job.leaseOwner = q.value(12).toString();
    job.leaseExpiresAt = RowValues::optionalInt64(q.value(13));
    job.progress = q.value(14).toDouble();
    job.encoder = q.value(15).toString();
    job.outputPath = q.value(16).toString();
    job.error = q.value(17).toString();
    job.notBefore = RowValues::optionalInt64(q.value(18));
    job.fps = q.value(19).toDouble();
    job.speed = q.value(20).toDouble();
    job.workerPid = RowValues::optionalInt64(q.value(21));
    job.outputRemovedAt = RowValues::optionalInt64(q.value(22));
    return job;
}

QJsonObject Job::toJson() const
{
    return QJsonObject{
        {QStringLiteral("id"), id},
        {QStringLiteral("uuid"), uuid},
        {QStringLiteral("name"), name},
        {QStringLiteral("preset"), RowValues::jsonText(preset)},
        {QStringLiteral("state"), stateName(state)},
        {QStringLiteral("priority"), priority},
        {QStringLiteral("submitted_by"), submittedBy},
        {QStringLiteral("submitted_at"), RowValues::jsonTime(submittedAt)},
        {QStringLiteral("started_at"), RowValues::jsonTime(startedAt)},
        {QStringLiteral("finished_at"), RowValues::jsonTime(finishedAt)},
        {QStringLiteral("attempts"), attempts},
        {QStringLiteral("progress"), progress},
        {QStringLiteral("encoder"), RowValues::jsonText(encoder)},
        {QStringLiteral("output_path"), RowValues::jsonText(outputPath)},
        {QStringLiteral("error"), RowValues::jsonText(error)},
        {QStringLiteral("not_before"), RowValues::jsonTime(notBefore)},
        {QStringLiteral("fps"), fps},
        {QStringLiteral("speed"), speed},
        {QStringLiteral("worker_pid"), workerPid ? QJsonValue(*workerPid) : QJsonValue()},
        {QStringLiteral("output_removed_at"), RowValues::jsonTime(outputRemovedAt)},
        {QStringLiteral("spec"), spec},
    };
}
