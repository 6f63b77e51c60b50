#include "security/keychainsecretslot.h"
#include "store/storemaintenance.h"
#include "testsupport.h"

#include <QEventLoop>
#include <QFile>
#include <QSqlQuery>
#include <QTest>

// Runs inside its own D-Bus session with an unlocked gnome-keyring
// (support/with-keyring.sh): the real Secret Service, no stand-in.
class TestKeychain : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void slotRoundTrip();
    void storeKeyLivesInKeychain();
    void keysAndAuditSecretsLiveInKeychain();
    void missingEntryNeverRecreatesStore();
    void noDbusSessionExplainsKeyFile();

private:
    Expected<std::optional<QByteArray>> readSlot(const SecretSlot &slot);
    Expected<void> writeSlot(const SecretSlot &slot, const QByteArray &data);
    Expected<void> removeSlot(const SecretSlot &slot);
    QTemporaryDir m_dir;
};

void TestKeychain::initTestCase()
{
    QVERIFY2(!qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS"),
             "run through tests/support/with-keyring.sh");
    qunsetenv("FRAMEHOUSE_KEY_FILE");
    qunsetenv("CREDENTIALS_DIRECTORY");
}

Expected<std::optional<QByteArray>> TestKeychain::readSlot(const SecretSlot &slot)
{
    std::optional<Expected<std::optional<QByteArray>>> result;
    QEventLoop loop;
    slot.read(&loop, [&](Expected<std::optional<QByteArray>> r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec();
    return std::move(*result);
}

Expected<void> TestKeychain::writeSlot(const SecretSlot &slot, const QByteArray &data)
{
    std::optional<Expected<void>> result;
    QEventLoop loop;
    slot.write(data, &loop, [&](Expected<void> r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec();
    return *result;
}

Expected<void> TestKeychain::removeSlot(const SecretSlot &slot)
{
    std::optional<Expected<void>> result;
    QEventLoop loop;
    slot.remove(&loop, [&](Expected<void> r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec();
    return *result;
}

void TestKeychain::slotRoundTrip()
{
    KeychainSecretSlot slot(QStringLiteral("test-entry"));
    QVERIFY(!readSlot(slot).value().has_value());
    const QByteArray secret("0123456789abcdef\n\0binary", 25);
    const Expected<void> written = writeSlot(slot, secret);
    QVERIFY2(written.ok(), written.ok() ? "" : qPrintable(written.error()));
    QCOMPARE(*readSlot(slot).value(), secret);
    QVERIFY(removeSlot(slot).ok());
    QVERIFY(!readSlot(slot).value().has_value());
    QVERIFY(removeSlot(slot).ok()); // removing twice is fine
}

void TestKeychain::storeKeyLivesInKeychain()
{
    const QString dir = m_dir.filePath(QStringLiteral("desktop"));
    StoreRequest request{dir, QString(), true, true};
    Expected<OpenedStore> created = TestSupport::openStore(request);
    QVERIFY2(created.ok(), created.ok() ? "" : qPrintable(created.error()));
    QVERIFY(created->created);
    QCOMPARE(created->keySource->kind(), StoreKeySource::Kind::Keychain);
    const QString id = created->storeId;
    {
        QSqlQuery q(created->store->connection().value());
        QVERIFY(q.exec(QStringLiteral("INSERT INTO settings VALUES ('k', 'v', 0)")));
    }
    const auto stored = readSlot(KeychainSecretSlot(QStringLiteral("store-") + id));
    QVERIFY(stored.ok() && stored.value().has_value());
    QVERIFY(SecretKey::fromHex(*stored.value()).value() == *created->key);
    created = fail(QString()); // close and unlock

    // Rekey through the keychain, then reopen with the new entry.
    request.createIfMissing = false;
    Expected<OpenedStore> opened = TestSupport::openStore(request);
    QVERIFY(opened.ok());
    std::optional<Expected<void>> rekeyed;
    QEventLoop loop;
    StoreMaintenance::rekey(opened.value(), &loop, [&](Expected<void> r) {
        rekeyed.emplace(r);
        loop.quit();
    });
    if (!rekeyed)
        loop.exec();
    QVERIFY2(rekeyed->ok(), rekeyed->ok() ? "" : qPrintable(rekeyed->error()));
    const SecretKey newKey = *opened->key;
    opened = fail(QString());
    QVERIFY(SecretKey::fromHex(*readSlot(KeychainSecretSlot(QStringLiteral("store-") + id)).value())
                .value() == newKey);
    QVERIFY(
        !readSlot(KeychainSecretSlot(QStringLiteral("store-") + id + QStringLiteral(".pending")))
             .value()
             .has_value());
    opened = TestSupport::openStore(request);
    QVERIFY(opened.ok());
    QSqlQuery q(opened->store->connection().value());
    QVERIFY(q.exec(QStringLiteral("SELECT value FROM settings WHERE key = 'k'")) && q.next());
    QCOMPARE(q.value(0).toString(), QStringLiteral("v"));
}

// The pepper, the audit key and the audit anchor sit in the keychain
// beside the store key, and framehousectl uses them across processes.
void TestKeychain::keysAndAuditSecretsLiveInKeychain()
{
    const QString dir = m_dir.filePath(QStringLiteral("desktop-keys"));
    const QStringList store{QStringLiteral("--store"), dir};
    TestSupport::Run run =
        TestSupport::runCtl(QStringList{QStringLiteral("store"), QStringLiteral("init")} + store);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    run = TestSupport::runCtl(QStringList{QStringLiteral("keys"), QStringLiteral("create"),
                                          QStringLiteral("--name"), QStringLiteral("desk"),
                                          QStringLiteral("--owner-id"), QStringLiteral("u1"),
                                          QStringLiteral("--scopes"), QStringLiteral("admin")} +
                              store);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    run =
        TestSupport::runCtl(QStringList{QStringLiteral("audit"), QStringLiteral("verify")} + store);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));

    QFile idFile(dir + QStringLiteral("/store.id"));
    QVERIFY(idFile.open(QIODevice::ReadOnly));
    const QString id = QString::fromLatin1(idFile.readAll().trimmed());
    for (const char *name : {"api-key-pepper-", "audit-key-"}) {
        const auto secret = readSlot(KeychainSecretSlot(QString::fromLatin1(name) + id));
        QVERIFY2(secret.ok() && secret.value().has_value(), name);
        QVERIFY(SecretKey::fromHex(*secret.value()).ok());
    }
    // The anchor names the newest record (audit.verified, after store.opened
    // and key.created).
    const auto anchor = readSlot(KeychainSecretSlot(QStringLiteral("audit-anchor-") + id));
    QVERIFY(anchor.ok() && anchor.value().has_value());
    QVERIFY2(anchor.value()->startsWith("3 "), anchor.value()->constData());
    // Without the anchor entry the log can no longer prove its length.
    QVERIFY(removeSlot(KeychainSecretSlot(QStringLiteral("audit-anchor-") + id)).ok());
    run =
        TestSupport::runCtl(QStringList{QStringLiteral("audit"), QStringLiteral("verify")} + store);
    QCOMPARE(run.exitCode, 3);
}

void TestKeychain::missingEntryNeverRecreatesStore()
{
    const QString dir = m_dir.filePath(QStringLiteral("lost-key"));
    StoreRequest request{dir, QString(), true, true};
    QString id;
    {
        Expected<OpenedStore> created = TestSupport::openStore(request);
        QVERIFY(created.ok());
        id = created->storeId;
    }
    const QByteArray before = TestSupport::readRaw(dir + QStringLiteral("/framehouse.db"));
    QVERIFY(removeSlot(KeychainSecretSlot(QStringLiteral("store-") + id)).ok());
    const Expected<OpenedStore> again = TestSupport::openStore(request);
    QVERIFY(!again.ok());
    QVERIFY2(again.error().contains(QStringLiteral("holds no key")), qPrintable(again.error()));
    QVERIFY(again.error().contains(QStringLiteral("--key-file")));
    QCOMPARE(TestSupport::readRaw(dir + QStringLiteral("/framehouse.db")), before);
}

void TestKeychain::noDbusSessionExplainsKeyFile()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"));
    env.remove(QStringLiteral("DISPLAY"));
    env.insert(QStringLiteral("XDG_RUNTIME_DIR"), m_dir.filePath(QStringLiteral("no-runtime")));
    const TestSupport::Run run =
        TestSupport::runCtl({QStringLiteral("store"), QStringLiteral("init"),
                             QStringLiteral("--store"), m_dir.filePath(QStringLiteral("headless"))},
                            env);
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("no D-Bus session bus")), qPrintable(run.err));
    QVERIFY(run.err.contains(QStringLiteral("--key-file")));
    QVERIFY(!QFile::exists(m_dir.filePath(QStringLiteral("headless/framehouse.db"))));
}

QTEST_GUILESS_MAIN(TestKeychain)
#include "tst_keychain.moc"
