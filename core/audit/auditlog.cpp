#include "auditlog.h"

#include "auditverifier.h"
#include "security/redactor.h"
#include "security/secretkey.h"
#include "store/rowvalues.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSqlError>
#include <QSqlQuery>

namespace {
Q_LOGGING_CATEGORY(auditCategory, "framehouse.audit")

QString tr(const char *text) { return QCoreApplication::translate("AuditLog", text); }

// The mac covers NULL and '' differently: an empty field is stored as NULL.
QString orNull(const QString &text) { return text.isEmpty() ? QString() : text; }

} // namespace

AuditLog::AuditLog(std::shared_ptr<const SecretKey> key, std::shared_ptr<const AuditAnchor> anchor)
    : m_key(std::move(key))
    , m_anchor(std::move(anchor))
{}

Expected<AuditRecord> AuditLog::Writer::append(const AuditEvent &event)
{
    QSqlQuery last(m_db);
    last.setForwardOnly(true);
    if (!last.exec(QStringLiteral("SELECT seq, mac FROM audit_records ORDER BY seq DESC LIMIT 1")))
        return sqlFailure(tr("cannot read the newest audit record"), last);

    AuditRecord r;
    QByteArray previous = AuditRecord::genesisMac();
    r.seq = 1;
    if (last.next()) {
        r.seq = last.value(0).toLongLong() + 1;
        previous = last.value(1).toByteArray();
    }
    r.at = m_now;
    r.actor = Redactor::text(event.actor);
    r.action = Redactor::text(event.action);
    r.target = orNull(Redactor::text(event.target));
    r.outcome = Redactor::text(event.outcome);
    r.sourceIp = orNull(
        Redactor::text(event.sourceIp.isEmpty() ? AuditSourceScope::current() : event.sourceIp));
    if (!event.details.isEmpty())
        r.details = QString::fromUtf8(
            QJsonDocument(Redactor::json(event.details).toObject()).toJson(QJsonDocument::Compact));
    r.mac = r.computeMac(*m_log.m_key, previous);

    QSqlQuery insert(m_db);
    insert.prepare(
        QStringLiteral("INSERT INTO audit_records (%1) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .arg(AuditRecord::selectColumns()));
    insert.addBindValue(r.seq);
    insert.addBindValue(r.at);
    insert.addBindValue(r.actor);
    insert.addBindValue(r.action);
    insert.addBindValue(RowValues::nullIfEmpty(r.target));
    insert.addBindValue(r.outcome);
    insert.addBindValue(RowValues::nullIfEmpty(r.sourceIp));
    insert.addBindValue(RowValues::nullIfEmpty(r.details));
    insert.addBindValue(r.mac);
    if (!insert.exec())
        return sqlFailure(tr("cannot write the audit record"), insert);
    m_tip = AuditTip{r.seq, r.mac};
    return r;
}

Expected<void> AuditLog::commit(QSqlDatabase db, qint64 now, const Change &change) const
{
    if (!db.transaction())
        return fail(tr("cannot start a transaction: %1").arg(describeSqlError(db.lastError())));
    // Appending to a log that was cut short would chain new records onto
    // the cut and carry the anchor past it; nothing is written until the
    // operator has looked (audit verify) and accepted it (audit reanchor).
    Expected<std::optional<AuditTip>> known = m_anchor->known();
    Expected<void> consistent =
        known ? AuditVerifier::checkAnchor(db, known.value(), m_anchor->describe())
              : Expected<void>(known.failure());
    if (!consistent) {
        db.rollback();
        return fail(tr("the audit log does not match its anchor, so no change is made: %1")
                        .arg(consistent.error()));
    }
    Writer writer(*this, db, now);
    Expected<void> changed = change(writer);
    if (!changed) {
        db.rollback();
        return changed;
    }
    if (!db.commit()) {
        const QString why = describeSqlError(db.lastError());
        db.rollback();
        return fail(tr("cannot commit: %1").arg(why));
    }
    if (writer.m_tip) {
        // The change is durable; a failure to move the anchor only widens
        // the window in which truncation would go unnoticed, so it is
        // reported loudly but does not undo the change.
        Expected<void> anchored = m_anchor->advance(*writer.m_tip);
        if (!anchored)
            qCCritical(auditCategory, "cannot update the audit anchor in %s: %s",
                       qUtf8Printable(m_anchor->describe()), qUtf8Printable(anchored.error()));
    }
    return {};
}

Expected<std::optional<AuditTip>> AuditLog::newest(QSqlDatabase db)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT seq, mac FROM audit_records ORDER BY seq DESC LIMIT 1")))
        return sqlFailure(tr("cannot read the newest audit record"), q);
    if (!q.next())
        return std::optional<AuditTip>();
    return std::optional<AuditTip>(AuditTip{q.value(0).toLongLong(), q.value(1).toByteArray()});
}

Expected<std::optional<AuditTip>> AuditLog::acceptAsIs(QSqlDatabase db) const
{
    Expected<std::optional<AuditTip>> previous = m_anchor->read();
    if (!previous)
        return previous.failure();
    Expected<std::optional<AuditTip>> tip = newest(db);
    if (!tip)
        return tip.failure();
    if (!tip.value())
        return fail(tr("the audit log is empty; there is nothing to anchor"));
    Expected<void> reset = m_anchor->reset(*tip.value());
    if (!reset)
        return reset.failure();
    return previous.value();
}

Expected<AuditRecord> AuditLog::record(QSqlDatabase db, const AuditEvent &event, qint64 now) const
{
    std::optional<AuditRecord> written;
    Expected<void> done = commit(db, now, [&](Writer &w) -> Expected<void> {
        Expected<AuditRecord> r = w.append(event);
        if (!r)
            return r.failure();
        written = std::move(r.value());
        return {};
    });
    if (!done)
        return done.failure();
    return std::move(*written);
}

Expected<AuditLog::Pruned> AuditLog::prune(QSqlDatabase db, qint64 before, const QString &actor,
                                           qint64 now) const
{
    Pruned pruned;
    Expected<void> done = commit(db, now, [&](Writer &w) -> Expected<void> {
        // Records are pruned as a prefix of the chain, up to the first record
        // that is new enough; the newest record always stays.
        QSqlQuery cut(w.db());
        cut.setForwardOnly(true);
        cut.prepare(QStringLiteral("SELECT (SELECT min(seq) FROM audit_records), "
                                   "coalesce((SELECT min(seq) FROM audit_records WHERE at >= ?), "
                                   "(SELECT max(seq) FROM audit_records)) - 1"));
        cut.addBindValue(before);
        if (!cut.exec() || !cut.next())
            return sqlFailure(tr("cannot find the records to prune"), cut);
        const qint64 first = cut.value(0).toLongLong();
        const qint64 last = cut.value(1).toLongLong();
        if (cut.value(0).isNull() || last < first)
            return {};
        QSqlQuery lastMac(w.db());
        lastMac.setForwardOnly(true);
        lastMac.prepare(QStringLiteral("SELECT mac FROM audit_records WHERE seq = ?"));
        lastMac.addBindValue(last);
        if (!lastMac.exec() || !lastMac.next())
            return sqlFailure(tr("cannot read the last pruned record"), lastMac);

        QSqlQuery remove(w.db());
        remove.prepare(QStringLiteral("DELETE FROM audit_records WHERE seq <= ?"));
        remove.addBindValue(last);
        if (!remove.exec())
            return sqlFailure(tr("cannot prune the audit log"), remove);
        pruned.count = remove.numRowsAffected();
        pruned.lastSeq = last;

        AuditEvent checkpoint;
        checkpoint.actor = actor;
        checkpoint.action = CheckpointAction;
        checkpoint.details = {
            {QStringLiteral("pruned_from"), first},
            {QStringLiteral("pruned_to"), last},
            {QStringLiteral("count"), pruned.count},
            {QStringLiteral("before"), before},
            {QStringLiteral("last_mac"),
             QString::fromLatin1(lastMac.value(0).toByteArray().toHex())},
        };
        Expected<AuditRecord> written = w.append(checkpoint);
        if (!written)
            return written.failure();
        return {};
    });
    if (!done)
        return done.failure();
    return pruned;
}
