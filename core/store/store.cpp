#include "store.h"

#include "migrations.h"
#include "sqlcipherdriver.h"

#include <QCoreApplication>
#include <QSqlError>
#include <QThread>

#include <atomic>

namespace {
std::atomic<quint64> nextSerial{1};

QString tr(const char *text) { return QCoreApplication::translate("Store", text); }

QString connectOptions(const Store::Options &options, bool allowCreate)
{
    QStringList parts{QStringLiteral("FH_BUSY_TIMEOUT=%1").arg(options.busyTimeoutMs)};
    if (!allowCreate)
        parts << QStringLiteral("FH_NO_CREATE");
    if (options.plaintext)
        parts << QStringLiteral("FH_PLAINTEXT");
    return parts.join(u';');
}

Expected<QSqlDatabase> openNamed(const QString &name, const QString &path, const SecretKey *key,
                                 const QString &options)
{
    SqlCipherDriver::registerDriver();
    QSqlDatabase db = QSqlDatabase::addDatabase(QString::fromLatin1(SqlCipherDriver::Name), name);
    if (key)
        static_cast<SqlCipherDriver *>(db.driver())->setKey(*key);
    db.setDatabaseName(path);
    db.setConnectOptions(options);
    if (!db.open()) {
        const QString message = describeSqlError(db.lastError());
        const int code =
            static_cast<SqlCipherDriver *>(db.driver())->lastSqliteCode() == Store::WrongKey
                ? Store::WrongKey
                : 0;
        db = QSqlDatabase();
        QSqlDatabase::removeDatabase(name);
        return fail(message, code);
    }
    return db;
}
} // namespace

QString describeSqlError(const QSqlError &error)
{
    if (error.databaseText().isEmpty() || error.driverText().contains(error.databaseText()))
        return error.driverText();
    return error.driverText() + QStringLiteral(": ") + error.databaseText();
}

Failure sqlFailure(const QString &what, const QSqlQuery &query, int code)
{
    return fail(what + QStringLiteral(": ") + describeSqlError(query.lastError()), code);
}

Store::Store(QString path, SecretKey key, Options options)
    : m_path(std::move(path))
    , m_key(std::move(key))
    , m_options(options)
    , m_serial(nextSerial++)
{}

Store::~Store() { closeAll(); }

Expected<std::unique_ptr<Store>> Store::open(const QString &databasePath, const SecretKey &key,
                                             const Options &options)
{
    std::unique_ptr<Store> store(new Store(databasePath, key, options));
    // The first connection creates (when allowed) and migrates the schema.
    const QString name = store->connectionName();
    Expected<QSqlDatabase> db =
        openNamed(name, databasePath, options.plaintext ? nullptr : &store->m_key,
                  connectOptions(options, options.create == Create::IfMissing));
    if (!db)
        return db.failure();
    {
        QMutexLocker locker(&store->m_mutex);
        store->m_connections << name;
    }
    Expected<int> version = Migrations::currentVersion(db.value());
    if (!version)
        return version.failure();
    if (version.value() > Migrations::latestVersion())
        return fail(tr("the store %1 has schema version %2, newer than this Framehouse "
                       "understands (%3); upgrade Framehouse to open it")
                        .arg(databasePath)
                        .arg(version.value())
                        .arg(Migrations::latestVersion()));
    if (options.migrate) {
        Expected<void> migrated = Migrations::migrate(db.value());
        if (!migrated)
            return migrated.failure();
    }
    return store;
}

QString Store::connectionName() const
{
    return QStringLiteral("framehouse-%1-%2")
        .arg(m_serial)
        .arg(reinterpret_cast<quintptr>(QThread::currentThread()), 0, 16);
}

Expected<QSqlDatabase> Store::connection()
{
    const QString name = connectionName();
    if (QSqlDatabase::contains(name))
        return QSqlDatabase::database(name, false);
    Expected<QSqlDatabase> db = openNamed(name, m_path, m_options.plaintext ? nullptr : &m_key,
                                          connectOptions(m_options, false));
    if (db) {
        QMutexLocker locker(&m_mutex);
        m_connections << name;
    }
    return db;
}

void Store::releaseThreadConnection()
{
    const QString name = connectionName();
    {
        QMutexLocker locker(&m_mutex);
        if (!m_connections.removeOne(name))
            return;
    }
    QSqlDatabase::removeDatabase(name);
}

void Store::closeAll()
{
    QStringList names;
    {
        QMutexLocker locker(&m_mutex);
        names.swap(m_connections);
    }
    // Removing a connection closes it; this is safe from any thread once
    // the thread that used it holds no queries on it any more.
    for (const QString &name : names)
        QSqlDatabase::removeDatabase(name);
}

Expected<QSqlDatabase> Store::openExtra(const QString &path, const SecretKey &key,
                                        const QString &options)
{
    const QString name = QStringLiteral("framehouse-extra-%1").arg(nextSerial++);
    return openNamed(name, path, &key, options);
}

void Store::closeExtra(QSqlDatabase &db)
{
    const QString name = db.connectionName();
    db.close();
    db = QSqlDatabase();
    QSqlDatabase::removeDatabase(name);
}
