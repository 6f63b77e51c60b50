#pragma once

#include "expected.h"

#include <QByteArray>
#include <QByteArrayView>

#include <array>
#include <cstdint>
#include <string>

// A raw 256-bit SQLCipher key. The bytes are wiped when the object dies;
// copies are wiped too. It never converts implicitly to text.
class StoreKey {
public:
    static constexpr int Size = 32;

    static StoreKey generate();
    // Strict: exactly 64 hex digits, optionally followed by one newline.
    static Expected<StoreKey> fromHex(QByteArrayView text);
    // fromHex on a secret read from `source` (for messages); wipes `text`.
    static Expected<StoreKey> fromSecret(QByteArray &text, const QString &source);

    StoreKey(const StoreKey &other);
    StoreKey &operator=(const StoreKey &other);
    ~StoreKey();

    // 64 lower-case hex digits and a newline: the key-file and keychain form.
    // The caller must wipe the returned array (see wipe()).
    QByteArray toHexLine() const;
    // SQLCipher's raw-key literal: x'<64 hex>'. The caller must wipe it.
    std::string sqlLiteral() const;

    bool operator==(const StoreKey &other) const;

    static void wipe(QByteArray &bytes);
    static void wipe(std::string &bytes);

private:
    StoreKey() = default;
    std::array<std::uint8_t, Size> m_bytes{};
};
