#include "audit/auditlog.h"
#include "audit/auditverifier.h"
#include "audit/authfailurelog.h"
#include "security/secretkey.h"
#include "testsupport.h"

#include <QFile>
#include <QRandomGenerator>
#include <QSqlError>
#include <QSqlQuery>
#include <QTest>

#include <map>

namespace {
constexpr qint64 T0 = 1'800'000'000'000;
constexpr qint64 DayMs = 24LL * 3600 * 1000;

AuditEvent sampleEvent(int i)
{
    AuditEvent e;
    e.actor = i % 3 ? QStringLiteral("operator:alice") : QStringLiteral("key:AbCdEfGhIjKl");
    e.action = i % 2 ? QStringLiteral("job.submitted") : QStringLiteral("key.created");
    e.target = QStringLiteral("target-%1").arg(i);
    e.sourceIp = i % 4 ? QStringLiteral("192.0.2.%1").arg(i % 250) : QString();
    e.details = {{QStringLiteral("n"), i},
                 {QStringLiteral("note"), QStringLiteral("record %1").arg(i)}};
    return e;
}

QVariant exec(QSqlDatabase db, const QString &sql, const QVariantList &bind = {})
{
    QSqlQuery q(db);
    q.prepare(sql);
    for (const QVariant &v : bind)
        q.addBindValue(v);
    if (!q.exec())
        qFatal("%s: %s", qPrintable(sql), qPrintable(q.lastError().text()));
    return q.next() ? q.value(0) : QVariant();
}
} // namespace

class TestAuditLog : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void aCleanLogVerifies();
    void everyTamperingIsDetected();
    void pruningThroughACheckpointStillVerifies();
    void prefixDeletionWithoutCheckpointIsDetected();
    void anchorCatchesTruncationAndToleratesLag();
    void anchorOnlyMovesForward();
    void aTruncatedLogTakesNoNewRecords();
    void engineStartAnchorCheck();
    void aFailedChangeWritesNoRecord();
    void concurrentWritersKeepOneChain();
    void authFailuresAreAggregated();
    void authFailureSourcesAreBounded();

private:
    QSqlDatabase db() { return m_store->db(); }
    void append(int count, qint64 from = T0, qint64 step = 1000);
    AuditVerification verifyNow();

    std::unique_ptr<TestSupport::TestStore> m_store;
};

void TestAuditLog::init() { m_store = TestSupport::makeStore(); }

void TestAuditLog::cleanup() { m_store.reset(); }

void TestAuditLog::append(int count, qint64 from, qint64 step)
{
    for (int i = 0; i < count; ++i) {
        Expected<AuditRecord> r =
            m_store->secrets.audit->record(db(), sampleEvent(i), from + i * step);
        if (!r)
            qFatal("append failed: %s", qPrintable(r.error()));
    }
}

AuditVerification TestAuditLog::verifyNow()
{
    Expected<std::optional<AuditTip>> anchor = m_store->secrets.audit->anchor().read();
    if (!anchor)
        qFatal("anchor: %s", qPrintable(anchor.error()));
    Expected<AuditVerification> v =
        AuditVerifier::verify(db(), m_store->secrets.audit->key(), anchor.value());
    if (!v)
        qFatal("verify: %s", qPrintable(v.error()));
    return v.value();
}

void TestAuditLog::aCleanLogVerifies()
{
    append(40);
    const AuditVerification v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QCOMPARE(v.checked, 40);
    QCOMPARE(v.firstSeq, 1);
    QCOMPARE(v.lastSeq, 40);
    QCOMPARE(v.anchorBehind, 0);
    // The chain is keyed: another audit key finds every record wrong.
    Expected<AuditVerification> other =
        AuditVerifier::verify(db(), SecretKey::generate(), v.anchor);
    QCOMPARE(other->problems.size(), 40);
}

// Mutates copies of a real store at random, 500 times; the verifier, with
// the real anchor, must catch every one.
void TestAuditLog::everyTamperingIsDetected()
{
    append(60);
    const std::optional<AuditTip> anchor = m_store->secrets.audit->anchor().read().value();
    QVERIFY(anchor);
    const QString master = m_store->opened.store->databasePath();
    const SecretKey storeKey = *m_store->opened.key;
    m_store->opened.store->closeAll(); // checkpoints the WAL into the main file

    const quint32 seed = QRandomGenerator::global()->generate();
    qInfo("seed %u", seed);
    QRandomGenerator random(seed);
    const QStringList kinds{QStringLiteral("edit-detail-byte"), QStringLiteral("edit-field"),
                            QStringLiteral("delete"),           QStringLiteral("swap"),
                            QStringLiteral("insert-forged"),    QStringLiteral("truncate-tail")};
    std::map<QString, int> caught;
    const QString copy = m_store->dir.filePath(QStringLiteral("copy.db"));
    for (int round = 0; round < 500; ++round) {
        QFile::remove(copy);
        QVERIFY(QFile::copy(master, copy));
        Store::Options options;
        options.migrate = false;
        Expected<std::unique_ptr<Store>> store = Store::open(copy, storeKey, options);
        QVERIFY2(store, qPrintable(store.ok() ? QString() : store.error()));
        QSqlDatabase c = store.value()->connection().value();
        const QString kind = kinds.at(int(random.bounded(kinds.size())));
        const qint64 seq = 1 + random.bounded(60);
        if (kind == QLatin1String("edit-detail-byte")) {
            QString details =
                exec(c, QStringLiteral("SELECT details FROM audit_records WHERE seq = ?"), {seq})
                    .toString();
            const int at = int(random.bounded(details.size()));
            details[at] = QChar(details[at].unicode() == u'7' ? u'8' : u'7');
            exec(c, QStringLiteral("UPDATE audit_records SET details = ? WHERE seq = ?"),
                 {details, seq});
        } else if (kind == QLatin1String("edit-field")) {
            static const QStringList edits{QStringLiteral("at = at + 1"),
                                           QStringLiteral("actor = 'operator:mallory'"),
                                           QStringLiteral("action = 'key.revoked'"),
                                           QStringLiteral("outcome = 'denied'"),
                                           QStringLiteral("source_ip = '198.51.100.1'"),
                                           QStringLiteral("target = NULL"),
                                           QStringLiteral("mac = randomblob(32)")};
            exec(c,
                 QStringLiteral("UPDATE audit_records SET %1 WHERE seq = ?")
                     .arg(edits.at(int(random.bounded(edits.size())))),
                 {seq});
        } else if (kind == QLatin1String("delete")) {
            exec(c, QStringLiteral("DELETE FROM audit_records WHERE seq = ?"), {seq});
        } else if (kind == QLatin1String("swap")) {
            qint64 other = 1 + random.bounded(60);
            while (other == seq)
                other = 1 + random.bounded(60);
            // Swap the positions of two records: each keeps its own mac.
            exec(c, QStringLiteral("UPDATE audit_records SET seq = -1 WHERE seq = ?"), {seq});
            exec(c, QStringLiteral("UPDATE audit_records SET seq = ? WHERE seq = ?"), {seq, other});
            exec(c, QStringLiteral("UPDATE audit_records SET seq = ? WHERE seq = -1"), {other});
        } else if (kind == QLatin1String("insert-forged")) {
            // Room at `seq` (or a new last record), then a record with a
            // mac computed under a guessed key and the right previous mac.
            const qint64 at = 1 + random.bounded(61);
            exec(c, QStringLiteral("UPDATE audit_records SET seq = -seq WHERE seq >= ?"), {at});
            exec(c, QStringLiteral("UPDATE audit_records SET seq = 1 - seq WHERE seq < 0"));
            AuditRecord forged;
            forged.seq = at;
            forged.at = T0 + 500;
            forged.actor = QStringLiteral("operator:alice");
            forged.action = QStringLiteral("key.revoked");
            forged.outcome = QStringLiteral("ok");
            const QByteArray previous =
                at == 1 ? AuditRecord::genesisMac()
                        : exec(c, QStringLiteral("SELECT mac FROM audit_records WHERE seq = ?"),
                               {at - 1})
                              .toByteArray();
            forged.mac = forged.computeMac(SecretKey::generate(), previous);
            exec(c,
                 QStringLiteral("INSERT INTO audit_records (seq, at, actor, action, outcome, mac) "
                                "VALUES (?, ?, ?, ?, ?, ?)"),
                 {forged.seq, forged.at, forged.actor, forged.action, forged.outcome, forged.mac});
        } else {
            const qint64 keep = 60 - 1 - random.bounded(10);
            exec(c, QStringLiteral("DELETE FROM audit_records WHERE seq > ?"), {keep});
        }
        Expected<AuditVerification> v =
            AuditVerifier::verify(c, m_store->secrets.audit->key(), anchor);
        QVERIFY(v);
        QVERIFY2(!v->ok(), qPrintable(QStringLiteral("round %1: %2 of record %3 went unnoticed")
                                          .arg(round)
                                          .arg(kind)
                                          .arg(seq)));
        ++caught[kind];
        c = QSqlDatabase();
        store.value()->closeAll();
    }
    int total = 0;
    for (const auto &[kind, n] : caught) {
        qInfo("%s: %d caught", qPrintable(kind), n);
        total += n;
    }
    QCOMPARE(total, 500);
    QCOMPARE(int(caught.size()), kinds.size());
}

void TestAuditLog::pruningThroughACheckpointStillVerifies()
{
    append(30, T0, DayMs); // one record a day for 30 days
    Expected<AuditLog::Pruned> pruned = m_store->secrets.audit->prune(
        db(), T0 + 10 * DayMs, QStringLiteral("operator:test"), T0 + 40 * DayMs);
    QVERIFY(pruned);
    QCOMPARE(pruned->count, 10);
    QCOMPARE(pruned->lastSeq, 10);
    AuditVerification v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QCOMPARE(v.firstSeq, 11);
    QCOMPARE(v.lastSeq, 31); // 20 kept + the checkpoint
    // Prune again, past the first checkpoint.
    append(5, T0 + 41 * DayMs, DayMs);
    pruned = m_store->secrets.audit->prune(db(), T0 + 25 * DayMs, QStringLiteral("operator:test"),
                                           T0 + 50 * DayMs);
    QVERIFY(pruned);
    QCOMPARE(pruned->count, 15);
    v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QCOMPARE(v.firstSeq, 26);
    // The newest record is never pruned, however old.
    pruned = m_store->secrets.audit->prune(db(), T0 + 999 * DayMs, QStringLiteral("operator:test"),
                                           T0 + 999 * DayMs);
    QVERIFY(pruned);
    v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QVERIFY(v.checked >= 1);

    // Deleting the checkpoint that accounts for the gap breaks it.
    exec(db(), QStringLiteral("DELETE FROM audit_records WHERE action = 'audit.checkpoint' AND "
                              "seq = (SELECT max(seq) FROM audit_records)"));
    QVERIFY(!verifyNow().ok());
}

void TestAuditLog::prefixDeletionWithoutCheckpointIsDetected()
{
    append(20);
    exec(db(), QStringLiteral("DELETE FROM audit_records WHERE seq <= 5"));
    const AuditVerification v = verifyNow();
    QVERIFY(!v.ok());
    QVERIFY(v.problems.join(u' ').contains(QStringLiteral("1 to 5")));
}

void TestAuditLog::anchorCatchesTruncationAndToleratesLag()
{
    append(20);
    const AuditAnchor &anchor = m_store->secrets.audit->anchor();
    // A crash between a commit and the anchor update leaves it behind.
    const QByteArray mac15 =
        exec(db(), QStringLiteral("SELECT mac FROM audit_records WHERE seq = 15")).toByteArray();
    QVERIFY(anchor.reset(AuditTip{15, mac15}));
    AuditVerification v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QCOMPARE(v.anchorBehind, 5);
    // Anchor ahead of the log: the newest records were cut.
    QVERIFY(anchor.reset(AuditTip{25, mac15}));
    QVERIFY(!verifyNow().ok());
    // Anchor disagrees with the record it names: rewritten.
    QVERIFY(anchor.reset(AuditTip{15, QByteArray(32, 'x')}));
    QVERIFY(!verifyNow().ok());
    // No anchor at all while records exist.
    QVERIFY(QFile::remove(m_store->dir.filePath(QStringLiteral("store.audit-anchor"))));
    v = verifyNow();
    QVERIFY(!v.ok());
    QVERIFY(v.problems.join(u' ').contains(QStringLiteral("anchor")));
}

void TestAuditLog::anchorOnlyMovesForward()
{
    append(10);
    const AuditAnchor &anchor = m_store->secrets.audit->anchor();
    QCOMPARE(anchor.read().value()->seq, 10);
    QVERIFY(anchor.advance(AuditTip{4, QByteArray(32, 'a')}));
    QCOMPARE(anchor.read().value()->seq, 10);
    QVERIFY(anchor.advance(AuditTip{12, QByteArray(32, 'b')}));
    QCOMPARE(anchor.read().value()->seq, 12);
    // The anchor file is a secret file: kept 0600.
    const QFileDevice::Permissions others = QFileDevice::ReadGroup | QFileDevice::WriteGroup |
                                            QFileDevice::ExeGroup | QFileDevice::ReadOther |
                                            QFileDevice::WriteOther | QFileDevice::ExeOther;
    QCOMPARE(QFile::permissions(m_store->dir.filePath(QStringLiteral("store.audit-anchor"))) &
                 others,
             QFileDevice::Permissions());
}

// Records chained onto a cut log would verify and carry the anchor past
// the cut: no commit is made until the operator accepts the log as it is.
void TestAuditLog::aTruncatedLogTakesNoNewRecords()
{
    append(20);
    exec(db(), QStringLiteral("DELETE FROM audit_records WHERE seq > 15"));
    for (int i = 0; i < 10; ++i) {
        Expected<AuditRecord> r = m_store->secrets.audit->record(db(), sampleEvent(i), T0);
        QVERIFY(!r);
        QVERIFY2(r.error().contains(QStringLiteral("does not match its anchor")),
                 qPrintable(r.error()));
    }
    QCOMPARE(exec(db(), QStringLiteral("SELECT max(seq) FROM audit_records")).toInt(), 15);
    QCOMPARE(m_store->secrets.audit->anchor().read().value()->seq, 20);
    QVERIFY(!verifyNow().ok());

    // A missing anchored record with later ones present is caught as well.
    Expected<std::optional<AuditTip>> previous = m_store->secrets.audit->acceptAsIs(db());
    QVERIFY(previous);
    QCOMPARE(previous.value()->seq, 20);
    QVERIFY(m_store->secrets.audit->record(db(), sampleEvent(1), T0));
    QVERIFY(verifyNow().ok());
    exec(db(), QStringLiteral("DELETE FROM audit_records WHERE seq = 16"));
    QVERIFY(!m_store->secrets.audit->record(db(), sampleEvent(2), T0));
    QVERIFY(!AuditVerifier::checkAnchor(db(), m_store->secrets.audit->anchor().read().value(),
                                        m_store->secrets.audit->anchor().describe()));
}

void TestAuditLog::engineStartAnchorCheck()
{
    const QString source = m_store->secrets.audit->anchor().describe();
    QVERIFY(AuditVerifier::checkAnchor(db(), std::nullopt, source)); // empty log, no anchor
    append(10);
    const std::optional<AuditTip> tip = m_store->secrets.audit->anchor().read().value();
    QVERIFY(AuditVerifier::checkAnchor(db(), tip, source));
    QVERIFY(!AuditVerifier::checkAnchor(db(), std::nullopt, source));
    exec(db(), QStringLiteral("DELETE FROM audit_records WHERE seq > 8"));
    Expected<void> checked = AuditVerifier::checkAnchor(db(), tip, source);
    QVERIFY(!checked);
    QVERIFY(checked.error().contains(QStringLiteral("framehousectl audit verify")));
    QVERIFY(!AuditVerifier::checkAnchor(db(), AuditTip{5, QByteArray(32, 'z')}, source));
}

void TestAuditLog::aFailedChangeWritesNoRecord()
{
    append(3);
    Expected<void> done =
        m_store->secrets.audit->commit(db(), T0, [](AuditLog::Writer &w) -> Expected<void> {
            Expected<AuditRecord> r = w.append(sampleEvent(99));
            if (!r)
                return r.failure();
            return fail(QStringLiteral("the change itself failed"));
        });
    QVERIFY(!done);
    QCOMPARE(exec(db(), QStringLiteral("SELECT count(*) FROM audit_records")).toInt(), 3);
    QCOMPARE(m_store->secrets.audit->anchor().read().value()->seq, 3);
    append(1);
    QVERIFY(verifyNow().ok());
}

void TestAuditLog::concurrentWritersKeepOneChain()
{
    constexpr int perThread = 150;
    QAtomicInt failures = 0;
    QVERIFY(m_store->inThreads(3, [&](int, QSqlDatabase c) {
        for (int i = 0; i < perThread; ++i) {
            if (!m_store->secrets.audit->record(c, sampleEvent(i), T0 + i))
                failures.ref();
        }
    }));
    QCOMPARE(failures.loadRelaxed(), 0);
    const AuditVerification v = verifyNow();
    QVERIFY2(v.ok(), qPrintable(v.problems.join(u'\n')));
    QCOMPARE(v.checked, 3 * perThread);
}

void TestAuditLog::authFailuresAreAggregated()
{
    const AuthFailureLog failures(m_store->secrets.audit);
    const QHostAddress attacker(QStringLiteral("203.0.113.5"));
    for (int i = 1; i <= 1000; ++i) {
        Expected<qint64> n = failures.record(db(), attacker, QStringLiteral("AbCdEfGhIjKl"),
                                             QStringLiteral("wrong secret"), T0 + i);
        QVERIFY(n);
        QCOMPARE(n.value(), i);
    }
    // 1st, 10th, 100th and 1000th failure: four records, counts in details.
    QCOMPARE(exec(db(), QStringLiteral(
                            "SELECT count(*) FROM audit_records WHERE action = 'auth.failure'"))
                 .toInt(),
             4);
    QVERIFY(
        exec(db(), QStringLiteral("SELECT details FROM audit_records ORDER BY seq DESC LIMIT 1"))
            .toString()
            .contains(QStringLiteral("\"count_this_hour\":1000")));
    // A new hour starts a new count.
    QCOMPARE(failures
                 .record(db(), attacker, QString(), QStringLiteral("x"),
                         T0 + AuthFailureLog::WindowMs + 5)
                 .value(),
             1);
    // IPv6 is counted per /64.
    for (const char *address : {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"})
        QVERIFY(failures.record(db(), QHostAddress(QString::fromLatin1(address)), QString(),
                                QStringLiteral("x"), T0));
    QCOMPARE(exec(db(), QStringLiteral("SELECT count FROM auth_failures WHERE source_ip = ?"),
                  {QStringLiteral("2001:db8:1:2::/64")})
                 .toInt(),
             2);
    QVERIFY(failures.prune(db(), T0 + 3 * AuthFailureLog::WindowMs));
    QCOMPARE(exec(db(), QStringLiteral("SELECT count(*) FROM auth_failures")).toInt(), 0);
    QVERIFY(verifyNow().ok());
}

void TestAuditLog::authFailureSourcesAreBounded()
{
    const AuthFailureLog failures(m_store->secrets.audit);
    const int sources = AuthFailureLog::DistinctSourcesPerHour + 50;
    for (int i = 0; i < sources; ++i) {
        const QHostAddress address(quint32(0x0A000000 + i)); // 10.0.0.0 + i
        QVERIFY(failures.record(db(), address, QString(), QStringLiteral("unknown key"), T0));
    }
    QCOMPARE(exec(db(), QStringLiteral("SELECT count(*) FROM auth_failures")).toInt(),
             AuthFailureLog::DistinctSourcesPerHour + 1);
    QCOMPARE(
        exec(db(), QStringLiteral("SELECT count FROM auth_failures WHERE source_ip = '*'")).toInt(),
        50);
    // One record per source, plus the first of "*" (and its 10th).
    QCOMPARE(exec(db(), QStringLiteral(
                            "SELECT count(*) FROM audit_records WHERE action = 'auth.failure'"))
                 .toInt(),
             AuthFailureLog::DistinctSourcesPerHour + 2);
}

QTEST_GUILESS_MAIN(TestAuditLog)
#include "tst_auditlog.moc"
