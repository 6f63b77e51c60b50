#include "testsupport.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlQuery>
#include <QTest>

#include <csignal>

// framehoused as a real process: the configuration guard, the audit
// anchor check at start, and start/stop records in the audit log.
class TestDaemon : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void startAndStopAreAudited();
    void refusesToStart_data();
    void refusesToStart();
    void refusesToStartOnATruncatedAuditLog();
    void refusesAnotherStoresSecret_data();
    void refusesAnotherStoresSecret();

private:
    QStringList args() const;
    TestSupport::Run runDaemonUntilOpen(QProcess &engine);
    QString path(const QString &name) const { return m_dir->filePath(name); }
    void writeFile(const QString &name, const QByteArray &content, QFile::Permissions mode);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestDaemon::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    TestSupport::writeKeyFile(path(QStringLiteral("store.key")));
}

void TestDaemon::cleanup()
{
    // The daemon's log goes into the transcript scanned for secrets.
    QFile log(path(QStringLiteral("engine.log")));
    if (log.open(QIODevice::ReadOnly))
        TestSupport::recordOutput(QStringLiteral("framehoused log"),
                                  QString::fromUtf8(log.readAll()));
    m_dir.reset();
}

QStringList TestDaemon::args() const
{
    return {QStringLiteral("--store"),    path(QStringLiteral("store")),
            QStringLiteral("--key-file"), path(QStringLiteral("store.key")),
            QStringLiteral("--log-file"), path(QStringLiteral("engine.log"))};
}

void TestDaemon::writeFile(const QString &name, const QByteArray &content, QFile::Permissions mode)
{
    QFile file(path(name));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(content);
    file.close();
    QVERIFY(file.setPermissions(mode));
}

TestSupport::Run TestDaemon::runDaemonUntilOpen(QProcess &engine)
{
    engine.start(QStringLiteral(FRAMEHOUSED_PATH), args() + TestSupport::anyApiPort());
    engine.waitForStarted();
    QByteArray said;
    QDeadlineTimer deadline(20000);
    while (!said.contains(" open, ") && engine.state() != QProcess::NotRunning &&
           !deadline.hasExpired()) {
        engine.waitForReadyRead(100);
        said += engine.readAllStandardError();
    }
    said += engine.readAllStandardError();
    return {0, QString(), QString::fromUtf8(said)};
}

void TestDaemon::startAndStopAreAudited()
{
    QProcess engine;
    const TestSupport::Run started = runDaemonUntilOpen(engine);
    QVERIFY2(started.err.contains(QStringLiteral(" open, ")), qPrintable(started.err));
    // Every stderr line is one JSON object.
    for (const QString &line : started.err.split(u'\n', Qt::SkipEmptyParts))
        QVERIFY2(QJsonDocument::fromJson(line.toUtf8()).isObject(), qPrintable(line));
    ::kill(engine.processId(), SIGTERM);
    QVERIFY(engine.waitForFinished(20000));
    QCOMPARE(engine.exitCode(), 0);

    const TestSupport::Run tail = TestSupport::runCtl(
        QStringList{QStringLiteral("audit"), QStringLiteral("tail"), QStringLiteral("--json")} +
        args().mid(0, 4));
    QCOMPARE(tail.exitCode, 0);
    QStringList actions;
    for (const QString &line : tail.out.split(u'\n', Qt::SkipEmptyParts))
        actions << QJsonDocument::fromJson(line.toUtf8())
                       .object()
                       .value(QStringLiteral("action"))
                       .toString();
    // The API made its self-signed certificate on this first start.
    QCOMPARE(actions, (QStringList{QStringLiteral("engine.started"),
                                   QStringLiteral("api.certificate_created"),
                                   QStringLiteral("engine.stopped")}));
    const TestSupport::Run verify = TestSupport::runCtl(
        QStringList{QStringLiteral("audit"), QStringLiteral("verify")} + args().mid(0, 4));
    QVERIFY2(verify.exitCode == 0, qPrintable(verify.err));
    // The log file holds the same JSON lines, mode 0600.
    QFile log(path(QStringLiteral("engine.log")));
    QVERIFY(log.open(QIODevice::ReadOnly));
    QVERIFY(log.readAll().contains("\"category\":\"framehouse.engine\""));
    QCOMPARE(log.permissions() & (QFile::ReadGroup | QFile::ReadOther), QFile::Permissions());
}

void TestDaemon::refusesToStart_data()
{
    QTest::addColumn<QByteArray>("config");
    QTest::addColumn<QString>("weakFile"); // a secret file to plant, "name|mode"
    QTest::addColumn<QString>("expected");
    const QByteArray none;
    QTest::newRow("group-readable store key")
        << none << QStringLiteral("store.key|0640") << QStringLiteral("chmod 600");
    QTest::newRow("group-readable pepper")
        << none << QStringLiteral("store.api-key-pepper|0640") << QStringLiteral("chmod 600");
    QTest::newRow("placeholder audit key")
        << none << QStringLiteral("store.audit-key|changeme") << QStringLiteral("audit key");
    QTest::newRow("half a TLS setup")
        << QByteArray("[api]\nlisten = 0.0.0.0:8443\ntls_certificate = cert.pem\n") << QString()
        << QStringLiteral("tls_private_key");
    // Authentication cannot be turned off: the old switch is an unknown key.
    QTest::newRow("authentication switched off") << QByteArray("[api]\nauthentication = false\n")
                                                 << QString() << QStringLiteral("authentication");
    QTest::newRow("typo in the settings") << QByteArray("[api]\nauthentification = false\n")
                                          << QString() << QStringLiteral("authentification");
}

void TestDaemon::refusesToStart()
{
    QFETCH(QByteArray, config);
    QFETCH(QString, weakFile);
    QFETCH(QString, expected);
    QStringList extra;
    if (!config.isEmpty()) {
        writeFile(QStringLiteral("engine.ini"), config, QFile::ReadOwner | QFile::WriteOwner);
        writeFile(QStringLiteral("cert.pem"), "-----BEGIN CERTIFICATE-----\n",
                  QFile::ReadOwner | QFile::WriteOwner);
        writeFile(QStringLiteral("key.pem"), "-----BEGIN PRIVATE KEY-----\n",
                  QFile::ReadOwner | QFile::WriteOwner);
        extra << QStringLiteral("--config") << path(QStringLiteral("engine.ini"));
    }
    if (!weakFile.isEmpty()) {
        const QString name = weakFile.section(u'|', 0, 0);
        const QString how = weakFile.section(u'|', 1, 1);
        if (how == QLatin1String("0640")) {
            if (!QFile::exists(path(name)))
                writeFile(name, SecretKey::generate().toHexLine(), QFile::ReadOwner);
            QVERIFY(QFile::setPermissions(path(name),
                                          QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup));
        } else {
            writeFile(name, how.toUtf8() + '\n', QFile::ReadOwner | QFile::WriteOwner);
        }
    }
    QProcess engine;
    engine.start(QStringLiteral(FRAMEHOUSED_PATH), args() + TestSupport::anyApiPort() + extra);
    QVERIFY(engine.waitForFinished(20000));
    const QString err = QString::fromUtf8(engine.readAllStandardError());
    QCOMPARE(engine.exitCode(), 78);
    QVERIFY2(err.contains(expected), qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("fix")) ||
                 err.contains(QStringLiteral("authentification")) ||
                 err.contains(QStringLiteral("authentication")),
             qPrintable(err));
    // Nothing was created: the refusal comes before the store is touched.
    QVERIFY(!QFile::exists(path(QStringLiteral("store/framehouse.db"))));
}

void TestDaemon::refusesToStartOnATruncatedAuditLog()
{
    {
        QProcess engine;
        QVERIFY(runDaemonUntilOpen(engine).err.contains(QStringLiteral(" open, ")));
        ::kill(engine.processId(), SIGTERM);
        QVERIFY(engine.waitForFinished(20000));
    }
    // Cut the newest record (engine.stopped) out of the store.
    {
        StoreRequest request;
        request.directory = path(QStringLiteral("store"));
        request.keyFile = path(QStringLiteral("store.key"));
        Expected<OpenedStore> opened = TestSupport::openStore(request);
        QVERIFY(opened);
        QSqlQuery q(opened->store->connection().value());
        QVERIFY(q.exec(QStringLiteral(
            "DELETE FROM audit_records WHERE seq = (SELECT max(seq) FROM audit_records)")));
    }
    QProcess engine;
    const TestSupport::Run run = runDaemonUntilOpen(engine);
    QVERIFY(engine.state() == QProcess::NotRunning || engine.waitForFinished(20000));
    QCOMPARE(engine.exitCode(), 1);
    QVERIFY2(run.err.contains(QStringLiteral("newest records were removed")), qPrintable(run.err));
}

void TestDaemon::refusesAnotherStoresSecret_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("purpose");
    QTest::newRow("pepper") << QStringLiteral("store.api-key-pepper")
                            << QStringLiteral("API-key pepper");
    QTest::newRow("audit key") << QStringLiteral("store.audit-key") << QStringLiteral("audit key");
}

// A valid-looking key that is not the store's own: without the fingerprint
// every API key would fail as a wrong secret, or new audit records would be
// chained under a key the log does not verify with.
void TestDaemon::refusesAnotherStoresSecret()
{
    QFETCH(QString, file);
    QFETCH(QString, purpose);
    {
        QProcess engine;
        QVERIFY(runDaemonUntilOpen(engine).err.contains(QStringLiteral(" open, ")));
        ::kill(engine.processId(), SIGTERM);
        QVERIFY(engine.waitForFinished(20000));
    }
    QVERIFY(QFile::remove(path(file)));
    TestSupport::writeKeyFile(path(file));

    QProcess engine;
    const TestSupport::Run run = runDaemonUntilOpen(engine);
    QVERIFY(engine.state() == QProcess::NotRunning || engine.waitForFinished(20000));
    QCOMPARE(engine.exitCode(), 1);
    QVERIFY2(run.err.contains(QStringLiteral("holds a different %1").arg(purpose)),
             qPrintable(run.err));
    const TestSupport::Run keys = TestSupport::runCtl(
        QStringList{QStringLiteral("keys"), QStringLiteral("list")} + args().mid(0, 4));
    QCOMPARE(keys.exitCode, 1);
    QVERIFY2(keys.err.contains(QStringLiteral("holds a different %1").arg(purpose)),
             qPrintable(keys.err));
}

QTEST_GUILESS_MAIN(TestDaemon)
#include "tst_daemon.moc"
