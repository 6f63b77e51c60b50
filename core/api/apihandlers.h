#pragma once

#include "apiroute.h"

// The handlers behind ApiRoutes::all(). Each returns the whole response;
// errors are problem+json (Problem::response).
namespace ApiHandlers {
HttpResponse health(ApiCall &call);
HttpResponse ready(ApiCall &call);
HttpResponse openApi(ApiCall &call);
HttpResponse metrics(ApiCall &call);
HttpResponse presets(ApiCall &call);

HttpResponse submitJob(ApiCall &call);
HttpResponse listJobs(ApiCall &call);
HttpResponse getJob(ApiCall &call);
HttpResponse cancelJob(ApiCall &call);
HttpResponse deleteJob(ApiCall &call);
HttpResponse jobOutput(ApiCall &call);

std::unique_ptr<BodySink> openUpload(ApiCall &call, HttpResponse &refusal);
HttpResponse uploadWithoutBody(ApiCall &call);

HttpResponse listKeys(ApiCall &call);
HttpResponse createKey(ApiCall &call);
HttpResponse revokeKey(ApiCall &call);
HttpResponse revokeAllKeys(ApiCall &call);
HttpResponse auditRecords(ApiCall &call);

// Shared by handlers: a store failure as a 500 without its text (logged).
HttpResponse storeFailure(const QString &what, const QString &error);
// The JSON body as an object, or the 400/415 problem.
std::optional<QJsonObject> jsonBody(const ApiCall &call, HttpResponse &problem);
} // namespace ApiHandlers
