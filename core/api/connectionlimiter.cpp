#include "connectionlimiter.h"

#include "audit/authfailurelog.h"

#include <QMutexLocker>

ConnectionLimiter::ConnectionLimiter(int maxTotal, int maxPerIp)
    : m_maxTotal(maxTotal)
    , m_maxPerIp(maxPerIp)
{}

ConnectionLimiter::Verdict ConnectionLimiter::acquire(const QHostAddress &peer)
{
    const QString source = AuthFailureLog::sourceOf(peer);
    QMutexLocker lock(&m_mutex);
    if (m_total >= m_maxTotal)
        return Verdict::TotalExceeded;
    const int open = m_perSource.value(source, 0);
    if (open >= m_maxPerIp)
        return Verdict::PerIpExceeded;
    m_perSource.insert(source, open + 1);
    ++m_total;
    return Verdict::Accepted;
}

void ConnectionLimiter::release(const QHostAddress &peer)
{
    const QString source = AuthFailureLog::sourceOf(peer);
    QMutexLocker lock(&m_mutex);
    auto it = m_perSource.find(source);
    // A release without its acquire must not open room for someone else.
    if (it == m_perSource.end())
        return;
    if (--*it <= 0)
        m_perSource.erase(it);
    --m_total;
}

int ConnectionLimiter::total() const
{
    QMutexLocker lock(&m_mutex);
    return m_total;
}

int ConnectionLimiter::from(const QHostAddress &peer) const
{
    const QString source = AuthFailureLog::sourceOf(peer);
    QMutexLocker lock(&m_mutex);
    return m_perSource.value(source, 0);
}
