#pragma once

#include "auditanchor.h"
#include "auditevent.h"
#include "auditrecord.h"
#include "expected.h"

#include <QSqlDatabase>

#include <functional>
#include <memory>

class SecretKey;

// The append-only, HMAC-chained audit log in the store. A state change and
// its audit records are written in one transaction: if the record cannot
// be written, the change does not happen either. After each commit the
// anchor moves to the new newest record.
class AuditLog {
public:
    // Appends records inside a transaction that AuditLog::commit opened.
    class Writer {
    public:
        QSqlDatabase &db() { return m_db; }
        qint64 now() const { return m_now; }
        Expected<AuditRecord> append(const AuditEvent &event);

    private:
        friend class AuditLog;
        Writer(const AuditLog &log, QSqlDatabase db, qint64 now)
            : m_log(log)
            , m_db(std::move(db))
            , m_now(now)
        {}
        const AuditLog &m_log;
        QSqlDatabase m_db;
        qint64 m_now;
        std::optional<AuditTip> m_tip;
    };
    using Change = std::function<Expected<void>(Writer &)>;

    AuditLog(std::shared_ptr<const SecretKey> key, std::shared_ptr<const AuditAnchor> anchor);

    // BEGIN IMMEDIATE, `change`, COMMIT; everything is rolled back when
    // `change` or any append fails. `now` is UTC milliseconds.
    Expected<void> commit(QSqlDatabase db, qint64 now, const Change &change) const;
    // A change that is only an audit record.
    Expected<AuditRecord> record(QSqlDatabase db, const AuditEvent &event, qint64 now) const;

    struct Pruned {
        qint64 count = 0;
        qint64 lastSeq = 0;
    };
    // Deletes the records older than `before` (never the newest one) and
    // appends a checkpoint record that carries the last deleted record's
    // mac, so the rest of the chain still verifies.
    Expected<Pruned> prune(QSqlDatabase db, qint64 before, const QString &actor, qint64 now) const;

    // Accepts the log as it stands (after a restore, or when the operator
    // says so): the anchor moves to the newest record, even backwards.
    // Returns what the anchor held before.
    Expected<std::optional<AuditTip>> acceptAsIs(QSqlDatabase db) const;
    // The newest record's (seq, mac); std::nullopt for an empty log.
    static Expected<std::optional<AuditTip>> newest(QSqlDatabase db);

    const SecretKey &key() const { return *m_key; }
    const AuditAnchor &anchor() const { return *m_anchor; }

    static constexpr QLatin1StringView CheckpointAction{"audit.checkpoint"};

private:
    std::shared_ptr<const SecretKey> m_key;
    std::shared_ptr<const AuditAnchor> m_anchor;
};
