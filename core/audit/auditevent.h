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

// The remote address behind the audit records this thread writes while the
// scope lives: the API sets it around a request, so a job submitted, a key
// revoked or an upload stored over HTTPS carries the client's address
// without every store operation taking it as a parameter. A record that
// names its own sourceIp keeps it.
class AuditSourceScope {
public:
    explicit AuditSourceScope(const QString &sourceIp);
    ~AuditSourceScope();
    AuditSourceScope(const AuditSourceScope &) = delete;
    AuditSourceScope &operator=(const AuditSourceScope &) = delete;

    static QString current();

private:
    QString m_previous;
};
