#include "storekey.h"

#include <QCoreApplication>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>

namespace {
constexpr char hexDigits[] = "0123456789abcdef";

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
} // namespace

StoreKey StoreKey::generate()
{
    StoreKey key;
    if (RAND_bytes(key.m_bytes.data(), Size) != 1) {
        // No safe way to continue without a CSPRNG.
        std::abort();
    }
    return key;
}

Expected<StoreKey> StoreKey::fromHex(QByteArrayView text)
{
    if (text.endsWith('\n'))
        text.chop(1);
    if (text.size() != 2 * Size)
        return fail(QCoreApplication::translate(
                        "StoreKey",
                        "a store key must be exactly 64 hex digits (256 bits); found %1 "
                        "characters")
                        .arg(text.size()));
    StoreKey key;
    for (int i = 0; i < Size; ++i) {
        const int hi = hexValue(text[2 * i]);
        const int lo = hexValue(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(QCoreApplication::translate(
                "StoreKey", "a store key may only contain hex digits 0-9 and a-f"));
        key.m_bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return key;
}

Expected<StoreKey> StoreKey::fromSecret(QByteArray &text, const QString &source)
{
    Expected<StoreKey> key = fromHex(text);
    wipe(text);
    if (!key)
        return fail(
            QCoreApplication::translate("StoreKey", "%1 does not hold a valid store key: %2")
                .arg(source, key.error()));
    return key;
}

StoreKey::StoreKey(const StoreKey &other)
    : m_bytes(other.m_bytes)
{}

StoreKey &StoreKey::operator=(const StoreKey &other)
{
    m_bytes = other.m_bytes;
    return *this;
}

StoreKey::~StoreKey() { OPENSSL_cleanse(m_bytes.data(), m_bytes.size()); }

QByteArray StoreKey::toHexLine() const
{
    QByteArray out(2 * Size + 1, '\n');
    for (int i = 0; i < Size; ++i) {
        out[2 * i] = hexDigits[m_bytes[i] >> 4];
        out[2 * i + 1] = hexDigits[m_bytes[i] & 0xf];
    }
    return out;
}

std::string StoreKey::sqlLiteral() const
{
    std::string out;
    out.reserve(2 * Size + 3);
    out += "x'";
    for (std::uint8_t b : m_bytes) {
        out += hexDigits[b >> 4];
        out += hexDigits[b & 0xf];
    }
    out += '\'';
    return out;
}

bool StoreKey::operator==(const StoreKey &other) const
{
    return CRYPTO_memcmp(m_bytes.data(), other.m_bytes.data(), Size) == 0;
}

void StoreKey::wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}

void StoreKey::wipe(std::string &bytes)
{
    if (!bytes.empty())
        OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}
