#include "testsupport.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QTest>
#include <QThread>

#include <atomic>

// One writer and several readers, each on its own thread and connection:
// readers never see a half-written transaction and nobody fails on a lock.
class TestConcurrency : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readersSeeWholeTransactions();
};

void TestConcurrency::readersSeeWholeTransactions()
{
    QTemporaryDir dir;
    OpenedStore opened = TestSupport::createStore(dir.filePath(QStringLiteral("s")),
                                                  dir.filePath(QStringLiteral("k")));
    Store *store = opened.store.get();
    constexpr int transactions = 150;
    constexpr int batch = 10;
    std::atomic<bool> writing{true};
    std::atomic<int> failures{0};
    std::atomic<int> reads{0};
    QStringList errors;
    QMutex errorsMutex;
    auto record = [&](const QString &e) {
        QMutexLocker l(&errorsMutex);
        errors << e;
        ++failures;
    };

    QThread *writer = QThread::create([&] {
        QSqlDatabase db = store->connection().value();
        {
            QSqlQuery q(db);
            q.prepare(QStringLiteral("INSERT INTO jobs (uuid, name, spec, submitted_by, "
                                     "submitted_at) VALUES (?, 'w', '{}', 'test', 0)"));
            for (int t = 0; t < transactions; ++t) {
                if (!db.transaction()) {
                    record(db.lastError().text());
                    break;
                }
                for (int r = 0; r < batch; ++r) {
                    q.addBindValue(QStringLiteral("%1-%2").arg(t).arg(r));
                    if (!q.exec())
                        record(q.lastError().text());
                }
                if (!db.commit())
                    record(db.lastError().text());
            }
        }
        writing = false;
        store->releaseThreadConnection();
    });
    QList<QThread *> readers;
    for (int i = 0; i < 3; ++i) {
        readers << QThread::create([&] {
            QSqlDatabase db = store->connection().value();
            {
                QSqlQuery q(db);
                int last = 0;
                do {
                    if (!q.exec(QStringLiteral("SELECT count(*) FROM jobs")) || !q.next()) {
                        record(q.lastError().text());
                        break;
                    }
                    const int count = q.value(0).toInt();
                    q.finish();
                    if (count % batch != 0)
                        record(QStringLiteral("saw %1 rows: a partial transaction").arg(count));
                    if (count < last)
                        record(
                            QStringLiteral("count went back from %1 to %2").arg(last).arg(count));
                    last = count;
                    ++reads;
                } while (writing);
            }
            store->releaseThreadConnection();
        });
    }
    writer->start();
    for (QThread *t : readers)
        t->start();
    QVERIFY(writer->wait(120000));
    for (QThread *t : readers)
        QVERIFY(t->wait(120000));
    delete writer;
    qDeleteAll(readers);
    QVERIFY2(failures == 0, qPrintable(errors.join(u'\n')));
    QVERIFY(reads > 3);

    QSqlQuery q(store->connection().value());
    QVERIFY(q.exec(QStringLiteral("SELECT count(*) FROM jobs")) && q.next());
    QCOMPARE(q.value(0).toInt(), transactions * batch);
}

QTEST_GUILESS_MAIN(TestConcurrency)
#include "tst_concurrency.moc"
