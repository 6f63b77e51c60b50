#pragma once

#include "expected.h"

#include <QByteArray>
#include <QString>
#include <QStringView>

// The text form of an API key: fhk_<id>_<secret>_<check>.
//   id      12 base62 characters, public: the lookup key, safe in logs;
//   secret  24 base62 characters from OpenSSL's CSPRNG (about 143 bits);
//   check   CRC32 of "fhk_<id>_<secret>" as 6 base62 characters, so typos
//           and truncations are rejected before any store lookup.
// The secret is wiped when the token dies.
class ApiKeyToken {
public:
    static constexpr int IdLength = 12;
    static constexpr int SecretLength = 24;
    static constexpr int CheckLength = 6;
    static constexpr int Length = 4 + IdLength + 1 + SecretLength + 1 + CheckLength;

    static ApiKeyToken generate();
    // Shape and checksum only; says nothing about whether the key exists.
    static Expected<ApiKeyToken> parse(QStringView text);
    // True when `id` has the shape of a key id (12 base62 characters).
    static bool isId(QStringView id);

    ApiKeyToken(const ApiKeyToken &other) = default;
    ApiKeyToken &operator=(const ApiKeyToken &other) = default;
    ~ApiKeyToken();

    const QString &id() const { return m_id; }
    // The secret's characters, for the digest. Never log or store them.
    const QByteArray &secret() const { return m_secret; }
    // The whole key, to be shown once when it is created.
    QString toString() const;

private:
    ApiKeyToken(QString id, QByteArray secret)
        : m_id(std::move(id))
        , m_secret(std::move(secret))
    {}

    QString m_id;
    QByteArray m_secret;
};
