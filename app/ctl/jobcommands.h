#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>
#include <memory>

struct JobSubmission;
struct StoreSession;

// framehousectl jobs submit|list|show|cancel|retry|purge
class JobCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit JobCommands(QObject *parent = nullptr);
    // `words` are the positional arguments after "jobs".
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);

private:
    void submit(std::shared_ptr<StoreSession> session, const JobSubmission &submission, bool wait,
                bool json, const Finished &finished);
};
