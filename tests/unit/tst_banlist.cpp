#include "api/banlist.h"
#include "audit/auditverifier.h"
#include "testsupport.h"

#include <QAtomicInt>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMutex>
#include <QSqlQuery>
#include <QTest>

using namespace Qt::StringLiterals;

namespace {
constexpr qint64 T0 = 1'800'000'000'000;
constexpr qint64 WindowMs = 300'000;
constexpr qint64 BanMs = 3'600'000;
const QString operatorActor = u"operator:test"_s;

struct AuditRow {
    QString actor;
    QString action;
    QString target;
    QString sourceIp;
    QJsonObject details;
};
} // namespace

// Bans after repeated authentication failures, on a real store: the
// sliding window, expiry, unbans made elsewhere, and their audit records.
class TestBanList : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void tenthFailureBans_data();
    void tenthFailureBans();
    void failuresOutsideTheWindowDoNotCount();
    void banExpires();
    void refreshPicksUpChangesMadeElsewhere();
    void listShowsBansInForce();
    void unbanOfAnAddressNotBanned();
    void banAndUnbanAreAudited();
    void aBanThatCannotBeWrittenStillHolds();
    void concurrentFailuresBanOnce();
    void aFloodOfSourcesIsForgottenOldestFirst();

private:
    QSqlDatabase db() { return m_store->db(); }
    const AuditLog &audit() { return *m_store->secrets.audit; }
    // Records `count` failures one millisecond apart from `from`; returns
    // how many of them banned.
    int fail(BanList &bans, const QString &address, int count, qint64 from);
    QList<AuditRow> audited(const QString &action);
    qint64 banRows();
    void verifyAuditChain();

    std::unique_ptr<TestSupport::TestStore> m_store;
};

void TestBanList::init() { m_store = TestSupport::makeStore(); }

void TestBanList::cleanup() { m_store.reset(); }

int TestBanList::fail(BanList &bans, const QString &address, int count, qint64 from)
{
    int banned = 0;
    for (int i = 0; i < count; ++i) {
        Expected<bool> r = bans.recordFailure(db(), QHostAddress(address), from + i);
        if (!r)
            qFatal("recordFailure: %s", qPrintable(r.error()));
        banned += r.value() ? 1 : 0;
    }
    return banned;
}

QList<AuditRow> TestBanList::audited(const QString &action)
{
    QSqlQuery q(db());
    q.prepare(u"SELECT actor, action, target, source_ip, details FROM audit_records "
              "WHERE action = ? ORDER BY seq"_s);
    q.addBindValue(action);
    if (!q.exec())
        qFatal("cannot read the audit log");
    QList<AuditRow> rows;
    while (q.next())
        rows.append({q.value(0).toString(), q.value(1).toString(), q.value(2).toString(),
                     q.value(3).toString(),
                     QJsonDocument::fromJson(q.value(4).toString().toUtf8()).object()});
    return rows;
}

qint64 TestBanList::banRows()
{
    QSqlQuery q(db());
    if (!q.exec(u"SELECT count(*) FROM api_bans"_s) || !q.next())
        qFatal("cannot count the bans");
    return q.value(0).toLongLong();
}

void TestBanList::verifyAuditChain()
{
    Expected<AuditVerification> v =
        AuditVerifier::verify(db(), audit().key(), audit().anchor().read().value());
    VERIFY_EXPECTED(v);
    QVERIFY2(v->ok(), qPrintable(v->problems.join(u"; "_s)));
}

void TestBanList::tenthFailureBans_data()
{
    QTest::addColumn<QStringList>("addresses"); // used in turn, one per failure
    QTest::addColumn<QString>("source");

    QTest::newRow("IPv4") << QStringList{u"203.0.113.9"_s} << u"203.0.113.9"_s;
    QTest::newRow("IPv4-mapped counts as IPv4")
        << QStringList{u"::ffff:203.0.113.9"_s, u"203.0.113.9"_s} << u"203.0.113.9"_s;
    QTest::newRow("hosts of one IPv6 /64")
        << QStringList{u"2001:db8:5:6::1"_s, u"2001:db8:5:6::2"_s, u"2001:db8:5:6:a:b:c:d"_s}
        << u"2001:db8:5:6::/64"_s;
}

void TestBanList::tenthFailureBans()
{
    QFETCH(QStringList, addresses);
    QFETCH(QString, source);

    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    for (int i = 0; i < 9; ++i) {
        const QHostAddress address(addresses.at(i % addresses.size()));
        Expected<bool> banned = bans.recordFailure(db(), address, T0 + i * 1000);
        VERIFY_EXPECTED(banned);
        QVERIFY2(!banned.value(), qPrintable(u"failure %1 banned"_s.arg(i + 1)));
        QVERIFY(!bans.isBanned(address, T0 + i * 1000));
    }
    QCOMPARE(banRows(), 0);
    const qint64 at = T0 + 9000;
    Expected<bool> tenth = bans.recordFailure(db(), QHostAddress(addresses.last()), at);
    VERIFY_EXPECTED(tenth);
    QVERIFY(tenth.value());
    for (const QString &address : std::as_const(addresses))
        QVERIFY(bans.isBanned(QHostAddress(address), at));
    QVERIFY(!bans.isBanned(QHostAddress(u"198.51.100.1"_s), at));
    QVERIFY(!bans.isBanned(QHostAddress(u"2001:db8:5:7::1"_s), at));

    Expected<QList<BanList::Ban>> listed = BanList::list(db(), at);
    VERIFY_EXPECTED(listed);
    QCOMPARE(listed->size(), 1);
    const BanList::Ban &ban = listed->first();
    QCOMPARE(ban.address, source);
    QCOMPARE(ban.failures, 10);
    QCOMPARE(ban.bannedAt, at);
    QCOMPARE(ban.expiresAt, at + BanMs);
    QVERIFY(!ban.reason.isEmpty());

    // While banned, further failures neither count nor ban again.
    Expected<bool> again = bans.recordFailure(db(), QHostAddress(addresses.first()), at + 1);
    VERIFY_EXPECTED(again);
    QVERIFY(!again.value());
    QCOMPARE(audited(u"api.address_banned"_s).size(), 1);
}

void TestBanList::failuresOutsideTheWindowDoNotCount()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    const QString ip = u"192.0.2.44"_s;
    // Nine failures: one at T0, eight a second later.
    QCOMPARE(fail(bans, ip, 1, T0), 0);
    QCOMPARE(fail(bans, ip, 8, T0 + 1000), 0);
    // A failure exactly one window after the first: that one has left the
    // window, so there are still nine in it.
    QCOMPARE(fail(bans, ip, 1, T0 + WindowMs), 0);
    QVERIFY(!bans.isBanned(QHostAddress(ip), T0 + WindowMs));
    // The next one makes ten.
    QCOMPARE(fail(bans, ip, 1, T0 + WindowMs + 1), 1);
    QVERIFY(bans.isBanned(QHostAddress(ip), T0 + WindowMs + 1));

    // A slow guesser, one failure per minute, is never banned.
    const QString slow = u"192.0.2.45"_s;
    int banned = 0;
    for (int i = 0; i < 30; ++i)
        banned += fail(bans, slow, 1, T0 + i * 60'000);
    QCOMPARE(banned, 0);
    QCOMPARE(banRows(), 1);

    // A refresh forgets only windows that ran out.
    const QString running = u"192.0.2.46"_s;
    QCOMPARE(fail(bans, running, 9, T0 + 2 * WindowMs), 0);
    VERIFY_EXPECTED(bans.refresh(db(), T0 + 2 * WindowMs + 100));
    QCOMPARE(fail(bans, running, 1, T0 + 2 * WindowMs + 200), 1);
}

void TestBanList::banExpires()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    const QString ip = u"198.51.100.23"_s;
    const QHostAddress address(ip);
    QCOMPARE(fail(bans, ip, 10, T0), 1);
    const qint64 bannedAt = T0 + 9;
    QVERIFY(bans.isBanned(address, bannedAt + BanMs - 1));
    QVERIFY(!bans.isBanned(address, bannedAt + BanMs));
    Expected<QList<BanList::Ban>> inForce = BanList::list(db(), bannedAt + BanMs - 1);
    VERIFY_EXPECTED(inForce);
    QCOMPARE(inForce->size(), 1);
    Expected<QList<BanList::Ban>> expired = BanList::list(db(), bannedAt + BanMs);
    VERIFY_EXPECTED(expired);
    QVERIFY(expired->isEmpty());
    // A refresh after the expiry agrees.
    VERIFY_EXPECTED(bans.refresh(db(), bannedAt + BanMs));
    QVERIFY(!bans.isBanned(address, bannedAt + BanMs));

    // Failures count again, and a second ban replaces the first row.
    const qint64 later = bannedAt + BanMs + 1000;
    QCOMPARE(fail(bans, ip, 9, later), 0);
    QCOMPARE(fail(bans, ip, 1, later + 9), 1);
    QCOMPARE(banRows(), 1);
    Expected<QList<BanList::Ban>> second = BanList::list(db(), later + 9);
    VERIFY_EXPECTED(second);
    QCOMPARE(second->size(), 1);
    QCOMPARE(second->first().bannedAt, later + 9);
    QCOMPARE(second->first().expiresAt, later + 9 + BanMs);
    QCOMPARE(audited(u"api.address_banned"_s).size(), 2);
}

void TestBanList::refreshPicksUpChangesMadeElsewhere()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    const QHostAddress address(u"203.0.113.77"_s);
    QCOMPARE(fail(bans, address.toString(), 10, T0), 1);
    const qint64 now = T0 + 1000;

    // Another engine's copy (one started later) reads the ban from the store.
    BanList restarted(m_store->secrets.audit, {10, WindowMs, BanMs});
    QVERIFY(!restarted.isBanned(address, now));
    VERIFY_EXPECTED(restarted.refresh(db(), now));
    QVERIFY(restarted.isBanned(address, now));

    // framehousectl lifts it on a connection of its own.
    bool lifted = false;
    QVERIFY(m_store->inThreads(1, [&](int, QSqlDatabase own) {
        lifted = BanList::unban(own, audit(), address.toString(), operatorActor, now).ok();
    }));
    QVERIFY(lifted);
    // The in-memory copy does not know until it is refreshed.
    QVERIFY(bans.isBanned(address, now + 1));
    VERIFY_EXPECTED(bans.refresh(db(), now + 1));
    QVERIFY(!bans.isBanned(address, now + 1));
    // The count starts afresh after an unban.
    QCOMPARE(fail(bans, address.toString(), 9, now + 2), 0);
    QCOMPARE(fail(bans, address.toString(), 1, now + 20), 1);
}

void TestBanList::listShowsBansInForce()
{
    BanList shortBans(m_store->secrets.audit, {3, WindowMs, 60'000});
    BanList longBans(m_store->secrets.audit, {3, WindowMs, BanMs});
    QCOMPARE(fail(longBans, u"192.0.2.3"_s, 3, T0 + 300), 1);
    QCOMPARE(fail(shortBans, u"192.0.2.1"_s, 3, T0 + 100), 1);
    QCOMPARE(fail(longBans, u"2001:db8::9"_s, 3, T0 + 200), 1);
    QCOMPARE(fail(longBans, u"192.0.2.2"_s, 3, T0 + 100), 1);

    Expected<QList<BanList::Ban>> all = BanList::list(db(), T0 + 1000);
    VERIFY_EXPECTED(all);
    QStringList order;
    for (const BanList::Ban &ban : all.value())
        order << ban.address;
    // By the time of the ban (T0 + 102 twice: then by address).
    QCOMPARE(order,
             (QStringList{u"192.0.2.1"_s, u"192.0.2.2"_s, u"2001:db8::/64"_s, u"192.0.2.3"_s}));
    QCOMPARE(all->at(0).failures, 3);
    QCOMPARE(all->at(0).bannedAt, T0 + 102);
    QCOMPARE(all->at(0).expiresAt, T0 + 102 + 60'000);
    QCOMPARE(all->at(3).expiresAt, T0 + 302 + BanMs);

    // Once the short ban has run out it is no longer listed.
    Expected<QList<BanList::Ban>> later = BanList::list(db(), T0 + 102 + 60'000);
    VERIFY_EXPECTED(later);
    QCOMPARE(later->size(), 3);
    QCOMPARE(later->first().address, u"192.0.2.2"_s);
}

void TestBanList::unbanOfAnAddressNotBanned()
{
    Expected<void> never = BanList::unban(db(), audit(), u"192.0.2.200"_s, operatorActor, T0);
    QVERIFY(!never);
    QCOMPARE(never.code(), BanList::NotBanned);
    QVERIFY(never.error().contains(u"192.0.2.200"_s));

    // An expired ban is not a ban either; its row stays as it was.
    BanList bans(m_store->secrets.audit, {2, WindowMs, 1000});
    QCOMPARE(fail(bans, u"192.0.2.201"_s, 2, T0), 1);
    Expected<void> expired =
        BanList::unban(db(), audit(), u"192.0.2.201"_s, operatorActor, T0 + 1 + 1000);
    QVERIFY(!expired);
    QCOMPARE(expired.code(), BanList::NotBanned);
    QCOMPARE(banRows(), 1);

    // Lifting a ban twice: the second time there is none.
    QCOMPARE(fail(bans, u"192.0.2.202"_s, 2, T0 + 5000), 1);
    VERIFY_EXPECTED(BanList::unban(db(), audit(), u"192.0.2.202"_s, operatorActor, T0 + 5002));
    Expected<void> twice =
        BanList::unban(db(), audit(), u"192.0.2.202"_s, operatorActor, T0 + 5003);
    QCOMPARE(twice.code(), BanList::NotBanned);
    QCOMPARE(audited(u"api.address_unbanned"_s).size(), 1);
}

void TestBanList::banAndUnbanAreAudited()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    QCOMPARE(fail(bans, u"2001:db8:aa:bb::5"_s, 10, T0), 1);
    // An operator may name any host of the banned /64, or the /64.
    VERIFY_EXPECTED(
        BanList::unban(db(), audit(), u"2001:db8:aa:bb::77"_s, operatorActor, T0 + 5000));
    VERIFY_EXPECTED(bans.refresh(db(), T0 + 5001));
    QCOMPARE(fail(bans, u"2001:db8:aa:bb::5"_s, 10, T0 + 6000), 1);
    VERIFY_EXPECTED(
        BanList::unban(db(), audit(), u"2001:db8:aa:bb::/64"_s, operatorActor, T0 + 9000));
    QCOMPARE(banRows(), 0);

    const QList<AuditRow> banned = audited(u"api.address_banned"_s);
    QCOMPARE(banned.size(), 2);
    const AuditRow &first = banned.first();
    QCOMPARE(first.actor, u"engine"_s);
    QCOMPARE(first.target, u"2001:db8:aa:bb::/64"_s);
    QCOMPARE(first.sourceIp, u"2001:db8:aa:bb::/64"_s);
    QCOMPARE(first.details.value(u"failures"_s).toInteger(), 10);
    QCOMPARE(first.details.value(u"window_s"_s).toDouble(), 300.0);
    QCOMPARE(first.details.value(u"expires_at"_s).toInteger(), T0 + 9 + BanMs);

    const QList<AuditRow> unbanned = audited(u"api.address_unbanned"_s);
    QCOMPARE(unbanned.size(), 2);
    for (const AuditRow &row : unbanned) {
        QCOMPARE(row.actor, operatorActor);
        QCOMPARE(row.target, u"2001:db8:aa:bb::/64"_s);
        QCOMPARE(row.details.value(u"failures"_s).toInteger(), 10);
    }
    QCOMPARE(unbanned.last().details.value(u"banned_at"_s).toInteger(), T0 + 6009);
    verifyAuditChain();
}

void TestBanList::aBanThatCannotBeWrittenStillHolds()
{
    QSqlQuery trigger(db());
    QVERIFY(trigger.exec(u"CREATE TRIGGER refuse BEFORE INSERT ON api_bans "
                         "BEGIN SELECT RAISE(ABORT, 'disk full'); END"_s));
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    const QHostAddress address(u"192.0.2.99"_s);
    QCOMPARE(fail(bans, address.toString(), 9, T0), 0);
    Expected<bool> tenth = bans.recordFailure(db(), address, T0 + 9);
    QVERIFY(!tenth);
    QVERIFY2(tenth.error().contains(u"disk full"_s), qPrintable(tenth.error()));
    // Refused for now all the same; nothing was written or audited.
    QVERIFY(bans.isBanned(address, T0 + 10));
    QCOMPARE(banRows(), 0);
    QCOMPARE(audited(u"api.address_banned"_s).size(), 0);
    // The store is the record: a refresh lifts what it does not hold.
    VERIFY_EXPECTED(bans.refresh(db(), T0 + 11));
    QVERIFY(!bans.isBanned(address, T0 + 11));
    verifyAuditChain();
}

void TestBanList::concurrentFailuresBanOnce()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    QAtomicInt banned;
    QMutex errorsMutex;
    QStringList errors;
    auto count = [&](const Expected<bool> &r) {
        if (r) {
            banned.fetchAndAddRelaxed(r.value() ? 1 : 0);
            return;
        }
        QMutexLocker lock(&errorsMutex);
        errors << r.error();
    };
    // The audit anchor moves only after a commit: two threads writing the
    // very first record of an empty log would trip over each other's
    // missing anchor. An engine's log is never empty; neither is this one.
    QCOMPARE(fail(bans, u"192.0.2.250"_s, 10, T0 - 100), 1);
    QVERIFY(m_store->inThreads(4, [&](int t, QSqlDatabase own) {
        for (int i = 0; i < 25; ++i) {
            count(bans.recordFailure(own, QHostAddress(u"198.51.100.%1"_s.arg(t + 1)), T0 + i));
            // Every thread also fails under one shared source.
            count(bans.recordFailure(own, QHostAddress(u"2001:db8:f::%1"_s.arg(t + 1)), T0 + i));
        }
    }));
    QVERIFY2(errors.isEmpty(), qPrintable(errors.join(u'\n')));
    // Four addresses of their own and one shared /64: five bans, no more.
    QCOMPARE(banned.loadRelaxed(), 5);
    QCOMPARE(banRows(), 6);
    QCOMPARE(audited(u"api.address_banned"_s).size(), 6);
    verifyAuditChain();
}

void TestBanList::aFloodOfSourcesIsForgottenOldestFirst()
{
    BanList bans(m_store->secrets.audit, {10, WindowMs, BanMs});
    const QString early = u"192.0.2.1"_s;
    QCOMPARE(fail(bans, early, 9, T0), 0);
    // 100000 other sources fail once each, all within the window.
    const int flood = 100000;
    for (int i = 0; i < flood; ++i) {
        const QHostAddress source(quint32(0x0a000000 + i)); // 10.x.y.z
        Expected<bool> r = bans.recordFailure(db(), source, T0 + 100 + i / 1000);
        QVERIFY(r && !r.value());
    }
    const qint64 after = T0 + 100 + flood / 1000;
    // The oldest window went to make room: its tenth failure is its first.
    QCOMPARE(fail(bans, early, 1, after), 0);
    QVERIFY(!bans.isBanned(QHostAddress(early), after));
    // The newest windows were kept: the last source of the flood bans on
    // its tenth failure.
    const QString last = QHostAddress(quint32(0x0a000000 + flood - 1)).toString();
    QCOMPARE(fail(bans, last, 8, after), 0);
    QCOMPARE(fail(bans, last, 1, after + 8), 1);
}

QTEST_GUILESS_MAIN(TestBanList)
#include "tst_banlist.moc"
