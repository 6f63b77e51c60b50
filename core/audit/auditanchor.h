#pragma once

#include "expected.h"

#include <QByteArray>
#include <QMutex>
#include <QString>

#include <memory>
#include <optional>

class SecretSlot;

// The newest (seq, mac) of the audit chain, kept outside the store so that
// cutting off the newest records is noticed: a chain that ends before the
// anchor, or disagrees with it, was truncated or rewritten.
struct AuditTip {
    qint64 seq = 0;
    QByteArray mac;
};

// Holds the anchor in a secret slot (a 0600 file, or the OS keychain).
// Writers in several processes (the engine, framehousectl) serialise on a
// lock file, and the anchor only ever moves forward.
class AuditAnchor {
public:
    AuditAnchor(std::shared_ptr<SecretSlot> slot, QString lockPath);

    QString describe() const;
    Expected<std::optional<AuditTip>> read() const;
    // Stores `tip` unless the anchor already holds a later one.
    Expected<void> advance(const AuditTip &tip) const;
    // Stores `tip` even when it is older: after a restore, or when an
    // operator accepts the chain as it is.
    Expected<void> reset(const AuditTip &tip) const;
    // The newest anchor this process has read or written: read once, then
    // kept, so that every commit can check the log against it cheaply.
    Expected<std::optional<AuditTip>> known() const;

private:
    Expected<void> write(const AuditTip &tip, bool forwardOnly) const;

    std::shared_ptr<SecretSlot> m_slot;
    QString m_lockPath;
    mutable QMutex m_mutex;
    mutable std::optional<AuditTip> m_known;
    mutable bool m_loaded = false;
};
