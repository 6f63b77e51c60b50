#include "storemaintenance.h"

#include "migrations.h"
#include "security/durablefile.h"
#include "storefiles.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QSqlError>
#include <QSqlQuery>
#include <QSqlRecord>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("StoreMaintenance", text); }

Expected<QStringList> rows(QSqlDatabase &db, const QString &sql)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(sql))
        return fail(tr("%1 failed: %2").arg(sql, describeSqlError(query.lastError())));
    QStringList out;
    while (query.next()) {
        QStringList fields;
        for (int i = 0; i < query.record().count(); ++i)
            fields << query.value(i).toString();
        out << fields.join(QStringLiteral(" | "));
    }
    if (query.lastError().isValid())
        return fail(tr("%1 failed: %2").arg(sql, describeSqlError(query.lastError())));
    return out;
}

Expected<QString> scalar(QSqlDatabase &db, const QString &sql)
{
    Expected<QStringList> r = rows(db, sql);
    if (!r)
        return r.failure();
    return r.value().value(0);
}

// Copies the whole database behind `source` into a new keyed file.
Expected<void> exportTo(QSqlDatabase &source, const QString &target, const SecretKey &key)
{
    Expected<void> cleared = StoreFiles::removeDatabaseFiles(target);
    if (!cleared)
        return cleared;
    Expected<int> version = Migrations::currentVersion(source);
    if (!version)
        return version.failure();
    // Connections are opened without SQLITE_OPEN_CREATE, which ATTACH
    // inherits; an empty file is a valid empty database, created here 0600.
    {
        const int fd = ::open(QFile::encodeName(target).constData(),
                              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return fail(tr("cannot create %1: %2")
                            .arg(target, QString::fromLocal8Bit(std::strerror(errno))));
        ::close(fd);
    }
    {
        std::string literal = key.sqlLiteral();
        QSqlQuery attach(source);
        attach.prepare(QStringLiteral("ATTACH DATABASE ? AS fh_export KEY ?"));
        attach.addBindValue(target);
        attach.addBindValue(
            QString::fromLatin1(literal.data(), static_cast<qsizetype>(literal.size())));
        SecretKey::wipe(literal);
        if (!attach.exec())
            return fail(
                tr("cannot create %1: %2").arg(target, describeSqlError(attach.lastError())));
    }
    QSqlQuery query(source);
    QString error;
    if (!query.exec(QStringLiteral("SELECT sqlcipher_export('fh_export')")) ||
        !query.exec(QStringLiteral("PRAGMA fh_export.user_version = %1").arg(version.value())))
        error = describeSqlError(query.lastError());
    query.finish();
    if (!query.exec(QStringLiteral("DETACH DATABASE fh_export")) && error.isEmpty())
        error = describeSqlError(query.lastError());
    if (!error.isEmpty()) {
        (void)StoreFiles::removeDatabaseFiles(target);
        return fail(tr("cannot copy the store into %1: %2").arg(target, error));
    }
    return DurableFile::syncFile(target);
}

// Opens `path` with `key` and checks it from end to end.
Expected<void> verifyCopy(const QString &path, const SecretKey &key)
{
    Expected<QSqlDatabase> db = Store::openExtra(path, key, QStringLiteral("FH_NO_CREATE"));
    if (!db)
        return fail(tr("the copy %1 does not open: %2").arg(path, db.error()));
    Expected<QStringList> problems = StoreMaintenance::check(db.value());
    Expected<int> version = Migrations::currentVersion(db.value());
    Store::closeExtra(db.value());
    if (!problems)
        return problems.failure();
    if (!problems.value().isEmpty())
        return fail(tr("the copy %1 is damaged: %2")
                        .arg(path, problems.value().join(QStringLiteral("; "))));
    if (!version)
        return version.failure();
    if (version.value() > Migrations::latestVersion())
        return fail(tr("%1 has schema version %2, newer than this Framehouse understands (%3)")
                        .arg(path)
                        .arg(version.value())
                        .arg(Migrations::latestVersion()));
    return {};
}

qint64 fileSize(const QString &path) { return QFileInfo(path).size(); }
} // namespace

Expected<QStringList> StoreMaintenance::check(QSqlDatabase &db)
{
    const struct {
        const char *label;
        const char *sql;
        const char *healthy; // the one row a healthy database answers, if any
    } checks[] = {
        {"cipher", "PRAGMA cipher_integrity_check", nullptr},
        {"integrity", "PRAGMA integrity_check", "ok"},
        {"foreign key", "PRAGMA foreign_key_check", nullptr},
    };
    QStringList problems;
    for (const auto &c : checks) {
        const QString label = tr(c.label);
        Expected<QStringList> found = rows(db, QString::fromLatin1(c.sql));
        // A check that cannot even run on damaged pages is itself a finding;
        // the remaining checks still run.
        if (!found) {
            problems << tr("%1: %2").arg(label, found.error());
            continue;
        }
        const QStringList healthy =
            c.healthy ? QStringList{QString::fromLatin1(c.healthy)} : QStringList();
        if (found.value() == healthy)
            continue;
        for (const QString &row : found.value())
            problems << tr("%1: %2").arg(label, row);
    }
    return problems;
}

Expected<StoreMaintenance::Facts> StoreMaintenance::info(OpenedStore &opened)
{
    Expected<QSqlDatabase> db = opened.store->connection();
    if (!db)
        return db.failure();
    Facts facts;
    const QString path = opened.store->databasePath();
    facts.append({tr("database"), path});
    facts.append({tr("store id"), opened.storeId});
    facts.append({tr("key source"), opened.keySource->describe()});
    Expected<int> version = Migrations::currentVersion(db.value());
    if (!version)
        return version.failure();
    facts.append({tr("schema version"),
                  tr("%1 (this build: %2)").arg(version.value()).arg(Migrations::latestVersion())});
    const struct {
        const char *label;
        const char *sql;
    } pragmas[] = {
        {"cipher", "PRAGMA cipher_version"},
        {"cipher provider", "PRAGMA cipher_provider_version"},
        {"page size", "PRAGMA cipher_page_size"},
        {"journal mode", "PRAGMA journal_mode"},
        {"synchronous", "PRAGMA synchronous"},
        {"foreign keys", "PRAGMA foreign_keys"},
        {"secure delete", "PRAGMA secure_delete"},
    };
    for (const auto &p : pragmas) {
        Expected<QString> value = scalar(db.value(), QString::fromLatin1(p.sql));
        if (!value)
            return value.failure();
        facts.append({tr(p.label), value.value()});
    }
    for (const char *table : {"jobs", "api_keys", "audit_records"}) {
        Expected<QString> count =
            scalar(db.value(), QStringLiteral("SELECT count(*) FROM ") + QLatin1String(table));
        if (!count)
            return count.failure();
        facts.append({tr("rows in %1").arg(QLatin1String(table)), count.value()});
    }
    facts.append({tr("file size"), tr("%1 bytes (+ %2 in the WAL)")
                                       .arg(fileSize(path))
                                       .arg(fileSize(path + QStringLiteral("-wal")))});
    const QString preRestore = StoreFiles::preRestore(StoreLocation(QFileInfo(path).path()));
    if (QFileInfo::exists(preRestore))
        facts.append({tr("pre-restore copy"), preRestore});
    return facts;
}

Expected<void> StoreMaintenance::backup(Store &store, const QString &target,
                                        const SecretKey &backupKey)
{
    if (QFileInfo::exists(target))
        return fail(tr("%1 already exists; choose a new name for the backup").arg(target));
    const QString dir = QFileInfo(target).absolutePath();
    if (!QFileInfo(dir).isDir())
        return fail(tr("the directory %1 does not exist").arg(dir));
    Expected<QSqlDatabase> db = store.connection();
    if (!db)
        return db.failure();
    const QString temp = target + QStringLiteral(".partial");
    Expected<void> exported = exportTo(db.value(), temp, backupKey);
    if (!exported)
        return exported;
    Expected<void> verified = verifyCopy(temp, backupKey);
    if (!verified) {
        (void)StoreFiles::removeDatabaseFiles(temp);
        return verified;
    }
    Expected<void> moved = DurableFile::rename(temp, target);
    if (!moved)
        (void)StoreFiles::removeDatabaseFiles(temp);
    return moved;
}

Expected<void> StoreMaintenance::restore(OpenedStore &opened, const QString &backup,
                                         const SecretKey &backupKey)
{
    if (!opened.lock)
        return fail(tr("restore needs the store for itself (an exclusive open)"));
    if (!QFileInfo::exists(backup))
        return fail(tr("the backup %1 does not exist").arg(backup));
    Expected<void> verified = verifyCopy(backup, backupKey);
    if (!verified)
        return fail(tr("the backup was not restored: %1").arg(verified.error()));

    const StoreLocation location(QFileInfo(opened.store->databasePath()).path());
    const QString incoming = StoreFiles::restoreTarget(location);
    {
        Expected<QSqlDatabase> source =
            Store::openExtra(backup, backupKey, QStringLiteral("FH_NO_CREATE"));
        if (!source)
            return source.failure();
        Expected<void> exported = exportTo(source.value(), incoming, *opened.key);
        Store::closeExtra(source.value());
        if (!exported)
            return exported;
    }
    Expected<void> reencrypted = verifyCopy(incoming, *opened.key);
    if (!reencrypted) {
        (void)StoreFiles::removeDatabaseFiles(incoming);
        return reencrypted;
    }

    const QString current = location.databasePath();
    const QString kept = StoreFiles::preRestore(location);
    opened.store->closeAll();
    opened.store.reset();
    (void)StoreFiles::removeDatabaseFiles(kept);
    const Store::Options options;
    // Moves the old database and its WAL aside, all or nothing.
    Expected<void> step = StoreFiles::moveDatabaseFiles(current, kept);
    if (!step) {
        (void)StoreFiles::removeDatabaseFiles(incoming);
        Expected<std::unique_ptr<Store>> old = Store::open(current, *opened.key, options);
        if (old)
            opened.store = std::move(old.value());
        return fail(tr("the backup was not restored: %1").arg(step.error()));
    }
    (void)DurableFile::rename(incoming, current);
    const bool swapped = QFileInfo::exists(current);
    Expected<std::unique_ptr<Store>> reopened =
        swapped
            ? Store::open(current, *opened.key, options)
            : Expected<std::unique_ptr<Store>>(fail(tr("cannot move %1 into place").arg(incoming)));
    if (!reopened) {
        // Every file of the old database is in `kept`, unmodified: whatever
        // is at `current` now is the restored copy.
        if (swapped)
            (void)StoreFiles::removeDatabaseFiles(current);
        (void)StoreFiles::removeDatabaseFiles(incoming);
        (void)StoreFiles::moveDatabaseFiles(kept, current);
        Expected<std::unique_ptr<Store>> old = Store::open(current, *opened.key, options);
        if (old)
            opened.store = std::move(old.value());
        return fail(tr("the restored store did not open, the old one is back in place: %1")
                        .arg(reopened.error()));
    }
    opened.store = std::move(reopened.value());
    return StoreFiles::removeDatabaseFiles(kept);
}

void StoreMaintenance::rekey(OpenedStore &opened, QObject *context, RekeyDone done)
{
    const SecretSlot *pending = opened.keySource->pending();
    if (!opened.lock) {
        done(fail(tr("rekey needs the store for itself (an exclusive open)")));
        return;
    }
    if (!pending || !opened.keySource->current().isWritable()) {
        done(fail(tr("the key comes from %1, which Framehouse cannot change; rekey with "
                     "--key-file FILE, then update the systemd credential")
                      .arg(opened.keySource->describe())));
        return;
    }
    const SecretKey newKey = SecretKey::generate();
    QByteArray line = newKey.toHexLine();
    OpenedStore *target = &opened;
    auto source = opened.keySource;
    // 1. The new key goes to the pending slot before the database changes.
    pending->write(line, context, [target, context, done, newKey, source](Expected<void> staged) {
        if (!staged) {
            done(staged);
            return;
        }
        const QString path = target->store->databasePath();
        const StoreLocation location(QFileInfo(path).path());
        const QString copy = StoreFiles::rekeyTarget(location);
        // 2. A complete copy under the new key, checked.
        Expected<void> step = [&]() -> Expected<void> {
            Expected<QSqlDatabase> db = target->store->connection();
            if (!db)
                return db.failure();
            Expected<QStringList> checkpoint =
                rows(db.value(), QStringLiteral("PRAGMA wal_checkpoint(TRUNCATE)"));
            if (!checkpoint)
                return checkpoint.failure();
            // "busy | log frames | checkpointed frames": the WAL is deleted
            // below, so every frame must be in the database first.
            const QStringList fields = checkpoint.value().value(0).split(QStringLiteral(" | "));
            if (fields.size() != 3 || fields.at(0) != QLatin1String("0") ||
                fields.at(1) != fields.at(2))
                return fail(tr("the WAL could not be fully checkpointed (%1); another process "
                               "is reading the store, try again")
                                .arg(checkpoint.value().value(0)));
            Expected<void> exported = exportTo(db.value(), copy, newKey);
            if (!exported)
                return exported;
            return verifyCopy(copy, newKey);
        }();
        // 3. One rename swaps the database.
        if (step) {
            target->store->closeAll();
            target->store.reset();
            step = DurableFile::remove(path + QStringLiteral("-wal"));
            if (step)
                step = DurableFile::remove(path + QStringLiteral("-shm"));
            if (step)
                step = DurableFile::rename(copy, path);
        }
        if (!step) {
            if (!target->store) {
                Expected<std::unique_ptr<Store>> old =
                    Store::open(path, *target->key, Store::Options{});
                if (!old) {
                    // The swap may have happened after all: the pending slot
                    // holds the only key that opens the store now, and the
                    // next open promotes it. Never drop it here.
                    done(fail(tr("rekey failed midway (%1); the new key stays in %2 and the "
                                 "next open of the store finishes the rotation")
                                  .arg(step.error(), source->pending()->describe())));
                    return;
                }
                target->store = std::move(old.value());
            }
            (void)StoreFiles::removeDatabaseFiles(copy);
            source->pending()->remove(context, [done, step](Expected<void>) { done(step); });
            return;
        }
        // 4. The new key becomes current; 5. the pending slot is cleared.
        QByteArray promoted = newKey.toHexLine();
        source->current().write(
            promoted, context, [target, context, done, newKey, source, path](Expected<void> w) {
                if (!w) {
                    done(fail(tr("the store now uses the new key, which is still in %1 (the "
                                 "next open moves it): %2")
                                  .arg(source->pending()->describe(), w.error())));
                    return;
                }
                source->pending()->remove(context, [target, done, newKey,
                                                    path](Expected<void> removed) {
                    Store::Options options;
                    Expected<std::unique_ptr<Store>> reopened = Store::open(path, newKey, options);
                    if (!reopened) {
                        done(reopened.failure());
                        return;
                    }
                    target->store = std::move(reopened.value());
                    target->key = std::make_shared<SecretKey>(newKey);
                    done(removed);
                });
            });
        SecretKey::wipe(promoted);
    });
    SecretKey::wipe(line);
}
