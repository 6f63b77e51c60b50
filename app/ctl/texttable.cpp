#include "texttable.h"

#include "ctloutput.h"
#include "security/redactor.h"

void TextTable::print(const QList<QStringList> &rows)
{
    QList<QStringList> cells;
    QList<qsizetype> widths;
    for (const QStringList &row : rows) {
        QStringList redacted;
        for (qsizetype i = 0; i < row.size(); ++i) {
            redacted << Redactor::text(row.at(i));
            if (widths.size() <= i)
                widths << 0;
            widths[i] = std::max(widths[i], redacted.last().size());
        }
        cells << redacted;
    }
    for (const QStringList &row : std::as_const(cells)) {
        QString line;
        for (qsizetype i = 0; i < row.size(); ++i)
            line += i + 1 < row.size() ? row.at(i).leftJustified(widths.at(i) + 2) : row.at(i);
        CtlOutput::out() << line << Qt::endl;
    }
}

QString TextTable::truncated(const QString &text, int width)
{
    if (text.size() <= width)
        return text;
    return text.left(width - 1) + QChar(0x2026);
}
