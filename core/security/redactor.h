#pragma once

#include <QJsonValue>
#include <QString>
#include <QStringView>

// The one redactor for everything that leaves the process as text: log
// lines, audit details, error messages. Logs are read by more people than
// the store is, and they are copied, shipped and kept for years, so what
// they must never hold is removed here, in one place, rather than at each
// call site.
namespace Redactor {
// - API keys: fhk_<id>_<anything> becomes fhk_<id>_… and a fhk_ whose id is
//   malformed becomes fhk_…; the tail is dropped up to the next space,
//   quote or bracket, so a truncated or mangled secret does not survive.
// - e-mail addresses: alice.smith@example.org becomes a***@example.org.
// - home directories: /home/<user>, /root and $HOME become ~.
// - control characters (C0, DEL, C1, U+2028/U+2029, bidirectional
//   overrides) and lone surrogates become \n, \r, \t or \uXXXX, and a
//   backslash becomes \\, so one message is one line and an escape sequence
//   in the output cannot have been typed by whoever chose the input.
QString text(QStringView input);

// text() applied to every string and every object key, at any depth.
// Numbers, booleans and null are kept. Two keys that redact to the same
// text collapse into one (the later one wins).
QJsonValue json(const QJsonValue &value);

// Only the escaping part of text(): for text that must stay exact apart
// from being kept on one line, such as a path shown to the operator.
QString escapeControls(QStringView input);
} // namespace Redactor
