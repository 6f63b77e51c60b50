#pragma once

#include "expected.h"
#include "security/ipallowlist.h"

#include <QString>
#include <QStringList>
#include <QStringView>

// The engine's own settings, from an INI file (framehoused --config FILE):
//
//   [api]
//   listen = 127.0.0.1:8443        ; IPv6 as [::1]:8443
//   enabled = true
//   tls_certificate = /etc/framehouse/tls/cert.pem
//   tls_private_key = /etc/framehouse/tls/key.pem
//   tls_client_ca = /etc/framehouse/tls/clients.pem   ; mutual TLS when set
//   server_names = transcode.example.com               ; Host allowlist, certificate names
//   cors_origins = https://app.example.com             ; browser origins granted CORS
//   allowlist = 10.0.0.0/8 2001:db8::/32               ; who may connect at all
//   trusted_proxies = 10.0.0.5                         ; whose X-Forwarded-For counts
//
// Without tls_certificate and tls_private_key the engine makes a self-signed
// certificate and keeps it in the store; there is no plaintext listener and
// every request but GET /health needs an API key.
//
// Secrets are not configured here: the API-key pepper and the audit key live
// beside the store key by a fixed convention (StoreKeySource::companion), and
// the engine hands those files to ConfigGuard::check itself. A [secrets]
// section is refused like any other unknown section.
//
// A typo must not silently fall back to a default (a misspelt "allowlist"
// would let every address connect), so an unknown section or key, a
// repeated key or a malformed value is an error naming it. Relative paths
// are taken relative to the file's directory. Whether the settings are safe
// to run with is ConfigGuard's question.
struct EngineSettings {
    // An IP literal without brackets; host names are refused, because which
    // interfaces a name resolves to can change under the engine.
    QString listenAddress = QStringLiteral("127.0.0.1");
    quint16 listenPort = 8443;
    bool apiEnabled = true;
    QString tlsCertificate; // empty: the stored self-signed certificate
    QString tlsPrivateKey;
    QString tlsClientCa; // empty: no client certificates asked for
    QStringList serverNames;
    QStringList corsOrigins;
    IpAllowlist allowlist; // empty: any address
    IpAllowlist trustedProxies;

    static Expected<EngineSettings> load(const QString &path);

    // "host:port" as in the file; sets both parts or neither.
    Expected<void> setListen(QStringView text);
    // The listen address as the file writes it: 127.0.0.1:8443, [::1]:8443.
    QString listen() const;
};
