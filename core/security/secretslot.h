#pragma once

#include "expected.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <optional>

// One named secret (a store key, later the API-key pepper and the audit
// key), held either in a 0600 file or in the OS keychain. The keychain is
// asynchronous, so every operation reports through a callback that runs in
// the thread of `context`; file operations call back before returning.
class SecretSlot {
public:
    using ReadDone = std::function<void(Expected<std::optional<QByteArray>>)>;
    using WriteDone = std::function<void(Expected<void>)>;

    virtual ~SecretSlot() = default;

    // For messages: "key file /etc/x.key" or "OS keychain entry framehouse/store-<id>".
    virtual QString describe() const = 0;
    virtual bool isWritable() const { return true; }

    // Reads the secret; an absent one is std::nullopt, not an error.
    virtual void read(QObject *context, ReadDone done) const = 0;
    virtual void write(const QByteArray &secret, QObject *context, WriteDone done) const = 0;
    // Removing an absent secret succeeds.
    virtual void remove(QObject *context, WriteDone done) const = 0;

    static std::unique_ptr<SecretSlot> file(const QString &path, bool writable = true);
    static std::unique_ptr<SecretSlot> keychain(const QString &account);
};
