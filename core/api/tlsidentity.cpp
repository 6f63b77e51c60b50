#include "tlsidentity.h"

#include "audit/auditlog.h"
#include "security/secretkey.h"
#include "store/rowvalues.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QFile>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QSslCipher>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("TlsIdentity", text); }

constexpr qint64 DayMs = 24LL * 3600 * 1000;
constexpr int StoredValidityDays = 397;
constexpr qint64 RenewBeforeMs = 30 * DayMs;
constexpr qint64 MaxPemFileBytes = 1024 * 1024;
const QString SelfSignedRow = QStringLiteral("self-signed");

// Mozilla's "intermediate" suites, in their order of preference; the
// server's order wins (SSL_OP_CIPHER_SERVER_PREFERENCE).
constexpr std::array allowedCiphers{
    "TLS_AES_128_GCM_SHA256",       "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",  "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",  "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
};
constexpr char allowedGroups[] = "X25519:P-256:P-384";

template <auto Free> struct Deleter {
    template <typename T> void operator()(T *p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralName = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyContext = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;

// Drains OpenSSL's error queue, so that a later failure does not report
// this one's causes.
QString openSslErrors()
{
    QStringList messages;
    while (const unsigned long code = ERR_get_error()) {
        std::array<char, 256> text{};
        ERR_error_string_n(code, text.data(), text.size());
        messages << QString::fromLatin1(text.data());
    }
    if (messages.isEmpty())
        return tr("no detail from OpenSSL");
    return messages.join(QStringLiteral("; "));
}

Failure openSslFailure(const QString &what)
{
    return fail(tr("%1: %2").arg(what, openSslErrors()));
}

QByteArray bioContents(BIO *bio)
{
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return QByteArray(data, qsizetype(length));
}

// An address as a subjectAltName takes it: no IPv6 zone.
QHostAddress withoutScope(QHostAddress address)
{
    address.setScopeId(QString());
    return address;
}

QString sanEntries(const QStringList &dnsNames, const QList<QHostAddress> &addresses)
{
    QStringList entries;
    for (const QString &name : dnsNames)
        entries << QStringLiteral("DNS:") + name;
    for (const QHostAddress &address : addresses)
        entries << QStringLiteral("IP:") + withoutScope(address).toString();
    return entries.join(u' ');
}

bool isDnsName(const QString &name)
{
    // Labels of letters, digits and inner hyphens; a leading "*." wildcard.
    static const QRegularExpression pattern(QStringLiteral(
        "^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
        "[A-Za-z0-9])?)*$"));
    return name.size() <= 253 && pattern.match(name).hasMatch();
}

Expected<void> addExtension(X509 *certificate, X509V3_CTX *context, int nid, const char *value)
{
    const Extension extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
    if (!extension || !X509_add_ext(certificate, extension.get(), -1))
        return openSslFailure(
            tr("cannot add the %1 extension").arg(QLatin1StringView(OBJ_nid2sn(nid))));
    return {};
}

Expected<void> addSubjectAltName(X509 *certificate, const QStringList &dnsNames,
                                 const QList<QHostAddress> &addresses)
{
    const GeneralNames names(GENERAL_NAMES_new());
    if (!names)
        return openSslFailure(tr("cannot build the subjectAltName"));
    auto add = [&](int type, const QString &value) -> Expected<void> {
        // a2i_GENERAL_NAME takes one value as it is: no list syntax that a
        // name could smuggle a second entry through.
        GeneralName name(
            a2i_GENERAL_NAME(nullptr, nullptr, nullptr, type, value.toLatin1().constData(), 0));
        if (!name || !sk_GENERAL_NAME_push(names.get(), name.get()))
            return openSslFailure(tr("cannot add %1 to the subjectAltName").arg(value));
        name.release();
        return {};
    };
    for (const QString &name : dnsNames) {
        if (Expected<void> added = add(GEN_DNS, name); !added)
            return added;
    }
    for (const QHostAddress &address : addresses) {
        if (Expected<void> added = add(GEN_IPADD, withoutScope(address).toString()); !added)
            return added;
    }
    if (X509_add1_ext_i2d(certificate, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) !=
        1)
        return openSslFailure(tr("cannot add the subjectAltName extension"));
    return {};
}

Expected<void> setRandomSerial(X509 *certificate)
{
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), int(bytes.size())) != 1)
        return openSslFailure(tr("cannot draw a serial number"));
    bytes[0] |= 0x01; // never zero, which RFC 5280 forbids
    const Bignum serial(BN_bin2bn(bytes.data(), int(bytes.size()), nullptr));
    if (!serial || !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)))
        return openSslFailure(tr("cannot set the serial number"));
    return {};
}

// PKCS#8 PEM of `key`, for QSslKey; the caller wipes it.
Expected<QByteArray> privateKeyPem(EVP_PKEY *key)
{
    const Bio bio(BIO_new(BIO_s_secmem()));
    if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
        return openSslFailure(tr("cannot encode the private key"));
    return bioContents(bio.get());
}

// Refuses to prompt: a key that asks for a passphrase is reported, never
// decrypted.
int refusePassphrase(char *, int, int, void *asked)
{
    *static_cast<bool *>(asked) = true;
    return -1;
}

struct ParsedKey {
    Pkey key;
    bool encrypted = false;
};

ParsedKey parsePrivateKey(const QByteArray &pem)
{
    ParsedKey parsed;
    const Bio bio(BIO_new_mem_buf(pem.constData(), int(pem.size())));
    if (bio)
        parsed.key.reset(
            PEM_read_bio_PrivateKey(bio.get(), nullptr, refusePassphrase, &parsed.encrypted));
    ERR_clear_error();
    return parsed;
}

bool belongsTo(EVP_PKEY *key, const QSslCertificate &certificate)
{
    const QByteArray der = certificate.toDer();
    const auto *data = reinterpret_cast<const unsigned char *>(der.constData());
    const X509Ptr x509(d2i_X509(nullptr, &data, long(der.size())));
    const bool match = x509 && EVP_PKEY_eq(X509_get0_pubkey(x509.get()), key) == 1;
    ERR_clear_error();
    return match;
}

// QSslKey of an RSA or EC key; std::nullopt for other kinds.
std::optional<QSslKey> toQSslKey(EVP_PKEY *key)
{
    QSsl::KeyAlgorithm algorithm;
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        algorithm = QSsl::Rsa;
        break;
    case EVP_PKEY_EC:
        algorithm = QSsl::Ec;
        break;
    default:
        return std::nullopt;
    }
    Expected<QByteArray> pem = privateKeyPem(key);
    if (!pem)
        return std::nullopt;
    QSslKey converted(pem.value(), algorithm, QSsl::Pem, QSsl::PrivateKey);
    SecretKey::wipe(pem.value());
    if (converted.isNull())
        return std::nullopt;
    return converted;
}

Expected<QByteArray> readPemFile(const QString &path, const QString &unreadable)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return fail(unreadable.arg(path, file.errorString()));
    QByteArray bytes = file.read(MaxPemFileBytes + 1);
    if (bytes.size() > MaxPemFileBytes) {
        SecretKey::wipe(bytes);
        return fail(tr("%1 is larger than 1 MiB; it is not a PEM file").arg(path));
    }
    return bytes;
}

QString utcText(const QDateTime &time)
{
    return time.toUTC().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

// The certificate and key generated now (`nowMs`), so the store's clock
// and the certificate's dates agree.
Expected<TlsIdentity> generateAt(const QStringList &dnsNames, const QList<QHostAddress> &addresses,
                                 int days, qint64 nowMs)
{
    if (dnsNames.isEmpty() && addresses.isEmpty())
        return fail(tr("a certificate needs at least one DNS name or IP address"));
    if (days < 1)
        return fail(tr("a certificate must be valid for at least one day, not %1").arg(days));
    for (const QString &name : dnsNames) {
        if (!isDnsName(name))
            return fail(tr("'%1' is not a DNS name").arg(name));
    }
    for (const QHostAddress &address : addresses) {
        if (address.isNull())
            return fail(tr("a certificate's IP address may not be empty"));
    }

    const PkeyContext keyContext(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY *generated = nullptr;
    if (!keyContext || EVP_PKEY_keygen_init(keyContext.get()) <= 0 ||
        EVP_PKEY_CTX_set_group_name(keyContext.get(), "P-256") <= 0 ||
        EVP_PKEY_generate(keyContext.get(), &generated) <= 0)
        return openSslFailure(tr("cannot generate a P-256 key"));
    const Pkey key(generated);

    const X509Ptr certificate(X509_new());
    if (!certificate || !X509_set_version(certificate.get(), X509_VERSION_3))
        return openSslFailure(tr("cannot create a certificate"));
    if (Expected<void> serial = setRandomSerial(certificate.get()); !serial)
        return serial.failure();

    // Five minutes back, for clients whose clock is a little behind.
    time_t now = time_t(nowMs / 1000);
    if (!X509_time_adj_ex(X509_getm_notBefore(certificate.get()), 0, -300, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(certificate.get()), days, 0, &now))
        return openSslFailure(tr("cannot set the validity period"));
    if (!X509_set_pubkey(certificate.get(), key.get()))
        return openSslFailure(tr("cannot set the public key"));

    // X.520 caps a common name at 64 characters; clients match the
    // subjectAltName anyway, so a longer first name leaves the CN out.
    const QString commonName =
        dnsNames.isEmpty() ? withoutScope(addresses.first()).toString() : dnsNames.first();
    X509_NAME *subject = X509_get_subject_name(certificate.get());
    if (commonName.size() <= 64 &&
        !X509_NAME_add_entry_by_txt(
            subject, "CN", MBSTRING_UTF8,
            reinterpret_cast<const unsigned char *>(commonName.toUtf8().constData()), -1, -1, 0))
        return openSslFailure(tr("cannot set the subject"));
    if (!X509_set_issuer_name(certificate.get(), subject))
        return openSslFailure(tr("cannot set the issuer"));

    X509V3_CTX context;
    X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
    for (const auto &[nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                                     {NID_key_usage, "critical,digitalSignature"},
                                     {NID_ext_key_usage, "serverAuth"},
                                     {NID_subject_key_identifier, "hash"}}) {
        if (Expected<void> added = addExtension(certificate.get(), &context, nid, value); !added)
            return added.failure();
    }
    if (Expected<void> added = addSubjectAltName(certificate.get(), dnsNames, addresses); !added)
        return added.failure();

    if (X509_sign(certificate.get(), key.get(), EVP_sha256()) <= 0)
        return openSslFailure(tr("cannot sign the certificate"));

    const Bio certificateBio(BIO_new(BIO_s_mem()));
    if (!certificateBio || !PEM_write_bio_X509(certificateBio.get(), certificate.get()))
        return openSslFailure(tr("cannot encode the certificate"));

    TlsIdentity identity;
    identity.certificate = QSslCertificate(bioContents(certificateBio.get()), QSsl::Pem);
    std::optional<QSslKey> privateKey = toQSslKey(key.get());
    if (identity.certificate.isNull() || !privateKey)
        return fail(
            tr("the generated certificate or key cannot be loaded: %1").arg(openSslErrors()));
    identity.privateKey = std::move(*privateKey);
    identity.selfSigned = true;
    return identity;
}

struct StoredRow {
    QByteArray certificate;
    QByteArray privateKey;
    QString names;
    qint64 expiresAt = 0;
};

Expected<std::optional<StoredRow>> readStoredRow(QSqlDatabase &db, bool withKey)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT certificate, %1, names, expires_at FROM api_certificates "
                             "WHERE name = ?")
                  .arg(withKey ? QStringLiteral("private_key") : QStringLiteral("''")));
    q.addBindValue(SelfSignedRow);
    if (!q.exec())
        return sqlFailure(tr("cannot read the API certificate"), q);
    if (!q.next())
        return std::optional<StoredRow>();
    return std::optional<StoredRow>(StoredRow{q.value(0).toString().toLatin1(),
                                              q.value(1).toString().toLatin1(),
                                              q.value(2).toString(), q.value(3).toLongLong()});
}

// The stored identity when it is whole (the certificate parses and the key
// is its key); std::nullopt when it has to be made again.
std::optional<TlsIdentity> identityFrom(StoredRow &row)
{
    TlsIdentity identity;
    identity.certificate = QSslCertificate(row.certificate, QSsl::Pem);
    ParsedKey parsed = parsePrivateKey(row.privateKey);
    SecretKey::wipe(row.privateKey);
    if (identity.certificate.isNull() || !parsed.key ||
        !belongsTo(parsed.key.get(), identity.certificate))
        return std::nullopt;
    std::optional<QSslKey> key = toQSslKey(parsed.key.get());
    if (!key)
        return std::nullopt;
    identity.privateKey = std::move(*key);
    identity.selfSigned = true;
    return identity;
}
} // namespace

Expected<TlsIdentity> TlsIdentity::fromPemFiles(const QString &certificateFile,
                                                const QString &privateKeyFile)
{
    Expected<QByteArray> certificateBytes =
        readPemFile(certificateFile, tr("cannot read the certificate file %1: %2"));
    if (!certificateBytes)
        return certificateBytes.failure();
    QList<QSslCertificate> certificates =
        QSslCertificate::fromData(certificateBytes.value(), QSsl::Pem);
    if (certificates.isEmpty() || certificates.first().isNull())
        return fail(tr("%1 holds no PEM certificate").arg(certificateFile));

    const QDateTime now = QDateTime::currentDateTimeUtc();
    const QSslCertificate &leaf = certificates.first();
    if (leaf.effectiveDate() > now)
        return fail(tr("the certificate in %1 is not valid before %2")
                        .arg(certificateFile, utcText(leaf.effectiveDate())));
    if (leaf.expiryDate() < now)
        return fail(tr("the certificate in %1 expired on %2")
                        .arg(certificateFile, utcText(leaf.expiryDate())));
    for (qsizetype i = 1; i < certificates.size(); ++i) {
        if (certificates[i].expiryDate() < now)
            return fail(tr("the chain in %1 holds a certificate for '%2' that expired on %3")
                            .arg(certificateFile,
                                 certificates[i]
                                     .subjectInfo(QSslCertificate::CommonName)
                                     .join(QStringLiteral(", ")),
                                 utcText(certificates[i].expiryDate())));
    }

    Expected<QByteArray> keyBytes =
        readPemFile(privateKeyFile, tr("cannot read the private key file %1: %2"));
    if (!keyBytes)
        return keyBytes.failure();
    ParsedKey parsed = parsePrivateKey(keyBytes.value());
    SecretKey::wipe(keyBytes.value());
    if (parsed.encrypted)
        return fail(tr("the private key in %1 is encrypted; the engine needs it without a "
                       "passphrase (protect the file with mode 0600 instead)")
                        .arg(privateKeyFile));
    if (!parsed.key)
        return fail(tr("%1 holds no PEM private key").arg(privateKeyFile));
    if (!belongsTo(parsed.key.get(), leaf))
        return fail(tr("the private key in %1 does not belong to the certificate in %2")
                        .arg(privateKeyFile, certificateFile));
    std::optional<QSslKey> key = toQSslKey(parsed.key.get());
    if (!key)
        return fail(tr("the private key in %1 is neither RSA nor EC; the API's TLS suites need "
                       "one of those")
                        .arg(privateKeyFile));

    TlsIdentity identity;
    identity.certificate = leaf;
    identity.chain = certificates.mid(1);
    identity.privateKey = std::move(*key);
    return identity;
}

Expected<TlsIdentity> TlsIdentity::generateSelfSigned(const QStringList &dnsNames,
                                                      const QList<QHostAddress> &addresses,
                                                      int days)
{
    return generateAt(dnsNames, addresses, days, QDateTime::currentMSecsSinceEpoch());
}

Expected<TlsIdentity> TlsIdentity::storedSelfSigned(QSqlDatabase db, const AuditLog &audit,
                                                    const QStringList &dnsNames,
                                                    const QList<QHostAddress> &addresses,
                                                    qint64 now)
{
    const QString names = sanEntries(dnsNames, addresses);
    Expected<std::optional<StoredRow>> stored = readStoredRow(db, true);
    if (!stored)
        return stored.failure();
    QString reason = QStringLiteral("none stored");
    if (std::optional<StoredRow> &row = stored.value()) {
        if (row->names != names) {
            reason = QStringLiteral("names changed");
        } else if (row->expiresAt - now <= RenewBeforeMs) {
            reason = QStringLiteral("expiring");
        } else if (std::optional<TlsIdentity> identity = identityFrom(*row)) {
            return std::move(*identity);
        } else {
            reason = QStringLiteral("unreadable");
        }
        SecretKey::wipe(row->privateKey);
    }

    Expected<TlsIdentity> made = generateAt(dnsNames, addresses, StoredValidityDays, now);
    if (!made)
        return made.failure();
    const TlsIdentity &identity = made.value();
    const qint64 expiresAt = identity.certificate.expiryDate().toMSecsSinceEpoch();
    const QString fingerprint = fingerprintSha256(identity.certificate);
    QByteArray keyPem = identity.privateKey.toPem();
    Expected<void> saved = audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral(
            "INSERT INTO api_certificates (name, certificate, private_key, names, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "certificate = excluded.certificate, private_key = excluded.private_key, "
            "names = excluded.names, created_at = excluded.created_at, "
            "expires_at = excluded.expires_at"));
        q.addBindValue(SelfSignedRow);
        q.addBindValue(QString::fromLatin1(identity.certificate.toPem()));
        q.addBindValue(QString::fromLatin1(keyPem));
        q.addBindValue(names);
        q.addBindValue(now);
        q.addBindValue(expiresAt);
        if (!q.exec())
            return sqlFailure(tr("cannot save the API certificate"), q);
        AuditEvent event;
        event.actor = QStringLiteral("engine");
        event.action = QStringLiteral("api.certificate_created");
        event.target = SelfSignedRow;
        event.details = {{QStringLiteral("fingerprint"), fingerprint},
                         {QStringLiteral("names"), names},
                         {QStringLiteral("expires_at"), RowValues::jsonTime(expiresAt)},
                         {QStringLiteral("reason"), reason}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
    SecretKey::wipe(keyPem);
    if (!saved)
        return saved.failure();
    return made;
}

Expected<std::optional<QSslCertificate>> TlsIdentity::storedCertificate(QSqlDatabase db)
{
    Expected<std::optional<StoredRow>> stored = readStoredRow(db, false);
    if (!stored)
        return stored.failure();
    if (!stored.value())
        return std::optional<QSslCertificate>();
    QSslCertificate parsed(stored.value()->certificate, QSsl::Pem);
    if (parsed.isNull())
        return fail(tr("the stored API certificate is damaged; the engine makes a new one when "
                       "it starts"));
    return std::optional<QSslCertificate>(std::move(parsed));
}

QString TlsIdentity::fingerprintSha256(const QSslCertificate &certificate)
{
    if (certificate.isNull())
        return {};
    return QString::fromLatin1(certificate.digest(QCryptographicHash::Sha256).toHex(':').toUpper());
}

QSslConfiguration TlsIdentity::serverConfiguration(const QList<QSslCertificate> &clientCa) const
{
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setProtocol(QSsl::TlsV1_2OrLater);
    QList<QSslCertificate> localChain{certificate};
    localChain += chain;
    configuration.setLocalCertificateChain(localChain);
    configuration.setPrivateKey(privateKey);

    QList<QSslCipher> ciphers;
    for (const char *name : allowedCiphers) {
        const QSslCipher cipher(QString::fromLatin1(name));
        if (!cipher.isNull())
            ciphers << cipher;
    }
    configuration.setCiphers(ciphers);
    // Qt hands these to OpenSSL's SSL_CONF_cmd; "Groups" limits both the
    // TLS 1.2 ECDHE curves and the TLS 1.3 key shares.
    configuration.setBackendConfigurationOption("Groups", QByteArray(allowedGroups));

    configuration.setSslOption(QSsl::SslOptionDisableServerCipherPreference, false);
    configuration.setSslOption(QSsl::SslOptionDisableSessionTickets, true);
    configuration.setSslOption(QSsl::SslOptionDisableCompression, true);
    configuration.setSslOption(QSsl::SslOptionDisableLegacyRenegotiation, true);
    configuration.setAllowedNextProtocols({QByteArray(QSslConfiguration::NextProtocolHttp1_1)});

    // Setting the CAs, even to none, also stops Qt from loading the
    // system's roots on demand: only `clientCa` may vouch for a client.
    configuration.setCaCertificates(clientCa);
    if (clientCa.isEmpty()) {
        configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    } else {
        configuration.setPeerVerifyMode(QSslSocket::VerifyPeer);
        // Refused inside the handshake, so the client sees an alert
        // instead of a connection that is closed after it.
        configuration.setMissingCertificateIsFatal(true);
        configuration.setHandshakeMustInterruptOnError(true);
    }
    return configuration;
}
