#include "testsupport.h"

#include <QDir>
#include <QProcess>
#include <QRandomGenerator>
#include <QSqlQuery>
#include <QTest>

#include <csignal>
#include <sys/stat.h>

// framehousectl store ... and framehoused, run as real processes.
class TestStoreCommands : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void initCreatesPrivateFiles();
    void lockRefusesSecondEngine();
    void backupRestoreRoundTrip();
    void backupWithOwnKey();
    void restoreRefusesDamagedBackup();
    void rekeyRoundTrip();
    void rekeyInterruptedBySigkill();
    void keyFilePermissionsRefused();
    void missingStoreIsNotCreatedByCheck();
    void systemdCredentialAndEnvironment();
    void rekeyAndRestoreWaitForReaders();
    void checkFindsDamagedPages();
    void interruptedRestoreIsRolledBack();

private:
    QStringList storeArgs() const
    {
        return {QStringLiteral("--store"), m_store, QStringLiteral("--key-file"), m_key};
    }
    TestSupport::Run ctl(const QString &command, const QStringList &extra = {}) const
    {
        return TestSupport::runCtl(QStringList{QStringLiteral("store"), command} + storeArgs() +
                                   extra);
    }
    void insertMarker(const QString &value);
    QStringList markers();

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_store;
    QString m_key;
};

void TestStoreCommands::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    m_store = m_dir->filePath(QStringLiteral("store"));
    m_key = m_dir->filePath(QStringLiteral("store.key"));
    const TestSupport::Run run = ctl(QStringLiteral("init"));
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
}

void TestStoreCommands::insertMarker(const QString &value)
{
    StoreRequest request{m_store, m_key, false, true};
    Expected<OpenedStore> opened = TestSupport::openStore(request);
    QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error()));
    QSqlQuery q(opened->store->connection().value());
    q.prepare(QStringLiteral("INSERT INTO settings VALUES (?, 'm', 0)"));
    q.addBindValue(value);
    QVERIFY(q.exec());
}

QStringList TestStoreCommands::markers()
{
    StoreRequest request{m_store, m_key, false, true};
    Expected<OpenedStore> opened = TestSupport::openStore(request);
    if (!opened)
        return {QStringLiteral("open failed: ") + opened.error()};
    QSqlQuery q(opened->store->connection().value());
    q.exec(QStringLiteral("SELECT key FROM settings WHERE value = 'm' ORDER BY key"));
    QStringList out;
    while (q.next())
        out << q.value(0).toString();
    return out;
}

void TestStoreCommands::initCreatesPrivateFiles()
{
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(m_store).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0700u);
    for (const QString &file : QStringList{m_store + QStringLiteral("/framehouse.db"), m_key}) {
        QCOMPARE(::stat(QFile::encodeName(file).constData(), &st), 0);
        QCOMPARE(st.st_mode & 0777, 0600u);
    }
    const TestSupport::Run again = ctl(QStringLiteral("init"));
    QCOMPARE(again.exitCode, 0);
    QVERIFY(again.out.contains(QStringLiteral("already exists")));
    const TestSupport::Run check = ctl(QStringLiteral("check"));
    QCOMPARE(check.exitCode, 0);
    QVERIFY(check.out.startsWith(QStringLiteral("ok:")));
    const TestSupport::Run info = ctl(QStringLiteral("info"));
    QCOMPARE(info.exitCode, 0);
    QVERIFY(info.out.contains(QStringLiteral("journal mode           wal")));
    QVERIFY(info.out.contains(QStringLiteral("secure delete          1")));
}

void TestStoreCommands::lockRefusesSecondEngine()
{
    QProcess engine;
    engine.setProcessChannelMode(QProcess::SeparateChannels);
    engine.start(QStringLiteral(FRAMEHOUSED_PATH), storeArgs() + TestSupport::anyApiPort());
    QVERIFY(engine.waitForStarted());
    QByteArray said;
    QTRY_VERIFY2_WITH_TIMEOUT((said += engine.readAllStandardError()).contains(" open, "),
                              said.constData(), 20000);

    QProcess second;
    second.start(QStringLiteral(FRAMEHOUSED_PATH), storeArgs() + TestSupport::anyApiPort());
    QVERIFY(second.waitForFinished(20000));
    QCOMPARE(second.exitCode(), 1);
    const QString message = QString::fromUtf8(second.readAllStandardError());
    QVERIFY2(message.contains(QStringLiteral("in use by process %1").arg(engine.processId())),
             qPrintable(message));

    const TestSupport::Run rekey = ctl(QStringLiteral("rekey"));
    QCOMPARE(rekey.exitCode, 1);
    QVERIFY(rekey.err.contains(QString::number(engine.processId())));
    // Reading alongside the engine is allowed.
    QCOMPARE(ctl(QStringLiteral("check")).exitCode, 0);

    engine.terminate();
    QVERIFY(engine.waitForFinished(20000));
    QCOMPARE(engine.exitCode(), 0);
    QCOMPARE(ctl(QStringLiteral("rekey")).exitCode, 0);

    // A lock left by a killed engine does not block the next one.
    engine.start(QStringLiteral(FRAMEHOUSED_PATH), storeArgs() + TestSupport::anyApiPort());
    said.clear();
    QTRY_VERIFY2_WITH_TIMEOUT((said += engine.readAllStandardError()).contains(" open, "),
                              said.constData(), 20000);
    engine.kill();
    QVERIFY(engine.waitForFinished());
    QCOMPARE(ctl(QStringLiteral("rekey")).exitCode, 0);
}

void TestStoreCommands::backupRestoreRoundTrip()
{
    insertMarker(QStringLiteral("before-backup"));
    const QString backup = m_dir->filePath(QStringLiteral("backup.db"));
    TestSupport::Run run = ctl(QStringLiteral("backup"), {QStringLiteral("--output"), backup});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(backup).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0600u);
    QVERIFY(!TestSupport::readRaw(backup).startsWith("SQLite format 3"));
    QVERIFY(!TestSupport::readRaw(backup).contains("before-backup"));
    QVERIFY(!QFile::exists(backup + QStringLiteral(".partial")));
    // Never overwrites an existing file.
    QCOMPARE(ctl(QStringLiteral("backup"), {QStringLiteral("--output"), backup}).exitCode, 1);

    insertMarker(QStringLiteral("after-backup"));
    QCOMPARE(markers().size(), 2);
    run = ctl(QStringLiteral("restore"), {QStringLiteral("--input"), backup});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QCOMPARE(markers(), QStringList{QStringLiteral("before-backup")});
    QVERIFY(!QFile::exists(m_store + QStringLiteral("/framehouse.db.pre-restore")));
    QCOMPARE(ctl(QStringLiteral("check")).exitCode, 0);
    // The restored audit log is older than the anchor was; restore resets the
    // anchor to it, records where the log had reached, and it verifies.
    const TestSupport::Run verify = TestSupport::runCtl(
        QStringList{QStringLiteral("audit"), QStringLiteral("verify")} + storeArgs());
    QVERIFY2(verify.exitCode == 0, qPrintable(verify.err));
    const TestSupport::Run tail = TestSupport::runCtl(
        QStringList{QStringLiteral("audit"), QStringLiteral("tail")} + storeArgs());
    QVERIFY(tail.out.contains(QStringLiteral("store.restored")));
    QVERIFY(tail.out.contains(QStringLiteral("previous_anchor_seq")));
}

void TestStoreCommands::backupWithOwnKey()
{
    insertMarker(QStringLiteral("own-key"));
    const QString backup = m_dir->filePath(QStringLiteral("backup.db"));
    const QString backupKey = m_dir->filePath(QStringLiteral("backup.key"));
    TestSupport::Run run =
        ctl(QStringLiteral("backup"),
            {QStringLiteral("--output"), backup, QStringLiteral("--backup-key-file"), backupKey});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QVERIFY(!(TestSupport::readKeyFile(backupKey) == TestSupport::readKeyFile(m_key)));
    // The store key does not open it; its own key does.
    run = ctl(QStringLiteral("restore"), {QStringLiteral("--input"), backup});
    QCOMPARE(run.exitCode, 1);
    QVERIFY(run.err.contains(QStringLiteral("not restored")));
    insertMarker(QStringLiteral("later"));
    run = ctl(QStringLiteral("restore"),
              {QStringLiteral("--input"), backup, QStringLiteral("--backup-key-file"), backupKey});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QCOMPARE(markers(), QStringList{QStringLiteral("own-key")});
}

void TestStoreCommands::restoreRefusesDamagedBackup()
{
    insertMarker(QStringLiteral("keep-me"));
    const QString backup = m_dir->filePath(QStringLiteral("backup.db"));
    QCOMPARE(ctl(QStringLiteral("backup"), {QStringLiteral("--output"), backup}).exitCode, 0);
    QFile file(backup);
    QVERIFY(file.open(QIODevice::ReadWrite));
    file.seek(4096 + 100); // inside page 2
    file.write("corruption");
    file.close();
    const TestSupport::Run run =
        ctl(QStringLiteral("restore"), {QStringLiteral("--input"), backup});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("not restored")), qPrintable(run.err));
    QCOMPARE(markers(), QStringList{QStringLiteral("keep-me")});
}

void TestStoreCommands::rekeyRoundTrip()
{
    insertMarker(QStringLiteral("survives-rekey"));
    const QByteArray oldKey = TestSupport::readRaw(m_key);
    const TestSupport::Run run = ctl(QStringLiteral("rekey"));
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QVERIFY(TestSupport::readRaw(m_key) != oldKey);
    QVERIFY(!QFile::exists(m_key + QStringLiteral(".pending")));
    QCOMPARE(markers(), QStringList{QStringLiteral("survives-rekey")});
    // The old key no longer opens the store.
    const QString old = m_dir->filePath(QStringLiteral("old.key"));
    QFile f(old);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(oldKey);
    f.close();
    QVERIFY(f.setPermissions(QFile::ReadOwner | QFile::WriteOwner));
    const TestSupport::Run stale = TestSupport::runCtl(
        {QStringLiteral("store"), QStringLiteral("check"), QStringLiteral("--store"), m_store,
         QStringLiteral("--key-file"), old});
    QCOMPARE(stale.exitCode, 1);
    QVERIFY(stale.err.contains(QStringLiteral("wrong key")));
}

void TestStoreCommands::rekeyInterruptedBySigkill()
{
    insertMarker(QStringLiteral("a"));
    QRandomGenerator random(4242);
    int interrupted = 0;
    for (int round = 0; round < 30; ++round) {
        QProcess rekey;
        rekey.start(QStringLiteral(FRAMEHOUSECTL_PATH),
                    QStringList{QStringLiteral("store"), QStringLiteral("rekey")} + storeArgs());
        QVERIFY(rekey.waitForStarted());
        QTest::qSleep(static_cast<int>(random.bounded(0, 60)));
        ::kill(static_cast<pid_t>(rekey.processId()), SIGKILL);
        QVERIFY(rekey.waitForFinished());
        if (rekey.exitStatus() == QProcess::CrashExit)
            ++interrupted;
        // Whatever the moment, the store opens and holds its data.
        const TestSupport::Run check = ctl(QStringLiteral("check"));
        QVERIFY2(check.exitCode == 0, qPrintable(check.err));
        QCOMPARE(markers(), QStringList{QStringLiteral("a")});
        QVERIFY(!QFile::exists(m_key + QStringLiteral(".pending")));
        QVERIFY(!QFile::exists(m_store + QStringLiteral("/framehouse.db.rekey")));
    }
    qInfo("%d of 30 rekeys were killed before they finished", interrupted);
    QVERIFY(interrupted > 0);
}

void TestStoreCommands::keyFilePermissionsRefused()
{
    QCOMPARE(::chmod(QFile::encodeName(m_key).constData(), 0644), 0);
    const TestSupport::Run run = ctl(QStringLiteral("check"));
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("chmod 600 ") + m_key), qPrintable(run.err));
    QCOMPARE(::chmod(QFile::encodeName(m_key).constData(), 0600), 0);
    QCOMPARE(ctl(QStringLiteral("check")).exitCode, 0);
}

void TestStoreCommands::missingStoreIsNotCreatedByCheck()
{
    const QString elsewhere = m_dir->filePath(QStringLiteral("nothing-here"));
    const TestSupport::Run run = TestSupport::runCtl(
        {QStringLiteral("store"), QStringLiteral("check"), QStringLiteral("--store"), elsewhere,
         QStringLiteral("--key-file"), m_key});
    QCOMPARE(run.exitCode, 1);
    QVERIFY(run.err.contains(QStringLiteral("store init")));
    QVERIFY(!QFile::exists(elsewhere));
}

void TestStoreCommands::systemdCredentialAndEnvironment()
{
    // As under systemd: no --key-file, the key in $CREDENTIALS_DIRECTORY,
    // the store named by FRAMEHOUSE_STORE.
    const QString credentials = m_dir->filePath(QStringLiteral("credentials"));
    QVERIFY(QDir().mkpath(credentials));
    QVERIFY(QFile::copy(m_key, credentials + QStringLiteral("/store-key")));
    QVERIFY(QFile::setPermissions(credentials + QStringLiteral("/store-key"), QFile::ReadOwner));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("FRAMEHOUSE_KEY_FILE"));
    env.remove(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"));
    env.insert(QStringLiteral("CREDENTIALS_DIRECTORY"), credentials);
    env.insert(QStringLiteral("FRAMEHOUSE_STORE"), m_store);
    TestSupport::Run run =
        TestSupport::runCtl({QStringLiteral("store"), QStringLiteral("info")}, env);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QVERIFY(run.out.contains(credentials + QStringLiteral("/store-key")));
    QVERIFY(run.out.contains(m_store));
    // Framehouse cannot rotate a key that systemd hands it.
    run = TestSupport::runCtl({QStringLiteral("store"), QStringLiteral("rekey")}, env);
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("update the systemd credential")),
             qPrintable(run.err));
    // --key-file wins over the credential, and FRAMEHOUSE_KEY_FILE works too.
    const QString wrong = m_dir->filePath(QStringLiteral("wrong.key"));
    TestSupport::writeKeyFile(wrong);
    env.insert(QStringLiteral("FRAMEHOUSE_KEY_FILE"), wrong);
    run = TestSupport::runCtl({QStringLiteral("store"), QStringLiteral("check")}, env);
    QCOMPARE(run.exitCode, 1);
    QVERIFY(run.err.contains(QStringLiteral("wrong key")));
    run = TestSupport::runCtl(
        {QStringLiteral("store"), QStringLiteral("check"), QStringLiteral("--key-file"), m_key},
        env);
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
}

void TestStoreCommands::rekeyAndRestoreWaitForReaders()
{
    const QString backup = m_dir->filePath(QStringLiteral("backup.db"));
    QCOMPARE(ctl(QStringLiteral("backup"), {QStringLiteral("--output"), backup}).exitCode, 0);
    {
        // A reader (like a running check or backup) holds the store open.
        StoreRequest request{m_store, m_key, false, false};
        Expected<OpenedStore> reader = TestSupport::openStore(request);
        QVERIFY2(reader.ok(), reader.ok() ? "" : qPrintable(reader.error()));
        const QByteArray key = TestSupport::readRaw(m_key);
        TestSupport::Run run = ctl(QStringLiteral("rekey"));
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains(QStringLiteral("being read")), qPrintable(run.err));
        QCOMPARE(TestSupport::readRaw(m_key), key);
        run = ctl(QStringLiteral("restore"), {QStringLiteral("--input"), backup});
        QCOMPARE(run.exitCode, 1);
        QVERIFY(run.err.contains(QStringLiteral("being read")));
        QCOMPARE(ctl(QStringLiteral("check")).exitCode, 0); // readers share
    }
    QCOMPARE(ctl(QStringLiteral("rekey")).exitCode, 0);
}

void TestStoreCommands::checkFindsDamagedPages()
{
    for (int i = 0; i < 300; ++i)
        insertMarker(QStringLiteral("row-%1").arg(i));
    QFile file(m_store + QStringLiteral("/framehouse.db"));
    QVERIFY(file.size() > 3 * 4096);
    QVERIFY(file.open(QIODevice::ReadWrite));
    file.seek(2 * 4096 + 200); // inside page 3
    file.write("flipped bytes");
    file.close();
    const TestSupport::Run run = ctl(QStringLiteral("check"));
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("failed its check")), qPrintable(run.err));
    QVERIFY(run.err.contains(QStringLiteral("cipher:")));
}

void TestStoreCommands::interruptedRestoreIsRolledBack()
{
    insertMarker(QStringLiteral("original"));
    // The state a restore killed between its two renames leaves behind.
    const QString db = m_store + QStringLiteral("/framehouse.db");
    QVERIFY(QFile::rename(db, db + QStringLiteral(".pre-restore")));
    QVERIFY(QFile::copy(db + QStringLiteral(".pre-restore"), db + QStringLiteral(".restore")));
    QCOMPARE(markers(), QStringList{QStringLiteral("original")});
    QVERIFY(!QFile::exists(db + QStringLiteral(".pre-restore")));
    QVERIFY(!QFile::exists(db + QStringLiteral(".restore")));
    QCOMPARE(ctl(QStringLiteral("check")).exitCode, 0);
}

QTEST_GUILESS_MAIN(TestStoreCommands)
#include "tst_storecommands.moc"
