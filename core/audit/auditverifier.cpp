#include "auditverifier.h"

#include "auditlog.h"
#include "auditrecord.h"
#include "security/secretkey.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <openssl/crypto.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("AuditVerifier", text); }

bool sameMac(const QByteArray &a, const QByteArray &b)
{
    return a.size() == AuditRecord::MacSize && b.size() == AuditRecord::MacSize &&
           CRYPTO_memcmp(a.constData(), b.constData(), AuditRecord::MacSize) == 0;
}

// The mac that precedes `firstSeq`: zeros for a chain that starts at 1, else
// the one carried by the checkpoint that pruned everything before it. The
// checkpoint is itself in the chain, so a forged one fails its own mac.
std::optional<QByteArray> macBefore(QSqlDatabase &db, qint64 firstSeq)
{
    if (firstSeq == 1)
        return AuditRecord::genesisMac();
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(
        QStringLiteral("SELECT details FROM audit_records WHERE action = ? ORDER BY seq DESC"));
    q.addBindValue(QString(AuditLog::CheckpointAction));
    if (!q.exec())
        return std::nullopt;
    while (q.next()) {
        const QJsonObject details =
            QJsonDocument::fromJson(q.value(0).toString().toUtf8()).object();
        if (details.value(QStringLiteral("pruned_to")).toInteger() == firstSeq - 1) {
            const QByteArray mac = QByteArray::fromHex(
                details.value(QStringLiteral("last_mac")).toString().toLatin1());
            if (mac.size() == AuditRecord::MacSize)
                return mac;
        }
    }
    return std::nullopt;
}
} // namespace

std::optional<AuditTip> AuditVerification::tip() const
{
    if (checked == 0)
        return std::nullopt;
    return AuditTip{lastSeq, lastMac};
}

QJsonObject AuditVerification::toJson() const
{
    QJsonObject out{{QStringLiteral("type"), QStringLiteral("verification")},
                    {QStringLiteral("ok"), ok()},
                    {QStringLiteral("records"), checked},
                    {QStringLiteral("first_seq"), firstSeq},
                    {QStringLiteral("last_seq"), lastSeq},
                    {QStringLiteral("problems"), QJsonArray::fromStringList(problems)}};
    if (anchor) {
        out.insert(QStringLiteral("anchor_seq"), anchor->seq);
        out.insert(QStringLiteral("anchor_behind"), anchorBehind);
    }
    return out;
}

Expected<AuditVerification>
AuditVerifier::verify(QSqlDatabase db, const SecretKey &key, const std::optional<AuditTip> &anchor,
                      const std::function<void(const AuditRecord &)> &visit)
{
    AuditVerification v;
    v.anchor = anchor;
    // One read transaction (a WAL snapshot), so a concurrent append cannot
    // look like a gap; deferred, so writers are not held up meanwhile.
    QSqlQuery begin(db);
    if (!begin.exec(QStringLiteral("BEGIN DEFERRED")))
        return fail(tr("cannot read the audit log: %1").arg(describeSqlError(begin.lastError())));
    const auto end = [&db] { QSqlQuery(db).exec(QStringLiteral("ROLLBACK")); };
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT %1 FROM audit_records ORDER BY seq")
                    .arg(AuditRecord::selectColumns()))) {
        const QString why = describeSqlError(q.lastError());
        end();
        return fail(tr("cannot read the audit log: %1").arg(why));
    }
    QByteArray previous;
    QByteArray anchoredMac;
    while (q.next()) {
        const AuditRecord r = AuditRecord::fromQuery(q);
        if (visit)
            visit(r);
        if (v.checked == 0) {
            v.firstSeq = r.seq;
            const std::optional<QByteArray> before = macBefore(db, r.seq);
            if (!before) {
                v.problems << tr("records 1 to %1 are missing and no checkpoint accounts for them")
                                  .arg(r.seq - 1);
            }
            previous = before.value_or(QByteArray());
        } else if (r.seq != v.lastSeq + 1) {
            v.problems << tr("records %1 to %2 are missing").arg(v.lastSeq + 1).arg(r.seq - 1);
        }
        if (!previous.isEmpty() && !sameMac(r.computeMac(key, previous), r.mac))
            v.problems << tr("record %1 (%2) does not match its mac: it was edited, inserted or "
                             "moved, or a record before it was")
                              .arg(r.seq)
                              .arg(r.action);
        if (anchor && r.seq == anchor->seq)
            anchoredMac = r.mac;
        // Go on from the stored mac, so that one bad record is reported once
        // and the records after it are still checked.
        previous = r.mac;
        v.lastSeq = r.seq;
        v.lastMac = r.mac;
        ++v.checked;
    }
    q.finish();
    end();

    if (!anchor) {
        if (v.checked > 0)
            v.problems << tr("the audit anchor is missing, so records cut from the end of the log "
                             "would go unnoticed");
    } else if (anchor->seq > v.lastSeq) {
        v.problems << tr("the log ends at record %1 but the anchor says %2: the newest records "
                         "were removed")
                          .arg(v.lastSeq)
                          .arg(anchor->seq);
    } else if (anchor->seq >= v.firstSeq && !sameMac(anchoredMac, anchor->mac)) {
        v.problems << tr("record %1 does not match the anchor: the log was rewritten from there")
                          .arg(anchor->seq);
    } else {
        v.anchorBehind = v.lastSeq - anchor->seq;
    }
    return v;
}

Expected<void> AuditVerifier::checkAnchor(QSqlDatabase db, const std::optional<AuditTip> &anchor,
                                          const QString &anchorSource)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT max(seq) FROM audit_records")) || !q.next())
        return fail(tr("cannot read the audit log: %1").arg(describeSqlError(q.lastError())));
    const qint64 last = q.value(0).toLongLong();
    const QString fix = tr("run 'framehousectl audit verify' to see what changed");
    if (!anchor) {
        if (last == 0)
            return {};
        return fail(tr("the audit log has %1 records but %2 holds no anchor; %3")
                        .arg(last)
                        .arg(anchorSource, fix));
    }
    if (anchor->seq > last)
        return fail(tr("the audit log ends at record %1 but %2 says %3: the newest records were "
                       "removed; %4")
                        .arg(last)
                        .arg(anchorSource)
                        .arg(anchor->seq)
                        .arg(fix));
    QSqlQuery at(db);
    at.setForwardOnly(true);
    at.prepare(QStringLiteral("SELECT mac FROM audit_records WHERE seq = ?"));
    at.addBindValue(anchor->seq);
    if (!at.exec())
        return fail(tr("cannot read the audit log: %1").arg(describeSqlError(at.lastError())));
    if (at.next()) {
        if (!sameMac(at.value(0).toByteArray(), anchor->mac))
            return fail(tr("audit record %1 does not match %2: the log was rewritten; %3")
                            .arg(anchor->seq)
                            .arg(anchorSource, fix));
        return {};
    }
    // Missing: fine only if it was pruned, that is, older than every record
    // kept (the full verification checks the checkpoint that says so).
    QSqlQuery oldest(db);
    oldest.setForwardOnly(true);
    if (!oldest.exec(QStringLiteral("SELECT min(seq) FROM audit_records")) || !oldest.next())
        return fail(tr("cannot read the audit log: %1").arg(describeSqlError(oldest.lastError())));
    if (anchor->seq < oldest.value(0).toLongLong())
        return {};
    return fail(tr("audit record %1, named by %2, is missing: the log was rewritten; %3")
                    .arg(anchor->seq)
                    .arg(anchorSource, fix));
}
