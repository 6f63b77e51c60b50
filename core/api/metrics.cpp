#include "metrics.h"

#include "jobs/job.h"

#include <QMutexLocker>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace {
// The shortest text that reads back as the same double; the exposition
// format spells the special values its own way.
QByteArray number(double value)
{
    if (std::isnan(value))
        return QByteArrayLiteral("NaN");
    if (std::isinf(value))
        return value > 0 ? QByteArrayLiteral("+Inf") : QByteArrayLiteral("-Inf");
    char text[32];
    const std::to_chars_result written = std::to_chars(std::begin(text), std::end(text), value);
    return QByteArray(text, written.ptr - text);
}

QByteArray number(quint64 value) { return QByteArray::number(value); }
QByteArray number(qint64 value) { return QByteArray::number(value); }

// Label values come from callers (routes, results, state names): a quote
// or a line break in one must not end the sample early.
QByteArray labelValue(const QString &value)
{
    const QByteArray utf8 = value.toUtf8();
    QByteArray escaped;
    escaped.reserve(utf8.size());
    for (const char c : utf8) {
        if (c == '\\')
            escaped += "\\\\";
        else if (c == '"')
            escaped += "\\\"";
        else if (c == '\n')
            escaped += "\\n";
        else
            escaped += c;
    }
    return escaped;
}

QByteArray label(const char *name, const QString &value)
{
    return QByteArray(name) + "=\"" + labelValue(value) + '"';
}

void family(QByteArray &out, const char *name, const char *type, const char *help)
{
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(QByteArray &out, const QByteArray &name, const QByteArrayList &labels,
            const QByteArray &value)
{
    out += name;
    if (!labels.isEmpty())
        out += '{' + labels.join(',') + '}';
    out += ' ';
    out += value;
    out += '\n';
}

template <typename Value> QList<QString> sortedKeys(const QHash<QString, Value> &hash)
{
    QList<QString> keys = hash.keys();
    std::sort(keys.begin(), keys.end());
    return keys;
}
} // namespace

void Metrics::countRequest(const QString &route, int status, double seconds)
{
    // A clock that stepped back must not make a negative duration.
    if (!(seconds >= 0))
        seconds = 0;
    QMutexLocker lock(&m_mutex);
    ++m_requests[{route, status}];
    Histogram &h = m_durations[route];
    // Kept cumulative, as the format wants it.
    for (std::size_t i = 0; i < DurationBuckets.size(); ++i) {
        if (seconds <= DurationBuckets[i])
            ++h.buckets[i];
    }
    ++h.count;
    h.sum += seconds;
}

void Metrics::countAuthentication(const QString &result)
{
    QMutexLocker lock(&m_mutex);
    ++m_auth[result];
}

void Metrics::countRateLimited()
{
    QMutexLocker lock(&m_mutex);
    ++m_rateLimited;
}

QByteArray Metrics::render(const JobFigures &jobs) const
{
    QByteArray out;
    QMutexLocker lock(&m_mutex);

    family(out, "framehouse_http_requests_total", "counter",
           "HTTP requests answered, by route pattern and status code.");
    QList<QPair<QString, int>> requests = m_requests.keys();
    std::sort(requests.begin(), requests.end());
    for (const QPair<QString, int> &key : requests)
        sample(out, "framehouse_http_requests_total",
               {label("route", key.first), label("code", QString::number(key.second))},
               number(m_requests.value(key)));

    family(out, "framehouse_http_request_duration_seconds", "histogram",
           "Time taken to answer HTTP requests, by route pattern.");
    for (const QString &route : sortedKeys(m_durations)) {
        const Histogram &h = m_durations[route];
        const QByteArray routeLabel = label("route", route);
        for (std::size_t i = 0; i < DurationBuckets.size(); ++i)
            sample(out, "framehouse_http_request_duration_seconds_bucket",
                   {routeLabel, "le=\"" + number(DurationBuckets[i]) + '"'}, number(h.buckets[i]));
        sample(out, "framehouse_http_request_duration_seconds_bucket", {routeLabel, "le=\"+Inf\""},
               number(h.count));
        sample(out, "framehouse_http_request_duration_seconds_sum", {routeLabel}, number(h.sum));
        sample(out, "framehouse_http_request_duration_seconds_count", {routeLabel},
               number(h.count));
    }

    family(out, "framehouse_auth_attempts_total", "counter",
           "API authentication attempts, by result.");
    for (const QString &result : sortedKeys(m_auth))
        sample(out, "framehouse_auth_attempts_total", {label("result", result)},
               number(m_auth[result]));

    family(out, "framehouse_rate_limited_total", "counter",
           "Requests refused by a rate limit (429).");
    sample(out, "framehouse_rate_limited_total", {}, number(m_rateLimited));
    lock.unlock();

    // A count of jobs per state goes down as jobs move on, so it is no
    // counter; as a gauge its name's "_total" breaks the naming rules, and
    // untyped is the type that allows both.
    family(out, "framehouse_jobs_total", "untyped", "Jobs in the store, by state.");
    QList<QString> states;
    // Every state, also those with no job: a series that comes and goes
    // leaves gaps in graphs and trips absent() alerts.
    for (int i = 0;; ++i) {
        const QString name = Job::stateName(static_cast<Job::State>(i));
        if (name.isEmpty())
            break;
        states << name;
    }
    for (const QString &state : sortedKeys(jobs.jobsByState)) {
        if (!states.contains(state))
            states << state;
    }
    for (const QString &state : std::as_const(states))
        sample(out, "framehouse_jobs_total", {label("state", state)},
               number(jobs.jobsByState.value(state, 0)));

    family(out, "framehouse_jobs_active", "gauge", "Jobs running now.");
    sample(out, "framehouse_jobs_active", {}, number(jobs.active));
    family(out, "framehouse_queue_depth", "gauge", "Jobs queued and waiting for a worker.");
    sample(out, "framehouse_queue_depth", {}, number(jobs.queueDepth));
    family(out, "framehouse_worker_fps", "gauge",
           "Frames per second encoded by all running jobs together.");
    sample(out, "framehouse_worker_fps", {}, number(jobs.workerFps));
    return out;
}
