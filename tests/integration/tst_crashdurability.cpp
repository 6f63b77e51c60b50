#include "store/storemaintenance.h"
#include "testsupport.h"

#include <QProcess>
#include <QRandomGenerator>
#include <QSqlQuery>
#include <QTest>

#include <csignal>

// A child writes transactions and is killed with SIGKILL at random points.
// After each kill the store passes its checks, every transaction whose
// COMMIT the child reported is there in full, and none is there in part.
class TestCrashDurability : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void survivesSigkill();
};

void TestCrashDurability::survivesSigkill()
{
    constexpr int rounds = 200;
    constexpr int batch = 5;
    QTemporaryDir dir;
    const QString store = dir.filePath(QStringLiteral("s"));
    const QString key = dir.filePath(QStringLiteral("k"));
    TestSupport::createStore(store, key); // created, then closed again
    QRandomGenerator random(20261123);
    QSet<int> committed;
    int nextTx = 0;
    int killedAfterCommits = 0;
    for (int round = 0; round < rounds; ++round) {
        QProcess child;
        child.start(QStringLiteral(CRASHWRITER_PATH),
                    {QStringLiteral("--store"), store, QStringLiteral("--key-file"), key,
                     QStringLiteral("--batch"), QString::number(batch), QStringLiteral("--first"),
                     QString::number(nextTx)});
        QVERIFY(child.waitForStarted());
        QByteArray output;
        if (round % 2 == 1) {
            // Odd rounds: kill while transactions are flowing, at a random
            // moment after the first commit. Even rounds: at a random moment
            // from the start, which also hits opening and recovery.
            while (!output.contains("committed") && child.waitForReadyRead(30000))
                output += child.readAllStandardOutput();
            QVERIFY2(output.contains("committed"), "the writer never committed");
        }
        QTest::qSleep(static_cast<int>(random.bounded(0, 120)));
        ::kill(static_cast<pid_t>(child.processId()), SIGKILL);
        QVERIFY(child.waitForFinished());
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        output += child.readAllStandardOutput();
        const QList<QByteArray> lines = output.split('\n');
        int reported = 0;
        for (const QByteArray &line : lines) {
            if (line.startsWith("committed ")) {
                committed.insert(line.mid(10).toInt());
                ++reported;
            }
        }
        if (reported > 0)
            ++killedAfterCommits;
        const QByteArray err = child.readAllStandardError();
        QVERIFY2(!err.contains("crashwriter:"), err.constData());

        StoreRequest request;
        request.directory = store;
        request.keyFile = key;
        Expected<OpenedStore> opened = TestSupport::openStore(request);
        QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error()));
        QSqlDatabase db = opened->store->connection().value();
        const QStringList problems = StoreMaintenance::check(db).value();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(u'\n')));
        QSqlQuery q(db);
        QVERIFY(q.exec(QStringLiteral("SELECT name, count(*) FROM jobs GROUP BY name")));
        QSet<int> present;
        while (q.next()) {
            QCOMPARE(q.value(1).toInt(), batch); // whole transactions only
            present.insert(q.value(0).toString().mid(2).toInt());
        }
        for (int tx : std::as_const(committed))
            QVERIFY2(present.contains(tx), qPrintable(QStringLiteral("lost tx %1").arg(tx)));
        // A transaction may be durable before its "committed" line was
        // written; number the next child's transactions after all of them.
        for (int tx : std::as_const(present))
            nextTx = qMax(nextTx, tx + 1);
    }
    qInfo("%d rounds, %d killed after at least one commit, %lld transactions committed", rounds,
          killedAfterCommits, static_cast<long long>(committed.size()));
    QVERIFY(killedAfterCommits >= rounds / 2);
}

QTEST_GUILESS_MAIN(TestCrashDurability)
#include "tst_crashdurability.moc"
