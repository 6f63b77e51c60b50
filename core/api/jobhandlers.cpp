#include "apihandlers.h"
#include "apiservices.h"
#include "jobs/farmroots.h"
#include "jobs/jobpurge.h"
#include "jobs/presets.h"
#include "problem.h"
#include "store/rowvalues.h"
#include "uploadstore.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

#include <fcntl.h>
#include <sys/stat.h>

namespace {
constexpr int DefaultPage = 50;
constexpr int MaxPage = 100;

// What a remote client sees of a job: no lease owner, worker pid or
// server paths; the output by name with its download link.
QJsonObject jobView(const Job &job)
{
    QJsonObject view{
        {QStringLiteral("id"), job.id},
        {QStringLiteral("uuid"), job.uuid},
        {QStringLiteral("name"), job.name},
        {QStringLiteral("preset"), RowValues::jsonText(job.preset)},
        {QStringLiteral("state"), Job::stateName(job.state)},
        {QStringLiteral("priority"), job.priority},
        {QStringLiteral("submitted_by"), job.submittedBy},
        {QStringLiteral("submitted_at"), RowValues::jsonTime(job.submittedAt)},
        {QStringLiteral("started_at"), RowValues::jsonTime(job.startedAt)},
        {QStringLiteral("finished_at"), RowValues::jsonTime(job.finishedAt)},
        {QStringLiteral("attempts"), job.attempts},
        {QStringLiteral("progress"), job.progress},
        {QStringLiteral("fps"), job.fps},
        {QStringLiteral("speed"), job.speed},
        {QStringLiteral("encoder"), RowValues::jsonText(job.encoder)},
        {QStringLiteral("error"), RowValues::jsonText(job.error)},
    };
    if (job.state == Job::State::Succeeded && !job.outputPath.isEmpty() && !job.outputRemovedAt)
        view.insert(QStringLiteral("output"),
                    QJsonObject{{QStringLiteral("name"), QFileInfo(job.outputPath).fileName()},
                                {QStringLiteral("href"),
                                 QStringLiteral("/v1/jobs/%1/output").arg(job.id)}});
    return view;
}

HttpResponse notFound()
{
    return Problem::response(404, QStringLiteral("not-found"), QStringLiteral("No such job."));
}

// The job named by {id}, if this key may see it: its own, or any with admin.
// Another key's job is reported as missing, so ids cannot be probed.
std::optional<Job> visibleJob(ApiCall &call, HttpResponse &problem)
{
    bool ok = false;
    const qint64 id = call.params.value(QStringLiteral("id")).toLongLong(&ok);
    if (!ok || id <= 0) {
        problem = notFound();
        return std::nullopt;
    }
    Expected<Job> job = call.services.jobs.find(call.db, id);
    if (!job) {
        problem = job.failure().code == JobQueue::NotFound
                      ? notFound()
                      : ApiHandlers::storeFailure(QStringLiteral("job lookup:"), job.error());
        return std::nullopt;
    }
    if (!call.isAdmin() && job->submittedBy != call.actor()) {
        problem = notFound();
        return std::nullopt;
    }
    return job.value();
}

HttpResponse invalidSpec(const QString &detail)
{
    return Problem::response(422, QStringLiteral("invalid-job"), detail);
}

QString overrideText(const QJsonValue &value)
{
    if (value.isString())
        return value.toString();
    if (value.isArray())
        return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
    if (value.isObject())
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    // Numbers, booleans and null: their JSON text.
    const QByteArray wrapped = QJsonDocument(QJsonArray{value}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(wrapped.mid(1, wrapped.size() - 2));
}
} // namespace

// Body: {"preset": P, "overrides": {"video.crf": 20}, "input": {"upload": ID} |
// {"path": P}, "output": {"directory": D, "name": N}, "priority": N, "name": S}
// or {"spec": <a whole job spec>, "name": S}. The output directory defaults
// to the first output root and the name to the input's base name with the
// container's extension.
HttpResponse ApiHandlers::submitJob(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<QJsonObject> body = jsonBody(call, problem);
    if (!body)
        return problem;
    static const QStringList known{QStringLiteral("preset"),   QStringLiteral("overrides"),
                                   QStringLiteral("input"),    QStringLiteral("output"),
                                   QStringLiteral("priority"), QStringLiteral("name"),
                                   QStringLiteral("spec")};
    for (auto it = body->begin(); it != body->end(); ++it) {
        if (!known.contains(it.key()))
            return invalidSpec(QStringLiteral("%1: unknown field; one of: %2")
                                   .arg(it.key().left(64), known.join(QStringLiteral(", "))));
    }

    Expected<JobSpec> spec = fail(QString());
    QString presetName;
    if (body->contains(QLatin1StringView("spec"))) {
        if (body->contains(QLatin1StringView("preset")))
            return invalidSpec(QStringLiteral("give either spec or preset, not both"));
        spec = JobSpec::fromJson(body->value(QLatin1StringView("spec")).toObject());
    } else {
        presetName = body->value(QLatin1StringView("preset")).toString();
        if (presetName.isEmpty())
            return invalidSpec(QStringLiteral("preset: required (or give a whole spec)"));
        Expected<QJsonObject> preset = Presets::find(presetName);
        if (!preset)
            return invalidSpec(QStringLiteral("preset: ") + preset.error());
        QList<QPair<QString, QString>> overrides;
        const QJsonObject given = body->value(QLatin1StringView("overrides")).toObject();
        for (auto it = given.begin(); it != given.end(); ++it)
            overrides.append({it.key(), overrideText(it.value())});
        if (body->contains(QLatin1StringView("priority")))
            overrides.append({QStringLiteral("priority"),
                              overrideText(body->value(QLatin1StringView("priority")))});
        const QJsonObject input = body->value(QLatin1StringView("input")).toObject();
        QJsonObject output = body->value(QLatin1StringView("output")).toObject();
        if (!output.contains(QLatin1StringView("directory"))) {
            Expected<QStringList> roots = FarmRoots::list(call.db, FarmRoots::Kind::Output);
            if (!roots)
                return storeFailure(QStringLiteral("roots:"), roots.error());
            if (roots->isEmpty())
                return invalidSpec(QStringLiteral("output.directory: the engine has no output "
                                                  "directory configured"));
            output.insert(QStringLiteral("directory"), roots->first());
        }
        if (!output.contains(QLatin1StringView("name"))) {
            QString base = input.value(QLatin1StringView("path")).toString();
            if (const QString upload = input.value(QLatin1StringView("upload")).toString();
                !upload.isEmpty()) {
                Expected<Upload> found =
                    UploadStore::find(call.db, upload, call.key.id, call.isAdmin());
                base = found ? found->name : upload;
            }
            const QString container =
                preset->value(QLatin1StringView("container")).toString(QStringLiteral("mp4"));
            const QString extension =
                container == QLatin1StringView("matroska") ? QStringLiteral("mkv") : container;
            const QString stem = QFileInfo(base).completeBaseName();
            const QString name =
                (stem.isEmpty() ? QStringLiteral("output") : stem) + u'.' + extension;
            output.insert(QStringLiteral("name"), name);
        }
        spec = Presets::compose(presetName, overrides, input, output);
    }
    if (!spec)
        return invalidSpec(spec.error());

    // An upload must be this key's own (admin: any), complete and unused.
    if (!spec->inputUpload.isEmpty()) {
        Expected<Upload> upload =
            UploadStore::find(call.db, spec->inputUpload, call.key.id, call.isAdmin());
        if (!upload)
            return invalidSpec(QStringLiteral("input.upload: no such upload"));
        if (upload->jobId)
            return invalidSpec(QStringLiteral("input.upload: already used by another job"));
    }
    Expected<void> allowed = FarmRoots::check(call.db, spec.value());
    if (!allowed)
        return Problem::response(403, QStringLiteral("path-not-allowed"),
                                 QStringLiteral("The input or output lies outside the "
                                                "directories this engine allows."));

    JobQueue::NewJob job;
    job.name = body->value(QLatin1StringView("name")).toString();
    if (job.name.isEmpty())
        job.name = spec->outputName;
    job.name = job.name.left(200);
    job.preset = presetName;
    job.spec = spec->toJson();
    job.priority = spec->priority;
    Expected<Job> submitted = call.services.jobs.submit(call.db, job, call.actor(), call.now);
    if (!submitted)
        return storeFailure(QStringLiteral("submit:"), submitted.error());
    if (!spec->inputUpload.isEmpty()) {
        Expected<void> used =
            UploadStore::markUsed(call.db, spec->inputUpload, submitted->id, call.now);
        if (!used)
            return storeFailure(QStringLiteral("upload use:"), used.error());
    }
    if (call.services.wakeFarm)
        call.services.wakeFarm();
    HttpResponse response = HttpResponse::json(201, jobView(submitted.value()));
    response.setHeader("Location", "/v1/jobs/" + QByteArray::number(submitted->id));
    return response;
}

HttpResponse ApiHandlers::listJobs(ApiCall &call)
{
    const QUrlQuery &query = call.request.query;
    const QString state = query.queryItemValue(QStringLiteral("state"));
    if (!state.isEmpty() && !Job::stateFromName(state))
        return Problem::response(400, QStringLiteral("invalid-parameter"),
                                 QStringLiteral("state: one of queued, running, succeeded, "
                                                "failed, cancelled."));
    int limit = DefaultPage;
    if (query.hasQueryItem(QStringLiteral("limit"))) {
        bool ok = false;
        limit = query.queryItemValue(QStringLiteral("limit")).toInt(&ok);
        if (!ok || limit < 1 || limit > MaxPage)
            return Problem::response(400, QStringLiteral("invalid-parameter"),
                                     QStringLiteral("limit: a number from 1 to %1.").arg(MaxPage));
    }
    qint64 before = 0;
    if (query.hasQueryItem(QStringLiteral("before"))) {
        bool ok = false;
        before = query.queryItemValue(QStringLiteral("before")).toLongLong(&ok);
        if (!ok || before < 1)
            return Problem::response(400, QStringLiteral("invalid-parameter"),
                                     QStringLiteral("before: a job id."));
    }
    Expected<QList<Job>> page = call.services.jobs.page(
        call.db, state, call.isAdmin() ? QString() : call.actor(), before, limit + 1);
    if (!page)
        return storeFailure(QStringLiteral("list jobs:"), page.error());
    QJsonArray jobs;
    for (qsizetype i = 0; i < page->size() && i < limit; ++i)
        jobs.append(jobView(page->at(i)));
    QJsonObject body{{QStringLiteral("jobs"), jobs}};
    if (page->size() > limit)
        body.insert(QStringLiteral("next"),
                    QStringLiteral("/v1/jobs?before=%1&limit=%2%3")
                        .arg(page->at(limit - 1).id)
                        .arg(limit)
                        .arg(state.isEmpty() ? QString() : QStringLiteral("&state=") + state));
    return HttpResponse::json(200, body);
}

HttpResponse ApiHandlers::getJob(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<Job> job = visibleJob(call, problem);
    if (!job)
        return problem;
    return HttpResponse::json(200, jobView(*job));
}

HttpResponse ApiHandlers::cancelJob(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<Job> job = visibleJob(call, problem);
    if (!job)
        return problem;
    Expected<Job> cancelled = call.services.jobs.cancel(
        call.db, job->id, call.actor(), QStringLiteral("cancelled over the API"), call.now);
    if (!cancelled) {
        if (cancelled.failure().code == JobQueue::WrongState)
            return Problem::response(409, QStringLiteral("wrong-state"),
                                     QStringLiteral("The job is %1 and cannot be cancelled.")
                                         .arg(Job::stateName(job->state)));
        return storeFailure(QStringLiteral("cancel:"), cancelled.error());
    }
    if (call.services.wakeFarm)
        call.services.wakeFarm();
    return HttpResponse::json(200, jobView(cancelled.value()));
}

HttpResponse ApiHandlers::deleteJob(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<Job> job = visibleJob(call, problem);
    if (!job)
        return problem;
    if (call.request.query.queryItemValue(QStringLiteral("purge")) != QLatin1StringView("true"))
        return Problem::response(400, QStringLiteral("invalid-parameter"),
                                 QStringLiteral("Deleting a job removes its output and its "
                                                "record; confirm with ?purge=true."));
    Expected<JobPurge::Result> purged =
        JobPurge::run(call.db, call.services.config.uploadsDirectory, call.services.jobs, job->id,
                      call.actor(), call.now);
    if (!purged) {
        if (purged.failure().code == JobQueue::WrongState)
            return Problem::response(
                409, QStringLiteral("wrong-state"),
                QStringLiteral("The job is %1; cancel it first.").arg(Job::stateName(job->state)));
        return storeFailure(QStringLiteral("purge:"), purged.error());
    }
    return HttpResponse::noContent();
}

namespace {
struct ByteRange {
    qint64 first = 0;
    qint64 length = 0;
};

// One range of "bytes=a-b", "bytes=a-" or "bytes=-n"; several ranges are
// answered with the whole file (allowed by RFC 9110), a malformed header is
// ignored, an unsatisfiable one is 416.
std::optional<ByteRange> parseRange(const QByteArray &header, qint64 size, bool &unsatisfiable)
{
    static const QRegularExpression shape(QStringLiteral("^bytes=(\\d*)-(\\d*)$"));
    const QRegularExpressionMatch m = shape.match(QString::fromLatin1(header.trimmed()));
    if (!m.hasMatch() || (m.capturedView(1).isEmpty() && m.capturedView(2).isEmpty()))
        return std::nullopt;
    bool okFirst = true;
    bool okLast = true;
    if (m.capturedView(1).isEmpty()) {
        const qint64 suffix = m.capturedView(2).toLongLong(&okLast);
        if (!okLast || suffix == 0 || size == 0) {
            unsatisfiable = true;
            return std::nullopt;
        }
        const qint64 length = qMin(suffix, size);
        return ByteRange{size - length, length};
    }
    const qint64 first = m.capturedView(1).toLongLong(&okFirst);
    qint64 last = m.capturedView(2).isEmpty() ? size - 1 : m.capturedView(2).toLongLong(&okLast);
    if (!okFirst || !okLast || first >= size || last < first) {
        unsatisfiable = true;
        return std::nullopt;
    }
    last = qMin(last, size - 1);
    return ByteRange{first, last - first + 1};
}

QByteArray contentTypeFor(const QString &name)
{
    const QString suffix = QFileInfo(name).suffix().toLower();
    if (suffix == QLatin1StringView("mp4") || suffix == QLatin1StringView("m4a"))
        return "video/mp4";
    if (suffix == QLatin1StringView("mkv"))
        return "video/x-matroska";
    if (suffix == QLatin1StringView("webm"))
        return "video/webm";
    if (suffix == QLatin1StringView("mov"))
        return "video/quicktime";
    if (suffix == QLatin1StringView("ogg") || suffix == QLatin1StringView("opus"))
        return "audio/ogg";
    return "application/octet-stream";
}

// filename="..." with anything but safe ASCII replaced, plus the UTF-8 form.
QByteArray contentDisposition(const QString &name)
{
    QByteArray ascii;
    for (const QChar c : name)
        ascii += (c.unicode() >= 0x20 && c.unicode() < 0x7f && c != u'"' && c != u'\\')
                     ? char(c.unicode())
                     : '_';
    return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" +
           QUrl::toPercentEncoding(name);
}
} // namespace

HttpResponse ApiHandlers::jobOutput(ApiCall &call)
{
    HttpResponse problem;
    const std::optional<Job> job = visibleJob(call, problem);
    if (!job)
        return problem;
    if (job->state != Job::State::Succeeded || job->outputPath.isEmpty())
        return Problem::response(
            409, QStringLiteral("no-output"),
            QStringLiteral("The job has no output (it is %1).").arg(Job::stateName(job->state)));
    if (job->outputRemovedAt)
        return Problem::response(410, QStringLiteral("output-removed"),
                                 QStringLiteral("The output was removed by retention."));
    // O_NOFOLLOW and a regular-file check: a link put where the output was
    // cannot turn the download into a read of some other file.
    const int fd = ::open(QFile::encodeName(job->outputPath).constData(),
                          O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            ::close(fd);
        return Problem::response(410, QStringLiteral("output-removed"),
                                 QStringLiteral("The output file is no longer there."));
    }
    auto file = std::make_shared<QFile>();
    if (!file->open(fd, QIODevice::ReadOnly, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return storeFailure(QStringLiteral("output open:"), file->errorString());
    }
    const qint64 size = st.st_size;
    HttpResponse response;
    response.file = file;
    response.fileOffset = 0;
    response.fileLength = size;
    response.setHeader("Content-Type", contentTypeFor(job->outputPath));
    response.setHeader("Content-Disposition",
                       contentDisposition(QFileInfo(job->outputPath).fileName()));
    response.setHeader("Accept-Ranges", "bytes");
    const QByteArray range = call.request.header("range");
    if (!range.isNull()) {
        bool unsatisfiable = false;
        const std::optional<ByteRange> r = parseRange(range, size, unsatisfiable);
        if (unsatisfiable) {
            HttpResponse refused = Problem::response(416, QStringLiteral("range-not-satisfiable"),
                                                     QStringLiteral("The range lies outside the "
                                                                    "file."));
            refused.setHeader("Content-Range", "bytes */" + QByteArray::number(size));
            return refused;
        }
        if (r) {
            response.status = 206;
            response.fileOffset = r->first;
            response.fileLength = r->length;
            response.setHeader("Content-Range", "bytes " + QByteArray::number(r->first) + '-' +
                                                    QByteArray::number(r->first + r->length - 1) +
                                                    '/' + QByteArray::number(size));
        }
    }
    return response;
}
