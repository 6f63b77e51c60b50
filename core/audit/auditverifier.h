#pragma once

#include "auditanchor.h"
#include "expected.h"

#include <QJsonObject>
#include <QSqlDatabase>
#include <QStringList>

#include <functional>
#include <optional>

class SecretKey;
struct AuditRecord;

// Walks the whole chain and recomputes every mac. Finds edited, inserted,
// deleted and reordered records (each breaks the chain or the seq run),
// records cut from the start without a checkpoint, and, against the
// anchor, records cut from the end.
struct AuditVerification {
    qint64 checked = 0;
    qint64 firstSeq = 0;
    qint64 lastSeq = 0;
    QByteArray lastMac;
    std::optional<AuditTip> anchor;
    qint64 anchorBehind = 0; // records appended after the anchor was last moved
    QStringList problems;

    bool ok() const { return problems.isEmpty(); }
    std::optional<AuditTip> tip() const;
    QJsonObject toJson() const;
};

namespace AuditVerifier {
// `anchor` is what the anchor slot holds (std::nullopt when it is empty).
// `visit`, when given, sees each record as it is checked, in the same read
// transaction (an export writes exactly what was verified).
Expected<AuditVerification> verify(QSqlDatabase db, const SecretKey &key,
                                   const std::optional<AuditTip> &anchor,
                                   const std::function<void(const AuditRecord &)> &visit = {});
// The cheap check at engine start: the anchored record is still there with
// the same mac. Problems come back as the failure.
Expected<void> checkAnchor(QSqlDatabase db, const std::optional<AuditTip> &anchor,
                           const QString &anchorSource);
} // namespace AuditVerifier
