#include "apikeytoken.h"

#include "secretkey.h"

#include <QCoreApplication>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstdlib>

namespace {
constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr QLatin1StringView prefix("fhk_");

QString tr(const char *text) { return QCoreApplication::translate("ApiKeyToken", text); }

bool isBase62(QChar c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z');
}

bool allBase62(QStringView text)
{
    for (QChar c : text) {
        if (!isBase62(c))
            return false;
    }
    return true;
}

// Uniform base62 characters: bytes >= 248 are rejected so that the modulo
// does not favour the first characters of the alphabet.
QByteArray randomBase62(int length)
{
    QByteArray out;
    out.reserve(length);
    std::array<unsigned char, 64> pool{};
    while (out.size() < length) {
        if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1)
            std::abort(); // no safe way on without a CSPRNG
        for (unsigned char byte : pool) {
            if (byte < 248 && out.size() < length)
                out.append(alphabet[byte % 62]);
        }
    }
    OPENSSL_cleanse(pool.data(), pool.size());
    return out;
}

std::uint32_t crc32(QByteArrayView data)
{
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t crc = 0xFFFFFFFFu;
    for (char byte : data)
        crc = table[(crc ^ static_cast<std::uint8_t>(byte)) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

// Fixed width, most significant digit first: 62^6 > 2^32.
QByteArray checkOf(QByteArrayView body)
{
    std::uint64_t value = crc32(body);
    QByteArray out(ApiKeyToken::CheckLength, '0');
    for (int i = ApiKeyToken::CheckLength - 1; i >= 0; --i) {
        out[i] = alphabet[value % 62];
        value /= 62;
    }
    return out;
}

QByteArray bodyOf(const QString &id, const QByteArray &secret)
{
    return QByteArray("fhk_") + id.toLatin1() + '_' + secret;
}
} // namespace

ApiKeyToken ApiKeyToken::generate()
{
    return ApiKeyToken(QString::fromLatin1(randomBase62(IdLength)), randomBase62(SecretLength));
}

bool ApiKeyToken::isId(QStringView id) { return id.size() == IdLength && allBase62(id); }

Expected<ApiKeyToken> ApiKeyToken::parse(QStringView text)
{
    const Failure malformed = fail(tr(
        "not a Framehouse API key: expected fhk_<12 characters>_<24 characters>_<6 characters>"));
    if (text.size() != Length || !text.startsWith(prefix))
        return malformed;
    const QStringView id = text.mid(4, IdLength);
    const QStringView secret = text.mid(4 + IdLength + 1, SecretLength);
    const QStringView check = text.mid(Length - CheckLength);
    if (text[4 + IdLength] != u'_' || text[Length - CheckLength - 1] != u'_' || !allBase62(id) ||
        !allBase62(secret) || !allBase62(check))
        return malformed;
    ApiKeyToken token(id.toString(), secret.toLatin1());
    QByteArray body = bodyOf(token.m_id, token.m_secret);
    const QByteArray expected = checkOf(body);
    SecretKey::wipe(body);
    if (expected != check.toLatin1())
        return fail(tr("the API key's checksum does not match: it was mistyped or truncated"));
    return token;
}

ApiKeyToken::~ApiKeyToken() { SecretKey::wipe(m_secret); }

QString ApiKeyToken::toString() const
{
    QByteArray body = bodyOf(m_id, m_secret);
    const QString out = QString::fromLatin1(body + '_' + checkOf(body));
    SecretKey::wipe(body);
    return out;
}
