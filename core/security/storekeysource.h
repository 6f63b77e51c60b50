#pragma once

#include "secretslot.h"

#include <memory>

// Where a store's key lives, in order of precedence:
//   1. a key file given with --key-file / FRAMEHOUSE_KEY_FILE (mode 0600),
//   2. $CREDENTIALS_DIRECTORY/store-key when started by systemd (read-only),
//   3. the OS keychain, entry framehouse/store-<store id> (the desktop default).
// Each writable source also has a "pending" slot that holds the new key
// while a rekey is in flight, so a crash leaves a key that opens the store.
class StoreKeySource {
public:
    enum class Kind { KeyFile, SystemdCredential, Keychain };

    static StoreKeySource select(const QString &keyFile, const QString &storeId);

    Kind kind() const { return m_kind; }
    QString describe() const { return m_current->describe(); }
    const SecretSlot &current() const { return *m_current; }
    // nullptr for a read-only source.
    const SecretSlot *pending() const { return m_pending.get(); }

    // Another secret of the same store, kept the same way as its key:
    // "<key file without .key>.<name>" beside a key file,
    // $CREDENTIALS_DIRECTORY/<name> (read-only) under systemd, or the
    // keychain entry framehouse/<name>-<store id>.
    std::shared_ptr<SecretSlot> companion(const QString &name) const;
    // The files behind the key and its companions; empty for the keychain.
    QString keyFilePath() const;
    QString companionFilePath(const QString &name) const;
    // The audit anchor must stay writable: $FRAMEHOUSE_AUDIT_ANCHOR when set;
    // under systemd, $STATE_DIRECTORY/audit-anchor (else beside the store);
    // otherwise companion("audit-anchor").
    std::shared_ptr<SecretSlot> auditAnchor(const QString &storeDirectory) const;

private:
    StoreKeySource(Kind kind, QString location, std::shared_ptr<SecretSlot> current,
                   std::shared_ptr<SecretSlot> pending);

    Kind m_kind;
    QString m_location; // key file path, credentials directory, or store id
    std::shared_ptr<SecretSlot> m_current;
    std::shared_ptr<SecretSlot> m_pending;
};
