#pragma once

#include <QJsonObject>
#include <QString>

// What happened, before it is sequenced and chained. Actors are written
// "operator:<os user>", "key:<key id>" or "system".
struct AuditEvent {
    QString actor;
    QString action; // "key.created", "auth.failure", "store.backup", ...
    QString target; // what it acted on: a key id, a job uuid, a file; may be empty
    QString outcome = QStringLiteral("ok");
    QString sourceIp; // empty when local
    QJsonObject details;

    static QString operatorActor(); // "operator:<the OS user running this process>"
    static QString systemActor() { return QStringLiteral("system"); }
    static QString keyActor(const QString &keyId) { return QStringLiteral("key:") + keyId; }
};
