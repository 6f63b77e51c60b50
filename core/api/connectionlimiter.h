#pragma once

#include <QHash>
#include <QHostAddress>
#include <QMutex>
#include <QString>

// Open connections, in total and per source address, shared by every API
// thread. acquire() is called when a TCP connection is accepted (before any
// TLS work), release() when it closes. IPv6 sources count per /64 and an
// IPv4-mapped address as IPv4 (AuthFailureLog::sourceOf).
class ConnectionLimiter {
public:
    enum class Verdict { Accepted, TotalExceeded, PerIpExceeded };

    ConnectionLimiter(int maxTotal, int maxPerIp);

    Verdict acquire(const QHostAddress &peer);
    void release(const QHostAddress &peer);
    int total() const;
    int from(const QHostAddress &peer) const;

private:
    mutable QMutex m_mutex;
    QHash<QString, int> m_perSource;
    int m_total = 0;
    int m_maxTotal;
    int m_maxPerIp;
};
