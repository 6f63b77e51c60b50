#include "api/connectionlimiter.h"
#include "api/ratelimiter.h"

#include <QAtomicInt>
#include <QTest>
#include <QThread>

#include <memory>
#include <vector>

using namespace Qt::StringLiterals;

namespace {
constexpr qint64 T0 = 5'000'000;

int allowedOf(RateLimiter &limiter, const QString &bucket, double rate, double burst, qint64 now,
              int tries)
{
    int allowed = 0;
    for (int i = 0; i < tries; ++i)
        allowed += limiter.take(bucket, rate, burst, now).allowed ? 1 : 0;
    return allowed;
}
} // namespace

// The token buckets of the API (per address, per key) and the connection
// caps, on a simulated clock: every time is passed in.
class TestRateLimiter : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void burstThenRetryAfter_data();
    void burstThenRetryAfter();
    void refillsOverTime();
    void bucketsAreSeparate();
    void eachCallBringsItsOwnRate();
    void aClockReadOutOfOrderTakesNothingBack();
    void fullBucketsAreForgotten();
    void boundedNumberOfBuckets();
    void concurrentTakesNeverExceedTheBurst();

    void connectionCaps();
    void connectionSources_data();
    void connectionSources();
    void releaseMakesRoom();
};

void TestRateLimiter::burstThenRetryAfter_data()
{
    QTest::addColumn<double>("rate");
    QTest::addColumn<double>("burst");
    QTest::addColumn<int>("retryAfter");

    // Retry-After is the wait for one whole token, rounded up.
    QTest::newRow("10/s") << 10.0 << 20.0 << 1;
    QTest::newRow("1/s") << 1.0 << 5.0 << 1;
    QTest::newRow("0.5/s") << 0.5 << 3.0 << 2;
    QTest::newRow("0.3/s") << 0.3 << 2.0 << 4;
    QTest::newRow("1000/h") << 1000.0 / 3600.0 << 100.0 << 4;
    QTest::newRow("1/h") << 1.0 / 3600.0 << 1.0 << 3600;
}

void TestRateLimiter::burstThenRetryAfter()
{
    QFETCH(double, rate);
    QFETCH(double, burst);
    QFETCH(int, retryAfter);

    RateLimiter limiter;
    for (int i = 0; i < int(burst); ++i) {
        const RateLimiter::Decision d = limiter.take(u"10.0.0.1"_s, rate, burst, T0);
        QVERIFY2(d.allowed, qPrintable(u"request %1 of the burst"_s.arg(i + 1)));
        QCOMPARE(d.retryAfterSeconds, 0);
    }
    const RateLimiter::Decision refused = limiter.take(u"10.0.0.1"_s, rate, burst, T0);
    QVERIFY(!refused.allowed);
    QCOMPARE(refused.retryAfterSeconds, retryAfter);
    // Half way there the wait is shorter, never below one second.
    const qint64 half = qint64(500.0 / rate);
    const RateLimiter::Decision later = limiter.take(u"10.0.0.1"_s, rate, burst, T0 + half);
    QVERIFY(!later.allowed);
    QVERIFY(later.retryAfterSeconds >= 1);
    QVERIFY(later.retryAfterSeconds <= retryAfter);
    // Waiting what Retry-After said is enough.
    QVERIFY(limiter.take(u"10.0.0.1"_s, rate, burst, T0 + retryAfter * 1000LL).allowed);
}

void TestRateLimiter::refillsOverTime()
{
    RateLimiter limiter;
    const QString ip = u"192.0.2.7"_s;
    QCOMPARE(allowedOf(limiter, ip, 2, 4, T0, 10), 4);
    // 2 tokens per second: 499 ms give less than one token, 500 ms one.
    QVERIFY(!limiter.take(ip, 2, 4, T0 + 499).allowed);
    QVERIFY(limiter.take(ip, 2, 4, T0 + 500).allowed);
    QVERIFY(!limiter.take(ip, 2, 4, T0 + 500).allowed);
    // 1.5 s later: three more.
    QCOMPARE(allowedOf(limiter, ip, 2, 4, T0 + 2000, 10), 3);
    // A long pause refills to the burst, never beyond it.
    QCOMPARE(allowedOf(limiter, ip, 2, 4, T0 + 3'600'000, 10), 4);
    // Many small steps add up exactly: 100 steps of 5 ms at 2/s is one token.
    QVERIFY(!limiter.take(ip, 2, 4, T0 + 3'600'000).allowed);
    qint64 now = T0 + 3'600'000;
    int allowed = 0;
    for (int i = 0; i < 100; ++i) {
        now += 5;
        allowed += limiter.take(ip, 2, 4, now).allowed ? 1 : 0;
    }
    QCOMPARE(allowed, 1);
}

void TestRateLimiter::bucketsAreSeparate()
{
    RateLimiter limiter;
    QCOMPARE(allowedOf(limiter, u"ip:10.0.0.1"_s, 1, 3, T0, 5), 3);
    QCOMPARE(allowedOf(limiter, u"ip:10.0.0.2"_s, 1, 3, T0, 5), 3);
    QCOMPARE(allowedOf(limiter, u"key:fhk_a"_s, 1, 3, T0, 5), 3);
    QVERIFY(!limiter.take(u"ip:10.0.0.1"_s, 1, 3, T0).allowed);
    QCOMPARE(limiter.size(), 3);
}

void TestRateLimiter::eachCallBringsItsOwnRate()
{
    RateLimiter limiter;
    // Two keys with their own limits, in one limiter.
    QCOMPARE(allowedOf(limiter, u"key:slow"_s, 1.0 / 3600.0, 2, T0, 5), 2);
    QCOMPARE(allowedOf(limiter, u"key:fast"_s, 100, 50, T0, 60), 50);
    QCOMPARE(limiter.take(u"key:slow"_s, 1.0 / 3600.0, 2, T0).retryAfterSeconds, 3600);
    QCOMPARE(limiter.take(u"key:fast"_s, 100, 50, T0).retryAfterSeconds, 1);
    // One second on, the fast key has 100 tokens' worth (capped at 50),
    // the slow one still none.
    QCOMPARE(allowedOf(limiter, u"key:fast"_s, 100, 50, T0 + 1000, 60), 50);
    QVERIFY(!limiter.take(u"key:slow"_s, 1.0 / 3600.0, 2, T0 + 1000).allowed);
    // A key whose limit is raised gets the new rate from then on.
    QVERIFY(!limiter.take(u"key:slow"_s, 10, 20, T0 + 1000).allowed);
    QCOMPARE(allowedOf(limiter, u"key:slow"_s, 10, 20, T0 + 2000, 30), 10);
    // And a lower burst caps what a bucket holds.
    QCOMPARE(allowedOf(limiter, u"key:slow"_s, 10, 3, T0 + 60'000, 30), 3);
}

void TestRateLimiter::aClockReadOutOfOrderTakesNothingBack()
{
    RateLimiter limiter;
    QCOMPARE(allowedOf(limiter, u"a"_s, 1, 2, T0 + 1000, 2), 2);
    // A thread that read the clock a moment earlier neither gains nor
    // loses tokens, and does not move the bucket's time backwards.
    QVERIFY(!limiter.take(u"a"_s, 1, 2, T0).allowed);
    QVERIFY(limiter.take(u"a"_s, 1, 2, T0 + 2000).allowed);
    QVERIFY(!limiter.take(u"a"_s, 1, 2, T0 + 2000).allowed);
}

void TestRateLimiter::fullBucketsAreForgotten()
{
    RateLimiter limiter;
    for (int i = 0; i < 50; ++i)
        QVERIFY(limiter.take(u"10.1.0.%1"_s.arg(i), 1, 5, T0).allowed);
    QCOMPARE(limiter.size(), 50);
    // A minute later all of them are full again; a new key sweeps them.
    QVERIFY(limiter.take(u"10.2.0.1"_s, 1, 5, T0 + 61'000).allowed);
    QCOMPARE(limiter.size(), 1);
    // Forgetting a full bucket changes nothing for it: the burst again.
    QCOMPARE(allowedOf(limiter, u"10.1.0.0"_s, 1, 5, T0 + 61'000, 10), 5);
}

void TestRateLimiter::boundedNumberOfBuckets()
{
    RateLimiter limiter(3);
    // 1 token per second, burst 2: a bucket that spent one token is full
    // again after a second.
    for (const QString &ip : {u"a"_s, u"b"_s, u"c"_s})
        QVERIFY(limiter.take(ip, 1, 2, T0).allowed);
    QCOMPARE(limiter.size(), 3);

    // No room and no full bucket: a new key is refused, not let through
    // unlimited, and told when there will be room.
    const RateLimiter::Decision refused = limiter.take(u"d"_s, 1, 2, T0 + 200);
    QVERIFY(!refused.allowed);
    QCOMPARE(refused.retryAfterSeconds, 1);
    QCOMPARE(limiter.size(), 3);
    for (int i = 0; i < 1000; ++i)
        QVERIFY(!limiter.take(u"flood-%1"_s.arg(i), 1, 2, T0 + 300).allowed);
    QCOMPARE(limiter.size(), 3);
    // Keys that have a bucket are still served.
    QVERIFY(limiter.take(u"a"_s, 1, 2, T0 + 300).allowed);

    // b and c are full again at T0 + 1000 (a is not: it spent its last
    // token at T0 + 300): room for two.
    QVERIFY(limiter.take(u"d"_s, 1, 2, T0 + 1000).allowed);
    QVERIFY(limiter.take(u"e"_s, 1, 2, T0 + 1000).allowed);
    QCOMPARE(limiter.size(), 3);
    QVERIFY(!limiter.take(u"f"_s, 1, 2, T0 + 1000).allowed);
    QCOMPARE(limiter.size(), 3);
    // The refusals took nothing from the keys that have a bucket: a has
    // the one token it gained since T0 + 300.
    QVERIFY(limiter.take(u"a"_s, 1, 2, T0 + 1000).allowed);
    QVERIFY(!limiter.take(u"a"_s, 1, 2, T0 + 1000).allowed);
}

void TestRateLimiter::concurrentTakesNeverExceedTheBurst()
{
    RateLimiter limiter;
    constexpr int Threads = 8;
    constexpr int TriesEach = 2000;
    constexpr double Burst = 500;
    QAtomicInt allowed;
    QAtomicInt otherAllowed;
    std::vector<std::unique_ptr<QThread>> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.emplace_back(QThread::create([&limiter, &allowed, &otherAllowed, t] {
            for (int i = 0; i < TriesEach; ++i) {
                if (limiter.take(u"shared"_s, 10, Burst, T0).allowed)
                    allowed.fetchAndAddRelaxed(1);
                // Each thread also has a bucket of its own.
                if (limiter.take(u"own-%1"_s.arg(t), 10, 3, T0).allowed)
                    otherAllowed.fetchAndAddRelaxed(1);
            }
        }));
    }
    for (auto &thread : threads)
        thread->start();
    for (auto &thread : threads)
        QVERIFY(thread->wait(QDeadlineTimer(60'000)));
    QCOMPARE(allowed.loadRelaxed(), int(Burst));
    QCOMPARE(otherAllowed.loadRelaxed(), Threads * 3);
    QCOMPARE(limiter.size(), Threads + 1);
}

void TestRateLimiter::connectionCaps()
{
    ConnectionLimiter limiter(5, 2);
    const QHostAddress a(u"198.51.100.1"_s);
    QCOMPARE(limiter.acquire(a), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.acquire(a), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.acquire(a), ConnectionLimiter::Verdict::PerIpExceeded);
    QCOMPARE(limiter.from(a), 2);
    QCOMPARE(limiter.total(), 2);

    for (int i = 2; i <= 4; ++i)
        QCOMPARE(limiter.acquire(QHostAddress(u"198.51.100.%1"_s.arg(i))),
                 ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.total(), 5);
    // Full in total: a new address is refused too, and refusals count nothing.
    QCOMPARE(limiter.acquire(QHostAddress(u"198.51.100.9"_s)),
             ConnectionLimiter::Verdict::TotalExceeded);
    QCOMPARE(limiter.from(QHostAddress(u"198.51.100.9"_s)), 0);
    QCOMPARE(limiter.total(), 5);
}

void TestRateLimiter::connectionSources_data()
{
    QTest::addColumn<QString>("first");
    QTest::addColumn<QString>("second");
    QTest::addColumn<bool>("sameSource");

    QTest::newRow("one IPv4 address") << u"203.0.113.5"_s << u"203.0.113.5"_s << true;
    QTest::newRow("IPv4 neighbours") << u"203.0.113.5"_s << u"203.0.113.6"_s << false;
    QTest::newRow("IPv6 same /64") << u"2001:db8:1:2::1"_s << u"2001:db8:1:2:ffff:1:2:3"_s << true;
    QTest::newRow("IPv6 next /64") << u"2001:db8:1:2::1"_s << u"2001:db8:1:3::1"_s << false;
    QTest::newRow("IPv4-mapped is IPv4") << u"::ffff:203.0.113.5"_s << u"203.0.113.5"_s << true;
    QTest::newRow("IPv4-mapped neighbours")
        << u"::ffff:203.0.113.5"_s << u"::ffff:203.0.113.6"_s << false;
}

void TestRateLimiter::connectionSources()
{
    QFETCH(QString, first);
    QFETCH(QString, second);
    QFETCH(bool, sameSource);

    ConnectionLimiter limiter(100, 1);
    QCOMPARE(limiter.acquire(QHostAddress(first)), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.acquire(QHostAddress(second)), sameSource
                                                        ? ConnectionLimiter::Verdict::PerIpExceeded
                                                        : ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.from(QHostAddress(second)), 1);
    QCOMPARE(limiter.total(), sameSource ? 1 : 2);
}

void TestRateLimiter::releaseMakesRoom()
{
    ConnectionLimiter limiter(2, 1);
    const QHostAddress v6a(u"2001:db8::1"_s);
    const QHostAddress v6b(u"2001:db8::2"_s); // the same /64
    const QHostAddress v4(u"192.0.2.1"_s);
    const QHostAddress mapped(u"::ffff:192.0.2.1"_s);
    QCOMPARE(limiter.acquire(v6a), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.acquire(v6b), ConnectionLimiter::Verdict::PerIpExceeded);
    QCOMPARE(limiter.acquire(mapped), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.acquire(QHostAddress(u"192.0.2.2"_s)),
             ConnectionLimiter::Verdict::TotalExceeded);

    // Released by another address of the same /64: it frees that source.
    limiter.release(v6b);
    QCOMPARE(limiter.from(v6a), 0);
    QCOMPARE(limiter.total(), 1);
    QCOMPARE(limiter.acquire(v6b), ConnectionLimiter::Verdict::Accepted);
    // The mapped connection is released under its plain IPv4 form.
    limiter.release(v4);
    QCOMPARE(limiter.from(mapped), 0);
    QCOMPARE(limiter.acquire(QHostAddress(u"192.0.2.2"_s)), ConnectionLimiter::Verdict::Accepted);
    QCOMPARE(limiter.total(), 2);

    // A release that had no acquire does not open room.
    limiter.release(QHostAddress(u"192.0.2.99"_s));
    QCOMPARE(limiter.total(), 2);
    QCOMPARE(limiter.acquire(QHostAddress(u"192.0.2.3"_s)),
             ConnectionLimiter::Verdict::TotalExceeded);
    limiter.release(v6a);
    limiter.release(QHostAddress(u"192.0.2.2"_s));
    QCOMPARE(limiter.total(), 0);
    QCOMPARE(limiter.from(v6a), 0);
}

QTEST_GUILESS_MAIN(TestRateLimiter)
#include "tst_ratelimiter.moc"
