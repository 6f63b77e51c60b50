#pragma once

#include "secretslot.h"

// A secret in a file that only its owner may read (mode 0600 or stricter).
// A file that group or others can access is refused, never used.
class FileSecretSlot final : public SecretSlot {
public:
    explicit FileSecretSlot(QString path, bool writable);

    QString describe() const override;
    bool isWritable() const override { return m_writable; }
    void read(QObject *context, ReadDone done) const override;
    void write(const QByteArray &secret, QObject *context, WriteDone done) const override;
    void remove(QObject *context, WriteDone done) const override;

    Expected<std::optional<QByteArray>> readNow() const;
    Expected<void> writeNow(const QByteArray &secret) const;
    Expected<void> removeNow() const;

private:
    QString m_path;
    bool m_writable;
};
