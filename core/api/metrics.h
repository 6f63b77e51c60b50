#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QMutex>
#include <QString>

#include <array>
#include <functional>

// The API's Prometheus metrics, shared by every API thread, rendered in
// the text exposition format (version 0.0.4) for GET /metrics. Label values
// are escaped; `route` is the route pattern ("/v1/jobs/{id}"), never the
// raw path, so a scan of random URLs cannot create unbounded series
// (unknown paths count as route="unmatched").
class Metrics {
public:
    // Values that live in the store, read when /metrics is rendered.
    struct JobFigures {
        QHash<QString, qint64> jobsByState; // every state present, 0 included
        qint64 active = 0;                  // running
        qint64 queueDepth = 0;              // queued
        double workerFps = 0;               // sum over running jobs
    };

    void countRequest(const QString &route, int status, double seconds);
    void countAuthentication(const QString &result); // "success", "unknown_key", "banned", ...
    void countRateLimited();

    // framehouse_http_requests_total{route,code}, framehouse_auth_attempts_total{result},
    // framehouse_rate_limited_total, framehouse_jobs_total{state}, framehouse_jobs_active,
    // framehouse_queue_depth, framehouse_worker_fps,
    // framehouse_http_request_duration_seconds (histogram by route), each
    // with # HELP and # TYPE; passes `promtool check metrics`.
    QByteArray render(const JobFigures &jobs) const;

    static constexpr std::array<double, 11> DurationBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                            0.1,   0.25,   0.5,   1,    5};

private:
    struct Histogram {
        std::array<quint64, DurationBuckets.size()> buckets{};
        quint64 count = 0;
        double sum = 0;
    };
    mutable QMutex m_mutex;
    QHash<QPair<QString, int>, quint64> m_requests;
    QHash<QString, quint64> m_auth;
    quint64 m_rateLimited = 0;
    QHash<QString, Histogram> m_durations;
};
