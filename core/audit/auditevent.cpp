#include "auditevent.h"

#include <pwd.h>
#include <unistd.h>

#include <utility>

QString AuditEvent::operatorActor()
{
    const passwd *entry = getpwuid(geteuid());
    const QString user = entry ? QString::fromLocal8Bit(entry->pw_name)
                               : QString::number(static_cast<qulonglong>(geteuid()));
    return QStringLiteral("operator:") + user;
}

namespace {
thread_local QString currentAuditSource;
}

AuditSourceScope::AuditSourceScope(const QString &sourceIp)
    : m_previous(std::exchange(currentAuditSource, sourceIp))
{}

AuditSourceScope::~AuditSourceScope() { currentAuditSource = m_previous; }

QString AuditSourceScope::current() { return currentAuditSource; }
