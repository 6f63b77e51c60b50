#pragma once

#include "engine/enginesecrets.h"
#include "store/storeopener.h"

#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

#include <functional>

// A framehousectl run that must exit 0; `run` is evaluated once (it may be
// the call itself).
#define VERIFY_SUCCEEDS(run)                                                                       \
    do {                                                                                           \
        const TestSupport::Run &succeeded_ = (run);                                                \
        QVERIFY2(succeeded_.exitCode == 0, qPrintable(QStringLiteral("exit code %1; stderr: %2")   \
                                                          .arg(succeeded_.exitCode)                \
                                                          .arg(succeeded_.err)));                  \
    } while (false)

// QVERIFY for an Expected: the failure's message only when there is one
// (QVERIFY2 evaluates its message either way).
#define VERIFY_EXPECTED(expected)                                                                  \
    QVERIFY2(bool(expected), (expected) ? "" : qPrintable((expected).error()))

namespace TestSupport {
// How framehousectl begins the one line that reports a refusal.
inline const QString CtlErrorPrefix = QStringLiteral("framehousectl: error: ");
// framehoused arguments that put its API on a free loopback port, so engines
// of tests running side by side do not collide on the default 8443.
QStringList anyApiPort();
// A fresh random key written to `path` (mode 0600); returns the key.
SecretKey writeKeyFile(const QString &path);
SecretKey readKeyFile(const QString &path);

// Runs StoreOpener::open to completion (tests may wait on an event loop).
Expected<OpenedStore> openStore(const StoreRequest &request);
// Opens (creating it) a store in `dir` keyed by the key file `keyFile`.
OpenedStore createStore(const QString &dir, const QString &keyFile);

// The pepper and audit key of an opened store (created when `create`).
EngineSecrets loadSecrets(const OpenedStore &opened, bool create = true);

// A fresh store with its secrets, in a temporary directory: the key file
// is dir/store.key (so the pepper, audit key and anchor are dir/store.*)
// and the store is dir/store.
// Its audit log goes into the transcript when it is destroyed.
struct TestStore {
    QTemporaryDir dir;
    OpenedStore opened;
    EngineSecrets secrets;

    ~TestStore();
    QSqlDatabase db() const { return opened.store->connection().value(); }
    // Runs body(thread number, that thread's own connection) on `count`
    // threads at once; false unless all had a connection and ended in time.
    bool inThreads(int count, const std::function<void(int, QSqlDatabase)> &body) const;
};
std::unique_ptr<TestStore> makeStore();

// The transcript of the whole test run, scanned at the end by
// tst_secretscan: every full API key created (recordSecret) must appear
// in none of the outputs recorded (recordOutput), which are every
// framehousectl stdout/stderr, error message, log file and audit export.
void recordSecret(const QString &token);
void recordOutput(const QString &what, const QString &text);
QString transcriptDirectory();

struct Run {
    int exitCode;
    QString out;
    QString err;
};
Run runCtl(const QStringList &arguments, const QProcessEnvironment &env = {});

// Raw file bytes, for the tests that look for plaintext.
QByteArray readRaw(const QString &path);
} // namespace TestSupport

// A refused framehousectl run: exactly one line "framehousectl: error: ..."
// holding `needle`, and the exit code `code`.
#define VERIFY_REFUSED(run, code, needle)                                                          \
    do {                                                                                           \
        const TestSupport::Run &refused_ = (run);                                                  \
        QVERIFY2(refused_.exitCode == (code),                                                      \
                 qPrintable(QStringLiteral("exit code %1, expected %2; stderr: %3")                \
                                .arg(refused_.exitCode)                                            \
                                .arg(code)                                                         \
                                .arg(refused_.err)));                                              \
        QVERIFY2(refused_.err.startsWith(TestSupport::CtlErrorPrefix) &&                           \
                     refused_.err.count(u'\n') == 1,                                               \
                 qPrintable(refused_.err));                                                        \
        QVERIFY2(refused_.err.contains(needle), qPrintable(refused_.err));                         \
    } while (false)
