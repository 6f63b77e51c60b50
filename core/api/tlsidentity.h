#pragma once

#include "expected.h"

#include <QHostAddress>
#include <QList>
#include <QSqlDatabase>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QStringList>

class AuditLog;

// The API's certificate and key, and the TLS settings every listener uses.
struct TlsIdentity {
    QSslCertificate certificate;
    QList<QSslCertificate> chain; // intermediates after the leaf, may be empty
    QSslKey privateKey;
    bool selfSigned = false;

    // From PEM files (the certificate file may carry the chain after the
    // leaf). The key must belong to the certificate; an encrypted key, an
    // expired or not yet valid certificate, and a missing file are errors
    // naming the file.
    static Expected<TlsIdentity> fromPemFiles(const QString &certificateFile,
                                              const QString &privateKeyFile);

    // A new ECDSA P-256 certificate valid for `days`, signed by its own key,
    // with subjectAltName DNS entries for `dnsNames` and IP entries for
    // `addresses`, CN = the first DNS name, serverAuth usage.
    static Expected<TlsIdentity> generateSelfSigned(const QStringList &dnsNames,
                                                    const QList<QHostAddress> &addresses, int days);

    // The engine's self-signed identity from the store's api_certificates
    // table, made (and audited "api.certificate_created") when there is none,
    // when its names differ from `dnsNames` + `addresses`, or when it expires
    // within 30 days. Valid for 397 days.
    static Expected<TlsIdentity> storedSelfSigned(QSqlDatabase db, const AuditLog &audit,
                                                  const QStringList &dnsNames,
                                                  const QList<QHostAddress> &addresses, qint64 now);
    // The stored certificate, if any, without creating one (framehousectl api info).
    static Expected<std::optional<QSslCertificate>> storedCertificate(QSqlDatabase db);

    // "AB:CD:..." upper-case hex, 32 bytes, as `openssl x509 -fingerprint -sha256` prints.
    static QString fingerprintSha256(const QSslCertificate &certificate);

    // The server configuration: TLS 1.2 and 1.3 only; TLS 1.2 suites
    // ECDHE-{ECDSA,RSA}-{AES128-GCM-SHA256,AES256-GCM-SHA384,CHACHA20-POLY1305};
    // the three TLS 1.3 suites; groups X25519, P-256, P-384; server cipher
    // preference; no session tickets without forward secrecy concerns
    // addressed (tickets off); no ALPN other than http/1.1. With
    // `clientCa`, clients must present a certificate that chains to it.
    QSslConfiguration serverConfiguration(const QList<QSslCertificate> &clientCa = {}) const;
};
