#pragma once

#include "expected.h"

#include <QString>

// Structured logging: every Qt message becomes one JSON object on one line,
//   {"time":"2024-05-01T12:00:00.123Z","level":"warning",
//    "category":"framehouse.api","pid":1234,"message":"..."}
// on stderr (journald reads it under systemd) and, optionally, appended to a
// file. The message goes through Redactor::text, so a key, a home directory
// or a forged second line cannot reach the log whatever a caller passes.
class LogSink {
public:
    // Installs the process-wide Qt message handler. With a path, lines are
    // also appended to that file (created mode 0600, opened O_APPEND so
    // that logrotate's copytruncate and other writers are safe). Calling it
    // again switches the file. A file that cannot be opened is an error and
    // leaves everything as it was.
    static Expected<void> install(const QString &filePath = {});
    // Puts back the handler that was there before install() and closes the
    // file; for tests and for an orderly shutdown.
    static void uninstall();
    static bool isInstalled();

    // A failed API authentication: a JSON line (category framehouse.auth)
    // and, for fail2ban, one plain line in a fixed form on stderr and in the
    // file, whether or not install() was called:
    //   framehouse: authentication failure from <ip> key=<key id or -> reason=<reason>
    static void authenticationFailure(const QString &sourceIp, const QString &keyId,
                                      const QString &reason);
    // That plain line, without the newline. Each field is redacted, has its
    // spaces replaced with '_' and is "-" when empty, so a field can never
    // spill into the next one or onto another line.
    static QString authenticationFailureLine(const QString &sourceIp, const QString &keyId,
                                             const QString &reason);
};
