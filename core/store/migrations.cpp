#include "migrations.h"

#include "sqlcipherdriver.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QSqlError>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("Migrations", text); }

QString describe(const QSqlError &error)
{
    return error.databaseText().isEmpty()
               ? error.driverText()
               : error.driverText() + QStringLiteral(": ") + error.databaseText();
}
} // namespace

QList<Migrations::Migration> Migrations::all()
{
    static const QList<Migration> migrations = [] {
        QList<Migration> list;
        const QRegularExpression pattern(QStringLiteral("^(\\d{4})_([a-z0-9_]+)\\.sql$"));
        const QDir dir(QStringLiteral(":/framehouse/migrations"));
        for (const QString &file : dir.entryList(QDir::Files, QDir::Name)) {
            const QRegularExpressionMatch match = pattern.match(file);
            if (!match.hasMatch())
                qFatal("migration file with a bad name: %s", qPrintable(file));
            QFile f(dir.filePath(file));
            if (!f.open(QIODevice::ReadOnly))
                qFatal("cannot read migration %s", qPrintable(file));
            const int version = match.captured(1).toInt();
            if (version != list.size() + 1)
                qFatal("migrations must be numbered 1, 2, 3... without gaps: %s", qPrintable(file));
            list.append({version, match.captured(2), QString::fromUtf8(f.readAll())});
        }
        return list;
    }();
    return migrations;
}

int Migrations::latestVersion() { return static_cast<int>(all().size()); }

Expected<int> Migrations::currentVersion(QSqlDatabase &db)
{
    QSqlQuery query(db);
    if (!query.exec(QStringLiteral("PRAGMA user_version")) || !query.next())
        return fail(tr("cannot read the schema version: %1").arg(describe(query.lastError())));
    return query.value(0).toInt();
}

Expected<void> Migrations::migrate(QSqlDatabase &db, int target)
{
    const int latest = latestVersion();
    if (target < 0)
        target = latest;
    Expected<int> current = currentVersion(db);
    if (!current)
        return current.failure();
    if (current.value() > latest)
        return fail(tr("the store has schema version %1, newer than this Framehouse understands "
                       "(%2); upgrade Framehouse to open it")
                        .arg(current.value())
                        .arg(latest));
    auto *driver = static_cast<SqlCipherDriver *>(db.driver());
    for (const Migration &migration : all()) {
        if (migration.version <= current.value() || migration.version > target)
            continue;
        if (!db.transaction())
            return fail(tr("cannot start migration %1: %2")
                            .arg(migration.version)
                            .arg(describe(db.lastError())));
        bool ok = driver->executeScript(migration.sql);
        QSqlError error = driver->lastError();
        if (ok) {
            QSqlQuery record(db);
            record.prepare(QStringLiteral(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"));
            record.addBindValue(migration.version);
            record.addBindValue(migration.name);
            record.addBindValue(QDateTime::currentMSecsSinceEpoch());
            ok = record.exec() &&
                 record.exec(QStringLiteral("PRAGMA user_version = %1").arg(migration.version));
            if (!ok)
                error = record.lastError();
        }
        if (!ok || !db.commit()) {
            if (ok)
                error = db.lastError();
            db.rollback();
            return fail(tr("migration %1 (%2) failed and was rolled back: %3")
                            .arg(migration.version)
                            .arg(migration.name, describe(error)));
        }
    }
    return {};
}
