#pragma once

#include "expected.h"

#include <QByteArray>
#include <QByteArrayView>

#include <array>
#include <cstdint>
#include <string>

// A raw 256-bit secret: the store's SQLCipher key, the API-key pepper or the
// audit key. The bytes are wiped when the object dies; copies are wiped too.
// It never converts implicitly to text.
class SecretKey {
public:
    static constexpr int Size = 32;

    static SecretKey generate();
    // Strict: exactly 64 hex digits, optionally followed by one newline.
    static Expected<SecretKey> fromHex(QByteArrayView text);
    // fromHex on a secret read from `source` (for messages); wipes `text`.
    static Expected<SecretKey> fromSecret(QByteArray &text, const QString &source);

    SecretKey(const SecretKey &other);
    SecretKey &operator=(const SecretKey &other);
    ~SecretKey();

    // 64 lower-case hex digits and a newline: the key-file and keychain form.
    // The caller must wipe the returned array (see wipe()).
    QByteArray toHexLine() const;
    // SQLCipher's raw-key literal: x'<64 hex>'. The caller must wipe it.
    std::string sqlLiteral() const;

    // HMAC-SHA256(this key, data): 32 bytes.
    QByteArray hmac(QByteArrayView data) const;

    bool operator==(const SecretKey &other) const;

    static void wipe(QByteArray &bytes);
    static void wipe(std::string &bytes);

private:
    SecretKey() = default;
    std::array<std::uint8_t, Size> m_bytes{};
};
