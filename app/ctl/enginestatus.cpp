#include "enginestatus.h"

#include "ctloutput.h"
#include "jobs/farmstate.h"
#include "security/redactor.h"
#include "store/rowvalues.h"
#include "store/storesettings.h"

#include <QCoreApplication>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("EngineStatus", text); }
} // namespace

Expected<EngineStatus> EngineStatus::read(QSqlDatabase db, qint64 now)
{
    Expected<QJsonObject> pool = FarmState::get(db, FarmState::Pool);
    if (!pool)
        return pool.failure();
    EngineStatus status;
    status.pool = pool.value();
    status.seenAt = status.pool.value(QLatin1StringView("updated_at")).toInteger();
    status.now = now;
    return status;
}

bool EngineStatus::running() const
{
    return seenAt > 0 && now - seenAt <= StaleAfterMs &&
           !pool.value(QLatin1StringView("stopped")).toBool();
}

qint64 EngineStatus::pid() const { return pool.value(QLatin1StringView("engine_pid")).toInteger(); }

QString EngineStatus::describe() const
{
    if (seenAt <= 0)
        return tr("not running (no engine has run the farm on this store yet)");
    const qint64 ageS = std::max<qint64>(0, (now - seenAt) / 1000);
    if (running())
        return tr("running (pid %1, seen %2 s ago)").arg(pid()).arg(ageS);
    if (pool.value(QLatin1StringView("stopped")).toBool())
        return tr("not running (pid %1 stopped at %2)").arg(pid()).arg(CtlOutput::time(seenAt));
    return tr("not running (pid %1 last seen at %2)").arg(pid()).arg(CtlOutput::time(seenAt));
}

QJsonObject EngineStatus::toJson() const
{
    return QJsonObject{
        {QStringLiteral("running"), running()},
        {QStringLiteral("pid"), seenAt > 0 ? QJsonValue(pid()) : QJsonValue()},
        {QStringLiteral("seen_at"),
         RowValues::jsonTime(seenAt > 0 ? std::optional<qint64>(seenAt) : std::nullopt)},
    };
}

QString EngineStatus::whyJobsWait(QSqlDatabase db, qint64 now)
{
    Expected<EngineStatus> status = read(db, now);
    if (status && !status->running())
        return tr("the job waits until framehoused starts: the engine is %1")
            .arg(status->describe());
    Expected<qint64> paused = StoreSettings::value(db, StoreSettings::FarmPaused);
    if (paused && paused.value() != 0)
        return tr("the farm is paused; the job waits until 'framehousectl farm resume'");
    return {};
}

void EngineStatus::warn(const QString &text)
{
    CtlOutput::err() << QStringLiteral("framehousectl: warning: ") << Redactor::text(text)
                     << Qt::endl;
}
