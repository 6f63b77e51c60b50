#include "apihandlers.h"
#include "apiservices.h"
#include "audit/auditrecord.h"
#include "jobs/presets.h"
#include "problem.h"
#include "store/store.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QSqlError>
#include <QSqlQuery>

namespace {
Q_LOGGING_CATEGORY(lcApi, "framehouse.api")
constexpr int AuditPageLimit = 1000;
} // namespace

HttpResponse ApiHandlers::storeFailure(const QString &what, const QString &error)
{
    qCWarning(lcApi).noquote() << what << error;
    return Problem::response(500, QStringLiteral("internal-error"),
                             QStringLiteral("The request could not be completed; the engine's "
                                            "log has the details."));
}

std::optional<QJsonObject> ApiHandlers::jsonBody(const ApiCall &call, HttpResponse &problem)
{
    const QByteArray type = call.request.header("content-type").split(';').first().trimmed();
    if (type.compare("application/json", Qt::CaseInsensitive) != 0) {
        problem = Problem::response(415, QStringLiteral("unsupported-media-type"),
                                    QStringLiteral("Send the body as application/json."));
        return std::nullopt;
    }
    QJsonParseError error{};
    const QJsonDocument document = QJsonDocument::fromJson(call.body, &error);
    if (error.error != QJsonParseError::NoError || !document.isObject()) {
        problem = Problem::response(400, QStringLiteral("malformed-json"),
                                    QStringLiteral("The body is not a JSON object."));
        return std::nullopt;
    }
    return document.object();
}

HttpResponse ApiHandlers::health(ApiCall &)
{
    return HttpResponse::json(200, QJsonObject{{QStringLiteral("status"), QStringLiteral("ok")}});
}

HttpResponse ApiHandlers::ready(ApiCall &call)
{
    QSqlQuery q(call.db);
    const bool storeOpen = q.exec(QStringLiteral("SELECT 1")) && q.next();
    const bool farm = call.services.farmRunning.load();
    const bool ready = storeOpen && farm;
    return HttpResponse::json(
        ready ? 200 : 503,
        QJsonObject{{QStringLiteral("status"),
                     QString(ready ? QStringLiteral("ready") : QStringLiteral("not-ready"))},
                    {QStringLiteral("store"), storeOpen},
                    {QStringLiteral("farm"), farm}});
}

HttpResponse ApiHandlers::openApi(ApiCall &)
{
    // Compiled in, so read once.
    static const QByteArray document = [] {
        QFile file(QStringLiteral(":/framehouse/api/openapi.json"));
        return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    }();
    if (document.isEmpty())
        return storeFailure(QStringLiteral("cannot read the OpenAPI document"), QString());
    return HttpResponse::text(200, "application/json", document);
}

HttpResponse ApiHandlers::metrics(ApiCall &call)
{
    Expected<JobQueue::Counts> counts = call.services.jobs.counts(call.db);
    if (!counts)
        return storeFailure(QStringLiteral("metrics:"), counts.error());
    Metrics::JobFigures figures;
    figures.jobsByState = counts->byState;
    figures.active = counts->byState.value(QStringLiteral("running"));
    figures.queueDepth = counts->byState.value(QStringLiteral("queued"));
    figures.workerFps = counts->runningFps;
    return HttpResponse::text(200, "text/plain; version=0.0.4; charset=utf-8",
                              call.services.metrics.render(figures));
}

HttpResponse ApiHandlers::presets(ApiCall &)
{
    QJsonArray list;
    for (const QString &name : Presets::names()) {
        Expected<QJsonObject> preset = Presets::find(name);
        if (preset)
            list.append(QJsonObject{{QStringLiteral("name"), name},
                                    {QStringLiteral("spec"), preset.value()}});
    }
    return HttpResponse::json(200, QJsonObject{{QStringLiteral("presets"), list}});
}

HttpResponse ApiHandlers::auditRecords(ApiCall &call)
{
    // since: a sequence number (records after it) or an ISO 8601 time.
    const QString since = call.request.query.queryItemValue(QStringLiteral("since"));
    qint64 afterSeq = 0;
    qint64 fromTime = 0;
    if (!since.isEmpty()) {
        bool isNumber = false;
        afterSeq = since.toLongLong(&isNumber);
        if (!isNumber) {
            afterSeq = 0;
            const QDateTime time = QDateTime::fromString(since, Qt::ISODateWithMs);
            if (!time.isValid())
                return Problem::response(400, QStringLiteral("invalid-parameter"),
                                         QStringLiteral("since: give a record number or an ISO "
                                                        "8601 time such as "
                                                        "2026-01-31T12:00:00Z."));
            fromTime = time.toMSecsSinceEpoch();
        }
    }
    QSqlQuery q(call.db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM audit_records WHERE seq > ? AND at >= ? ORDER BY seq "
                             "LIMIT ?")
                  .arg(AuditRecord::selectColumns()));
    q.addBindValue(afterSeq);
    q.addBindValue(fromTime);
    q.addBindValue(AuditPageLimit + 1);
    if (!q.exec())
        return storeFailure(QStringLiteral("audit:"), q.lastError().text());
    QJsonArray records;
    bool more = false;
    while (q.next()) {
        if (records.size() == AuditPageLimit) {
            more = true;
            break;
        }
        records.append(AuditRecord::fromQuery(q).toJson());
    }
    QJsonObject body{{QStringLiteral("records"), records}};
    if (more)
        body.insert(QStringLiteral("next"),
                    records.last().toObject().value(QLatin1StringView("seq")));
    return HttpResponse::json(200, body);
}
