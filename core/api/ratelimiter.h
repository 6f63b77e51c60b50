#pragma once

#include <QHash>
#include <QMutex>
#include <QString>

// Token buckets keyed by a string (an address, a key id), shared by every
// API thread. A bucket holds up to `burst` tokens and gains `ratePerSecond`
// tokens per second; a request takes one. Buckets that have filled up again
// are forgotten, so a flood of distinct keys cannot grow the map without
// bound (at most maxBuckets; past that the oldest full ones go first, and a
// request that finds no room is refused rather than let through).
class RateLimiter {
public:
    struct Decision {
        bool allowed = false;
        int retryAfterSeconds = 0; // when refused: until one token is back (>= 1)
    };

    explicit RateLimiter(qsizetype maxBuckets = 100000);

    // `ratePerSecond` and `burst` are per call so one limiter can serve keys
    // with their own limits; `nowMs` is a monotonic clock.
    Decision take(const QString &bucket, double ratePerSecond, double burst, qint64 nowMs);
    qsizetype size() const;

private:
    struct Bucket {
        double tokens = 0;
        qint64 updatedMs = 0;
        // The limits of the latest call: whether a bucket is full again
        // depends on them.
        double ratePerSecond = 0;
        double burst = 0;
    };
    void sweep(qint64 nowMs);

    mutable QMutex m_mutex;
    QHash<QString, Bucket> m_buckets;
    qsizetype m_maxBuckets;
    qint64 m_nextSweepMs;
    qint64 m_noRoomUntilMs; // when the map is full: the first bucket to fill up again
};
