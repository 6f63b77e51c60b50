#include "auditevent.h"

#include <pwd.h>
#include <unistd.h>

QString AuditEvent::operatorActor()
{
    const passwd *entry = getpwuid(geteuid());
    const QString user = entry ? QString::fromLocal8Bit(entry->pw_name)
                               : QString::number(static_cast<qulonglong>(geteuid()));
    return QStringLiteral("operator:") + user;
}
