#pragma once

#include "engine/enginesecrets.h"
#include "engine/enginesettings.h"

#include <QObject>

#include <functional>

// framehoused's start, in the order that keeps a bad configuration from
// touching anything: settings and the configuration guard first, then the
// store (exclusively), its secrets, and the audit anchor check. A running
// engine records its start and stop in the audit log.
class EngineStartup : public QObject {
    Q_OBJECT
public:
    // Exit codes: 1 for a failure, 78 (EX_CONFIG) when the configuration is
    // refused, so that systemd does not restart into the same refusal.
    static constexpr int Failed = 1;
    static constexpr int ConfigurationRefused = 78;

    struct Engine {
        EngineSettings settings;
        OpenedStore store;
        EngineSecrets secrets;
    };
    using Done = std::function<void(int exitCode)>;

    explicit EngineStartup(QObject *parent = nullptr);

    // Reports 0 once the engine runs, else the exit code (problems already
    // logged).
    // `listen`, when not empty, replaces [api] listen (framehoused --listen).
    void start(const QString &configFile, const QString &listen, const StoreRequest &request,
               Done done);
    void stop(const QString &why);

    const Engine &engine() const { return m_engine; }

private:
    Engine m_engine;
    bool m_running = false;
};
