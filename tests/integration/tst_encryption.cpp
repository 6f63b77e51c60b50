#include "testsupport.h"

#include <QProcess>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTest>

// The store file is really encrypted: no header, no plaintext anywhere in
// the database or its WAL, unreadable without the key.
class TestEncryption : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void headerIsNotSqlite();
    void markerNeverInFileOrWal();
    void plainSqliteCannotRead();
    void wrongKeyIsClearErrorAndLeavesStore();

private:
    QTemporaryDir m_dir;
    QString m_store;
    QString m_keyFile;
    QString m_db;
    OpenedStore m_opened; // kept open so that the WAL stays on disk
    const QString m_marker = QStringLiteral("FRAMEHOUSE-PLAINTEXT-MARKER-7f3a");
};

void TestEncryption::initTestCase()
{
    m_store = m_dir.filePath(QStringLiteral("store"));
    m_keyFile = m_dir.filePath(QStringLiteral("store.key"));
    m_db = m_store + QStringLiteral("/framehouse.db");
    m_opened = TestSupport::createStore(m_store, m_keyFile);
    QSqlDatabase db = m_opened.store->connection().value();
    QSqlQuery q(db);
    QVERIFY(q.prepare(QStringLiteral("INSERT INTO settings VALUES (?, ?, 0)")));
    for (int i = 0; i < 200; ++i) {
        q.addBindValue(QStringLiteral("marker.%1").arg(i));
        q.addBindValue(m_marker);
        QVERIFY(q.exec());
    }
}

void TestEncryption::headerIsNotSqlite()
{
    const QByteArray raw = TestSupport::readRaw(m_db);
    QVERIFY(raw.size() >= 4096);
    QVERIFY(!raw.startsWith(QByteArray("SQLite format 3\0", 16)));
}

void TestEncryption::markerNeverInFileOrWal()
{
    // The rows are in the WAL until a checkpoint; look at both.
    const QByteArray wal = TestSupport::readRaw(m_db + QStringLiteral("-wal"));
    QVERIFY2(wal.size() > 0, "the test expects the rows to be in the WAL");
    for (const QByteArray &raw : {TestSupport::readRaw(m_db), wal}) {
        QVERIFY(!raw.contains(m_marker.toUtf8()));
        QVERIFY(!raw.contains("MARKER"));
        QVERIFY(!raw.contains("CREATE TABLE"));
    }
}

void TestEncryption::plainSqliteCannotRead()
{
    const QString sqlite3 = QStandardPaths::findExecutable(QStringLiteral("sqlite3"));
    QVERIFY2(!sqlite3.isEmpty(), "sqlite3 is installed by setup.sh");
    QProcess process;
    process.start(sqlite3, {m_db, QStringLiteral("SELECT count(*) FROM settings;")});
    QVERIFY(process.waitForFinished());
    QVERIFY(process.exitCode() != 0);
    QVERIFY2(process.readAllStandardError().contains("not a database"), "sqlite3 must refuse");
}

void TestEncryption::wrongKeyIsClearErrorAndLeavesStore()
{
    const QByteArray before = TestSupport::readRaw(m_db);
    const QString wrongKey = m_dir.filePath(QStringLiteral("wrong.key"));
    TestSupport::writeKeyFile(wrongKey);
    StoreRequest request;
    request.directory = m_store;
    request.keyFile = wrongKey;
    request.createIfMissing = true; // even so, never a new store over the old one
    request.exclusive = false;      // the store is held open above
    const Expected<OpenedStore> opened = TestSupport::openStore(request);
    QVERIFY(!opened.ok());
    QVERIFY2(opened.error().contains(QStringLiteral("wrong key")), qPrintable(opened.error()));
    QVERIFY(opened.error().contains(QStringLiteral("left untouched")));
    QCOMPARE(TestSupport::readRaw(m_db), before);

    const TestSupport::Run run = TestSupport::runCtl(
        {QStringLiteral("store"), QStringLiteral("check"), QStringLiteral("--store"), m_store,
         QStringLiteral("--key-file"), wrongKey});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains(QStringLiteral("wrong key")), qPrintable(run.err));
    QVERIFY(!run.err.contains(QStringLiteral("hmac"))); // no library noise
}

QTEST_GUILESS_MAIN(TestEncryption)
#include "tst_encryption.moc"
