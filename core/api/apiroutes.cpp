#include "apihandlers.h"
#include "apiroute.h"

QString ApiCall::actor() const { return QStringLiteral("key:") + key.id; }

const QList<ApiRoute> &ApiRoutes::all()
{
    using B = ApiRoute::Body;
    using namespace ApiHandlers;
    static const QList<ApiRoute> routes{
        {"GET", QStringLiteral("/health"), false, std::nullopt, B::None, health, {}},
        {"GET", QStringLiteral("/ready"), true, std::nullopt, B::None, ready, {}},
        {"GET", QStringLiteral("/v1/openapi.json"), true, std::nullopt, B::None, openApi, {}},
        {"GET", QStringLiteral("/metrics"), true, Scope::MetricsRead, B::None, metrics, {}},
        {"GET", QStringLiteral("/v1/presets"), true, Scope::JobsRead, B::None, presets, {}},
        {"POST", QStringLiteral("/v1/uploads"), true, Scope::UploadsWrite, B::Stream,
         uploadWithoutBody, openUpload},
        {"POST", QStringLiteral("/v1/jobs"), true, Scope::JobsSubmit, B::Json, submitJob, {}},
        {"GET", QStringLiteral("/v1/jobs"), true, Scope::JobsRead, B::None, listJobs, {}},
        {"GET", QStringLiteral("/v1/jobs/{id}"), true, Scope::JobsRead, B::None, getJob, {}},
        {"POST",
         QStringLiteral("/v1/jobs/{id}/cancel"),
         true,
         Scope::JobsCancel,
         B::None,
         cancelJob,
         {}},
        {"DELETE",
         QStringLiteral("/v1/jobs/{id}"),
         true,
         Scope::JobsCancel,
         B::None,
         deleteJob,
         {}},
        {"GET",
         QStringLiteral("/v1/jobs/{id}/output"),
         true,
         Scope::JobsRead,
         B::None,
         jobOutput,
         {}},
        {"GET", QStringLiteral("/v1/keys"), true, Scope::Admin, B::None, listKeys, {}},
        {"POST", QStringLiteral("/v1/keys"), true, Scope::Admin, B::Json, createKey, {}},
        {"POST",
         QStringLiteral("/v1/keys/revoke-all"),
         true,
         Scope::Admin,
         B::Json,
         revokeAllKeys,
         {}},
        {"POST",
         QStringLiteral("/v1/keys/{id}/revoke"),
         true,
         Scope::Admin,
         B::Json,
         revokeKey,
         {}},
        {"GET", QStringLiteral("/v1/audit"), true, Scope::Admin, B::None, auditRecords, {}},
    };
    return routes;
}

namespace {
// Matches literal segments exactly and {name} against one non-empty segment.
bool matches(const QString &pattern, const QStringList &segments, QHash<QString, QString> &params)
{
    const QStringList parts = pattern.split(u'/');
    if (parts.size() != segments.size())
        return false;
    QHash<QString, QString> found;
    for (qsizetype i = 0; i < parts.size(); ++i) {
        const QString &part = parts.at(i);
        if (part.startsWith(u'{') && part.endsWith(u'}')) {
            if (segments.at(i).isEmpty())
                return false;
            found.insert(part.mid(1, part.size() - 2), segments.at(i));
        } else if (part != segments.at(i)) {
            return false;
        }
    }
    params = found;
    return true;
}
} // namespace

ApiRoutes::Match ApiRoutes::match(const QByteArray &method, const QString &path)
{
    Match result;
    const QStringList segments = path.split(u'/');
    // A literal route wins over a pattern ("/v1/keys/revoke-all" over "/v1/keys/{id}").
    for (int pass = 0; pass < 2; ++pass) {
        for (const ApiRoute &route : all()) {
            const bool literal = !route.pattern.contains(u'{');
            if ((pass == 0) != literal)
                continue;
            QHash<QString, QString> params;
            if (!matches(route.pattern, segments, params))
                continue;
            if (route.method == method || (method == "HEAD" && route.method == "GET")) {
                if (!result.route) {
                    result.route = &route;
                    result.params = params;
                }
            } else if (!result.allowedMethods.contains(route.method)) {
                result.allowedMethods << route.method;
            }
        }
        if (result.route)
            return result;
    }
    return result;
}
