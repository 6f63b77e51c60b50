#pragma once

#include <QCommandLineParser>
#include <QObject>

#include <functional>

struct CapabilityMatrix;
struct StoreSession;

// framehousectl farm status|pause|resume|hw|roots
class FarmCommands : public QObject {
    Q_OBJECT
public:
    using Finished = std::function<void(int exitCode)>;

    static void addOptions(QCommandLineParser &parser);
    static QString synopsis();

    explicit FarmCommands(QObject *parent = nullptr);
    // `words` are the positional arguments after "farm".
    void run(const QStringList &words, const QCommandLineParser &parser, Finished finished);

    // The matrix as a table (or JSON); `source` says who probed it.
    static void printMatrix(const CapabilityMatrix &matrix, const QString &source, bool json);

private:
    // farm hw --probe: runs framehouse-worker --probe now, without the store.
    void probe(bool json, const Finished &finished);
};
