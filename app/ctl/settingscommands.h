#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl settings list|set
class SettingsCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static QString synopsis();

    explicit SettingsCommands(QObject *parent = nullptr);
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);
};
