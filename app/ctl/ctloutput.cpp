#include "ctloutput.h"

#include "security/redactor.h"

#include <QDateTime>
#include <QRegularExpression>

QTextStream &CtlOutput::out()
{
    static QTextStream stream(stdout);
    return stream;
}

QTextStream &CtlOutput::err()
{
    static QTextStream stream(stderr);
    return stream;
}

int CtlOutput::report(const QString &message, int code)
{
    err() << QStringLiteral("framehousectl: error: ") << Redactor::text(message) << Qt::endl;
    return code;
}

int CtlOutput::unknownCommand(const QString &group, const QStringList &words)
{
    const QString given = QStringList(QStringList{group} + words).join(u' ');
    return report(QObject::tr("'%1' is not a complete command; see 'framehousectl %2 --help'")
                      .arg(given, group),
                  Usage);
}

void CtlOutput::printJson(const QJsonDocument &document)
{
    out() << QString::fromUtf8(document.toJson(QJsonDocument::Indented));
    out().flush();
}

QString CtlOutput::time(qint64 ms)
{
    if (ms <= 0)
        return QStringLiteral("-");
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC)
               .toString(QStringLiteral("yyyy-MM-dd HH:mm")) +
           QStringLiteral(" UTC");
}

bool CtlOutput::parseDuration(const QString &text, qint64 *ms)
{
    static const QRegularExpression pattern(QStringLiteral("^(\\d{1,9})([smhd])$"));
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return false;
    const qint64 n = match.captured(1).toLongLong();
    const QChar unit = match.captured(2).at(0);
    const qint64 factor = unit == u's'   ? 1000
                          : unit == u'm' ? 60 * 1000
                          : unit == u'h' ? 3600 * 1000
                                         : 24LL * 3600 * 1000;
    *ms = n * factor;
    return true;
}

bool CtlOutput::parseTime(const QString &text, qint64 now, qint64 *ms)
{
    qint64 age = 0;
    if (parseDuration(text, &age)) {
        *ms = now - age;
        return true;
    }
    QDateTime when = QDateTime::fromString(text, Qt::ISODateWithMs);
    if (!when.isValid()) {
        const QDate day = QDate::fromString(text, Qt::ISODate);
        if (!day.isValid())
            return false;
        when = day.startOfDay(Qt::UTC);
    }
    if (when.timeSpec() == Qt::LocalTime)
        when.setTimeSpec(Qt::UTC);
    *ms = when.toMSecsSinceEpoch();
    return true;
}
