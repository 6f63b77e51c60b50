#pragma once

#include "expected.h"

#include <QHostAddress>
#include <QList>
#include <QPair>

// A list of CIDR ranges, IPv4 and IPv6. Empty means "any address".
// An IPv4 client seen as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
// matched as IPv4.
class IpAllowlist {
public:
    // "10.0.0.0/8,2001:db8::/32 192.168.1.7" (commas and/or spaces); a bare
    // address is a single host. A malformed entry is an error naming it.
    static Expected<IpAllowlist> parse(const QString &text);
    // For a stored list that no longer parses: fail closed.
    static IpAllowlist denyingAll();

    bool isEmpty() const { return m_ranges.isEmpty() && !m_denyAll; }
    bool isDenyingAll() const { return m_denyAll; }
    bool allows(const QHostAddress &address) const;
    // Canonical, space-separated: "10.0.0.0/8 2001:db8::/32".
    QString toString() const;

private:
    QList<QPair<QHostAddress, int>> m_ranges;
    bool m_denyAll = false;
};
