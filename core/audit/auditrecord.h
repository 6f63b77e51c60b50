#pragma once

#include "auditevent.h"

#include <QByteArray>
#include <QJsonObject>

class QSqlQuery;
class SecretKey;

// One row of audit_records. `details` is kept as the exact stored text,
// because the MAC covers those bytes.
struct AuditRecord {
    qint64 seq = 0;
    qint64 at = 0; // UTC milliseconds
    QString actor;
    QString action;
    QString target;
    QString outcome;
    QString sourceIp;
    QString details; // compact JSON, already redacted
    QByteArray mac;

    static constexpr int MacSize = 32;
    static QByteArray genesisMac() { return QByteArray(MacSize, '\0'); }

    // HMAC-SHA256(key, seq ‖ at ‖ canonical record ‖ previous mac); seq and
    // at as 8-byte big-endian, the record as a compact JSON array so no two
    // different records share an encoding.
    QByteArray computeMac(const SecretKey &key, const QByteArray &previousMac) const;

    // Columns: seq, at, actor, action, target, outcome, source_ip, details, mac.
    static QString selectColumns();
    static AuditRecord fromQuery(const QSqlQuery &query);

    QJsonObject toJson() const;
};
