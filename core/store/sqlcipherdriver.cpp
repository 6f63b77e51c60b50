#include "sqlcipherdriver.h"

#include "sqlcipherresult.h"

#include <QCoreApplication>
#include <QFile>
#include <QSqlDatabase>
#include <QSqlField>
#include <QSqlIndex>
#include <QSqlQuery>
#include <QSqlRecord>

#include <sqlcipher/sqlite3.h>

namespace {

struct ConnectOptions {
    int busyTimeoutMs = 5000;
    bool noCreate = false;
    bool plaintext = false;
};

std::optional<ConnectOptions> parseOptions(const QString &text)
{
    ConnectOptions options;
    for (const QString &raw : text.split(u';', Qt::SkipEmptyParts)) {
        const QString item = raw.trimmed();
        if (item.startsWith(QLatin1String("FH_BUSY_TIMEOUT="))) {
            bool ok = false;
            options.busyTimeoutMs = item.mid(16).toInt(&ok);
            if (!ok || options.busyTimeoutMs < 0)
                return std::nullopt;
        } else if (item == QLatin1String("FH_NO_CREATE")) {
            options.noCreate = true;
        } else if (item == QLatin1String("FH_PLAINTEXT")) {
            options.plaintext = true;
        } else {
            return std::nullopt;
        }
    }
    return options;
}

} // namespace

QMetaType SqlCipherDriver::typeFromDeclaration(const QString &declared)
{
    const QString t = declared.toUpper();
    if (t.isEmpty())
        return QMetaType();
    if (t.contains(QLatin1String("INT")))
        return QMetaType::fromType<qlonglong>();
    if (t.contains(QLatin1String("REAL")) || t.contains(QLatin1String("FLOA")) ||
        t.contains(QLatin1String("DOUB")))
        return QMetaType::fromType<double>();
    if (t.contains(QLatin1String("BLOB")))
        return QMetaType::fromType<QByteArray>();
    return QMetaType::fromType<QString>();
}

void SqlCipherDriver::registerDriver()
{
    static const bool registered = [] {
        QSqlDatabase::registerSqlDriver(QString::fromLatin1(Name),
                                        new QSqlDriverCreator<SqlCipherDriver>);
        return true;
    }();
    Q_UNUSED(registered);
}

SqlCipherDriver::SqlCipherDriver(QObject *parent)
    : QSqlDriver(parent)
{
    setNumericalPrecisionPolicy(QSql::HighPrecision);
}

SqlCipherDriver::~SqlCipherDriver() { close(); }

void SqlCipherDriver::setKey(const SecretKey &key) { m_key = key; }

bool SqlCipherDriver::hasFeature(DriverFeature feature) const
{
    switch (feature) {
    case Transactions:
    case BLOB:
    case Unicode:
    case PreparedQueries:
    case PositionalPlaceholders:
    case LastInsertId:
    case FinishQuery:
    case SimpleLocking:
        return true;
    case QuerySize:
    case NamedPlaceholders: // Qt rewrites :name to ? for us
    case BatchOperations:
    case LowPrecisionNumbers:
    case EventNotifications:
    case MultipleResultSets:
    case CancelQuery:
        return false;
    }
    return false;
}

QSqlError SqlCipherDriver::makeError(const QString &what, QSqlError::ErrorType type, int code) const
{
    const QString detail =
        m_db ? QString::fromUtf8(sqlite3_errmsg(m_db)) : QString::fromUtf8(sqlite3_errstr(code));
    return QSqlError(what, detail, type, QString::number(code));
}

bool SqlCipherDriver::failOpen(const QString &message, int code)
{
    m_lastCode = code;
    setLastError(QSqlError(message, QString::fromUtf8(sqlite3_errstr(code)),
                           QSqlError::ConnectionError, QString::number(code)));
    setOpenError(true);
    if (m_db) {
        sqlite3_close_v2(m_db);
        m_db = nullptr;
    }
    return false;
}

bool SqlCipherDriver::exec(const char *sql, QSqlError::ErrorType type, const QString &what)
{
    char *message = nullptr;
    const int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, &message);
    sqlite3_free(message);
    if (rc != SQLITE_OK) {
        m_lastCode = rc & 0xff;
        setLastError(makeError(what.isEmpty() ? QString::fromUtf8(sql) : what, type, rc));
        return false;
    }
    return true;
}

bool SqlCipherDriver::open(const QString &db, const QString &, const QString &, const QString &,
                           int, const QString &connectOptions)
{
    if (isOpen())
        close();
    const std::optional<ConnectOptions> options = parseOptions(connectOptions);
    if (!options)
        return failOpen(tr("unknown connect options: %1").arg(connectOptions), SQLITE_MISUSE);
    if (!m_key && !options->plaintext)
        return failOpen(tr("no store key was given; refusing to open %1 unencrypted").arg(db),
                        SQLITE_MISUSE);

    int flags = SQLITE_OPEN_READWRITE;
    if (!options->noCreate)
        flags |= SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(QFile::encodeName(db).constData(), &m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const QString detail = m_db ? QString::fromUtf8(sqlite3_errmsg(m_db)) : QString();
        return failOpen(tr("cannot open %1: %2").arg(db, detail), rc);
    }
    sqlite3_extended_result_codes(m_db, 1);
    // Before the first read: another connection may be recovering or
    // checkpointing the WAL at this moment.
    sqlite3_busy_timeout(m_db, options->busyTimeoutMs);

    if (m_key) {
        std::string literal = m_key->sqlLiteral();
        rc = sqlite3_key(m_db, literal.data(), static_cast<int>(literal.size()));
        SecretKey::wipe(literal);
        if (rc != SQLITE_OK)
            return failOpen(tr("cannot key %1").arg(db), rc);
    }

    // SQLCipher logs decryption failures to stderr; the driver reports them
    // as errors instead.
    sqlite3_exec(m_db, "PRAGMA cipher_log_level = NONE", nullptr, nullptr, nullptr);

    // A build without the codec would silently write plaintext: refuse it.
    {
        sqlite3_stmt *stmt = nullptr;
        bool haveCipher = false;
        if (sqlite3_prepare_v2(m_db, "PRAGMA cipher_version", -1, &stmt, nullptr) == SQLITE_OK &&
            sqlite3_step(stmt) == SQLITE_ROW)
            haveCipher = sqlite3_column_bytes(stmt, 0) > 0;
        sqlite3_finalize(stmt);
        if (!haveCipher)
            return failOpen(tr("the SQLite library in use has no SQLCipher codec"), SQLITE_ERROR);
    }

    // The first read decrypts page 1: a wrong key shows up here.
    rc = sqlite3_exec(m_db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return failOpen(tr("the key does not open %1: it is the wrong key, or the file is not a "
                           "Framehouse store")
                            .arg(db),
                        SQLITE_NOTADB);
    if (rc != SQLITE_OK)
        return failOpen(tr("cannot read %1: %2").arg(db, QString::fromUtf8(sqlite3_errmsg(m_db))),
                        rc);

    setOpen(true);
    setOpenError(false);
    const char *settings = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;";
    if (!exec(settings, QSqlError::ConnectionError)) {
        const QSqlError error = lastError();
        close();
        setOpenError(true);
        setLastError(error);
        return false;
    }
    return true;
}

sqlite3_stmt *SqlCipherDriver::takeCachedStatement(const QByteArray &sql) const
{
    const auto it = m_statements.constFind(sql);
    if (it == m_statements.constEnd())
        return nullptr;
    sqlite3_stmt *statement = it.value();
    m_statements.erase(it);
    return statement;
}

void SqlCipherDriver::returnStatement(const QByteArray &sql, sqlite3_stmt *statement) const
{
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (!m_db || m_statements.size() >= MaxCachedStatements) {
        sqlite3_finalize(statement);
        return;
    }
    m_statements.insert(sql, statement);
}

void SqlCipherDriver::dropCachedStatements()
{
    for (sqlite3_stmt *statement : std::as_const(m_statements))
        sqlite3_finalize(statement);
    m_statements.clear();
}

void SqlCipherDriver::close()
{
    dropCachedStatements();
    if (m_db) {
        // Statements still alive belong to QSqlQuery objects; v2 defers the
        // close until they are finalized.
        sqlite3_close_v2(m_db);
        m_db = nullptr;
    }
    setOpen(false);
    setOpenError(false);
}

QSqlResult *SqlCipherDriver::createResult() const { return new SqlCipherResult(this); }

bool SqlCipherDriver::beginTransaction()
{
    // IMMEDIATE takes the write lock up front, so two writers wait on the
    // busy timeout instead of failing on a lock upgrade.
    return isOpen() && exec("BEGIN IMMEDIATE", QSqlError::TransactionError);
}

bool SqlCipherDriver::commitTransaction()
{
    return isOpen() && exec("COMMIT", QSqlError::TransactionError);
}

bool SqlCipherDriver::rollbackTransaction()
{
    return isOpen() && exec("ROLLBACK", QSqlError::TransactionError);
}

QStringList SqlCipherDriver::tables(QSql::TableType type) const
{
    QStringList names;
    if (!isOpen())
        return names;
    QString sql;
    switch (type) {
    case QSql::Tables:
        sql = QStringLiteral(
            "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%'");
        break;
    case QSql::Views:
        sql = QStringLiteral("SELECT name FROM sqlite_schema WHERE type='view'");
        break;
    case QSql::SystemTables:
        return {QStringLiteral("sqlite_schema")};
    case QSql::AllTables:
        sql = QStringLiteral("SELECT name FROM sqlite_schema WHERE type IN ('table','view')");
        break;
    }
    QSqlQuery query(createResult());
    query.setForwardOnly(true);
    if (query.exec(sql + QStringLiteral(" ORDER BY name"))) {
        while (query.next())
            names << query.value(0).toString();
    }
    return names;
}

QSqlRecord SqlCipherDriver::record(const QString &tableName) const
{
    QSqlRecord record;
    if (!isOpen())
        return record;
    QSqlQuery query(createResult());
    query.setForwardOnly(true);
    const QString table = stripDelimiters(tableName, TableName);
    if (!query.exec(
            QStringLiteral("PRAGMA table_info(%1)").arg(escapeIdentifier(table, TableName))))
        return record;
    while (query.next()) {
        QSqlField field(query.value(1).toString(), typeFromDeclaration(query.value(2).toString()),
                        table);
        field.setRequiredStatus(query.value(3).toInt() ? QSqlField::Required : QSqlField::Optional);
        field.setDefaultValue(query.value(4));
        field.setAutoValue(
            query.value(5).toInt() == 1 &&
            query.value(2).toString().compare(QLatin1String("INTEGER"), Qt::CaseInsensitive) == 0);
        record.append(field);
    }
    return record;
}

QSqlIndex SqlCipherDriver::primaryIndex(const QString &tableName) const
{
    QSqlIndex index(tableName);
    if (!isOpen())
        return index;
    QSqlQuery query(createResult());
    query.setForwardOnly(true);
    const QString table = stripDelimiters(tableName, TableName);
    if (!query.exec(
            QStringLiteral("PRAGMA table_info(%1)").arg(escapeIdentifier(table, TableName))))
        return index;
    while (query.next()) {
        if (query.value(5).toInt() > 0)
            index.append(QSqlField(query.value(1).toString(),
                                   typeFromDeclaration(query.value(2).toString()), table));
    }
    return index;
}

QString SqlCipherDriver::escapeIdentifier(const QString &identifier, IdentifierType) const
{
    QString escaped = identifier;
    escaped.replace(u'"', QLatin1String("\"\""));
    return u'"' + escaped + u'"';
}

QVariant SqlCipherDriver::handle() const { return QVariant::fromValue(static_cast<void *>(m_db)); }

bool SqlCipherDriver::executeScript(const QString &sql)
{
    if (!isOpen())
        return false;
    const QByteArray utf8 = sql.toUtf8();
    return exec(utf8.constData(), QSqlError::StatementError, tr("the SQL script failed"));
}
