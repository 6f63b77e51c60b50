#pragma once

#include <QList>
#include <QSqlError>
#include <QSqlRecord>
#include <QSqlResult>
#include <QVariant>

#include <deque>

struct sqlite3_stmt;
class SqlCipherDriver;

// One prepared statement. Rows are stepped lazily and kept in a cache so
// that QSqlQueryModel can seek backwards; a forward-only query keeps only
// the current row.
class SqlCipherResult final : public QSqlResult {
public:
    explicit SqlCipherResult(const SqlCipherDriver *driver);
    ~SqlCipherResult() override;

    QVariant handle() const override;

protected:
    bool prepare(const QString &query) override;
    bool exec() override;
    bool reset(const QString &query) override;
    QVariant data(int field) override;
    bool isNull(int field) override;
    bool fetch(int index) override;
    bool fetchFirst() override;
    bool fetchLast() override;
    int size() override;
    int numRowsAffected() override;
    QSqlRecord record() const override;
    QVariant lastInsertId() const override;
    void detachFromResultSet() override;

private:
    enum class Step { Row, Done, Error };
    Step stepOnce();
    bool bindAll();
    void finalize();
    void releaseStatement();
    void setSqliteError(const QString &what, QSqlError::ErrorType type);
    const QVariantList *currentRow() const;

    const SqlCipherDriver *m_driver;
    sqlite3_stmt *m_stmt = nullptr;
    QByteArray m_sql; // m_stmt's text, the key it goes back to the driver's cache under
    QSqlRecord m_record;
    std::deque<QVariantList> m_rows; // cached rows, m_rows[0] is row m_firstCached
    int m_firstCached = 0;
    bool m_done = true;
    int m_rowsAffected = 0;
    qint64 m_lastInsertId = 0;
};
