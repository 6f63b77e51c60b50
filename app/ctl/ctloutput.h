#pragma once

#include <QJsonDocument>
#include <QString>
#include <QTextStream>

// Output shared by framehousectl's commands: results on stdout, errors on
// stderr in one redacted line each.
namespace CtlOutput {
enum ExitCode { Success = 0, Failed = 1, Usage = 2, VerificationFailed = 3 };

QTextStream &out();
QTextStream &err();
// Writes "framehousectl: error: <message>" and returns `code`.
int report(const QString &message, int code = Failed);
// The one-line usage error for a command that does not exist or lacks
// arguments; returns Usage.
int unknownCommand(const QString &group, const QStringList &words);
void printJson(const QJsonDocument &document);
// "2026-11-23 10:00 UTC"; "-" when absent.
QString time(qint64 ms);
// A point in time given on the command line: an ISO 8601 date or date-time
// (UTC unless it says otherwise), or an age like "90d", "12h".
bool parseTime(const QString &text, qint64 now, qint64 *ms);
// A duration like "24h", "30m", "7d", "45s".
bool parseDuration(const QString &text, qint64 *ms);
} // namespace CtlOutput
