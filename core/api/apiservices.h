#pragma once

#include "apiconfig.h"
#include "audit/authfailurelog.h"
#include "banlist.h"
#include "connectionlimiter.h"
#include "jobs/jobqueue.h"
#include "metrics.h"
#include "ratelimiter.h"
#include "security/apikeyregistry.h"

#include <QElapsedTimer>

#include <atomic>
#include <functional>
#include <memory>

class AuditLog;
class SecretKey;
class Store;

// What every API thread shares: the configuration, the store, and the
// thread-safe limiters, bans and metrics. Built once, before the listener
// threads start, and outlives them.
struct ApiServices {
    ApiServices(ApiConfig configuration, Store *openStore, std::shared_ptr<const AuditLog> auditLog,
                std::shared_ptr<const SecretKey> pepper);

    ApiConfig config;
    Store *store;
    std::shared_ptr<const AuditLog> audit;
    ApiKeyRegistry keys;
    AuthFailureLog authFailures;
    JobQueue jobs;
    RateLimiter ipRates;
    RateLimiter keyRates;
    ConnectionLimiter connections;
    BanList bans;
    Metrics metrics;
    // Set by the engine: look at the queue now (thread-safe), and whether
    // the farm runs (for /ready).
    std::function<void()> wakeFarm;
    std::atomic<bool> farmRunning{false};

    // Monotonic milliseconds for the rate limiters.
    qint64 monotonicMs() const { return m_clock.elapsed(); }

private:
    QElapsedTimer m_clock;
};
