#include "scopes.h"

#include <QCoreApplication>
#include <QRegularExpression>

#include <array>
#include <utility>

namespace {
const std::array<std::pair<Scope, QLatin1StringView>, 6> table{{
    {Scope::JobsSubmit, QLatin1StringView("jobs:submit")},
    {Scope::JobsRead, QLatin1StringView("jobs:read")},
    {Scope::JobsCancel, QLatin1StringView("jobs:cancel")},
    {Scope::UploadsWrite, QLatin1StringView("uploads:write")},
    {Scope::MetricsRead, QLatin1StringView("metrics:read")},
    {Scope::Admin, QLatin1StringView("admin")},
}};
} // namespace

Expected<Scopes> ScopeNames::parse(const QString &text)
{
    static const QRegularExpression separators(QStringLiteral("[,\\s]+"));
    Scopes scopes;
    const QStringList words = text.split(separators, Qt::SkipEmptyParts);
    for (const QString &word : words) {
        bool known = false;
        for (const auto &[scope, name] : table) {
            if (word == name) {
                scopes |= scope;
                known = true;
            }
        }
        if (!known)
            return fail(QCoreApplication::translate("Scopes", "unknown scope '%1'; one of: %2")
                            .arg(word, all().join(QStringLiteral(", "))));
    }
    if (!scopes)
        return fail(
            QCoreApplication::translate("Scopes", "at least one scope is needed; one of: %1")
                .arg(all().join(QStringLiteral(", "))));
    return scopes;
}

QStringList ScopeNames::names(Scopes scopes)
{
    QStringList out;
    for (const auto &[scope, name] : table) {
        if (scopes.testFlag(scope))
            out << QString(name);
    }
    return out;
}

QStringList ScopeNames::all() { return names(Scopes::fromInt(0x3f)); }
