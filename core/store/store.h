#pragma once

#include "expected.h"
#include "security/secretkey.h"
#include "storelocation.h"

#include <QMutex>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStringList>

#include <memory>

// An open, keyed, migrated store. Each thread gets its own connection from
// connection(); a connection must not be used from another thread.
class Store {
public:
    enum class Create { IfMissing, Never };
    // Failure::code when the key does not open the file (SQLITE_NOTADB).
    static constexpr int WrongKey = 26;

    struct Options {
        Create create = Create::Never;
        bool migrate = true;
        bool plaintext = false; // benchmarks only: same code path, no codec key
        int busyTimeoutMs = 5000;
    };

    static Expected<std::unique_ptr<Store>> open(const QString &databasePath, const SecretKey &key,
                                                 const Options &options);
    ~Store();
    Store(const Store &) = delete;
    Store &operator=(const Store &) = delete;

    const QString &databasePath() const { return m_path; }

    // This thread's connection, opened on first use.
    Expected<QSqlDatabase> connection();
    // Closes this thread's connection; call it before a thread that used the
    // store ends.
    void releaseThreadConnection();
    // Closes every connection (all threads must be done with them).
    void closeAll();

    // A connection to some other database file with an explicit key
    // (backups, rekey targets); the caller removes it with closeExtra().
    static Expected<QSqlDatabase> openExtra(const QString &path, const SecretKey &key,
                                            const QString &options);
    static void closeExtra(QSqlDatabase &db);

private:
    Store(QString path, SecretKey key, Options options);
    QString connectionName() const;

    QString m_path;
    SecretKey m_key;
    Options m_options;
    quint64 m_serial;
    QMutex m_mutex;
    QStringList m_connections;
};

// "driver text: database text" for messages.
QString describeSqlError(const QSqlError &error);
// "<what>: <the query's error>", with an optional Failure::code.
Failure sqlFailure(const QString &what, const QSqlQuery &query, int code = 0);
