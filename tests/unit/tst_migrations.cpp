#include "store/migrations.h"
#include "store/sqlcipherdriver.h"
#include "store/store.h"
#include "store/storemaintenance.h"

#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

// Rows a store of each schema version could hold; migrating must keep them.
static const char *const seeds[] = {
    /* v0 */ "",
    /* v1 */
    "INSERT INTO settings VALUES ('api.listen', '127.0.0.1:8443', 1);"
    "INSERT INTO jobs (uuid, name, spec, submitted_by, submitted_at) "
    "  VALUES ('u1', 'first', '{}', 'operator:alice', 1);"
    "INSERT INTO job_events (job_id, at, kind, message) VALUES (1, 2, 'queued', 'queued');",
    /* v2 */
    "INSERT INTO api_keys (id, name, owner_user, scopes, secret_digest, created_at, expires_at) "
    "  VALUES ('abcdefghijkl', 'ci', 'alice', 'jobs:submit', zeroblob(32), 1, 2);"
    "INSERT INTO audit_records VALUES (1, 1, 'system', 'engine.start', NULL, 'ok', NULL, NULL, "
    "  zeroblob(32));",
    /* v3 */
    "INSERT INTO farm_roots VALUES ('output', '/srv/out', 1);"
    "INSERT INTO job_logs (job_id, attempt, at, text) VALUES (1, 1, 3, 'worker said');"
    "UPDATE jobs SET not_before = 4, fps = 30.5 WHERE id = 1;",
    /* v4 */
    "INSERT INTO uploads VALUES ('upl_abcdefghijklmnopqrstuvwx', 'abcdefghijkl', 'a.mp4', "
    "  'video/mp4', 10, 'ab', 5, '127.0.0.1', 1, 6);"
    "INSERT INTO api_bans VALUES ('192.0.2.1', 'repeated authentication failures', 10, 7, 8);"
    "INSERT INTO api_certificates VALUES ('self-signed', 'PEM', 'KEY', 'DNS:localhost', 9, 10);",
};

class TestMigrations : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void numberedWithoutGaps();
    void migratesFromEveryEarlierVersion_data();
    void migratesFromEveryEarlierVersion();
    void failedMigrationRollsBack();
    void refusesNewerStore();

private:
    QSqlDatabase fresh(const QString &name);
    static QStringList schemaOf(QSqlDatabase &db);
    QTemporaryDir m_dir;
    SecretKey m_key = SecretKey::generate();
};

QSqlDatabase TestMigrations::fresh(const QString &name)
{
    return Store::openExtra(m_dir.filePath(name), m_key, {}).value();
}

QStringList TestMigrations::schemaOf(QSqlDatabase &db)
{
    QSqlQuery q(db);
    q.exec(QStringLiteral("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name"));
    QStringList out;
    while (q.next())
        out << q.value(0).toString() + u' ' + q.value(1).toString() + u' ' +
                   q.value(2).toString().simplified();
    return out;
}

void TestMigrations::numberedWithoutGaps()
{
    const auto all = Migrations::all();
    QVERIFY(all.size() >= 2);
    QCOMPARE(static_cast<int>(std::size(seeds)), Migrations::latestVersion() + 1);
    for (int i = 0; i < all.size(); ++i)
        QCOMPARE(all.at(i).version, i + 1);
}

void TestMigrations::migratesFromEveryEarlierVersion_data()
{
    QTest::addColumn<int>("from");
    for (int v = 0; v < Migrations::latestVersion(); ++v)
        QTest::addRow("from v%d", v) << v;
}

void TestMigrations::migratesFromEveryEarlierVersion()
{
    QFETCH(int, from);
    QSqlDatabase reference = fresh(QStringLiteral("reference-%1.db").arg(from));
    QVERIFY(Migrations::migrate(reference).ok());

    QSqlDatabase db = fresh(QStringLiteral("from-%1.db").arg(from));
    auto *driver = static_cast<SqlCipherDriver *>(db.driver());
    QVERIFY(Migrations::migrate(db, from).ok());
    QCOMPARE(Migrations::currentVersion(db).value(), from);
    for (int v = 1; v <= from; ++v)
        QVERIFY2(driver->executeScript(QString::fromLatin1(seeds[v])),
                 qPrintable(driver->lastError().text()));

    const Expected<void> migrated = Migrations::migrate(db);
    QVERIFY2(migrated.ok(), migrated.ok() ? "" : qPrintable(migrated.error()));
    QCOMPARE(Migrations::currentVersion(db).value(), Migrations::latestVersion());
    QCOMPARE(schemaOf(db), schemaOf(reference));
    QCOMPARE(StoreMaintenance::check(db).value(), QStringList());

    QSqlQuery q(db);
    QVERIFY(q.exec(QStringLiteral("SELECT count(*) FROM schema_migrations")));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toInt(), Migrations::latestVersion());
    if (from >= 1) {
        QVERIFY(q.exec(QStringLiteral("SELECT j.name, e.kind FROM jobs j JOIN job_events e ON "
                                      "e.job_id = j.id")));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toString(), QStringLiteral("first"));
        QVERIFY(q.exec(QStringLiteral("SELECT value FROM settings WHERE key = 'api.listen'")));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toString(), QStringLiteral("127.0.0.1:8443"));
    }
    // Applying again changes nothing.
    QVERIFY(Migrations::migrate(db).ok());
    QCOMPARE(schemaOf(db), schemaOf(reference));
    Store::closeExtra(db);
    Store::closeExtra(reference);
}

void TestMigrations::failedMigrationRollsBack()
{
    QSqlDatabase db = fresh(QStringLiteral("conflict.db"));
    QVERIFY(Migrations::migrate(db, 1).ok());
    QSqlQuery q(db);
    // A stray table with the name migration 2 creates makes it fail midway.
    QVERIFY(q.exec(QStringLiteral("CREATE TABLE audit_records (x)")));
    const Expected<void> migrated = Migrations::migrate(db);
    QVERIFY(!migrated.ok());
    QVERIFY2(migrated.error().contains(QStringLiteral("rolled back")),
             qPrintable(migrated.error()));
    QVERIFY(migrated.error().contains(QStringLiteral("already exists")));
    QCOMPARE(Migrations::currentVersion(db).value(), 1);
    QVERIFY(!db.tables().contains(QStringLiteral("api_keys"))); // created before the failure
    q.finish();
    Store::closeExtra(db);
}

void TestMigrations::refusesNewerStore()
{
    QSqlDatabase db = fresh(QStringLiteral("newer.db"));
    QVERIFY(Migrations::migrate(db).ok());
    QSqlQuery q(db);
    QVERIFY(
        q.exec(QStringLiteral("PRAGMA user_version = %1").arg(Migrations::latestVersion() + 1)));
    const Expected<void> migrated = Migrations::migrate(db);
    QVERIFY(!migrated.ok());
    QVERIFY(migrated.error().contains(QStringLiteral("upgrade Framehouse")));
    q.finish();
    Store::closeExtra(db);
}

QTEST_GUILESS_MAIN(TestMigrations)
#include "tst_migrations.moc"
