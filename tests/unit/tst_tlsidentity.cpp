#include "api/tlsidentity.h"
#include "audit/auditlog.h"
#include "testsupport.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QSqlQuery>
#include <QSslCipher>
#include <QSslServer>
#include <QSslSocket>
#include <QStandardPaths>
#include <QTest>

using namespace Qt::StringLiterals;

namespace {
constexpr qint64 DayMs = 24LL * 3600 * 1000;
const QHostAddress loopback(QStringLiteral("127.0.0.1"));

const QStringList allowedTls12 = {
    u"ECDHE-ECDSA-AES128-GCM-SHA256"_s, u"ECDHE-RSA-AES128-GCM-SHA256"_s,
    u"ECDHE-ECDSA-AES256-GCM-SHA384"_s, u"ECDHE-RSA-AES256-GCM-SHA384"_s,
    u"ECDHE-ECDSA-CHACHA20-POLY1305"_s, u"ECDHE-RSA-CHACHA20-POLY1305"_s,
};
const QStringList allowedTls13 = {u"TLS_AES_128_GCM_SHA256"_s, u"TLS_AES_256_GCM_SHA384"_s,
                                  u"TLS_CHACHA20_POLY1305_SHA256"_s};

struct Result {
    int exitCode = -1;
    QString out;
    QString err;
};

// Runs a program to the end while this thread's event loop keeps turning:
// the TLS server under test lives on it, so a blocking wait would leave
// the client without a peer.
Result run(const QString &program, const QStringList &arguments, const QString &directory = {})
{
    QProcess process;
    if (!directory.isEmpty())
        process.setWorkingDirectory(directory);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(program, arguments);
    if (!process.waitForStarted())
        return {-1, {}, process.errorString()};
    process.closeWriteChannel();
    if (finished.isEmpty() && !finished.wait(120'000)) {
        process.kill();
        process.waitForFinished();
        return {-1, {}, u"%1 did not finish"_s.arg(program)};
    }
    Result result;
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = QString::fromLocal8Bit(process.readAllStandardOutput());
    result.err = QString::fromLocal8Bit(process.readAllStandardError());
    return result;
}

QString capture(const QString &text, const QString &pattern)
{
    const QRegularExpressionMatch match =
        QRegularExpression(pattern, QRegularExpression::MultilineOption).match(text);
    return match.hasMatch() ? match.captured(1) : QString();
}

// What `openssl s_client` reports about one connection.
struct Handshake {
    bool ok = false;
    bool reused = false;
    QString cipher;
    QString tempKey; // "X25519", "ECDH, prime256v1", ...
    QString alpn;
    QString output;
};

// A QSslServer on 127.0.0.1 with the configuration under test. It keeps
// what each completed handshake negotiated and counts the connections
// whose handshake failed.
class TlsServer : public QObject {
public:
    struct Session {
        QSsl::SslProtocol protocol;
        QString cipher;
        QByteArray alpn;
        QSslCertificate peer;
    };

    explicit TlsServer(const QSslConfiguration &configuration)
    {
        m_server.setSslConfiguration(configuration);
        connect(&m_server, &QTcpServer::pendingConnectionAvailable, this, &TlsServer::take);
        connect(&m_server, &QSslServer::errorOccurred, this,
                [this](QSslSocket *socket, QAbstractSocket::SocketError) {
                    if (!socket->isEncrypted())
                        m_failed.insert(quintptr(socket));
                });
        if (!m_server.listen(loopback, 0))
            qFatal("cannot listen: %s", qPrintable(m_server.errorString()));
    }

    QString address() const { return u"127.0.0.1:%1"_s.arg(m_server.serverPort()); }
    qsizetype settled() const { return sessions.size() + m_failed.size(); }

    QList<Session> sessions;

private:
    void take()
    {
        while (auto *socket = qobject_cast<QSslSocket *>(m_server.nextPendingConnection())) {
            sessions << Session{socket->sessionProtocol(), socket->sessionCipher().name(),
                                socket->sslConfiguration().nextNegotiatedProtocol(),
                                socket->peerCertificate()};
            connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
            socket->disconnectFromHost();
        }
    }

    QSslServer m_server;
    QSet<quintptr> m_failed;
};
} // namespace

class TestTlsIdentity : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void generatedCertificateIsAServerCertificateForItsNames();
    void opensslReadsTheGeneratedCertificateTheSameWay();
    void eachGeneratedCertificateHasItsOwnKeyAndSerial();
    void generationRefusesBadInput_data();
    void generationRefusesBadInput();
    void goodPemFilesLoad_data();
    void goodPemFilesLoad();
    void badPemFilesAreRefused_data();
    void badPemFilesAreRefused();
    void storedSelfSignedIsMadeOnceAndAudited();
    void storedSelfSignedIsRemadeWhenTheNamesChange();
    void storedSelfSignedIsRemadeThirtyDaysBeforeExpiry_data();
    void storedSelfSignedIsRemadeThirtyDaysBeforeExpiry();
    void aDamagedStoredIdentityIsRemade();
    void storedCertificateNeverCreatesOne();
    void handshakes_data();
    void handshakes();
    void onlyHttp11IsNegotiatedByAlpn_data();
    void onlyHttp11IsNegotiatedByAlpn();
    void sessionsAreNeverResumed_data();
    void sessionsAreNeverResumed();
    void clientCertificatesAreCheckedAgainstTheClientCa_data();
    void clientCertificatesAreCheckedAgainstTheClientCa();
    void sslscanFindsOnlyTheAllowedProtocolsSuitesAndGroups_data();
    void sslscanFindsOnlyTheAllowedProtocolsSuitesAndGroups();

private:
    QString file(const QString &name) const { return m_files.filePath(name); }
    bool openssl(const QStringList &arguments);
    Handshake connectTo(const TlsServer &server, const QStringList &options);
    TlsIdentity identity(const QString &kind) const;
    qint64 count(QSqlDatabase db, const QString &sql);

    QString m_openssl;
    QString m_sslscan;
    QTemporaryDir m_files;
    TlsIdentity m_ec;
    TlsIdentity m_rsa;
};

bool TestTlsIdentity::openssl(const QStringList &arguments)
{
    const Result result = run(m_openssl, arguments, m_files.path());
    if (result.exitCode != 0)
        qWarning("openssl %s: %s", qPrintable(arguments.join(u' ')), qPrintable(result.err));
    return result.exitCode == 0;
}

Handshake TestTlsIdentity::connectTo(const TlsServer &server, const QStringList &options)
{
    QStringList arguments{u"s_client"_s, u"-connect"_s, server.address()};
    const Result result = run(m_openssl, arguments + options, m_files.path());
    Handshake handshake;
    handshake.output = result.out + result.err;
    const QString status = capture(result.out, u"^(New|Reused), \\S+, Cipher is (\\S+)$"_s);
    handshake.reused = status == u"Reused";
    handshake.cipher = capture(result.out, u"^(?:New|Reused), \\S+, Cipher is (\\S+)$"_s);
    handshake.tempKey = capture(result.out, u"^Server Temp Key: (.+), \\d+ bits$"_s);
    handshake.alpn = capture(result.out, u"^ALPN protocol: (\\S+)$"_s);
    handshake.ok =
        result.exitCode == 0 && !handshake.cipher.isEmpty() && handshake.cipher != u"(NONE)";
    return handshake;
}

TlsIdentity TestTlsIdentity::identity(const QString &kind) const
{
    return kind == u"rsa" ? m_rsa : m_ec;
}

qint64 TestTlsIdentity::count(QSqlDatabase db, const QString &sql)
{
    QSqlQuery q(db);
    if (!q.exec(sql) || !q.next())
        qFatal("query failed: %s", qPrintable(sql));
    return q.value(0).toLongLong();
}

void TestTlsIdentity::initTestCase()
{
    m_openssl = QStandardPaths::findExecutable(u"openssl"_s);
    m_sslscan = QStandardPaths::findExecutable(u"sslscan"_s);
    QVERIFY2(!m_openssl.isEmpty(), "the openssl command is needed");
    QVERIFY2(!m_sslscan.isEmpty(), "the sslscan command is needed");
    QVERIFY(m_files.isValid());

    // The clients' own defaults must not be what refuses a suite: every
    // client runs with an empty OpenSSL configuration.
    QFile empty(file(u"empty.cnf"_s));
    QVERIFY(empty.open(QIODevice::WriteOnly));
    empty.close();
    qputenv("OPENSSL_CONF", file(u"empty.cnf"_s).toLocal8Bit());

    // `openssl ca` is the OpenSSL 3.0 tool that takes explicit dates, for
    // expired and future certificates.
    QFile config(file(u"ca.cnf"_s));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write("[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n"
                 "rand_serial = yes\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
                 "[any]\ncommonName = supplied\n");
    config.close();
    QFile index(file(u"index.txt"_s));
    QVERIFY(index.open(QIODevice::WriteOnly));
    index.close();

    const QStringList days{u"-days"_s, u"2"_s};
    auto selfSigned = [&](const QString &key, const QString &out, const QString &cn) {
        return openssl({u"req"_s, u"-x509"_s, u"-key"_s, key, u"-out"_s, out, u"-subj"_s,
                        u"/CN="_s + cn, u"-days"_s, u"2"_s});
    };
    auto datedSelfSigned = [&](const QString &out, const QString &from, const QString &until) {
        return openssl({u"req"_s, u"-new"_s, u"-key"_s, u"ec.key"_s, u"-subj"_s, u"/CN=dated"_s,
                        u"-out"_s, u"dated.csr"_s}) &&
               openssl({u"ca"_s, u"-batch"_s, u"-config"_s, u"ca.cnf"_s, u"-selfsign"_s,
                        u"-keyfile"_s, u"ec.key"_s, u"-in"_s, u"dated.csr"_s, u"-startdate"_s, from,
                        u"-enddate"_s, until, u"-notext"_s, u"-out"_s, out});
    };
    // Keys in the forms operators bring: PKCS#8, SEC1 with its parameters
    // block, PKCS#1, each encrypted form, and a kind the suites cannot use.
    QVERIFY(openssl({u"genpkey"_s, u"-algorithm"_s, u"RSA"_s, u"-pkeyopt"_s,
                     u"rsa_keygen_bits:2048"_s, u"-out"_s, u"rsa.key"_s}));
    QVERIFY(openssl(
        {u"rsa"_s, u"-in"_s, u"rsa.key"_s, u"-traditional"_s, u"-out"_s, u"rsa-pkcs1.key"_s}));
    QVERIFY(
        openssl({u"ecparam"_s, u"-name"_s, u"prime256v1"_s, u"-genkey"_s, u"-out"_s, u"ec.key"_s}));
    QVERIFY(openssl({u"genpkey"_s, u"-algorithm"_s, u"ED25519"_s, u"-out"_s, u"ed25519.key"_s}));
    QVERIFY(openssl({u"pkey"_s, u"-in"_s, u"ec.key"_s, u"-aes256"_s, u"-passout"_s,
                     u"pass:secret"_s, u"-out"_s, u"ec-encrypted.key"_s}));
    QVERIFY(openssl({u"rsa"_s, u"-in"_s, u"rsa.key"_s, u"-traditional"_s, u"-aes256"_s,
                     u"-passout"_s, u"pass:secret"_s, u"-out"_s, u"rsa-encrypted.key"_s}));
    QVERIFY(selfSigned(u"rsa.key"_s, u"rsa.pem"_s, u"rsa.example"_s));
    QVERIFY(selfSigned(u"ec.key"_s, u"ec.pem"_s, u"ec.example"_s));
    QVERIFY(selfSigned(u"ed25519.key"_s, u"ed25519.pem"_s, u"ed.example"_s));
    QVERIFY(datedSelfSigned(u"expired.pem"_s, u"20200101000000Z"_s, u"20200201000000Z"_s));
    QVERIFY(datedSelfSigned(u"future.pem"_s, u"20990101000000Z"_s, u"20990201000000Z"_s));

    // A leaf signed by a CA, the CA after it in the same file; and a
    // client certificate from the same CA for the mutual-TLS checks.
    QVERIFY(openssl({u"req"_s, u"-x509"_s, u"-newkey"_s, u"ec"_s, u"-pkeyopt"_s,
                     u"ec_paramgen_curve:P-256"_s, u"-nodes"_s, u"-keyout"_s, u"ca.key"_s,
                     u"-out"_s, u"ca.pem"_s, u"-subj"_s, u"/CN=Test CA"_s, u"-days"_s, u"2"_s}));
    for (const QString &name : {u"leaf"_s, u"client"_s}) {
        QVERIFY(openssl({u"req"_s, u"-new"_s, u"-newkey"_s, u"ec"_s, u"-pkeyopt"_s,
                         u"ec_paramgen_curve:P-256"_s, u"-nodes"_s, u"-keyout"_s, name + u".key",
                         u"-out"_s, name + u".csr", u"-subj"_s, u"/CN="_s + name}));
        QVERIFY(
            openssl(QStringList{u"x509"_s, u"-req"_s, u"-in"_s, name + u".csr", u"-CA"_s,
                                u"ca.pem"_s, u"-CAkey"_s, u"ca.key"_s, u"-out"_s, name + u".pem"} +
                    days));
    }
    QFile chain(file(u"chain.pem"_s));
    QVERIFY(chain.open(QIODevice::WriteOnly));
    chain.write(TestSupport::readRaw(file(u"leaf.pem"_s)) +
                TestSupport::readRaw(file(u"ca.pem"_s)));
    chain.close();
    QVERIFY(
        openssl({u"req"_s, u"-x509"_s, u"-newkey"_s, u"ec"_s, u"-pkeyopt"_s,
                 u"ec_paramgen_curve:P-256"_s, u"-nodes"_s, u"-keyout"_s, u"stranger.key"_s,
                 u"-out"_s, u"stranger.pem"_s, u"-subj"_s, u"/CN=client"_s, u"-days"_s, u"2"_s}));

    QFile garbage(file(u"garbage.pem"_s));
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
                  "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n");
    garbage.close();

    Expected<TlsIdentity> ec = TlsIdentity::generateSelfSigned({u"localhost"_s}, {loopback}, 30);
    VERIFY_EXPECTED(ec);
    m_ec = ec.value();
    Expected<TlsIdentity> rsa = TlsIdentity::fromPemFiles(file(u"rsa.pem"_s), file(u"rsa.key"_s));
    VERIFY_EXPECTED(rsa);
    m_rsa = rsa.value();
}

void TestTlsIdentity::generatedCertificateIsAServerCertificateForItsNames()
{
    const QStringList names{u"localhost"_s, u"render-01.example.org"_s};
    const QList<QHostAddress> addresses{loopback, QHostAddress(u"::1"_s)};
    const QDateTime before = QDateTime::currentDateTimeUtc();
    Expected<TlsIdentity> made = TlsIdentity::generateSelfSigned(names, addresses, 90);
    VERIFY_EXPECTED(made);
    const QSslCertificate &certificate = made->certificate;

    QVERIFY(made->selfSigned);
    QVERIFY(made->chain.isEmpty());
    // Not QSslCertificate::isSelfSigned(): OpenSSL calls a certificate
    // self-issued only when its key usage allows certificate signing.
    QCOMPARE(certificate.version(), QByteArray("3"));
    QCOMPARE(certificate.subjectInfo(QSslCertificate::CommonName), QStringList{u"localhost"_s});
    QCOMPARE(certificate.issuerInfo(QSslCertificate::CommonName), QStringList{u"localhost"_s});
    QCOMPARE(certificate.publicKey().algorithm(), QSsl::Ec);
    QCOMPARE(certificate.publicKey().length(), 256);
    QCOMPARE(made->privateKey.algorithm(), QSsl::Ec);
    QCOMPARE(made->privateKey.type(), QSsl::PrivateKey);

    const QMultiMap<QSsl::AlternativeNameEntryType, QString> san =
        certificate.subjectAlternativeNames();
    QStringList dns = san.values(QSsl::DnsEntry);
    dns.sort();
    QCOMPARE(dns, names);
    QStringList ips = san.values(QSsl::IpAddressEntry);
    ips.sort();
    QCOMPARE(ips, (QStringList{u"127.0.0.1"_s, u"::1"_s}));

    // Five minutes of slack for clients whose clocks lag, then `days`.
    QVERIFY(certificate.effectiveDate() <= before.addSecs(-299));
    QVERIFY(certificate.effectiveDate() >= before.addSecs(-301 - 60));
    QCOMPARE(certificate.effectiveDate().secsTo(certificate.expiryDate()), 90 * 86400 + 300);

    // The key is the certificate's: a real handshake uses both.
    TlsServer server(made->serverConfiguration());
    const Handshake handshake = connectTo(server, {u"-tls1_3"_s});
    QVERIFY2(handshake.ok, qPrintable(handshake.output));
}

void TestTlsIdentity::opensslReadsTheGeneratedCertificateTheSameWay()
{
    Expected<TlsIdentity> made = TlsIdentity::generateSelfSigned(
        {u"localhost"_s, u"api.example"_s}, {loopback, QHostAddress(u"::1"_s)}, 30);
    VERIFY_EXPECTED(made);
    QFile pem(file(u"generated.pem"_s));
    QVERIFY(pem.open(QIODevice::WriteOnly));
    pem.write(made->certificate.toPem());
    pem.close();

    const Result text =
        run(m_openssl, {u"x509"_s, u"-in"_s, pem.fileName(), u"-noout"_s, u"-text"_s});
    QCOMPARE(text.exitCode, 0);
    const QString out = text.out;
    QVERIFY2(out.contains(u"Version: 3 (0x2)"), qPrintable(out));
    QVERIFY2(out.contains(u"Public Key Algorithm: id-ecPublicKey"), qPrintable(out));
    QVERIFY2(out.contains(u"NIST CURVE: P-256"), qPrintable(out));
    QVERIFY2(out.contains(u"Signature Algorithm: ecdsa-with-SHA256"), qPrintable(out));
    QCOMPARE(capture(out, u"X509v3 Subject Alternative Name: *\\n\\s*(.+)$"_s),
             u"DNS:localhost, DNS:api.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"_s);
    QCOMPARE(capture(out, u"X509v3 Basic Constraints: (critical)$"_s), u"critical"_s);
    QCOMPARE(capture(out, u"X509v3 Basic Constraints: critical\\n\\s*(.+)$"_s), u"CA:FALSE"_s);
    QCOMPARE(capture(out, u"X509v3 Key Usage: critical\\n\\s*(.+)$"_s), u"Digital Signature"_s);
    QCOMPARE(capture(out, u"X509v3 Extended Key Usage: *\\n\\s*(.+)$"_s),
             u"TLS Web Server Authentication"_s);
    QVERIFY2(out.contains(u"X509v3 Subject Key Identifier:"), qPrintable(out));
    // 128 random bits; a leading zero byte keeps the number positive.
    const QString serial = capture(out, u"Serial Number:\\s*\\n\\s*([0-9a-f:]+)$"_s);
    QVERIFY2(serial.size() == 16 * 3 - 1 || serial.size() == 17 * 3 - 1, qPrintable(serial));

    const Result fingerprint = run(m_openssl, {u"x509"_s, u"-in"_s, pem.fileName(), u"-noout"_s,
                                               u"-fingerprint"_s, u"-sha256"_s});
    QCOMPARE(fingerprint.exitCode, 0);
    QCOMPARE(u"sha256 Fingerprint="_s + TlsIdentity::fingerprintSha256(made->certificate),
             fingerprint.out.trimmed());

    const Result verify = run(m_openssl, {u"verify"_s, u"-CAfile"_s, pem.fileName(), u"-purpose"_s,
                                          u"sslserver"_s, pem.fileName()});
    QVERIFY2(verify.exitCode == 0, qPrintable(verify.out + verify.err));
}

void TestTlsIdentity::eachGeneratedCertificateHasItsOwnKeyAndSerial()
{
    Expected<TlsIdentity> first = TlsIdentity::generateSelfSigned({u"localhost"_s}, {}, 1);
    Expected<TlsIdentity> second = TlsIdentity::generateSelfSigned({u"localhost"_s}, {}, 1);
    VERIFY_EXPECTED(first);
    VERIFY_EXPECTED(second);
    QVERIFY(first->certificate.serialNumber() != second->certificate.serialNumber());
    QVERIFY(first->privateKey.toDer() != second->privateKey.toDer());
    QVERIFY(TlsIdentity::fingerprintSha256(first->certificate) !=
            TlsIdentity::fingerprintSha256(second->certificate));
    QCOMPARE(TlsIdentity::fingerprintSha256(first->certificate).size(), 32 * 3 - 1);
    QCOMPARE(TlsIdentity::fingerprintSha256(QSslCertificate()), QString());
}

void TestTlsIdentity::generationRefusesBadInput_data()
{
    QTest::addColumn<QStringList>("names");
    QTest::addColumn<QList<QHostAddress>>("addresses");
    QTest::addColumn<int>("days");
    QTest::addColumn<QString>("error");
    QTest::newRow("no names") << QStringList() << QList<QHostAddress>() << 30
                              << u"a certificate needs at least one DNS name or IP address"_s;
    QTest::newRow("zero days") << QStringList{u"localhost"_s} << QList<QHostAddress>() << 0
                               << u"a certificate must be valid for at least one day, not 0"_s;
    QTest::newRow("a second entry smuggled in")
        << QStringList{u"a.example,DNS:evil.example"_s} << QList<QHostAddress>() << 30
        << u"'a.example,DNS:evil.example' is not a DNS name"_s;
    QTest::newRow("empty label") << QStringList{u"a..example"_s} << QList<QHostAddress>() << 30
                                 << u"'a..example' is not a DNS name"_s;
    QTest::newRow("null address") << QStringList{u"localhost"_s}
                                  << QList<QHostAddress>{QHostAddress()} << 30
                                  << u"a certificate's IP address may not be empty"_s;
}

void TestTlsIdentity::generationRefusesBadInput()
{
    QFETCH(QStringList, names);
    QFETCH(QList<QHostAddress>, addresses);
    QFETCH(int, days);
    QFETCH(QString, error);
    Expected<TlsIdentity> made = TlsIdentity::generateSelfSigned(names, addresses, days);
    QVERIFY(!made);
    QCOMPARE(made.error(), error);
}

void TestTlsIdentity::goodPemFilesLoad_data()
{
    QTest::addColumn<QString>("certificate");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("commonName");
    QTest::addColumn<int>("algorithm");
    QTest::addColumn<int>("chainLength");
    QTest::newRow("RSA, PKCS#8 key")
        << u"rsa.pem"_s << u"rsa.key"_s << u"rsa.example"_s << int(QSsl::Rsa) << 0;
    QTest::newRow("RSA, PKCS#1 key")
        << u"rsa.pem"_s << u"rsa-pkcs1.key"_s << u"rsa.example"_s << int(QSsl::Rsa) << 0;
    QTest::newRow("EC, SEC1 key after its parameters")
        << u"ec.pem"_s << u"ec.key"_s << u"ec.example"_s << int(QSsl::Ec) << 0;
    QTest::newRow("leaf and its CA")
        << u"chain.pem"_s << u"leaf.key"_s << u"leaf"_s << int(QSsl::Ec) << 1;
}

void TestTlsIdentity::goodPemFilesLoad()
{
    QFETCH(QString, certificate);
    QFETCH(QString, key);
    QFETCH(QString, commonName);
    QFETCH(int, algorithm);
    QFETCH(int, chainLength);
    Expected<TlsIdentity> loaded = TlsIdentity::fromPemFiles(file(certificate), file(key));
    VERIFY_EXPECTED(loaded);
    QCOMPARE(loaded->certificate.subjectInfo(QSslCertificate::CommonName), QStringList{commonName});
    QCOMPARE(int(loaded->privateKey.algorithm()), algorithm);
    QCOMPARE(loaded->privateKey.type(), QSsl::PrivateKey);
    QCOMPARE(loaded->chain.size(), chainLength);
    QVERIFY(!loaded->selfSigned);
    if (chainLength)
        QCOMPARE(loaded->chain.first().subjectInfo(QSslCertificate::CommonName),
                 QStringList{u"Test CA"_s});

    // The server sends the chain and proves the key: a client that trusts
    // only the CA (or the self-signed leaf) verifies the connection.
    TlsServer server(loaded->serverConfiguration());
    const QString trust = chainLength ? file(u"ca.pem"_s) : file(certificate);
    const Handshake handshake =
        connectTo(server, {u"-tls1_2"_s, u"-CAfile"_s, trust, u"-verify_return_error"_s});
    QVERIFY2(handshake.ok, qPrintable(handshake.output));
}

void TestTlsIdentity::badPemFilesAreRefused_data()
{
    QTest::addColumn<QString>("certificate");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("error"); // %C: the certificate file, %K: the key file

    QTest::newRow("key of another certificate")
        << u"rsa.pem"_s << u"ec.key"_s
        << u"the private key in %K does not belong to the certificate in %C"_s;
    QTest::newRow("encrypted PKCS#8 key")
        << u"ec.pem"_s << u"ec-encrypted.key"_s
        << u"the private key in %K is encrypted; the engine needs it without a passphrase "
           "(protect the file with mode 0600 instead)"_s;
    QTest::newRow("encrypted PKCS#1 key")
        << u"rsa.pem"_s << u"rsa-encrypted.key"_s
        << u"the private key in %K is encrypted; the engine needs it without a passphrase "
           "(protect the file with mode 0600 instead)"_s;
    QTest::newRow("expired") << u"expired.pem"_s << u"ec.key"_s
                             << u"the certificate in %C expired on 2020-02-01 00:00:00 UTC"_s;
    QTest::newRow("not yet valid")
        << u"future.pem"_s << u"ec.key"_s
        << u"the certificate in %C is not valid before 2099-01-01 00:00:00 UTC"_s;
    QTest::newRow("missing certificate")
        << u"absent.pem"_s << u"ec.key"_s
        << u"cannot read the certificate file %C: No such file or directory"_s;
    QTest::newRow("missing key") << u"ec.pem"_s << u"absent.key"_s
                                 << u"cannot read the private key file %K: No such file or "
                                    "directory"_s;
    QTest::newRow("a directory as the key")
        << u"ec.pem"_s << u"."_s
        << u"cannot read the private key file %K: file to open is a directory"_s;
    QTest::newRow("garbage certificate")
        << u"garbage.pem"_s << u"ec.key"_s << u"%C holds no PEM certificate"_s;
    QTest::newRow("the key file as certificate")
        << u"ec.key"_s << u"ec.key"_s << u"%C holds no PEM certificate"_s;
    QTest::newRow("garbage key") << u"ec.pem"_s << u"garbage.pem"_s
                                 << u"%K holds no PEM private key"_s;
    QTest::newRow("the certificate as key")
        << u"ec.pem"_s << u"ec.pem"_s << u"%K holds no PEM private key"_s;
    QTest::newRow("Ed25519 key") << u"ed25519.pem"_s << u"ed25519.key"_s
                                 << u"the private key in %K is neither RSA nor EC; the API's TLS "
                                    "suites need one of those"_s;
}

void TestTlsIdentity::badPemFilesAreRefused()
{
    QFETCH(QString, certificate);
    QFETCH(QString, key);
    QFETCH(QString, error);
    Expected<TlsIdentity> loaded = TlsIdentity::fromPemFiles(file(certificate), file(key));
    QVERIFY(!loaded);
    QCOMPARE(loaded.error(),
             QString(error).replace(u"%C"_s, file(certificate)).replace(u"%K"_s, file(key)));
}

void TestTlsIdentity::storedSelfSignedIsMadeOnceAndAudited()
{
    const auto store = TestSupport::makeStore();
    const AuditLog &audit = *store->secrets.audit;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    Expected<TlsIdentity> first =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {loopback}, now);
    VERIFY_EXPECTED(first);
    QVERIFY(first->selfSigned);
    QCOMPARE(first->certificate.effectiveDate().secsTo(first->certificate.expiryDate()),
             397 * 86400 + 300);

    Expected<TlsIdentity> second = TlsIdentity::storedSelfSigned(
        store->db(), audit, {u"localhost"_s}, {loopback}, now + 100 * DayMs);
    VERIFY_EXPECTED(second);
    QCOMPARE(second->certificate, first->certificate);
    QCOMPARE(second->privateKey, first->privateKey);
    QVERIFY(second->selfSigned);

    QCOMPARE(count(store->db(), u"SELECT count(*) FROM api_certificates"_s), 1);
    QSqlQuery row(store->db());
    QVERIFY(row.exec(u"SELECT name, names, created_at, expires_at FROM api_certificates"_s));
    QVERIFY(row.next());
    QCOMPARE(row.value(0).toString(), u"self-signed"_s);
    QCOMPARE(row.value(1).toString(), u"DNS:localhost IP:127.0.0.1"_s);
    QCOMPARE(row.value(2).toLongLong(), now);
    QCOMPARE(row.value(3).toLongLong(), first->certificate.expiryDate().toMSecsSinceEpoch());

    QSqlQuery q(store->db());
    QVERIFY(q.exec(u"SELECT actor, target, details, at FROM audit_records "
                   "WHERE action = 'api.certificate_created'"_s));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toString(), u"engine"_s);
    QCOMPARE(q.value(1).toString(), u"self-signed"_s);
    const QJsonObject details = QJsonDocument::fromJson(q.value(2).toByteArray()).object();
    QCOMPARE(details.value(u"fingerprint").toString(),
             TlsIdentity::fingerprintSha256(first->certificate));
    QCOMPARE(details.value(u"names").toString(), u"DNS:localhost IP:127.0.0.1"_s);
    QCOMPARE(details.value(u"expires_at").toString(),
             first->certificate.expiryDate().toUTC().toString(Qt::ISODateWithMs));
    QCOMPARE(details.value(u"reason").toString(), u"none stored"_s);
    QCOMPARE(q.value(3).toLongLong(), now);
    QVERIFY(!q.next());

    Expected<std::optional<QSslCertificate>> stored = TlsIdentity::storedCertificate(store->db());
    VERIFY_EXPECTED(stored);
    QVERIFY(stored->has_value());
    QCOMPARE(*stored.value(), first->certificate);
}

void TestTlsIdentity::storedSelfSignedIsRemadeWhenTheNamesChange()
{
    const auto store = TestSupport::makeStore();
    const AuditLog &audit = *store->secrets.audit;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    Expected<TlsIdentity> first =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {loopback}, now);
    VERIFY_EXPECTED(first);
    Expected<TlsIdentity> renamed = TlsIdentity::storedSelfSigned(
        store->db(), audit, {u"localhost"_s, u"farm.example"_s}, {loopback}, now + DayMs);
    VERIFY_EXPECTED(renamed);
    QVERIFY(renamed->certificate != first->certificate);
    QVERIFY(renamed->privateKey != first->privateKey);
    QCOMPARE(renamed->certificate.subjectAlternativeNames().values(QSsl::DnsEntry).size(), 2);
    Expected<TlsIdentity> readdressed = TlsIdentity::storedSelfSigned(
        store->db(), audit, {u"localhost"_s, u"farm.example"_s}, {}, now + 2 * DayMs);
    VERIFY_EXPECTED(readdressed);
    QVERIFY(readdressed->certificate != renamed->certificate);
    QVERIFY(
        readdressed->certificate.subjectAlternativeNames().values(QSsl::IpAddressEntry).isEmpty());

    QCOMPARE(count(store->db(), u"SELECT count(*) FROM api_certificates"_s), 1);
    QCOMPARE(count(store->db(), u"SELECT count(*) FROM audit_records "
                                "WHERE action = 'api.certificate_created'"_s),
             3);
    QSqlQuery q(store->db());
    QVERIFY(q.exec(u"SELECT details FROM audit_records WHERE action = 'api.certificate_created' "
                   "ORDER BY seq"_s));
    QStringList names;
    QStringList reasons;
    while (q.next()) {
        const QJsonObject details = QJsonDocument::fromJson(q.value(0).toByteArray()).object();
        names << details.value(u"names").toString();
        reasons << details.value(u"reason").toString();
    }
    QCOMPARE(names, (QStringList{u"DNS:localhost IP:127.0.0.1"_s,
                                 u"DNS:localhost DNS:farm.example IP:127.0.0.1"_s,
                                 u"DNS:localhost DNS:farm.example"_s}));
    QCOMPARE(reasons, (QStringList{u"none stored"_s, u"names changed"_s, u"names changed"_s}));
}

void TestTlsIdentity::storedSelfSignedIsRemadeThirtyDaysBeforeExpiry_data()
{
    QTest::addColumn<int>("daysLater");
    QTest::addColumn<bool>("remade");
    QTest::newRow("31 days left") << 366 << false;
    QTest::newRow("30 days left") << 367 << true;
    QTest::newRow("expired") << 400 << true;
}

void TestTlsIdentity::storedSelfSignedIsRemadeThirtyDaysBeforeExpiry()
{
    QFETCH(int, daysLater);
    QFETCH(bool, remade);
    const auto store = TestSupport::makeStore();
    const AuditLog &audit = *store->secrets.audit;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    Expected<TlsIdentity> first =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {}, now);
    VERIFY_EXPECTED(first);
    const qint64 later = now + daysLater * DayMs;
    Expected<TlsIdentity> again =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {}, later);
    VERIFY_EXPECTED(again);
    QCOMPARE(again->certificate != first->certificate, remade);
    QCOMPARE(count(store->db(), u"SELECT count(*) FROM audit_records "
                                "WHERE action = 'api.certificate_created'"_s),
             remade ? 2 : 1);
    if (remade) {
        // Dated from the `now` it was made at: valid for 397 days from then.
        QCOMPARE(again->certificate.expiryDate().toSecsSinceEpoch(), later / 1000 + 397 * 86400);
        QCOMPARE(count(store->db(), u"SELECT count(*) FROM audit_records "
                                    "WHERE details LIKE '%\"reason\":\"expiring\"%'"_s),
                 1);
    }
}

void TestTlsIdentity::aDamagedStoredIdentityIsRemade()
{
    const auto store = TestSupport::makeStore();
    const AuditLog &audit = *store->secrets.audit;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    Expected<TlsIdentity> first =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {}, now);
    VERIFY_EXPECTED(first);
    // Another key in the row: it no longer belongs to the certificate.
    Expected<TlsIdentity> other = TlsIdentity::generateSelfSigned({u"localhost"_s}, {}, 1);
    VERIFY_EXPECTED(other);
    QSqlQuery q(store->db());
    q.prepare(u"UPDATE api_certificates SET private_key = ?"_s);
    q.addBindValue(QString::fromLatin1(other->privateKey.toPem()));
    QVERIFY(q.exec());

    Expected<TlsIdentity> again =
        TlsIdentity::storedSelfSigned(store->db(), audit, {u"localhost"_s}, {}, now + DayMs);
    VERIFY_EXPECTED(again);
    QVERIFY(again->certificate != first->certificate);
    QCOMPARE(count(store->db(), u"SELECT count(*) FROM audit_records "
                                "WHERE details LIKE '%\"reason\":\"unreadable\"%'"_s),
             1);
    TlsServer server(again->serverConfiguration());
    const Handshake handshake = connectTo(server, {u"-tls1_2"_s});
    QVERIFY2(handshake.ok, qPrintable(handshake.output));
}

void TestTlsIdentity::storedCertificateNeverCreatesOne()
{
    const auto store = TestSupport::makeStore();
    Expected<std::optional<QSslCertificate>> none = TlsIdentity::storedCertificate(store->db());
    VERIFY_EXPECTED(none);
    QVERIFY(!none->has_value());
    QCOMPARE(count(store->db(), u"SELECT count(*) FROM api_certificates"_s), 0);
    QCOMPARE(count(store->db(), u"SELECT count(*) FROM audit_records "
                                "WHERE action = 'api.certificate_created'"_s),
             0);
}

void TestTlsIdentity::handshakes_data()
{
    QTest::addColumn<QString>("identity");
    QTest::addColumn<QStringList>("options");
    QTest::addColumn<QString>("cipher"); // empty: the server must refuse
    QTest::addColumn<QString>("detail"); // the server's temporary key, or its alert

    const QString seclevel0 = u"DEFAULT@SECLEVEL=0"_s;
    const QString protocolAlert = u"alert protocol version"_s;
    const QString handshakeAlert = u"alert handshake failure"_s;
    auto row = [](const char *name, const QString &identity, const QStringList &options,
                  const QString &cipher, const QString &detail) {
        QTest::newRow(name) << identity << options << cipher << detail;
    };
    // Old protocols: refused by the server (its alert), not by the client.
    row("TLS 1.0", u"ec"_s, {u"-tls1"_s, u"-cipher"_s, seclevel0}, {}, protocolAlert);
    row("TLS 1.1", u"ec"_s, {u"-tls1_1"_s, u"-cipher"_s, seclevel0}, {}, protocolAlert);
    row("TLS 1.1, RSA", u"rsa"_s, {u"-tls1_1"_s, u"-cipher"_s, seclevel0}, {}, protocolAlert);
    // The server's first choices.
    row("TLS 1.2", u"ec"_s, {u"-tls1_2"_s}, u"ECDHE-ECDSA-AES128-GCM-SHA256"_s, u"X25519"_s);
    row("TLS 1.2, RSA", u"rsa"_s, {u"-tls1_2"_s}, u"ECDHE-RSA-AES128-GCM-SHA256"_s, u"X25519"_s);
    row("TLS 1.3", u"ec"_s, {u"-tls1_3"_s}, u"TLS_AES_128_GCM_SHA256"_s, u"X25519"_s);
    row("TLS 1.3, RSA", u"rsa"_s, {u"-tls1_3"_s}, u"TLS_AES_128_GCM_SHA256"_s, u"X25519"_s);
    // Each allowed suite on its own.
    for (const QString &cipher : allowedTls12) {
        const QString identity = cipher.contains(u"ECDSA") ? u"ec"_s : u"rsa"_s;
        QTest::addRow("TLS 1.2 %s", qPrintable(cipher))
            << identity << QStringList{u"-tls1_2"_s, u"-cipher"_s, cipher} << cipher << u"X25519"_s;
    }
    for (const QString &cipher : allowedTls13) {
        QTest::addRow("TLS 1.3 %s", qPrintable(cipher))
            << u"ec"_s << QStringList{u"-tls1_3"_s, u"-ciphersuites"_s, cipher} << cipher
            << u"X25519"_s;
    }
    // The server's order wins over the client's.
    row("TLS 1.2 server preference", u"ec"_s,
        {u"-tls1_2"_s, u"-cipher"_s,
         u"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
         "ECDHE-ECDSA-AES128-GCM-SHA256"_s},
        u"ECDHE-ECDSA-AES128-GCM-SHA256"_s, u"X25519"_s);
    row("TLS 1.3 server preference", u"ec"_s,
        {u"-tls1_3"_s, u"-ciphersuites"_s,
         u"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"_s},
        u"TLS_AES_256_GCM_SHA384"_s, u"X25519"_s);
    // Suites outside the list: no forward secrecy, CBC, finite-field DH, CCM.
    row("AES128-SHA", u"rsa"_s, {u"-tls1_2"_s, u"-cipher"_s, u"AES128-SHA"_s}, {}, handshakeAlert);
    row("AES128-GCM-SHA256", u"rsa"_s, {u"-tls1_2"_s, u"-cipher"_s, u"AES128-GCM-SHA256"_s}, {},
        handshakeAlert);
    row("ECDHE-ECDSA-AES128-SHA256", u"ec"_s,
        {u"-tls1_2"_s, u"-cipher"_s, u"ECDHE-ECDSA-AES128-SHA256"_s}, {}, handshakeAlert);
    row("ECDHE-RSA-AES256-SHA", u"rsa"_s, {u"-tls1_2"_s, u"-cipher"_s, u"ECDHE-RSA-AES256-SHA"_s},
        {}, handshakeAlert);
    row("DHE-RSA-AES128-GCM-SHA256", u"rsa"_s,
        {u"-tls1_2"_s, u"-cipher"_s, u"DHE-RSA-AES128-GCM-SHA256"_s}, {}, handshakeAlert);
    row("TLS_AES_128_CCM_SHA256", u"ec"_s,
        {u"-tls1_3"_s, u"-ciphersuites"_s, u"TLS_AES_128_CCM_SHA256"_s}, {}, handshakeAlert);
    // Groups: X25519, P-256 and P-384 only.
    row("TLS 1.3 P-256", u"ec"_s, {u"-tls1_3"_s, u"-groups"_s, u"P-256"_s},
        u"TLS_AES_128_GCM_SHA256"_s, u"ECDH, prime256v1"_s);
    row("TLS 1.3 P-384", u"ec"_s, {u"-tls1_3"_s, u"-groups"_s, u"P-384"_s},
        u"TLS_AES_128_GCM_SHA256"_s, u"ECDH, secp384r1"_s);
    // In TLS 1.2 the client's groups also bound the curve of an ECDSA
    // certificate, so these rows use the RSA one.
    row("TLS 1.2 P-384", u"rsa"_s, {u"-tls1_2"_s, u"-groups"_s, u"P-384"_s},
        u"ECDHE-RSA-AES128-GCM-SHA256"_s, u"ECDH, secp384r1"_s);
    row("TLS 1.3 ffdhe2048", u"ec"_s, {u"-tls1_3"_s, u"-groups"_s, u"ffdhe2048"_s}, {},
        handshakeAlert);
    row("TLS 1.3 X448", u"ec"_s, {u"-tls1_3"_s, u"-groups"_s, u"X448"_s}, {}, handshakeAlert);
    row("TLS 1.3 P-521", u"ec"_s, {u"-tls1_3"_s, u"-groups"_s, u"P-521"_s}, {}, handshakeAlert);
    row("TLS 1.2 P-521", u"rsa"_s, {u"-tls1_2"_s, u"-groups"_s, u"P-521"_s}, {}, handshakeAlert);
}

void TestTlsIdentity::handshakes()
{
    QFETCH(QString, identity);
    QFETCH(QStringList, options);
    QFETCH(QString, cipher);
    QFETCH(QString, detail);
    TlsServer server(this->identity(identity).serverConfiguration());
    const Handshake handshake = connectTo(server, options);
    QTRY_COMPARE(server.settled(), 1);
    if (cipher.isEmpty()) {
        QVERIFY2(!handshake.ok, qPrintable(handshake.output));
        QVERIFY2(handshake.output.contains(detail), qPrintable(handshake.output));
        QVERIFY(server.sessions.isEmpty());
        return;
    }
    QVERIFY2(handshake.ok, qPrintable(handshake.output));
    QCOMPARE(handshake.cipher, cipher);
    QCOMPARE(handshake.tempKey, detail);
    QCOMPARE(server.sessions.size(), 1);
    QCOMPARE(server.sessions.first().cipher, cipher);
    QCOMPARE(server.sessions.first().protocol,
             cipher.startsWith(u"TLS_") ? QSsl::TlsV1_3 : QSsl::TlsV1_2);
}

void TestTlsIdentity::onlyHttp11IsNegotiatedByAlpn_data()
{
    QTest::addColumn<QString>("offered");
    QTest::addColumn<QString>("negotiated");
    QTest::newRow("h2 and http/1.1") << u"h2,http/1.1"_s << u"http/1.1"_s;
    QTest::newRow("http/1.1") << u"http/1.1"_s << u"http/1.1"_s;
    // RFC 7301 wants a no_application_protocol alert; Qt's server answers
    // with its own protocol instead, which the client refuses: no
    // connection either way.
    QTest::newRow("h2 only") << u"h2"_s << QString();
}

void TestTlsIdentity::onlyHttp11IsNegotiatedByAlpn()
{
    QFETCH(QString, offered);
    QFETCH(QString, negotiated);
    TlsServer server(m_ec.serverConfiguration());
    const Handshake handshake = connectTo(server, {u"-tls1_3"_s, u"-alpn"_s, offered});
    if (negotiated.isEmpty()) {
        QVERIFY2(!handshake.ok, qPrintable(handshake.output));
        QTRY_COMPARE(server.settled(), 1);
        QVERIFY(server.sessions.isEmpty());
        return;
    }
    QVERIFY2(handshake.ok, qPrintable(handshake.output));
    QCOMPARE(handshake.alpn, negotiated);
    QTRY_COMPARE(server.sessions.size(), 1);
    QCOMPARE(QString::fromLatin1(server.sessions.first().alpn), negotiated);
}

void TestTlsIdentity::sessionsAreNeverResumed_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::newRow("TLS 1.2") << u"-tls1_2"_s;
    QTest::newRow("TLS 1.3") << u"-tls1_3"_s;
}

void TestTlsIdentity::sessionsAreNeverResumed()
{
    QFETCH(QString, protocol);
    TlsServer server(m_ec.serverConfiguration());
    const QString session = file(u"session-%1.pem"_s.arg(protocol));
    // -ign_eof: the client reads until the server closes, so a ticket sent
    // after the handshake arrives before it exits.
    const Handshake first = connectTo(server, {protocol, u"-ign_eof"_s, u"-sess_out"_s, session});
    QVERIFY2(first.ok, qPrintable(first.output));
    // OpenSSL still sends TLS 1.3 clients tickets with tickets off, but
    // stateful ones (a session id) that only the server's session cache
    // could resume, and Qt keeps that cache per connection.
    if (protocol == u"-tls1_2")
        QVERIFY2(!first.output.contains(u"TLS session ticket:"), qPrintable(first.output));
    else
        QVERIFY2(QFile::exists(session), qPrintable(first.output));
    const Handshake second = connectTo(server, {protocol, u"-sess_in"_s, session});
    QVERIFY2(second.ok, qPrintable(second.output));
    QVERIFY2(!second.reused, qPrintable(second.output));
    QTRY_COMPARE(server.sessions.size(), 2);
}

void TestTlsIdentity::clientCertificatesAreCheckedAgainstTheClientCa_data()
{
    QTest::addColumn<QString>("protocol");
    QTest::addColumn<QStringList>("credentials");
    QTest::addColumn<bool>("accepted");
    for (const QString &protocol : {u"-tls1_2"_s, u"-tls1_3"_s}) {
        const QByteArray name = protocol.toLatin1();
        QTest::addRow("%s, from the CA", name.constData())
            << protocol << QStringList{u"-cert"_s, u"client.pem"_s, u"-key"_s, u"client.key"_s}
            << true;
        QTest::addRow("%s, none", name.constData()) << protocol << QStringList() << false;
        QTest::addRow("%s, self-signed with the same name", name.constData())
            << protocol << QStringList{u"-cert"_s, u"stranger.pem"_s, u"-key"_s, u"stranger.key"_s}
            << false;
    }
}

void TestTlsIdentity::clientCertificatesAreCheckedAgainstTheClientCa()
{
    QFETCH(QString, protocol);
    QFETCH(QStringList, credentials);
    QFETCH(bool, accepted);
    const QSslConfiguration configuration =
        m_ec.serverConfiguration(QSslCertificate::fromPath(file(u"ca.pem"_s)));
    QCOMPARE(configuration.peerVerifyMode(), QSslSocket::VerifyPeer);
    TlsServer server(configuration);
    const Handshake handshake = connectTo(server, QStringList{protocol} + credentials);
    QTRY_COMPARE(server.settled(), 1);
    QCOMPARE(server.sessions.size(), accepted ? 1 : 0);
    if (accepted)
        QCOMPARE(server.sessions.first().peer.subjectInfo(QSslCertificate::CommonName),
                 QStringList{u"client"_s});
    // In TLS 1.2 the server's refusal ends the client's handshake too; in
    // TLS 1.3 the client has finished before the server reads its certificate.
    if (protocol == u"-tls1_2")
        QVERIFY2(handshake.ok == accepted, qPrintable(handshake.output));
    QCOMPARE(m_ec.serverConfiguration().peerVerifyMode(), QSslSocket::VerifyNone);
}

void TestTlsIdentity::sslscanFindsOnlyTheAllowedProtocolsSuitesAndGroups_data()
{
    QTest::addColumn<QString>("identity");
    QTest::addColumn<QStringList>("suites");
    QStringList ecdsa = allowedTls13;
    QStringList rsa = allowedTls13;
    for (const QString &suite : allowedTls12)
        (suite.contains(u"ECDSA") ? ecdsa : rsa) << suite;
    QTest::newRow("ECDSA") << u"ec"_s << ecdsa;
    QTest::newRow("RSA") << u"rsa"_s << rsa;
}

void TestTlsIdentity::sslscanFindsOnlyTheAllowedProtocolsSuitesAndGroups()
{
    QFETCH(QString, identity);
    QFETCH(QStringList, suites);
    TlsServer server(this->identity(identity).serverConfiguration());
    const Result scan = run(m_sslscan, {u"--no-colour"_s, server.address()});
    QVERIFY2(scan.exitCode == 0, qPrintable(scan.out + scan.err));

    QMap<QString, QString> protocols;
    static const QRegularExpression protocolLine(
        u"^(SSLv2|SSLv3|TLSv1\\.[0-3])\\s+(enabled|disabled)$"_s,
        QRegularExpression::MultilineOption);
    for (const QRegularExpressionMatch &m : protocolLine.globalMatch(scan.out))
        protocols.insert(m.captured(1), m.captured(2));
    QCOMPARE(protocols.value(u"TLSv1.0"_s), u"disabled"_s);
    QCOMPARE(protocols.value(u"TLSv1.1"_s), u"disabled"_s);
    QCOMPARE(protocols.value(u"TLSv1.2"_s), u"enabled"_s);
    QCOMPARE(protocols.value(u"TLSv1.3"_s), u"enabled"_s);
    for (const QString &old : {u"SSLv2"_s, u"SSLv3"_s}) {
        if (protocols.contains(old))
            QCOMPARE(protocols.value(old), u"disabled"_s);
    }

    QStringList accepted;
    QStringList preferred;
    static const QRegularExpression suiteLine(
        u"^(Preferred|Accepted)\\s+(\\S+)\\s+\\d+ bits\\s+(\\S+)"_s,
        QRegularExpression::MultilineOption);
    for (const QRegularExpressionMatch &m : suiteLine.globalMatch(scan.out)) {
        QVERIFY2(m.captured(2) == u"TLSv1.2" || m.captured(2) == u"TLSv1.3",
                 qPrintable(m.captured(0)));
        accepted << m.captured(3);
        if (m.captured(1) == u"Preferred")
            preferred << m.captured(3);
    }
    accepted.sort();
    suites.sort();
    QVERIFY2(accepted == suites, qPrintable(scan.out));
    QCOMPARE(preferred.size(), 2); // one per protocol version
    QVERIFY2(preferred.contains(u"TLS_AES_128_GCM_SHA256"_s), qPrintable(scan.out));

    const qsizetype groupsAt = scan.out.indexOf(u"Server Key Exchange Group(s):");
    QVERIFY2(groupsAt >= 0, qPrintable(scan.out));
    QSet<QString> groups;
    static const QRegularExpression groupLine(u"^TLSv1\\.[23]\\s+\\d+ bits\\s+(\\S+)"_s,
                                              QRegularExpression::MultilineOption);
    for (const QRegularExpressionMatch &m : groupLine.globalMatch(scan.out.mid(groupsAt)))
        groups.insert(m.captured(1));
    QCOMPARE(groups, (QSet<QString>{u"x25519"_s, u"secp256r1"_s, u"secp384r1"_s}));
}

QTEST_MAIN(TestTlsIdentity)
#include "tst_tlsidentity.moc"
