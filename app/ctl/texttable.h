#pragma once

#include <QList>
#include <QStringList>

// Columns of text for framehousectl's listings: each cell redacted and kept
// on one line, each column as wide as its widest cell.
namespace TextTable {
// The first row is the header. The last column is not padded.
void print(const QList<QStringList> &rows);
// `text` cut to `width` characters, with an ellipsis when cut.
QString truncated(const QString &text, int width);
} // namespace TextTable
