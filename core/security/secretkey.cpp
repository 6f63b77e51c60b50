#include "secretkey.h"

#include <QCoreApplication>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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

SecretKey SecretKey::generate()
{
    SecretKey key;
    if (RAND_bytes(key.m_bytes.data(), Size) != 1) {
        // No safe way to continue without a CSPRNG.
        std::abort();
    }
    return key;
}

Expected<SecretKey> SecretKey::fromHex(QByteArrayView text)
{
    if (text.endsWith('\n'))
        text.chop(1);
    if (text.size() != 2 * Size)
        return fail(QCoreApplication::translate(
                        "SecretKey", "a key must be exactly 64 hex digits (256 bits); found %1 "
                                     "characters")
                        .arg(text.size()));
    SecretKey key;
    for (int i = 0; i < Size; ++i) {
        const int hi = hexValue(text[2 * i]);
        const int lo = hexValue(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(QCoreApplication::translate(
                "SecretKey", "a key may only contain hex digits 0-9 and a-f"));
        key.m_bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return key;
}

Expected<SecretKey> SecretKey::fromSecret(QByteArray &text, const QString &source)
{
    Expected<SecretKey> key = fromHex(text);
    wipe(text);
    if (!key)
        return fail(
            QCoreApplication::translate("SecretKey", "%1 does not hold a valid 256-bit key: %2")
                .arg(source, key.error()));
    return key;
}

SecretKey::SecretKey(const SecretKey &other)
    : m_bytes(other.m_bytes)
{}

SecretKey &SecretKey::operator=(const SecretKey &other)
{
    m_bytes = other.m_bytes;
    return *this;
}

SecretKey::~SecretKey() { OPENSSL_cleanse(m_bytes.data(), m_bytes.size()); }

QByteArray SecretKey::toHexLine() const
{
    QByteArray out(2 * Size + 1, '\n');
    for (int i = 0; i < Size; ++i) {
        out[2 * i] = hexDigits[m_bytes[i] >> 4];
        out[2 * i + 1] = hexDigits[m_bytes[i] & 0xf];
    }
    return out;
}

std::string SecretKey::sqlLiteral() const
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

QByteArray SecretKey::hmac(QByteArrayView data) const
{
    QByteArray out(EVP_MAX_MD_SIZE, '\0');
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), m_bytes.data(), Size,
              reinterpret_cast<const unsigned char *>(data.data()),
              static_cast<size_t>(data.size()), reinterpret_cast<unsigned char *>(out.data()),
              &length))
        std::abort(); // only on allocation failure inside OpenSSL
    out.resize(static_cast<qsizetype>(length));
    return out;
}

bool SecretKey::operator==(const SecretKey &other) const
{
    return CRYPTO_memcmp(m_bytes.data(), other.m_bytes.data(), Size) == 0;
}

void SecretKey::wipe(QByteArray &bytes)
{
    if (!bytes.isEmpty())
        OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}

void SecretKey::wipe(std::string &bytes)
{
    if (!bytes.empty())
        OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}
