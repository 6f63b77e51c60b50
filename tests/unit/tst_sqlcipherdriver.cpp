#include "store/sqlcipherdriver.h"
#include "store/store.h"

#include <QFile>
#include <QRandomGenerator>
#include <QSqlError>
#include <QSqlField>
#include <QSqlIndex>
#include <QSqlQuery>
#include <QSqlQueryModel>
#include <QSqlRecord>
#include <QTemporaryDir>
#include <QTest>

class TestSqlCipherDriver : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void roundTripsTypes_data();
    void roundTripsTypes();
    void rewritesNamedPlaceholders();
    void describesTables();
    void transactionsCommitAndRollBack();
    void reportsInsertIdsAndAffectedRows();
    void mapsErrorsWithSqliteMessage();
    void rejectsSeveralStatements();
    void modelSeeksBackAndForth();
    void forwardOnlyKeepsOneRow();
    void waitsThenReportsBusy();
    void refusesToOpenWithoutKey();
    void neverLoadsStockSqlitePlugin();

private:
    QSqlDatabase open(const QString &options = {});
    QTemporaryDir m_dir;
    QString m_path;
    std::optional<SecretKey> m_key;
    QList<QSqlDatabase> m_open;
};

void TestSqlCipherDriver::init()
{
    m_path = m_dir.filePath(QStringLiteral("t%1.db").arg(QRandomGenerator::global()->generate()));
    m_key = SecretKey::generate();
}

void TestSqlCipherDriver::cleanup()
{
    for (QSqlDatabase &db : m_open)
        Store::closeExtra(db);
    m_open.clear();
}

QSqlDatabase TestSqlCipherDriver::open(const QString &options)
{
    Expected<QSqlDatabase> db = Store::openExtra(m_path, *m_key, options);
    if (!db)
        qFatal("open: %s", qPrintable(db.error()));
    m_open << db.value();
    return db.value();
}

void TestSqlCipherDriver::roundTripsTypes_data()
{
    QTest::addColumn<QVariant>("value");
    QTest::addColumn<QVariant>("expected");
    QTest::newRow("int") << QVariant(42) << QVariant(qlonglong(42));
    QTest::newRow("int64 max") << QVariant(std::numeric_limits<qint64>::max())
                               << QVariant(std::numeric_limits<qint64>::max());
    QTest::newRow("negative") << QVariant(-7LL) << QVariant(-7LL);
    QTest::newRow("bool") << QVariant(true) << QVariant(qlonglong(1));
    QTest::newRow("double") << QVariant(3.25) << QVariant(3.25);
    QTest::newRow("text") << QVariant(QStringLiteral("hello")) << QVariant(QStringLiteral("hello"));
    QTest::newRow("unicode") << QVariant(QStringLiteral("Grüße – 映像 🎞"))
                             << QVariant(QStringLiteral("Grüße – 映像 🎞"));
    QTest::newRow("empty text") << QVariant(QString(u""_qs)) << QVariant(QString(u""_qs));
    QByteArray blob(300, '\0');
    for (int i = 0; i < blob.size(); ++i)
        blob[i] = static_cast<char>(i);
    QTest::newRow("blob with NULs") << QVariant(blob) << QVariant(blob);
    QTest::newRow("null") << QVariant() << QVariant();
}

void TestSqlCipherDriver::roundTripsTypes()
{
    QFETCH(QVariant, value);
    QFETCH(QVariant, expected);
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (v)")));
    QVERIFY(q.prepare(QStringLiteral("INSERT INTO t (v) VALUES (?)")));
    q.addBindValue(value);
    QVERIFY2(q.exec(), qPrintable(q.lastError().text()));
    QVERIFY(q.exec(QStringLiteral("SELECT v FROM t")));
    QVERIFY(q.next());
    QCOMPARE(q.isNull(0), !expected.isValid());
    if (expected.isValid()) {
        QCOMPARE(q.value(0).metaType(), expected.metaType());
        QCOMPARE(q.value(0), expected);
    }
    QVERIFY(!q.next());
}

void TestSqlCipherDriver::rewritesNamedPlaceholders()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (a INTEGER, b TEXT)")));
    QVERIFY(q.prepare(QStringLiteral("INSERT INTO t (b, a) VALUES (:b, :a)")));
    q.bindValue(QStringLiteral(":a"), 7);
    q.bindValue(QStringLiteral(":b"), QStringLiteral("seven"));
    QVERIFY2(q.exec(), qPrintable(q.lastError().text()));
    QVERIFY(q.exec(QStringLiteral("SELECT a, b FROM t")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), 7);
    QCOMPARE(q.value(1).toString(), QStringLiteral("seven"));
}

void TestSqlCipherDriver::describesTables()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size REAL, data BLOB)")));
    QVERIFY(q.exec(QStringLiteral("CREATE VIEW names AS SELECT name FROM jobs")));
    QCOMPARE(db.tables(), QStringList{QStringLiteral("jobs")});
    QCOMPARE(db.tables(QSql::Views), QStringList{QStringLiteral("names")});
    const QSqlRecord record = db.record(QStringLiteral("jobs"));
    QCOMPARE(record.count(), 4);
    QCOMPARE(record.fieldName(1), QStringLiteral("name"));
    QCOMPARE(record.field(0).metaType(), QMetaType::fromType<qlonglong>());
    QCOMPARE(record.field(1).metaType(), QMetaType::fromType<QString>());
    QCOMPARE(record.field(1).requiredStatus(), QSqlField::Required);
    QCOMPARE(record.field(2).metaType(), QMetaType::fromType<double>());
    QCOMPARE(record.field(3).metaType(), QMetaType::fromType<QByteArray>());
    QCOMPARE(db.primaryIndex(QStringLiteral("jobs")).fieldName(0), QStringLiteral("id"));
    QVERIFY(db.record(QStringLiteral("absent")).isEmpty());
}

void TestSqlCipherDriver::transactionsCommitAndRollBack()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (v INTEGER)")));
    QVERIFY(db.transaction());
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t VALUES (1)")));
    QVERIFY(db.rollback());
    QVERIFY(db.transaction());
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t VALUES (2)")));
    QVERIFY(db.commit());
    QVERIFY(q.exec(QStringLiteral("SELECT group_concat(v) FROM t")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toString(), QStringLiteral("2"));
    QVERIFY(!db.commit()); // no transaction open
    QVERIFY(db.lastError().isValid());
}

void TestSqlCipherDriver::reportsInsertIdsAndAffectedRows()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")));
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t (v) VALUES (10)")));
    QCOMPARE(q.lastInsertId().toLongLong(), 1);
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t (v) VALUES (20)")));
    QCOMPARE(q.lastInsertId().toLongLong(), 2);
    QCOMPARE(q.numRowsAffected(), 1);
    QVERIFY(q.exec(QStringLiteral("UPDATE t SET v = v + 1")));
    QCOMPARE(q.numRowsAffected(), 2);
    QVERIFY(q.exec(QStringLiteral("DELETE FROM t WHERE v > 100")));
    QCOMPARE(q.numRowsAffected(), 0);
    QCOMPARE(q.size(), -1);
}

void TestSqlCipherDriver::mapsErrorsWithSqliteMessage()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (v TEXT UNIQUE)")));
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t VALUES ('a')")));
    QVERIFY(!q.exec(QStringLiteral("INSERT INTO t VALUES ('a')")));
    QCOMPARE(q.lastError().type(), QSqlError::StatementError);
    QVERIFY2(q.lastError().databaseText().contains(QStringLiteral("UNIQUE constraint failed")),
             qPrintable(q.lastError().text()));
    QCOMPARE(q.lastError().nativeErrorCode(), QString::number(2067)); // CONSTRAINT_UNIQUE
    QVERIFY(!q.exec(QStringLiteral("SELEC nonsense")));
    QVERIFY(q.lastError().databaseText().contains(QStringLiteral("syntax error")));
    QVERIFY(q.prepare(QStringLiteral("INSERT INTO t VALUES (?)")));
    QVERIFY(!q.exec()); // nothing bound
    QVERIFY(q.lastError().driverText().contains(QStringLiteral("parameters")));
}

void TestSqlCipherDriver::rejectsSeveralStatements()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(!q.exec(QStringLiteral("CREATE TABLE a (x); CREATE TABLE b (y)")));
    QVERIFY(db.tables().isEmpty());
}

void TestSqlCipherDriver::modelSeeksBackAndForth()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")));
    QVERIFY(db.transaction());
    QVERIFY(q.prepare(QStringLiteral("INSERT INTO t (name) VALUES (?)")));
    for (int i = 0; i < 1000; ++i) {
        q.addBindValue(QStringLiteral("row %1").arg(i));
        QVERIFY(q.exec());
    }
    QVERIFY(db.commit());
    QSqlQueryModel model;
    model.setQuery(QStringLiteral("SELECT id, name FROM t ORDER BY id"), db);
    QVERIFY(!model.lastError().isValid());
    while (model.canFetchMore())
        model.fetchMore();
    QCOMPARE(model.rowCount(), 1000);
    QCOMPARE(model.data(model.index(999, 1)).toString(), QStringLiteral("row 999"));
    QCOMPARE(model.data(model.index(0, 1)).toString(), QStringLiteral("row 0"));
    QCOMPARE(model.data(model.index(500, 0)).toLongLong(), 501);
    QCOMPARE(model.headerData(1, Qt::Horizontal).toString(), QStringLiteral("name"));

    QSqlQuery seek(db);
    QVERIFY(seek.exec(QStringLiteral("SELECT id FROM t ORDER BY id")));
    QVERIFY(seek.last());
    QCOMPARE(seek.value(0).toInt(), 1000);
    QVERIFY(seek.seek(10));
    QCOMPARE(seek.value(0).toInt(), 11);
    QVERIFY(seek.previous());
    QCOMPARE(seek.value(0).toInt(), 10);
    QVERIFY(!seek.seek(5000));
}

void TestSqlCipherDriver::forwardOnlyKeepsOneRow()
{
    QSqlDatabase db = open();
    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (v INTEGER)")));
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t VALUES (1), (2), (3)")));
    QSqlQuery f(db);
    f.setForwardOnly(true);
    QVERIFY(f.exec(QStringLiteral("SELECT v FROM t ORDER BY v")));
    int sum = 0;
    while (f.next())
        sum += f.value(0).toInt();
    QCOMPARE(sum, 6);
    QVERIFY(!f.seek(0)); // gone in forward-only mode
}

void TestSqlCipherDriver::waitsThenReportsBusy()
{
    QSqlDatabase writer = open();
    QSqlQuery q(writer);
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE t (v INTEGER)")));
    QVERIFY(writer.transaction());
    QVERIFY(q.exec(QStringLiteral("INSERT INTO t VALUES (1)")));
    QSqlDatabase other = open(QStringLiteral("FH_BUSY_TIMEOUT=50"));
    QVERIFY(!other.transaction());
    QVERIFY2(other.lastError().databaseText().contains(QStringLiteral("locked")),
             qPrintable(other.lastError().text()));
    QVERIFY(writer.commit());
    QVERIFY(other.transaction());
    QVERIFY(other.rollback());
}

void TestSqlCipherDriver::refusesToOpenWithoutKey()
{
    SqlCipherDriver::registerDriver();
    QSqlDatabase db = QSqlDatabase::addDatabase(QString::fromLatin1(SqlCipherDriver::Name),
                                                QStringLiteral("nokey"));
    db.setDatabaseName(m_path);
    QVERIFY(!db.open());
    QVERIFY(db.lastError().driverText().contains(QStringLiteral("unencrypted")));
    QVERIFY(!QFile::exists(m_path));
    db = QSqlDatabase();
    QSqlDatabase::removeDatabase(QStringLiteral("nokey"));
}

void TestSqlCipherDriver::neverLoadsStockSqlitePlugin()
{
    open();
    QFile maps(QStringLiteral("/proc/self/maps"));
    QVERIFY(maps.open(QIODevice::ReadOnly));
    const QByteArray mapped = maps.readAll();
    QVERIFY(!mapped.contains("libqsqlite"));
    QVERIFY(mapped.contains("libsqlcipher"));
}

QTEST_GUILESS_MAIN(TestSqlCipherDriver)
#include "tst_sqlcipherdriver.moc"
