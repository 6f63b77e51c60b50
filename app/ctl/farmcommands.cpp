#include "farmcommands.h"

#include "ctloutput.h"
#include "enginestatus.h"
#include "hw/capabilitymatrix.h"
#include "jobs/farmroots.h"
#include "jobs/farmstate.h"
#include "jobs/jobqueue.h"
#include "security/redactor.h"
#include "store/rowvalues.h"
#include "store/storesettings.h"
#include "storesession.h"
#include "supervisor/farm.h"
#include "texttable.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QProcess>
#include <QTimer>

using namespace CtlOutput;

namespace {
// As long as the engine gives its own probe.
constexpr int ProbeTimeoutMs = 60000;

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

std::optional<FarmRoots::Kind> kindFrom(const QString &word)
{
    if (word == QLatin1String("input"))
        return FarmRoots::Kind::Input;
    if (word == QLatin1String("output"))
        return FarmRoots::Kind::Output;
    return std::nullopt;
}

QString yesNo(bool value) { return value ? QObject::tr("yes") : QObject::tr("no"); }

void printField(const QString &label, const QString &value)
{
    out() << QString(label + u':').leftJustified(10) << Redactor::text(value) << Qt::endl;
}

int status(const StoreSession &session, bool json)
{
    QSqlDatabase db = session.db();
    Expected<EngineStatus> engine = EngineStatus::read(db, nowMs());
    if (!engine)
        return report(engine.error());
    Expected<qint64> paused = StoreSettings::value(db, StoreSettings::FarmPaused);
    if (!paused)
        return report(paused.error());
    Expected<QPair<int, int>> depth = JobQueue(session.secrets.audit).depth(db);
    if (!depth)
        return report(depth.error());
    const bool running = engine->running();
    const QJsonArray workers =
        running ? engine->pool.value(QLatin1StringView("workers")).toArray() : QJsonArray();
    const int poolSize = engine->pool.value(QLatin1StringView("pool_size")).toInt();
    if (json) {
        printJson(QJsonDocument(QJsonObject{
            {QStringLiteral("engine"), engine->toJson()},
            {QStringLiteral("paused"), paused.value() != 0},
            {QStringLiteral("pool_size"), running ? QJsonValue(poolSize) : QJsonValue()},
            {QStringLiteral("queued"), depth->first},
            {QStringLiteral("running"), depth->second},
            {QStringLiteral("workers"), workers},
        }));
        return Success;
    }
    printField(QObject::tr("engine"), engine->describe());
    printField(QObject::tr("paused"), yesNo(paused.value() != 0));
    printField(QObject::tr("pool"),
               running ? QObject::tr("%1 workers, %2 busy").arg(poolSize).arg(workers.size())
                       : QStringLiteral("-"));
    printField(QObject::tr("queue"),
               QObject::tr("%1 queued, %2 running").arg(depth->first).arg(depth->second));
    if (workers.isEmpty())
        return Success;
    QList<QStringList> rows{{QObject::tr("JOB"), QObject::tr("PID"), QObject::tr("ENCODER"),
                             QObject::tr("HW"), QObject::tr("FPS"), QObject::tr("SPEED"),
                             QObject::tr("PROGRESS"), QObject::tr("NAME")}};
    for (const QJsonValue &value : workers) {
        const QJsonObject w = value.toObject();
        const auto number = [&](const char *key) { return w.value(QLatin1StringView(key)); };
        rows << QStringList{
            QString::number(number("job").toInteger()),
            QString::number(number("pid").toInteger()),
            number("encoder").toString(),
            number("hardware").toBool() ? QObject::tr("hw") : QObject::tr("sw"),
            QString::number(number("fps").toDouble(), 'f', 1),
            QString::number(number("speed").toDouble(), 'f', 2) + u'x',
            QString::number(number("progress").toDouble() * 100, 'f', 0) + u'%',
            number("name").toString(),
        };
    }
    out() << Qt::endl;
    TextTable::print(rows);
    return Success;
}

int pause(const StoreSession &session, bool paused)
{
    Expected<void> done = StoreSettings::set(
        session.db(), *session.secrets.audit, QString(StoreSettings::FarmPaused),
        paused ? QStringLiteral("1") : QStringLiteral("0"), AuditEvent::operatorActor(), nowMs());
    if (!done)
        return report(done.error());
    out() << (paused ? QObject::tr("the farm is paused: running jobs finish, no new job starts")
                     : QObject::tr("the farm takes jobs again"))
          << Qt::endl;
    return Success;
}

int hardware(QSqlDatabase db, bool json)
{
    Expected<QJsonObject> published = FarmState::get(db, FarmState::Capabilities);
    if (!published)
        return report(published.error());
    if (published->isEmpty())
        return report(QObject::tr("no engine has published a hardware probe on this store yet "
                                  "(it probes when it starts); 'framehousectl farm hw --probe' "
                                  "runs one now"));
    FarmCommands::printMatrix(CapabilityMatrix::fromJson(published.value()),
                              QObject::tr("the engine"), json);
    return Success;
}

int listRoots(QSqlDatabase db, bool json)
{
    QJsonObject object;
    QList<QStringList> rows{{QObject::tr("KIND"), QObject::tr("DIRECTORY")}};
    for (const FarmRoots::Kind kind : {FarmRoots::Kind::Input, FarmRoots::Kind::Output}) {
        Expected<QStringList> roots = FarmRoots::list(db, kind);
        if (!roots)
            return report(roots.error());
        object.insert(FarmRoots::kindName(kind), QJsonArray::fromStringList(roots.value()));
        for (const QString &root : roots.value())
            rows << QStringList{FarmRoots::kindName(kind), root};
    }
    if (json)
        printJson(QJsonDocument(object));
    else
        TextTable::print(rows);
    return Success;
}

int changeRoots(const StoreSession &session, bool add, FarmRoots::Kind kind, const QString &dir)
{
    const QString absolute = QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
    QSqlDatabase db = session.db();
    const QString actor = AuditEvent::operatorActor();
    const QString kindName = FarmRoots::kindName(kind);
    if (add) {
        Expected<QString> added =
            FarmRoots::add(db, *session.secrets.audit, kind, absolute, actor, nowMs());
        if (!added)
            return report(added.error());
        out() << QObject::tr("%1 root added: %2")
                     .arg(kindName, Redactor::escapeControls(added.value()))
              << Qt::endl;
        return Success;
    }
    // Roots are stored resolved; the operator may name one through a link.
    Expected<QStringList> roots = FarmRoots::list(db, kind);
    if (!roots)
        return report(roots.error());
    QString stored = absolute;
    const QString resolved = QFileInfo(absolute).canonicalFilePath();
    if (!roots->contains(absolute) && !resolved.isEmpty() && roots->contains(resolved))
        stored = resolved;
    Expected<void> removed =
        FarmRoots::remove(db, *session.secrets.audit, kind, stored, actor, nowMs());
    if (!removed)
        return report(removed.error());
    out() << QObject::tr("%1 root removed: %2").arg(kindName, Redactor::escapeControls(stored))
          << Qt::endl;
    return Success;
}
} // namespace

FarmCommands::FarmCommands(QObject *parent)
    : QObject(parent)
{}

QString FarmCommands::synopsis()
{
    return tr("farm status       [--json]   the engine, its workers and the queue\n"
              "farm pause        no new job starts; running jobs finish (audited)\n"
              "farm resume       jobs start again (audited)\n"
              "farm hw           [--probe] [--json]   hardware devices and encoders that open\n"
              "farm roots list   [--json]   directories jobs may read from and write into\n"
              "farm roots add input|output DIR      allow jobs to use DIR (audited)\n"
              "farm roots remove input|output DIR   (audited)");
}

void FarmCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOption(
        {QStringLiteral("probe"),
         tr("farm hw: probe the hardware now instead of showing the engine's probe.")});
}

void FarmCommands::printMatrix(const CapabilityMatrix &matrix, const QString &source, bool json)
{
    if (json) {
        QJsonObject object = matrix.toJson();
        object.insert(QStringLiteral("probed_at"),
                      RowValues::jsonTime(matrix.probedAt > 0
                                              ? std::optional<qint64>(matrix.probedAt)
                                              : std::nullopt));
        object.insert(QStringLiteral("source"), source);
        printJson(QJsonDocument(object));
        return;
    }
    out() << tr("probed by %1 at %2").arg(source, time(matrix.probedAt)) << Qt::endl;
    QList<QStringList> rows{{tr("NAME"), tr("KIND"), tr("STATUS")}};
    for (const CapabilityMatrix::Device &d : matrix.devices) {
        // The probe says why a device does not count (a software
        // rasteriser, a missing driver) in its detail.
        const QString state = d.ok ? tr("ok") : tr("unavailable");
        rows << QStringList{d.type, tr("device"),
                            d.detail.isEmpty() ? state : state + QStringLiteral(": ") + d.detail};
    }
    for (const CapabilityMatrix::Encoder &e : matrix.encoders) {
        const QString state = e.ok ? tr("ok") : tr("unavailable: %1").arg(e.detail);
        rows << QStringList{e.name, tr("encoder (%1 on %2)").arg(e.codec, e.device), state};
    }
    TextTable::print(rows);
}

void FarmCommands::probe(bool json, const Finished &finished)
{
    auto *process = new QProcess(this);
    process->setProgram(Farm::workerProgram());
    process->setArguments({QStringLiteral("--probe")});
    auto *timeout = new QTimer(process);
    timeout->setSingleShot(true);
    connect(timeout, &QTimer::timeout, process, [process] { process->kill(); });
    connect(
        process, &QProcess::errorOccurred, this, [process, finished](QProcess::ProcessError error) {
            if (error != QProcess::FailedToStart)
                return;
            finished(
                report(tr("cannot start %1: %2").arg(process->program(), process->errorString())));
        });
    connect(
        process, &QProcess::finished, this,
        [process, timeout, json, finished](int code, QProcess::ExitStatus exit) {
            const bool timedOut = !timeout->isActive();
            timeout->stop();
            const QJsonObject line =
                QJsonDocument::fromJson(process->readAllStandardOutput().trimmed()).object();
            if (exit != QProcess::NormalExit || code != 0 ||
                line.value(QLatin1StringView("type")).toString() != QLatin1String("capabilities")) {
                finished(report(timedOut ? tr("the hardware probe did not finish within %1 s")
                                               .arg(ProbeTimeoutMs / 1000)
                                         : tr("the hardware probe (%1) gave no result (exit %2)")
                                               .arg(process->program())
                                               .arg(exit == QProcess::NormalExit ? code : -1)));
                return;
            }
            CapabilityMatrix matrix = CapabilityMatrix::fromJson(line);
            if (matrix.probedAt <= 0)
                matrix.probedAt = nowMs();
            printMatrix(matrix, QStringLiteral("framehouse-worker --probe"), json);
            finished(Success);
        });
    timeout->start(ProbeTimeoutMs);
    process->start();
}

void FarmCommands::run(const QStringList &words, const QCommandLineParser &parser,
                       Finished finished)
{
    const QString command = words.value(0);
    const QString sub = words.value(1);
    const bool single =
        words.size() == 1 && QStringList{QStringLiteral("status"), QStringLiteral("pause"),
                                         QStringLiteral("resume"), QStringLiteral("hw")}
                                 .contains(command);
    const bool roots =
        command == QLatin1String("roots") &&
        ((sub == QLatin1String("list") && words.size() == 2) ||
         ((sub == QLatin1String("add") || sub == QLatin1String("remove")) && words.size() == 4));
    if (!single && !roots) {
        finished(unknownCommand(QStringLiteral("farm"), words));
        return;
    }
    std::optional<FarmRoots::Kind> kind;
    if (roots && sub != QLatin1String("list")) {
        kind = kindFrom(words.at(2));
        if (!kind) {
            finished(report(tr("farm roots %1 takes input or output, then the directory").arg(sub),
                            Usage));
            return;
        }
    }
    const bool json = parser.isSet(QStringLiteral("json"));
    if (command == QLatin1String("hw") && parser.isSet(QStringLiteral("probe"))) {
        probe(json, finished);
        return;
    }
    StoreSession::open(parser, this, [=](Expected<StoreSession> session) {
        if (!session) {
            finished(report(session.error()));
            return;
        }
        QSqlDatabase db = session->db();
        if (command == QLatin1String("status"))
            finished(status(session.value(), json));
        else if (command == QLatin1String("pause") || command == QLatin1String("resume"))
            finished(pause(session.value(), command == QLatin1String("pause")));
        else if (command == QLatin1String("hw"))
            finished(hardware(db, json));
        else if (sub == QLatin1String("list"))
            finished(listRoots(db, json));
        else
            finished(changeRoots(session.value(), sub == QLatin1String("add"), *kind, words.at(3)));
    });
}
