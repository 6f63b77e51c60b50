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

private:
    StoreKeySource(Kind kind, std::shared_ptr<SecretSlot> current,
                   std::shared_ptr<SecretSlot> pending);

    Kind m_kind;
    std::shared_ptr<SecretSlot> m_current;
    std::shared_ptr<SecretSlot> m_pending;
};
