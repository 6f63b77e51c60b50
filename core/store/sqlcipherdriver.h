#pragma once

#include "security/secretkey.h"

#include <QHash>
#include <QSqlDriver>
#include <QSqlError>

#include <optional>

struct sqlite3;
struct sqlite3_stmt;

// Qt SQL driver over the SQLCipher C API. Registered as "FHSQLCIPHER";
// Qt's stock QSQLITE plugin is never loaded (it would bind to SQLCipher's
// symbols without a key).
//
// Every connection is keyed with a raw 256-bit key and gets the store's
// settings: WAL, synchronous=FULL, foreign_keys=ON, secure_delete=ON and a
// busy timeout. Connect options (";"-separated):
//   FH_BUSY_TIMEOUT=<ms>   default 5000
//   FH_NO_CREATE           fail if the file does not exist
//   FH_PLAINTEXT           open without a key (benchmarks only)
class SqlCipherDriver final : public QSqlDriver {
    Q_OBJECT
public:
    static constexpr auto Name = "FHSQLCIPHER";
    static void registerDriver();
    // SQLite's type affinity rules, mapped to the Qt type of a column.
    static QMetaType typeFromDeclaration(const QString &declared);

    explicit SqlCipherDriver(QObject *parent = nullptr);
    ~SqlCipherDriver() override;

    // Must be called before open(); the key is wiped when the driver dies.
    void setKey(const SecretKey &key);

    bool hasFeature(DriverFeature feature) const override;
    bool open(const QString &db, const QString &user, const QString &password, const QString &host,
              int port, const QString &connectOptions) override;
    void close() override;
    QSqlResult *createResult() const override;
    bool beginTransaction() override;
    bool commitTransaction() override;
    bool rollbackTransaction() override;
    QStringList tables(QSql::TableType type) const override;
    QSqlRecord record(const QString &tableName) const override;
    QSqlIndex primaryIndex(const QString &tableName) const override;
    QString escapeIdentifier(const QString &identifier, IdentifierType type) const override;
    QVariant handle() const override;

    sqlite3 *nativeHandle() const { return m_db; }
    // Runs a script of several statements (migrations); stops at the first error.
    bool executeScript(const QString &sql);

    // SQLite's primary result code for the last failure on this connection.
    int lastSqliteCode() const { return m_lastCode; }

    // Prepared statements kept for reuse: preparing is most of the cost of a
    // small query (the API reads a key and a job per request). A statement is
    // taken out while a result uses it, so no two results share one.
    sqlite3_stmt *takeCachedStatement(const QByteArray &sql) const;
    // Resets the statement and keeps it, or finalizes it when the cache is full.
    void returnStatement(const QByteArray &sql, sqlite3_stmt *statement) const;

private:
    bool exec(const char *sql, QSqlError::ErrorType type, const QString &what = {});
    QSqlError makeError(const QString &what, QSqlError::ErrorType type, int code) const;
    bool failOpen(const QString &message, int code);

    void dropCachedStatements();

    sqlite3 *m_db = nullptr;
    std::optional<SecretKey> m_key;
    int m_lastCode = 0;
    static constexpr qsizetype MaxCachedStatements = 64;
    mutable QMultiHash<QByteArray, sqlite3_stmt *> m_statements;

    friend class SqlCipherResult;
};
