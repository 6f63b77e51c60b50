#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl store init|check|info|backup|restore|rekey
class StoreCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit StoreCommands(QObject *parent = nullptr);
    // Runs `command` (e.g. "check") and reports the exit code when done.
    void run(const QString &command, const QCommandLineParser &parser, Finished finished);
};
