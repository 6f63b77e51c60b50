#include "engine/enginesettings.h"
#include "security/configguard.h"
#include "testsupport.h"

#include <QDir>
#include <QFile>
#include <QHostAddress>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

namespace {
QByteArray randomHex()
{
    QByteArray bytes(32, '\0');
    for (char &byte : bytes)
        byte = static_cast<char>(QRandomGenerator::global()->bounded(256));
    return bytes.toHex() + '\n';
}

const QByteArray SameSecret = "5d41402abc4b2a76b9719d911017c592ae2f1c3a0e1b7d64c2e8d1f0a9b3c4d5\n";
const QByteArray Certificate = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";
const QByteArray PrivateKey = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n";

// "name|mode|content": content RANDOM, SAME, CERT or KEY stands for the
// matching text above, DIR makes a directory; anything else is literal.
QByteArray contentFor(const QString &spec)
{
    if (spec == u"RANDOM")
        return randomHex();
    if (spec == u"SAME")
        return SameSecret;
    if (spec == u"CERT")
        return Certificate;
    if (spec == u"KEY")
        return PrivateKey;
    return spec.toUtf8();
}

// A random hex secret with a placeholder in it: the check must find the
// word, not merely a short file.
QString withWord(const char *word)
{
    return QString::fromLatin1(randomHex().left(40)) + QString::fromLatin1(word) + u'\n';
}
} // namespace

class TestConfigGuard : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void check_data();
    void check();
    void storeKeyHasItsOwnFix();
    void loadReadsEveryKey();
    void loadRefuses_data();
    void loadRefuses();
    void describeFormatsOneLinePerProblem();

private:
    QString freshDir();
    QTemporaryDir m_dir;
    int m_rows = 0;
};

QString TestConfigGuard::freshDir()
{
    const QString dir = m_dir.filePath(QStringLiteral("row%1").arg(++m_rows));
    return QDir().mkpath(dir) ? dir : QString();
}

void TestConfigGuard::check_data()
{
    QTest::addColumn<QString>("ini");
    QTest::addColumn<QStringList>("files"); // name|mode|content
    // The engine's secret files, passed as extraSecretFiles: "role=name",
    // "role=name?" when the file may be missing.
    QTest::addColumn<QStringList>("extras");
    QTest::addColumn<int>("count");
    QTest::addColumn<QString>("problem"); // @DIR@ is the row's directory
    QTest::addColumn<QString>("fix");

    const QString tlsIni = QStringLiteral("[api]\nlisten = 0.0.0.0:8443\n"
                                          "tls_certificate = cert.pem\n"
                                          "tls_private_key = key.pem\n");
    const QStringList goodTls{QStringLiteral("cert.pem|0644|CERT"),
                              QStringLiteral("key.pem|0600|KEY")};
    const QString pepperFile = QStringLiteral("API-key pepper=pepper");
    const QString auditKeyFile = QStringLiteral("audit key=audit.key");
    const QString storeKeyFile = QStringLiteral("store key file=store.key");
    const QStringList pepper{pepperFile};
    const QString placeholderProblem =
        QStringLiteral("API-key pepper @DIR@/pepper looks like a placeholder or default value");
    const QString generateFix = QStringLiteral("openssl rand -hex 32 > @DIR@/pepper");

    // Modes of secret files
    QTest::newRow("group-readable pepper")
        << QString() << QStringList{QStringLiteral("pepper|0640|RANDOM")} << pepper << 1
        << QStringLiteral("API-key pepper @DIR@/pepper can be read or changed by group or others "
                          "(mode 0640)")
        << QStringLiteral("chmod 600 @DIR@/pepper");
    QTest::newRow("group-writable audit key")
        << QString() << QStringList{QStringLiteral("audit.key|0620|RANDOM")}
        << QStringList{auditKeyFile} << 1
        << QStringLiteral("audit key @DIR@/audit.key can be read or changed by group or others "
                          "(mode 0620)")
        << QStringLiteral("chmod 600 @DIR@/audit.key");
    QTest::newRow("world-readable store key file")
        << QString() << QStringList{QStringLiteral("store.key|0604|RANDOM")}
        << QStringList{storeKeyFile} << 1
        << QStringLiteral("store key file @DIR@/store.key can be read or changed by group or "
                          "others (mode 0604)")
        << QStringLiteral("chmod 600 @DIR@/store.key");
    QTest::newRow("world-readable TLS key")
        << tlsIni
        << QStringList{QStringLiteral("cert.pem|0644|CERT"), QStringLiteral("key.pem|0644|KEY")}
        << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key @DIR@/key.pem is readable by every user on this "
                          "machine (mode 0644)")
        << QStringLiteral("chmod 600 @DIR@/key.pem");
    QTest::newRow("world-readable TLS key, 0604")
        << tlsIni
        << QStringList{QStringLiteral("cert.pem|0644|CERT"), QStringLiteral("key.pem|0604|KEY")}
        << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key @DIR@/key.pem is readable by every user")
        << QStringLiteral("chmod 600 @DIR@/key.pem");
    QTest::newRow("group-readable TLS key")
        << tlsIni
        << QStringList{QStringLiteral("cert.pem|0644|CERT"), QStringLiteral("key.pem|0640|KEY")}
        << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key @DIR@/key.pem can be read or changed by group "
                          "or others (mode 0640)")
        << QStringLiteral("chmod 600 @DIR@/key.pem");

    // Content of secret files
    for (const char *word :
         {"changeme", "change_me", "replace_me", "replaceme", "example", "placeholder", "secret",
          "password", "xxxx", "ChangeMe", "PASSWORD", "Replace-Me", "XXXX"}) {
        QTest::addRow("placeholder %s", word)
            << QString() << QStringList{QStringLiteral("pepper|0600|") + withWord(word)} << pepper
            << 1 << placeholderProblem << generateFix;
    }
    QTest::newRow("placeholder alone")
        << QString() << QStringList{QStringLiteral("pepper|0600|changeme\n")} << pepper << 1
        << placeholderProblem << generateFix;
    QTest::newRow("all the same character")
        << QString() << QStringList{QStringLiteral("pepper|0600|") + QString(64, u'a') + u'\n'}
        << pepper << 1 << QStringLiteral("API-key pepper @DIR@/pepper is one character repeated")
        << generateFix;
    QTest::newRow("all zeros, no newline")
        << QString() << QStringList{QStringLiteral("pepper|0600|") + QString(64, u'0')} << pepper
        << 1 << QStringLiteral("API-key pepper @DIR@/pepper is one character repeated")
        << generateFix;
    QTest::newRow("two characters repeated")
        << QString()
        << QStringList{QStringLiteral("pepper|0600|") + QStringLiteral("ab").repeated(32)} << pepper
        << 1 << QStringLiteral("API-key pepper @DIR@/pepper uses only 2 different characters")
        << generateFix;
    QTest::newRow("too short")
        << QString() << QStringList{QStringLiteral("pepper|0600|0123456789abcdef\n")} << pepper << 1
        << QStringLiteral("API-key pepper @DIR@/pepper is only 16 bytes long; a secret needs at "
                          "least 32")
        << generateFix;
    QTest::newRow("31 bytes and a newline")
        << QString() << QStringList{QStringLiteral("pepper|0600|0123456789abcdef0123456789abcde\n")}
        << pepper << 1 << QStringLiteral("API-key pepper @DIR@/pepper is only 31 bytes long")
        << generateFix;
    QTest::newRow("empty") << QString() << QStringList{QStringLiteral("pepper|0600|")} << pepper
                           << 1 << QStringLiteral("API-key pepper @DIR@/pepper is empty")
                           << generateFix;
    QTest::newRow("loose and weak: both reported")
        << QString() << QStringList{QStringLiteral("pepper|0644|changeme\n")} << pepper << 2
        << placeholderProblem << QStringLiteral("chmod 600 @DIR@/pepper");
    QTest::newRow("missing pepper")
        << QString() << QStringList{} << pepper << 1
        << QStringLiteral("API-key pepper @DIR@/pepper does not exist") << generateFix;
    QTest::newRow("pepper is a directory")
        << QString() << QStringList{QStringLiteral("pepper|0700|DIR")} << pepper << 1
        << QStringLiteral("API-key pepper @DIR@/pepper is not a regular file")
        << QStringLiteral("point API-key pepper at a regular file");
    QTest::newRow("same secret twice")
        << QString()
        << QStringList{QStringLiteral("pepper|0600|SAME"), QStringLiteral("audit.key|0600|SAME")}
        << QStringList{pepperFile, auditKeyFile} << 1
        << QStringLiteral("audit key @DIR@/audit.key holds the same secret as API-key pepper "
                          "@DIR@/pepper")
        << QStringLiteral("openssl rand -hex 32 > @DIR@/audit.key");
    QTest::newRow("store key and pepper hold the same secret")
        << QString()
        << QStringList{QStringLiteral("store.key|0600|SAME"), QStringLiteral("pepper|0600|SAME")}
        << QStringList{storeKeyFile, pepperFile} << 1
        << QStringLiteral("API-key pepper @DIR@/pepper holds the same secret as store key file "
                          "@DIR@/store.key")
        << generateFix;

    // The API listener. A network address without TLS files is no problem:
    // the engine then serves its stored self-signed certificate, never
    // clear text.
    QTest::newRow("certificate without key")
        << QStringLiteral("[api]\ntls_certificate = cert.pem\n")
        << QStringList{QStringLiteral("cert.pem|0644|CERT")} << QStringList{} << 1
        << QStringLiteral("[api] tls_certificate is set but tls_private_key is not")
        << QStringLiteral("set [api] tls_private_key");
    QTest::newRow("key without certificate")
        << QStringLiteral("[api]\ntls_private_key = key.pem\n")
        << QStringList{QStringLiteral("key.pem|0600|KEY")} << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key is set but tls_certificate is not")
        << QStringLiteral("set [api] tls_certificate");
    QTest::newRow("certificate without key on a network address")
        << QStringLiteral("[api]\nlisten = 0.0.0.0:8443\ntls_certificate = cert.pem\n")
        << QStringList{QStringLiteral("cert.pem|0644|CERT")} << QStringList{} << 1
        << QStringLiteral("[api] tls_certificate is set but tls_private_key is not")
        << QStringLiteral("or remove tls_certificate");
    QTest::newRow("key without certificate on IPv6 any")
        << QStringLiteral("[api]\nlisten = [::]:9443\ntls_private_key = key.pem\n")
        << QStringList{QStringLiteral("key.pem|0600|KEY")} << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key is set but tls_certificate is not")
        << QStringLiteral("or remove tls_private_key");
    // A half setup and a loose key are separate problems, both reported.
    QTest::newRow("key without certificate, world-readable")
        << QStringLiteral("[api]\ntls_private_key = key.pem\n")
        << QStringList{QStringLiteral("key.pem|0644|KEY")} << QStringList{} << 2
        << QStringLiteral("[api] tls_private_key @DIR@/key.pem is readable by every user")
        << QStringLiteral("set [api] tls_certificate");
    QTest::newRow("missing certificate")
        << tlsIni << QStringList{QStringLiteral("key.pem|0600|KEY")} << QStringList{} << 1
        << QStringLiteral("[api] tls_certificate @DIR@/cert.pem does not exist")
        << QStringLiteral("correct the path of [api] tls_certificate");
    QTest::newRow("missing private key")
        << tlsIni << QStringList{QStringLiteral("cert.pem|0644|CERT")} << QStringList{} << 1
        << QStringLiteral("[api] tls_private_key @DIR@/key.pem does not exist")
        << QStringLiteral("correct the path of [api] tls_private_key");
    QTest::newRow("missing client CA")
        << QString(tlsIni + QStringLiteral("tls_client_ca = clients.pem\n")) << goodTls
        << QStringList{} << 1
        << QStringLiteral("[api] tls_client_ca @DIR@/clients.pem does not exist")
        << QStringLiteral("correct the path of [api] tls_client_ca, or put the file there");
    QTest::newRow("missing client CA without TLS files")
        << QStringLiteral("[api]\ntls_client_ca = ca/clients.pem\n") << QStringList{}
        << QStringList{} << 1
        << QStringLiteral("[api] tls_client_ca @DIR@/ca/clients.pem does not exist")
        << QStringLiteral("correct the path of [api] tls_client_ca");
    QTest::newRow("client CA is a directory")
        << QString(tlsIni + QStringLiteral("tls_client_ca = clients\n"))
        << QStringList{goodTls + QStringList{QStringLiteral("clients|0755|DIR")}} << QStringList{}
        << 1 << QStringLiteral("[api] tls_client_ca @DIR@/clients is not a regular file")
        << QStringLiteral("point [api] tls_client_ca at a regular file");

    // Configurations that must start
    const QString none;
    QTest::newRow("pass: defaults")
        << QString() << QStringList{} << QStringList{} << 0 << none << none;
    QTest::newRow("pass: loopback without TLS, good secrets")
        << QStringLiteral("[api]\nlisten = 127.0.0.1:8443\n")
        << QStringList{QStringLiteral("store.key|0600|RANDOM"),
                       QStringLiteral("pepper|0600|RANDOM"),
                       QStringLiteral("audit.key|0400|RANDOM")}
        << QStringList{storeKeyFile, pepperFile, auditKeyFile} << 0 << none << none;
    QTest::newRow("pass: IPv6 loopback without TLS")
        << QStringLiteral("[api]\nlisten = [::1]:8443\n") << QStringList{} << QStringList{} << 0
        << none << none;
    QTest::newRow("pass: other 127/8 address")
        << QStringLiteral("[api]\nlisten = 127.0.1.1:9000\n") << QStringList{} << QStringList{} << 0
        << none << none;
    QTest::newRow("pass: IPv4-mapped loopback")
        << QStringLiteral("[api]\nlisten = [::ffff:127.0.0.1]:8443\n") << QStringList{}
        << QStringList{} << 0 << none << none;
    QTest::newRow("pass: any address without TLS files")
        << QStringLiteral("[api]\nlisten = 0.0.0.0:8443\n") << QStringList{} << QStringList{} << 0
        << none << none;
    QTest::newRow("pass: LAN address without TLS files")
        << QStringLiteral("[api]\nlisten = 192.168.1.10:9000\n") << QStringList{} << QStringList{}
        << 0 << none << none;
    QTest::newRow("pass: IPv6 any without TLS files")
        << QStringLiteral("[api]\nlisten = [::]:9443\n") << QStringList{} << QStringList{} << 0
        << none << none;
    QTest::newRow("pass: network address with TLS and a 0600 key")
        << tlsIni << goodTls << QStringList{} << 0 << none << none;
    QTest::newRow("pass: IPv6 any with TLS and a 0400 key")
        << QStringLiteral("[api]\nlisten = [::]:8443\ntls_certificate = cert.pem\n"
                          "tls_private_key = key.pem\n")
        << QStringList{QStringLiteral("cert.pem|0644|CERT"), QStringLiteral("key.pem|0400|KEY")}
        << QStringList{} << 0 << none << none;
    // A CA certificate is public: every user may read it.
    QTest::newRow("pass: world-readable client CA")
        << QString(tlsIni + QStringLiteral("tls_client_ca = clients.pem\n"))
        << QStringList{goodTls + QStringList{QStringLiteral("clients.pem|0644|CERT")}}
        << QStringList{} << 0 << none << none;
    QTest::newRow("pass: client CA with the stored certificate")
        << QStringLiteral("[api]\nlisten = 0.0.0.0:8443\ntls_client_ca = clients.pem\n")
        << QStringList{QStringLiteral("clients.pem|0600|CERT")} << QStringList{} << 0 << none
        << none;
    QTest::newRow("pass: every [api] key")
        << QString(tlsIni + QStringLiteral("tls_client_ca = clients.pem\n"
                                           "server_names = transcode.example.com\n"
                                           "cors_origins = https://app.example.com\n"
                                           "allowlist = 10.0.0.0/8 2001:db8::/32\n"
                                           "trusted_proxies = 10.0.0.5\n"))
        << QStringList{goodTls + QStringList{QStringLiteral("clients.pem|0644|CERT")}}
        << QStringList{} << 0 << none << none;
    // Nothing under [api] is checked while the API is off.
    QTest::newRow("pass: API disabled")
        << QStringLiteral("[api]\nenabled = false\nlisten = 0.0.0.0:8443\n"
                          "tls_certificate = cert.pem\ntls_client_ca = clients.pem\n")
        << QStringList{} << QStringList{} << 0 << none << none;
    QTest::newRow("pass: store key file not created yet")
        << QString() << QStringList{} << QStringList{storeKeyFile + u'?'} << 0 << none << none;
    QTest::newRow("pass: store key file 0600")
        << QString() << QStringList{QStringLiteral("store.key|0600|RANDOM")}
        << QStringList{storeKeyFile} << 0 << none << none;
    QTest::newRow("pass: secrets not created yet")
        << QString() << QStringList{}
        << QStringList{storeKeyFile + u'?', pepperFile + u'?', auditKeyFile + u'?'} << 0 << none
        << none;
}

void TestConfigGuard::check()
{
    QFETCH(QString, ini);
    QFETCH(QStringList, files);
    QFETCH(QStringList, extras);
    QFETCH(int, count);
    QFETCH(QString, problem);
    QFETCH(QString, fix);

    const QString dir = freshDir();
    QVERIFY(!dir.isEmpty());
    QList<QByteArray> contents;
    for (const QString &spec : files) {
        const QString name = spec.section(u'|', 0, 0);
        const uint mode = spec.section(u'|', 1, 1).toUInt(nullptr, 8);
        const QString path = QDir(dir).filePath(name);
        if (spec.section(u'|', 2) == u"DIR") {
            QVERIFY(QDir().mkpath(path));
        } else {
            const QByteArray content = contentFor(spec.section(u'|', 2));
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            QCOMPARE(file.write(content), content.size());
            file.close();
            contents << content.trimmed();
        }
        QCOMPARE(::chmod(QFile::encodeName(path).constData(), static_cast<mode_t>(mode)), 0);
    }
    const QString iniPath = QDir(dir).filePath(QStringLiteral("engine.conf"));
    {
        QFile file(iniPath);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(ini.toUtf8());
    }
    const Expected<EngineSettings> settings = EngineSettings::load(iniPath);
    VERIFY_EXPECTED(settings);
    QList<ConfigGuard::SecretFile> secretFiles;
    for (const QString &extra : extras) {
        const QString role = extra.section(u'=', 0, 0);
        QString name = extra.section(u'=', 1);
        const bool mayBeMissing = name.endsWith(u'?');
        if (mayBeMissing)
            name.chop(1);
        secretFiles << ConfigGuard::SecretFile{role, QDir(dir).filePath(name), mayBeMissing, {}};
    }

    const QList<ConfigGuard::Problem> problems = ConfigGuard::check(settings.value(), secretFiles);
    const QString described = ConfigGuard::describe(problems);
    QVERIFY2(problems.size() == count, qPrintable(described));
    if (count == 0)
        return;
    problem.replace(QStringLiteral("@DIR@"), dir);
    fix.replace(QStringLiteral("@DIR@"), dir);
    bool found = false;
    for (const ConfigGuard::Problem &p : problems) {
        QVERIFY(!p.problem.isEmpty());
        QVERIFY(!p.fix.isEmpty());
        found = found || p.problem.contains(problem);
    }
    QVERIFY2(found, qPrintable(described));
    QVERIFY2(described.contains(fix), qPrintable(described));
    // Never a byte of a secret file, whatever it held.
    for (const QByteArray &content : std::as_const(contents)) {
        if (content.size() >= 4)
            QVERIFY2(!described.toUtf8().contains(content), content.constData());
    }
}

void TestConfigGuard::storeKeyHasItsOwnFix()
{
    // Replacing a store key would lock the store away; its caller says how
    // to rekey instead.
    const QString dir = freshDir();
    const QString path = QDir(dir).filePath(QStringLiteral("store.key"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(QByteArray(64, '0') + '\n');
    file.close();
    QCOMPARE(::chmod(QFile::encodeName(path).constData(), 0600), 0);
    const QString rekey = QStringLiteral("framehousectl store rekey");
    const QList<ConfigGuard::Problem> problems = ConfigGuard::check(
        EngineSettings{}, {{QStringLiteral("store key file"), path, false, rekey}});
    QCOMPARE(problems.size(), 1);
    QVERIFY(problems.first().problem.contains(path));
    QCOMPARE(problems.first().fix, rekey);
}

void TestConfigGuard::loadReadsEveryKey()
{
    const QString dir = freshDir();
    const QString path = QDir(dir).filePath(QStringLiteral("engine.conf"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("\xef\xbb\xbf# Framehouse engine\r\n"
               "[api]\r\n"
               "listen = [2001:db8::5]:9443\r\n"
               "enabled = yes\r\n"
               "tls_certificate = \"tls/cert with space.pem\"\r\n"
               "  tls_private_key   =   ../key.pem  \r\n"
               "; a comment\r\n"
               "\r\n"
               "tls_client_ca = ca/clients.pem\r\n"
               "server_names = transcode.example.com, Farm-2.example.com\tlocalhost\r\n"
               "cors_origins = https://app.example.com http://localhost:8080,"
               "https://[2001:db8::1]:8443\r\n"
               "allowlist = 10.0.0.0/8, 2001:db8::/32 192.168.1.7\r\n"
               "trusted_proxies = 10.0.0.5\r\n");
    file.close();
    const Expected<EngineSettings> loaded = EngineSettings::load(path);
    VERIFY_EXPECTED(loaded);
    const EngineSettings &s = loaded.value();
    QCOMPARE(s.listenAddress, QStringLiteral("2001:db8::5"));
    QCOMPARE(s.listenPort, quint16(9443));
    QCOMPARE(s.listen(), QStringLiteral("[2001:db8::5]:9443"));
    QVERIFY(s.apiEnabled);
    QCOMPARE(s.tlsCertificate, QDir(dir).filePath(QStringLiteral("tls/cert with space.pem")));
    QCOMPARE(s.tlsPrivateKey, QDir::cleanPath(dir + QStringLiteral("/../key.pem")));
    QCOMPARE(s.tlsClientCa, QDir(dir).filePath(QStringLiteral("ca/clients.pem")));
    QCOMPARE(s.serverNames,
             (QStringList{QStringLiteral("transcode.example.com"),
                          QStringLiteral("Farm-2.example.com"), QStringLiteral("localhost")}));
    QCOMPARE(s.corsOrigins, (QStringList{QStringLiteral("https://app.example.com"),
                                         QStringLiteral("http://localhost:8080"),
                                         QStringLiteral("https://[2001:db8::1]:8443")}));
    QCOMPARE(s.allowlist.toString(), QStringLiteral("10.0.0.0/8 2001:db8::/32 192.168.1.7/32"));
    QVERIFY(s.allowlist.allows(QHostAddress(QStringLiteral("10.200.0.1"))));
    QVERIFY(s.allowlist.allows(QHostAddress(QStringLiteral("192.168.1.7"))));
    QVERIFY(!s.allowlist.allows(QHostAddress(QStringLiteral("192.168.1.8"))));
    QCOMPARE(s.trustedProxies.toString(), QStringLiteral("10.0.0.5/32"));
    QVERIFY(s.trustedProxies.allows(QHostAddress(QStringLiteral("10.0.0.5"))));
    QVERIFY(!s.trustedProxies.allows(QHostAddress(QStringLiteral("10.0.0.6"))));

    // An absolute path is kept; an empty value means "not set".
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write("[api]\ntls_certificate =\ntls_private_key = /etc/framehouse/key.pem\n");
    file.close();
    const Expected<EngineSettings> paths = EngineSettings::load(path);
    VERIFY_EXPECTED(paths);
    QVERIFY(paths.value().tlsCertificate.isEmpty());
    QCOMPARE(paths.value().tlsPrivateKey, QStringLiteral("/etc/framehouse/key.pem"));

    const EngineSettings defaults;
    QCOMPARE(defaults.listen(), QStringLiteral("127.0.0.1:8443"));
    QVERIFY(defaults.apiEnabled);
    QVERIFY(defaults.tlsClientCa.isEmpty());
    QVERIFY(defaults.serverNames.isEmpty());
    QVERIFY(defaults.corsOrigins.isEmpty());
    QVERIFY(defaults.allowlist.isEmpty());
    QVERIFY(defaults.trustedProxies.isEmpty());

    // Empty lists are the defaults, not errors.
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write("[api]\nserver_names =\ncors_origins =\nallowlist =\ntrusted_proxies =\n");
    file.close();
    const Expected<EngineSettings> empty = EngineSettings::load(path);
    VERIFY_EXPECTED(empty);
    QVERIFY(empty.value().serverNames.isEmpty());
    QVERIFY(empty.value().corsOrigins.isEmpty());
    QVERIFY(empty.value().allowlist.isEmpty());
    QVERIFY(empty.value().trustedProxies.isEmpty());
}

void TestConfigGuard::loadRefuses_data()
{
    QTest::addColumn<QString>("ini");
    QTest::addColumn<QStringList>("mustContain"); // @FILE@ is the settings file
    QTest::addColumn<QString>("mustNotContain");

    QTest::newRow("unknown key") << QStringLiteral("[api]\nlisten_address = 127.0.0.1:1\n")
                                 << QStringList{QStringLiteral("@FILE@:2:"),
                                                QStringLiteral("unknown key \"listen_address\""),
                                                QStringLiteral("listen, enabled")}
                                 << QString();
    QTest::newRow("misspelt allowlist")
        << QStringLiteral("[api]\nallow_list = 10.0.0.0/8\n")
        << QStringList{QStringLiteral("\"allow_list\" in [api]")} << QString();
    // The API always authenticates; the old switch is refused, not ignored.
    QTest::newRow("authentication is an unknown key")
        << QStringLiteral("[api]\nauthentication = true\n")
        << QStringList{QStringLiteral("@FILE@:2: unknown key \"authentication\" in [api]"),
                       QStringLiteral("tls_client_ca, server_names, cors_origins, allowlist, "
                                      "trusted_proxies")}
        << QString();
    QTest::newRow("unknown key's value is not shown")
        << QStringLiteral("[api]\npepper = 9f86d081884c7d659a2feaa0c55ad015\n")
        << QStringList{QStringLiteral("unknown key \"pepper\" in [api]")}
        << QStringLiteral("9f86d081");
    QTest::newRow("unknown section")
        << QStringLiteral("[server]\nlisten = 1.2.3.4:5\n")
        << QStringList{QStringLiteral("@FILE@:1:"), QStringLiteral("[server]")} << QString();
    // Secrets live beside the store key, not in the settings file.
    QTest::newRow("[secrets] is an unknown section")
        << QStringLiteral("[api]\nlisten = 127.0.0.1:8443\n[secrets]\n"
                          "pepper_file = /etc/framehouse/pepper\n"
                          "audit_key_file = /etc/framehouse/audit.key\n")
        << QStringList{QStringLiteral("@FILE@:3: unknown section \"[secrets]\""),
                       QStringLiteral("the only section is [api]")}
        << QStringLiteral("/etc/framehouse/");
    QTest::newRow("key outside a section")
        << QStringLiteral("listen = 127.0.0.1:8443\n")
        << QStringList{QStringLiteral("listen is outside any section")} << QString();
    QTest::newRow("not key = value")
        << QStringLiteral("[api]\nlisten 127.0.0.1:8443\n")
        << QStringList{QStringLiteral("@FILE@:2: expected \"key = value\"")} << QString();
    QTest::newRow("key set twice")
        << QStringLiteral("[api]\nenabled = true\nenabled = false\n")
        << QStringList{QStringLiteral("@FILE@:3: [api] enabled is set twice (first on line 2)")}
        << QString();
    QTest::newRow("malformed boolean")
        << QStringLiteral("[api]\nenabled = maybe\n")
        << QStringList{QStringLiteral("@FILE@:2: [api] enabled: \"maybe\" is not a boolean")}
        << QString();
    QTest::newRow("listen without port")
        << QStringLiteral("[api]\nlisten = 127.0.0.1\n")
        << QStringList{QStringLiteral("[api] listen:"), QStringLiteral("has no port")} << QString();
    QTest::newRow("listen IPv6 without brackets")
        << QStringLiteral("[api]\nlisten = ::1:8443\n")
        << QStringList{QStringLiteral("[api] listen:"), QStringLiteral("needs brackets")}
        << QString();
    QTest::newRow("listen host name")
        << QStringLiteral("[api]\nlisten = localhost:8443\n")
        << QStringList{QStringLiteral("[api] listen:"), QStringLiteral("not an IP address")}
        << QString();
    QTest::newRow("listen bad IPv6")
        << QStringLiteral("[api]\nlisten = [::g]:8443\n")
        << QStringList{QStringLiteral("[api] listen:"), QStringLiteral("not an IPv6 address")}
        << QString();
    QTest::newRow("port too large") << QStringLiteral("[api]\nlisten = 127.0.0.1:65536\n")
                                    << QStringList{QStringLiteral("0 to 65535")} << QString();
    QTest::newRow("port not a number") << QStringLiteral("[api]\nlisten = 127.0.0.1:+80\n")
                                       << QStringList{QStringLiteral("0 to 65535")} << QString();
    // Host allowlist: bare host names only, and the good ones are not named.
    for (const char *name : {"bad_name.example", "*.example.com", "-lead.example", "a..b",
                             "trailing.example.", "https://x.example", "x.example:8443"}) {
        QTest::addRow("server_names %s", name)
            << QStringLiteral("[api]\nserver_names = good.example %1\n").arg(QLatin1String(name))
            << QStringList{QStringLiteral("@FILE@:2: [api] server_names: \"%1\" is not a host "
                                          "name")
                               .arg(QLatin1String(name))}
            << QStringLiteral("\"good.example\"");
    }
    QTest::newRow("server_names label too long")
        << QStringLiteral("[api]\nserver_names = %1.example\n").arg(QString(64, u'a'))
        << QStringList{QStringLiteral("is not a host name")} << QString();
    // Origins as a browser sends them: scheme, host and port, nothing else.
    for (const char *origin :
         {"*", "https://a.example/path", "null", "ftp://x", "https://app.example.com/",
          "https://*.example.com", "app.example.com", "https://user@app.example.com"}) {
        QTest::addRow("cors_origins %s", origin)
            << QStringLiteral("[api]\ncors_origins = https://good.example %1\n")
                   .arg(QLatin1String(origin))
            << QStringList{QStringLiteral("@FILE@:2: [api] cors_origins: \"%1\" is not an "
                                          "origin like https://app.example.com (no path, no "
                                          "wildcard)")
                               .arg(QLatin1String(origin))}
            << QStringLiteral("\"https://good.example\"");
    }
    QTest::newRow("allowlist malformed entry")
        << QStringLiteral("[api]\nallowlist = 10.0.0.0/8, 10.0.0.300\n")
        << QStringList{QStringLiteral("@FILE@:2: [api] allowlist: '10.0.0.300' is not an IPv4 or "
                                      "IPv6 address or CIDR range")}
        << QString();
    QTest::newRow("allowlist prefix too long")
        << QStringLiteral("[api]\nallowlist = 10.0.0.0/33\n")
        << QStringList{QStringLiteral("[api] allowlist: '10.0.0.0/33'")} << QString();
    QTest::newRow("allowlist shorthand address")
        << QStringLiteral("[api]\nallowlist = 10/8\n")
        << QStringList{QStringLiteral("[api] allowlist: '10/8'")} << QString();
    QTest::newRow("trusted_proxies host name")
        << QStringLiteral("[api]\nlisten = 0.0.0.0:8443\ntrusted_proxies = 10.0.0.5 "
                          "proxy.example\n")
        << QStringList{QStringLiteral("@FILE@:3: [api] trusted_proxies: 'proxy.example' is not "
                                      "an IPv4 or IPv6 address or CIDR range")}
        << QString();
    QTest::newRow("trusted_proxies bad IPv6 range")
        << QStringLiteral("[api]\ntrusted_proxies = 2001:db8::/129\n")
        << QStringList{QStringLiteral("[api] trusted_proxies: '2001:db8::/129'")} << QString();
    QTest::newRow("every error reported")
        << QStringLiteral("[api]\nenabled = perhaps\nlisten = nowhere\nbogus = 1\n"
                          "server_names = a_b\ncors_origins = *\nallowlist = x\n"
                          "trusted_proxies = y\n")
        << QStringList{QStringLiteral("@FILE@:2:"), QStringLiteral("@FILE@:3:"),
                       QStringLiteral("@FILE@:4:"), QStringLiteral("@FILE@:5:"),
                       QStringLiteral("@FILE@:6:"), QStringLiteral("@FILE@:7:"),
                       QStringLiteral("@FILE@:8:")}
        << QString();
}

void TestConfigGuard::loadRefuses()
{
    QFETCH(QString, ini);
    QFETCH(QStringList, mustContain);
    QFETCH(QString, mustNotContain);
    const QString path = QDir(freshDir()).filePath(QStringLiteral("engine.conf"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(ini.toUtf8());
    file.close();
    const Expected<EngineSettings> loaded = EngineSettings::load(path);
    QVERIFY(!loaded.ok());
    for (QString text : mustContain) {
        text.replace(QStringLiteral("@FILE@"), path);
        QVERIFY2(loaded.error().contains(text), qPrintable(loaded.error()));
    }
    if (!mustNotContain.isEmpty())
        QVERIFY2(!loaded.error().contains(mustNotContain), qPrintable(loaded.error()));
}

void TestConfigGuard::describeFormatsOneLinePerProblem()
{
    QCOMPARE(ConfigGuard::describe({}), QString());
    const QString text =
        ConfigGuard::describe({{QStringLiteral("first problem"), QStringLiteral("first fix")},
                               {QStringLiteral("second problem"), QStringLiteral("second fix")}});
    QCOMPARE(text, QStringLiteral("first problem \u2014 fix: first fix\n"
                                  "second problem \u2014 fix: second fix"));

    // A path with a newline in it still gives one line, and the fix quotes
    // it for the shell.
    const QString dir = freshDir();
    const QString path = QDir(dir).filePath(QStringLiteral("odd\nname's key"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(randomHex());
    file.close();
    QCOMPARE(::chmod(QFile::encodeName(path).constData(), 0644), 0);
    const QList<ConfigGuard::Problem> problems =
        ConfigGuard::check(EngineSettings{}, {{QStringLiteral("store key file"), path, false, {}}});
    QCOMPARE(problems.size(), 1);
    const QString described = ConfigGuard::describe(problems);
    QVERIFY2(!described.contains(u'\n'), qPrintable(described));
    QVERIFY2(described.contains(QStringLiteral("chmod 600 '") + dir +
                                QStringLiteral("/odd\\nname'\"'\"'s key'")),
             qPrintable(described));
    QVERIFY(described.contains(QStringLiteral(" \u2014 fix: ")));
}

QTEST_GUILESS_MAIN(TestConfigGuard)
#include "tst_configguard.moc"
