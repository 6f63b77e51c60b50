#include "ipallowlist.h"

#include <QCoreApplication>
#include <QRegularExpression>

namespace {
// QHostAddress also takes inet_aton shorthand ("10" is 0.0.0.10); an
// allowlist entry must say what it means.
bool isFullAddress(const QString &text)
{
    const QHostAddress address(text);
    if (address.isNull())
        return false;
    return address.protocol() != QAbstractSocket::IPv4Protocol || text.count(u'.') == 3;
}

QHostAddress unmapped(const QHostAddress &address)
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    return isV4 ? QHostAddress(v4) : address;
}
} // namespace

Expected<IpAllowlist> IpAllowlist::parse(const QString &text)
{
    static const QRegularExpression separators(QStringLiteral("[,\\s]+"));
    IpAllowlist list;
    const QStringList entries = text.split(separators, Qt::SkipEmptyParts);
    for (const QString &entry : entries) {
        QPair<QHostAddress, int> range;
        if (entry.contains(u'/')) {
            range = QHostAddress::parseSubnet(entry);
            if (range.first.isNull() || !isFullAddress(entry.section(u'/', 0, 0)))
                range.first.clear();
        } else {
            const QHostAddress host(isFullAddress(entry) ? entry : QString());
            range = {host, host.protocol() == QAbstractSocket::IPv4Protocol ? 32 : 128};
        }
        if (range.first.isNull())
            return fail(QCoreApplication::translate("IpAllowlist",
                                                    "'%1' is not an IPv4 or IPv6 address or CIDR "
                                                    "range (like 10.0.0.0/8 or 2001:db8::/32)")
                            .arg(entry));
        range.first = unmapped(range.first);
        list.m_ranges.append(range);
    }
    return list;
}

IpAllowlist IpAllowlist::denyingAll()
{
    IpAllowlist list;
    list.m_denyAll = true;
    return list;
}

bool IpAllowlist::allows(const QHostAddress &address) const
{
    if (m_denyAll)
        return false;
    if (m_ranges.isEmpty())
        return true;
    const QHostAddress client = unmapped(address);
    for (const auto &range : m_ranges) {
        if (client.isInSubnet(range))
            return true;
    }
    return false;
}

QString IpAllowlist::toString() const
{
    QStringList out;
    for (const auto &range : m_ranges) {
        // Normalise the network part: 10.1.2.3/8 is written 10.0.0.0/8.
        const auto network = QHostAddress::parseSubnet(range.first.toString() + u'/' +
                                                       QString::number(range.second));
        out << network.first.toString() + u'/' + QString::number(network.second);
    }
    return out.join(u' ');
}
