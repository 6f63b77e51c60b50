#pragma once

#include "httpresponse.h"

#include <QString>

// Errors as RFC 9457 problem details (application/problem+json). `type`
// is a stable slug ("rate-limited") published as "urn:framehouse:problem:<slug>";
// clients match on it. Details are written for the client: never a path,
// a query, a stack or a secret.
namespace Problem {
HttpResponse response(int status, const QString &type, const QString &detail = {});
QString typeUri(const QString &slug);
} // namespace Problem
