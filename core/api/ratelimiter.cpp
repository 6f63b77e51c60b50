#include "ratelimiter.h"

#include <QMutexLocker>

#include <algorithm>
#include <cmath>
#include <limits>

namespace {
// Tokens are fractions summed over many refills: without some slack, a
// bucket that should hold exactly one token can hold 0.9999999999.
constexpr double Slack = 1e-9;
// Full buckets are dropped at most this often when there is room; a sweep
// walks the whole map.
constexpr qint64 SweepIntervalMs = 60000;
// A rate of 0 would never refill; a client still gets a finite Retry-After.
constexpr int LongestRetryAfterSeconds = 86400;

double levelAt(double tokens, qint64 updatedMs, double ratePerSecond, double burst, qint64 nowMs)
{
    // Calls from several threads may arrive with clocks read a little out
    // of order: time never runs backwards for a bucket.
    const qint64 elapsedMs = std::max<qint64>(0, nowMs - updatedMs);
    return std::min(burst, tokens + double(elapsedMs) / 1000.0 * std::max(0.0, ratePerSecond));
}

int wholeSeconds(double seconds)
{
    return int(std::clamp(std::ceil(seconds - Slack), 1.0, double(LongestRetryAfterSeconds)));
}

int secondsToGain(double tokens, double ratePerSecond)
{
    if (ratePerSecond <= 0)
        return LongestRetryAfterSeconds;
    return wholeSeconds(tokens / ratePerSecond);
}
} // namespace

RateLimiter::RateLimiter(qsizetype maxBuckets)
    : m_maxBuckets(std::max<qsizetype>(1, maxBuckets))
    , m_nextSweepMs(std::numeric_limits<qint64>::min())
    , m_noRoomUntilMs(std::numeric_limits<qint64>::min())
{}

RateLimiter::Decision RateLimiter::take(const QString &bucket, double ratePerSecond, double burst,
                                        qint64 nowMs)
{
    // A burst below one token would refuse every request for good.
    burst = std::max(burst, 1.0);
    QMutexLocker lock(&m_mutex);
    auto it = m_buckets.find(bucket);
    if (it == m_buckets.end()) {
        if (nowMs >= m_nextSweepMs ||
            (m_buckets.size() >= m_maxBuckets && nowMs >= m_noRoomUntilMs))
            sweep(nowMs);
        if (m_buckets.size() >= m_maxBuckets) {
            // Every bucket still holds fewer tokens than it may: letting
            // this key through unlimited would make a flood of new keys a
            // way around the limit.
            return {false, wholeSeconds(double(m_noRoomUntilMs - nowMs) / 1000.0)};
        }
        it = m_buckets.insert(bucket, Bucket{burst, nowMs, ratePerSecond, burst});
    }
    Bucket &b = *it;
    // Refilled at the rate it had until now; the new limits apply from here.
    b.tokens = std::min(levelAt(b.tokens, b.updatedMs, b.ratePerSecond, b.burst, nowMs), burst);
    b.updatedMs = std::max(b.updatedMs, nowMs);
    b.ratePerSecond = ratePerSecond;
    b.burst = burst;
    if (b.tokens + Slack >= 1.0) {
        b.tokens = std::max(0.0, b.tokens - 1.0);
        return {true, 0};
    }
    return {false, secondsToGain(1.0 - b.tokens, ratePerSecond)};
}

qsizetype RateLimiter::size() const
{
    QMutexLocker lock(&m_mutex);
    return m_buckets.size();
}

void RateLimiter::sweep(qint64 nowMs)
{
    // A full bucket is the same as a bucket never made, so dropping it
    // forgets nothing.
    double soonestFullMs = std::numeric_limits<double>::infinity();
    for (auto it = m_buckets.begin(); it != m_buckets.end();) {
        const Bucket &b = *it;
        const double level = levelAt(b.tokens, b.updatedMs, b.ratePerSecond, b.burst, nowMs);
        if (level + Slack >= b.burst) {
            it = m_buckets.erase(it);
            continue;
        }
        if (b.ratePerSecond > 0) {
            const double fullInMs = (b.burst - level) / b.ratePerSecond * 1000.0;
            soonestFullMs =
                std::min(soonestFullMs, double(std::max(b.updatedMs, nowMs) - nowMs) + fullInMs);
        }
        ++it;
    }
    m_nextSweepMs = nowMs + SweepIntervalMs;
    m_noRoomUntilMs = std::numeric_limits<qint64>::min();
    if (m_buckets.size() >= m_maxBuckets) {
        // Until the first bucket can be full again another sweep would find
        // nothing to drop: a flood of new keys is refused without one. The
        // map only gets room again through a sweep, so this stays true.
        const double longestMs = double(LongestRetryAfterSeconds) * 1000.0;
        m_noRoomUntilMs = nowMs + qint64(std::ceil(std::min(soonestFullMs, longestMs)));
    }
}
