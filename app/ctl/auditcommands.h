#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

// framehousectl audit verify|export|tail|prune|reanchor
class AuditCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit AuditCommands(QObject *parent = nullptr);
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);
};
