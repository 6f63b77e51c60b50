#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl api info|bans|unban: what an operator needs to reach the
// API (address, certificate fingerprint) and to lift bans, read from the
// engine's settings file and the store; they work while the engine runs.
class ApiCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit ApiCommands(QObject *parent = nullptr);
    // `words` are the positional arguments after "api".
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);
};
