#include "auditcommands.h"

#include "audit/auditverifier.h"
#include "ctloutput.h"
#include "security/durablefile.h"
#include "security/redactor.h"
#include "store/store.h"
#include "store/storesettings.h"
#include "storesession.h"

#include <QDateTime>
#include <QJsonArray>
#include <QSqlError>
#include <QSqlQuery>
#include <QTimer>

#include <algorithm>
#include <csignal>

using namespace CtlOutput;

namespace {
constexpr qint64 DayMs = 24LL * 3600 * 1000;
constexpr int TailLines = 20;

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

QString line(const AuditRecord &r)
{
    QString text = QStringLiteral("%1  %2  %3  %4").arg(r.seq).arg(time(r.at), r.actor, r.action);
    if (!r.target.isEmpty())
        text += QStringLiteral("  ") + r.target;
    text += QStringLiteral("  ") + r.outcome;
    if (!r.sourceIp.isEmpty())
        text += QStringLiteral("  from ") + r.sourceIp;
    text = Redactor::escapeControls(text);
    // Details are JSON, redacted when they were written: escaping them again
    // would double every backslash.
    if (!r.details.isEmpty()) {
        // Written details never hold a raw control character; a tampered
        // row might, and must not reach the terminal.
        const bool raw = std::any_of(r.details.cbegin(), r.details.cend(), [](QChar c) {
            return c.unicode() < 0x20 || (c.unicode() >= 0x7f && c.unicode() < 0xa0) ||
                   c.unicode() == 0x2028 || c.unicode() == 0x2029;
        });
        text += QStringLiteral("  ") + (raw ? Redactor::escapeControls(r.details) : r.details);
    }
    return text;
}

Expected<QList<AuditRecord>> records(QSqlDatabase db, const QString &where, qint64 bound,
                                     int limit = -1)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    QString sql = QStringLiteral("SELECT %1 FROM audit_records WHERE %2 ORDER BY seq")
                      .arg(AuditRecord::selectColumns(), where);
    if (limit > 0)
        sql = QStringLiteral("SELECT * FROM (SELECT %1 FROM audit_records WHERE %2 ORDER BY seq "
                             "DESC LIMIT %3) ORDER BY seq")
                  .arg(AuditRecord::selectColumns(), where)
                  .arg(limit);
    q.prepare(sql);
    q.addBindValue(bound);
    if (!q.exec())
        return fail(describeSqlError(q.lastError()));
    QList<AuditRecord> out;
    while (q.next())
        out.append(AuditRecord::fromQuery(q));
    return out;
}

Expected<AuditVerification> verify(const StoreSession &session,
                                   const std::function<void(const AuditRecord &)> &visit = {})
{
    const AuditLog &audit = *session.secrets.audit;
    Expected<std::optional<AuditTip>> anchor = audit.anchor().read();
    if (!anchor)
        return anchor.failure();
    return AuditVerifier::verify(session.db(), audit.key(), anchor.value(), visit);
}

void printVerification(const AuditVerification &v, bool json)
{
    if (json) {
        printJson(QJsonDocument(v.toJson()));
        return;
    }
    for (const QString &problem : v.problems)
        err() << Redactor::text(problem) << Qt::endl;
    if (v.ok()) {
        out() << QObject::tr("ok: %1 audit records verified (%2 to %3)")
                     .arg(v.checked)
                     .arg(v.firstSeq)
                     .arg(v.lastSeq);
        if (v.anchorBehind > 0)
            out() << QObject::tr("; the anchor was %1 records behind and has been moved")
                         .arg(v.anchorBehind);
        out() << Qt::endl;
    }
}

// Records the command itself; a failure to do so fails the command.
int audited(const StoreSession &session, const QString &action, const QString &outcome,
            const QJsonObject &details, int exitCode)
{
    AuditEvent event;
    event.actor = AuditEvent::operatorActor();
    event.action = action;
    event.outcome = outcome;
    event.details = details;
    Expected<AuditRecord> written = session.secrets.audit->record(session.db(), event, nowMs());
    if (!written)
        return report(written.error());
    return exitCode;
}

int runVerify(const StoreSession &session, bool json)
{
    Expected<AuditVerification> v = verify(session);
    if (!v)
        return report(v.error());
    printVerification(v.value(), json);
    if (!v->ok()) {
        report(
            QObject::tr("the audit log failed verification (%1 problems)").arg(v->problems.size()),
            VerificationFailed);
        // Exit 3 whether or not the failure could be recorded: monitoring
        // keys on it.
        audited(session, QStringLiteral("audit.verified"), QStringLiteral("failed"), v->toJson(),
                VerificationFailed);
        return VerificationFailed;
    }
    return audited(session, QStringLiteral("audit.verified"), QStringLiteral("ok"), v->toJson(),
                   Success);
}

int runExport(const StoreSession &session, const QCommandLineParser &parser)
{
    qint64 since = 0;
    const QString sinceText = parser.value(QStringLiteral("since"));
    if (!sinceText.isEmpty() && !parseTime(sinceText, nowMs(), &since))
        return report(QObject::tr("--since takes a date (2026-01-31), a date-time or an age (30d)"),
                      Usage);
    // One pass: the records are exported as they are verified.
    QByteArray text;
    qint64 exported = 0;
    Expected<AuditVerification> v = verify(session, [&](const AuditRecord &r) {
        if (r.at < since)
            return;
        text += QJsonDocument(r.toJson()).toJson(QJsonDocument::Compact) + '\n';
        ++exported;
    });
    if (!v)
        return report(v.error());
    QJsonObject summary = v->toJson();
    summary.insert(QStringLiteral("exported"), exported);
    text += QJsonDocument(summary).toJson(QJsonDocument::Compact) + '\n';

    const QString output = parser.value(QStringLiteral("output"));
    if (output.isEmpty() || output == QLatin1String("-")) {
        out() << QString::fromUtf8(text);
        out().flush();
    } else {
        Expected<void> written = DurableFile::replace(output, text, 0600);
        if (!written)
            return report(written.error());
        err() << QObject::tr("exported %1 audit records to %2").arg(exported).arg(output)
              << Qt::endl;
    }
    const int code = v->ok() ? Success : VerificationFailed;
    if (!v->ok())
        report(QObject::tr("the exported log failed verification (%1 problems)")
                   .arg(v->problems.size()),
               code);
    const int recorded = audited(session, QStringLiteral("audit.exported"),
                                 v->ok() ? QStringLiteral("ok") : QStringLiteral("failed"),
                                 {{QStringLiteral("records"), exported},
                                  {QStringLiteral("since"), since},
                                  {QStringLiteral("verified"), v->ok()}},
                                 code);
    return v->ok() ? recorded : VerificationFailed;
}

int runPrune(const StoreSession &session, const QCommandLineParser &parser)
{
    const qint64 now = nowMs();
    qint64 before = 0;
    if (!parseTime(parser.value(QStringLiteral("before")), now, &before))
        return report(QObject::tr("audit prune needs --before DATE (or an age such as 400d)"),
                      Usage);
    Expected<qint64> retention =
        StoreSettings::value(session.db(), StoreSettings::AuditRetentionDays);
    if (!retention)
        return report(retention.error());
    const qint64 oldestAllowed = now - retention.value() * DayMs;
    if (before > oldestAllowed)
        return report(
            QObject::tr("records younger than the retention period (%1 days, setting "
                        "%2) are kept; choose --before %3 or earlier")
                .arg(retention.value())
                .arg(StoreSettings::AuditRetentionDays)
                .arg(QDateTime::fromMSecsSinceEpoch(oldestAllowed, Qt::UTC).toString(Qt::ISODate)));
    Expected<AuditVerification> v = verify(session);
    if (!v)
        return report(v.error());
    if (!v->ok()) {
        printVerification(v.value(), false);
        return report(QObject::tr("the audit log does not verify; nothing was pruned"),
                      VerificationFailed);
    }
    Expected<AuditLog::Pruned> pruned =
        session.secrets.audit->prune(session.db(), before, AuditEvent::operatorActor(), now);
    if (!pruned)
        return report(pruned.error());
    if (pruned->count == 0) {
        out() << QObject::tr("no audit records older than that; nothing was pruned") << Qt::endl;
        return Success;
    }
    out() << QObject::tr("pruned %1 audit records (up to record %2); a checkpoint keeps the chain")
                 .arg(pruned->count)
                 .arg(pruned->lastSeq)
          << Qt::endl;
    return Success;
}

int runReanchor(const StoreSession &session, const QCommandLineParser &parser)
{
    if (!parser.isSet(QStringLiteral("yes")))
        return report(QObject::tr("audit reanchor accepts the log as it is now as the reference "
                                  "for truncation checks; add --yes to confirm"),
                      Usage);
    Expected<AuditVerification> v = verify(session);
    if (!v)
        return report(v.error());
    const AuditLog &audit = *session.secrets.audit;
    Expected<std::optional<AuditTip>> previous = audit.acceptAsIs(session.db());
    if (!previous)
        return report(previous.error());
    QJsonObject details = v->toJson();
    details.insert(QStringLiteral("previous_anchor_seq"),
                   previous.value() ? QJsonValue(previous.value()->seq) : QJsonValue());
    Expected<AuditRecord> written =
        audit.record(session.db(),
                     AuditEvent{AuditEvent::operatorActor(), QStringLiteral("audit.reanchored"),
                                QString(), QStringLiteral("ok"), QString(), details},
                     nowMs());
    if (!written)
        return report(written.error());
    out() << QObject::tr("the audit anchor now points at record %1").arg(written->seq) << Qt::endl;
    return Success;
}

volatile std::sig_atomic_t stopFollowing = 0;
void onStopSignal(int) { stopFollowing = 1; }

// Prints the newest records, then with -f polls for new ones until SIGINT
// or SIGTERM.
void runTail(std::shared_ptr<StoreSession> session, bool follow, bool json, QObject *context,
             std::function<void(int)> finished)
{
    Expected<QList<AuditRecord>> newest =
        records(session->db(), QStringLiteral("seq > ?"), 0, TailLines);
    if (!newest) {
        finished(report(newest.error()));
        return;
    }
    auto last = std::make_shared<qint64>(0);
    auto print = [json, last](const QList<AuditRecord> &list) {
        for (const AuditRecord &r : list) {
            out() << (json ? QString::fromUtf8(
                                 QJsonDocument(r.toJson()).toJson(QJsonDocument::Compact))
                           : line(r))
                  << Qt::endl;
            *last = r.seq;
        }
    };
    print(newest.value());
    if (!follow) {
        finished(Success);
        return;
    }
    std::signal(SIGINT, onStopSignal);
    std::signal(SIGTERM, onStopSignal);
    auto *timer = new QTimer(context);
    QObject::connect(timer, &QTimer::timeout, context, [=] {
        if (stopFollowing) {
            timer->stop();
            finished(Success);
            return;
        }
        Expected<QList<AuditRecord>> more =
            records(session->db(), QStringLiteral("seq > ?"), *last);
        if (!more) {
            timer->stop();
            finished(report(more.error()));
            return;
        }
        print(more.value());
    });
    timer->start(250);
}
} // namespace

AuditCommands::AuditCommands(QObject *parent)
    : QObject(parent)
{}

QString AuditCommands::synopsis()
{
    return tr("audit verify      recompute the whole chain and compare it with the anchor\n"
              "audit export      [--since T] [--output F]   JSON Lines and a verification "
              "summary\n"
              "audit tail        [-f] [--json]   the newest records; -f follows new ones\n"
              "audit prune       --before T   drop records older than T behind a checkpoint\n"
              "audit reanchor    --yes   accept the log as it is now (after a restore)");
}

void AuditCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {QStringLiteral("since"), tr("audit export: records from T (date, date-time or age)."),
         QStringLiteral("T")},
        {{QStringLiteral("f"), QStringLiteral("follow")}, tr("audit tail: follow new records.")},
        {QStringLiteral("before"), tr("audit prune: drop records older than T."),
         QStringLiteral("T")},
    });
}

void AuditCommands::run(const QStringList &words, const QCommandLineParser &parser,
                        Finished finished)
{
    static const QStringList known{QStringLiteral("verify"), QStringLiteral("export"),
                                   QStringLiteral("tail"), QStringLiteral("prune"),
                                   QStringLiteral("reanchor")};
    const QString command = words.value(0);
    if (words.size() != 1 || !known.contains(command)) {
        finished(unknownCommand(QStringLiteral("audit"), words));
        return;
    }
    StoreSession::open(parser, this, [this, command, &parser, finished](Expected<StoreSession> s) {
        if (!s) {
            finished(report(s.error()));
            return;
        }
        auto session = std::make_shared<StoreSession>(std::move(s.value()));
        const bool json = parser.isSet(QStringLiteral("json"));
        if (command == QLatin1String("verify"))
            finished(runVerify(*session, json));
        else if (command == QLatin1String("export"))
            finished(runExport(*session, parser));
        else if (command == QLatin1String("prune"))
            finished(runPrune(*session, parser));
        else if (command == QLatin1String("reanchor"))
            finished(runReanchor(*session, parser));
        else
            runTail(session, parser.isSet(QStringLiteral("follow")), json, this, finished);
    });
}
