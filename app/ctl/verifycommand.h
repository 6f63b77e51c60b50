#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl verify https://HOST:PORT: the check after a deployment,
// made from the outside against the running API as a client sees it: which
// TLS versions the server accepts, whether its certificate is trusted,
// whether keys are required and accepted, CORS for an unknown origin, the
// security headers and the per-address rate limit. One "PASS|FAIL name:
// detail" line per check; exit 0 only when all pass.
//
// The key is sent only once the server's certificate has been verified (by
// the given CA, the pinned fingerprint or the system's CAs) and never
// appears in the output.
class VerifyCommand : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit VerifyCommand(QObject *parent = nullptr);
    // `words` are the positional arguments after "verify": the URL.
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);
};
