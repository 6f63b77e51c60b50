#include "sqlcipherresult.h"

#include "sqlcipherdriver.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QSqlError>
#include <QSqlField>

#include <sqlcipher/sqlite3.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("SqlCipherResult", text); }

QMetaType columnType(sqlite3_stmt *stmt, int column)
{
    const char *declared = sqlite3_column_decltype(stmt, column);
    return SqlCipherDriver::typeFromDeclaration(QString::fromUtf8(declared ? declared : ""));
}
} // namespace

SqlCipherResult::SqlCipherResult(const SqlCipherDriver *driver)
    : QSqlResult(driver)
    , m_driver(driver)
{}

SqlCipherResult::~SqlCipherResult() { finalize(); }

QVariant SqlCipherResult::handle() const
{
    return QVariant::fromValue(static_cast<void *>(m_stmt));
}

void SqlCipherResult::finalize()
{
    if (!m_stmt)
        return;
    // driver() is null once the driver is gone; then nothing caches it.
    if (driver() && m_driver->isOpen())
        m_driver->returnStatement(m_sql, m_stmt);
    else
        sqlite3_finalize(m_stmt);
    m_stmt = nullptr;
}

void SqlCipherResult::releaseStatement()
{
    // Resetting ends the statement's read transaction, so a finished reader
    // never holds back WAL checkpoints.
    if (m_stmt)
        sqlite3_reset(m_stmt);
    m_done = true;
}

void SqlCipherResult::setSqliteError(const QString &what, QSqlError::ErrorType type)
{
    sqlite3 *db = m_driver->nativeHandle();
    const int code = db ? sqlite3_extended_errcode(db) : SQLITE_MISUSE;
    const QString detail = db ? QString::fromUtf8(sqlite3_errmsg(db)) : tr("not open");
    setLastError(QSqlError(what, detail, type, QString::number(code)));
}

bool SqlCipherResult::reset(const QString &query) { return prepare(query) && exec(); }

bool SqlCipherResult::prepare(const QString &query)
{
    finalize();
    m_rows.clear();
    m_firstCached = 0;
    m_done = true;
    m_record = QSqlRecord();
    setActive(false);
    setAt(QSql::BeforeFirstRow);
    sqlite3 *db = m_driver->nativeHandle();
    if (!db || !m_driver->isOpen()) {
        setLastError(QSqlError(tr("the database is not open"), {}, QSqlError::ConnectionError));
        return false;
    }
    m_sql = query.toUtf8();
    const QByteArray &sql = m_sql;
    m_stmt = m_driver->takeCachedStatement(sql);
    if (m_stmt) {
        // Checked when it was first prepared.
        const int cachedColumns = sqlite3_column_count(m_stmt);
        for (int i = 0; i < cachedColumns; ++i)
            m_record.append(QSqlField(QString::fromUtf8(sqlite3_column_name(m_stmt, i)),
                                      columnType(m_stmt, i)));
        return true;
    }
    const char *tail = nullptr;
    const int rc =
        sqlite3_prepare_v2(db, sql.constData(), static_cast<int>(sql.size() + 1), &m_stmt, &tail);
    if (rc != SQLITE_OK) {
        setSqliteError(tr("cannot prepare the statement"), QSqlError::StatementError);
        sqlite3_finalize(m_stmt); // never into the cache
        m_stmt = nullptr;
        return false;
    }
    if (tail && QByteArray(tail).trimmed().size() > 0) {
        setLastError(QSqlError(tr("only one statement may be executed at a time"), {},
                               QSqlError::StatementError));
        sqlite3_finalize(m_stmt); // never into the cache
        m_stmt = nullptr;
        return false;
    }
    if (!m_stmt) { // an empty statement or a comment
        setLastError(QSqlError(tr("the statement is empty"), {}, QSqlError::StatementError));
        return false;
    }
    const int columns = sqlite3_column_count(m_stmt);
    for (int i = 0; i < columns; ++i) {
        const QString name = QString::fromUtf8(sqlite3_column_name(m_stmt, i));
        m_record.append(QSqlField(name, columnType(m_stmt, i)));
    }
    return true;
}

bool SqlCipherResult::bindAll()
{
    const QVariantList values = boundValues();
    const int expected = sqlite3_bind_parameter_count(m_stmt);
    if (values.size() != expected) {
        setLastError(QSqlError(
            tr("the statement takes %1 parameters, %2 were bound").arg(expected).arg(values.size()),
            {}, QSqlError::StatementError));
        return false;
    }
    for (int i = 0; i < values.size(); ++i) {
        const QVariant &value = values.at(i);
        const int slot = i + 1;
        int rc = SQLITE_OK;
        if (value.isNull()) {
            rc = sqlite3_bind_null(m_stmt, slot);
        } else {
            switch (value.metaType().id()) {
            case QMetaType::Bool:
            case QMetaType::Int:
            case QMetaType::UInt:
            case QMetaType::Short:
            case QMetaType::UShort:
            case QMetaType::Long:
            case QMetaType::LongLong:
            case QMetaType::Char:
            case QMetaType::UChar:
                rc = sqlite3_bind_int64(m_stmt, slot, value.toLongLong());
                break;
            case QMetaType::ULong:
            case QMetaType::ULongLong: {
                const qulonglong v = value.toULongLong();
                if (v > static_cast<qulonglong>(std::numeric_limits<qint64>::max())) {
                    setLastError(
                        QSqlError(tr("parameter %1 is too large for a 64-bit integer").arg(slot),
                                  {}, QSqlError::StatementError));
                    return false;
                }
                rc = sqlite3_bind_int64(m_stmt, slot, static_cast<qint64>(v));
                break;
            }
            case QMetaType::Double:
            case QMetaType::Float:
                rc = sqlite3_bind_double(m_stmt, slot, value.toDouble());
                break;
            case QMetaType::QByteArray: {
                const QByteArray bytes = value.toByteArray();
                rc = sqlite3_bind_blob64(m_stmt, slot, bytes.constData(),
                                         static_cast<sqlite3_uint64>(bytes.size()),
                                         SQLITE_TRANSIENT);
                break;
            }
            case QMetaType::QDateTime: {
                const QByteArray text =
                    value.toDateTime().toUTC().toString(Qt::ISODateWithMs).toUtf8();
                rc = sqlite3_bind_text64(m_stmt, slot, text.constData(),
                                         static_cast<sqlite3_uint64>(text.size()), SQLITE_TRANSIENT,
                                         SQLITE_UTF8);
                break;
            }
            default: {
                const QByteArray text = value.toString().toUtf8();
                rc = sqlite3_bind_text64(m_stmt, slot, text.constData(),
                                         static_cast<sqlite3_uint64>(text.size()), SQLITE_TRANSIENT,
                                         SQLITE_UTF8);
                break;
            }
            }
        }
        if (rc != SQLITE_OK) {
            setSqliteError(tr("cannot bind parameter %1").arg(slot), QSqlError::StatementError);
            return false;
        }
    }
    return true;
}

bool SqlCipherResult::exec()
{
    if (!m_stmt) {
        if (!lastError().isValid())
            setLastError(QSqlError(tr("no statement was prepared"), {}, QSqlError::StatementError));
        return false;
    }
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
    m_rows.clear();
    m_firstCached = 0;
    m_rowsAffected = 0;
    setAt(QSql::BeforeFirstRow);
    setActive(false);
    setLastError(QSqlError());
    if (!bindAll())
        return false;

    m_done = false;
    const Step first = stepOnce();
    if (first == Step::Error)
        return false;
    sqlite3 *db = m_driver->nativeHandle();
    if (first == Step::Done && sqlite3_column_count(m_stmt) == 0) {
        m_rowsAffected = sqlite3_changes(db);
        m_lastInsertId = sqlite3_last_insert_rowid(db);
    }
    setSelect(sqlite3_column_count(m_stmt) > 0);
    setActive(true);
    return true;
}

SqlCipherResult::Step SqlCipherResult::stepOnce()
{
    if (m_done)
        return Step::Done;
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
        const int columns = sqlite3_column_count(m_stmt);
        QVariantList row;
        row.reserve(columns);
        for (int i = 0; i < columns; ++i) {
            switch (sqlite3_column_type(m_stmt, i)) {
            case SQLITE_INTEGER:
                row.append(QVariant(static_cast<qlonglong>(sqlite3_column_int64(m_stmt, i))));
                break;
            case SQLITE_FLOAT:
                row.append(QVariant(sqlite3_column_double(m_stmt, i)));
                break;
            case SQLITE_BLOB: {
                const void *data = sqlite3_column_blob(m_stmt, i);
                const int bytes = sqlite3_column_bytes(m_stmt, i);
                row.append(QVariant(QByteArray(static_cast<const char *>(data), bytes)));
                break;
            }
            case SQLITE_NULL:
                row.append(QVariant(m_record.field(i).metaType()));
                break;
            default: {
                const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, i));
                const int bytes = sqlite3_column_bytes(m_stmt, i);
                row.append(QVariant(QString::fromUtf8(text, bytes)));
                break;
            }
            }
        }
        if (isForwardOnly() && !m_rows.empty()) {
            // Keep just the newest row.
            m_firstCached += static_cast<int>(m_rows.size());
            m_rows.clear();
        }
        m_rows.push_back(std::move(row));
        return Step::Row;
    }
    if (rc == SQLITE_DONE) {
        releaseStatement();
        return Step::Done;
    }
    setSqliteError(tr("cannot execute the statement"), QSqlError::StatementError);
    releaseStatement();
    return Step::Error;
}

const QVariantList *SqlCipherResult::currentRow() const
{
    const int index = at() - m_firstCached;
    if (at() < 0 || index < 0 || index >= static_cast<int>(m_rows.size()))
        return nullptr;
    return &m_rows[static_cast<size_t>(index)];
}

bool SqlCipherResult::fetch(int index)
{
    if (index < 0 || !isActive() || !isSelect())
        return false;
    if (index < m_firstCached)
        return false; // forward-only: that row is gone
    while (index >= m_firstCached + static_cast<int>(m_rows.size())) {
        const Step step = stepOnce();
        if (step != Step::Row) {
            setAt(QSql::AfterLastRow);
            return false;
        }
    }
    setAt(index);
    return true;
}

bool SqlCipherResult::fetchFirst() { return fetch(0); }

bool SqlCipherResult::fetchLast()
{
    if (!isActive() || !isSelect())
        return false;
    while (stepOnce() == Step::Row) {
    }
    if (lastError().isValid())
        return false;
    const int last = m_firstCached + static_cast<int>(m_rows.size()) - 1;
    if (last < 0 || last < m_firstCached) {
        setAt(QSql::AfterLastRow);
        return false;
    }
    setAt(last);
    return true;
}

QVariant SqlCipherResult::data(int field)
{
    const QVariantList *row = currentRow();
    if (!row || field < 0 || field >= row->size())
        return {};
    return row->at(field);
}

bool SqlCipherResult::isNull(int field)
{
    const QVariantList *row = currentRow();
    return !row || field < 0 || field >= row->size() || row->at(field).isNull();
}

int SqlCipherResult::size() { return -1; }

int SqlCipherResult::numRowsAffected() { return m_rowsAffected; }

QSqlRecord SqlCipherResult::record() const { return isSelect() ? m_record : QSqlRecord(); }

QVariant SqlCipherResult::lastInsertId() const
{
    return isActive() && m_lastInsertId != 0 ? QVariant(m_lastInsertId) : QVariant();
}

void SqlCipherResult::detachFromResultSet() { releaseStatement(); }
