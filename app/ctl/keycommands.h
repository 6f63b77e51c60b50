#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl keys create|list|show|revoke|revoke-all|rotate
class KeyCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit KeyCommands(QObject *parent = nullptr);
    // `words` are the positional arguments after "keys".
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);
};
