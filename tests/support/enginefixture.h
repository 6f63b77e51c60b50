#pragma once

#include "testsupport.h"

#include "jobs/job.h"

#include <QJsonObject>
#include <QProcess>

#include <memory>

// QVERIFY for an Expected: the failure's message only when there is one
// (QVERIFY2 evaluates its message either way).
#define VERIFY_EXPECTED(expected)                                                                  \
    QVERIFY2(bool(expected), (expected) ? "" : qPrintable((expected).error()))

// A store in a temporary directory run by a real framehoused, with the test
// holding its own shared connection (as framehousectl does) to submit jobs
// and watch them. Input and output roots are dir/in and dir/out.
class EngineFixture {
public:
    EngineFixture();
    ~EngineFixture();

    QString path(const QString &name) const { return m_dir.filePath(name); }
    QString inputDir() const { return path(QStringLiteral("in")); }
    QString outputDir() const { return path(QStringLiteral("out")); }
    QStringList storeArgs() const;

    // Starts framehoused and waits until its farm has published its pool
    // (hardware probed, taking jobs). False (with the log) when it did not.
    bool startEngine(const QStringList &extraArguments = {});
    // SIGTERM and wait; true when it exited with 0.
    bool stopEngine();
    void killEngine();
    qint64 enginePid() const;
    // The port the engine's API listens on (127.0.0.1), from its log; 0 when
    // the log does not say (yet).
    quint16 apiPort() const;
    // "https://127.0.0.1:<port>"
    QString apiUrl() const;
    QString engineLog() const;

    QSqlDatabase db() const;
    const AuditLog &audit() const;
    const EngineSecrets &secrets() const { return m_secrets; }

    // A job from a preset and overrides, input inDir/<input>, output
    // outDir/<output>, submitted by `actor` (an operator by default).
    Expected<Job> submit(const QString &preset, const QString &input, const QString &output,
                         const QList<QPair<QString, QString>> &overrides = {},
                         const QString &actor = {});
    Expected<void> setSetting(const QString &key, const QString &value);
    Expected<Job> job(qint64 id) const;
    // Polls until every job is final; false on timeout.
    bool waitFinal(const QList<qint64> &ids, int timeoutMs);
    bool waitState(qint64 id, Job::State state, int timeoutMs);
    QStringList events(qint64 id) const;
    // Audit records of `action` for the job's uuid.
    int auditCount(const QString &action, const QString &uuid) const;
    // framehousectl audit verify exit code.
    int verifyAudit() const;

private:
    QTemporaryDir m_dir;
    std::unique_ptr<QProcess> m_engine;
    OpenedStore m_opened;
    EngineSecrets m_secrets;
};
