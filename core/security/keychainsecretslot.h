#pragma once

#include "secretslot.h"

// A secret in the OS keychain (Secret Service over D-Bus on Linux), under
// the service name "framehouse". There is no plaintext fallback: when the
// keychain cannot be reached the operation fails with a message that points
// at the key-file alternative.
class KeychainSecretSlot final : public SecretSlot {
public:
    static constexpr auto Service = "framehouse";

    explicit KeychainSecretSlot(QString account);

    QString describe() const override;
    void read(QObject *context, ReadDone done) const override;
    void write(const QByteArray &secret, QObject *context, WriteDone done) const override;
    void remove(QObject *context, WriteDone done) const override;

    // The message for a keychain failure; public for the tests.
    static QString explainFailure(int keychainError, const QString &detail);

private:
    QString m_account;
};
