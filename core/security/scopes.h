#pragma once

#include "expected.h"

#include <QFlags>
#include <QStringList>

// What an API key may do. `admin` covers keys and the audit log only; it
// does not imply the job scopes.
enum class Scope {
    JobsSubmit = 0x01,
    JobsRead = 0x02,
    JobsCancel = 0x04,
    UploadsWrite = 0x08,
    MetricsRead = 0x10,
    Admin = 0x20,
};
Q_DECLARE_FLAGS(Scopes, Scope)
Q_DECLARE_OPERATORS_FOR_FLAGS(Scopes)

namespace ScopeNames {
// "jobs:submit,jobs:read" (commas and/or spaces); unknown names are an
// error that lists the valid ones; an empty list is an error.
Expected<Scopes> parse(const QString &text);
QStringList names(Scopes scopes); // in the fixed order above
QStringList all();
} // namespace ScopeNames
