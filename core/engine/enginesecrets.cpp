#include "enginesecrets.h"

#include "security/secretslot.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QSqlError>
#include <QSqlQuery>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("EngineSecrets", text); }

using KeyDone = std::function<void(Expected<std::shared_ptr<const SecretKey>>)>;

Expected<qint64> rowCount(const OpenedStore &opened, const QString &table)
{
    Expected<QSqlDatabase> db = opened.store->connection();
    if (!db)
        return db.failure();
    QSqlQuery q(db.value());
    if (!q.exec(QStringLiteral("SELECT count(*) FROM ") + table) || !q.next())
        return fail(describeSqlError(q.lastError()));
    return q.value(0).toLongLong();
}

// A wrong pepper would refuse every key as a wrong secret, and a wrong audit
// key would chain new records that never verify. So the store keeps a
// fingerprint of each, HMAC(key, label), written the first time the key is
// seen, and a key that does not match it is refused by name.
Expected<void> checkFingerprint(const OpenedStore &opened, const SecretKey &key,
                                const SecretSlot &slot, const QString &name, const QString &purpose)
{
    Expected<QSqlDatabase> db = opened.store->connection();
    if (!db)
        return db.failure();
    const QString setting = QStringLiteral("secrets.%1.fingerprint").arg(name);
    const QString fingerprint = QString::fromLatin1(
        key.hmac(QByteArray(QByteArray("framehouse key fingerprint: ") + name.toLatin1())).toHex());
    QSqlQuery write(db.value());
    write.prepare(QStringLiteral("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
                                 "ON CONFLICT (key) DO NOTHING"));
    write.addBindValue(setting);
    write.addBindValue(fingerprint);
    write.addBindValue(QDateTime::currentMSecsSinceEpoch());
    QSqlQuery read(db.value());
    read.prepare(QStringLiteral("SELECT value FROM settings WHERE key = ?"));
    read.addBindValue(setting);
    if (!write.exec() || !read.exec() || !read.next())
        return fail(
            tr("cannot check the %1: %2")
                .arg(purpose, describeSqlError(write.lastError().isValid() ? write.lastError()
                                                                           : read.lastError())));
    if (read.value(0).toString() != fingerprint)
        return fail(tr("%1 holds a different %2 from the one this store was set up with: restore "
                       "the right one from your backup of the store's secrets")
                        .arg(slot.describe(), purpose));
    return {};
}

// Reads one secret; creates it when allowed and `dependents` is empty.
void loadKey(const OpenedStore &opened, const QString &name, const QString &purpose,
             const QString &dependents, bool create, QObject *context, KeyDone checkedDone)
{
    std::shared_ptr<SecretSlot> slot = opened.keySource->companion(name);
    const KeyDone done = [opened, slot, name, purpose,
                          checkedDone](Expected<std::shared_ptr<const SecretKey>> key) {
        if (key) {
            Expected<void> matches = checkFingerprint(opened, *key.value(), *slot, name, purpose);
            if (!matches) {
                checkedDone(matches.failure());
                return;
            }
        }
        checkedDone(std::move(key));
    };
    slot->read(context, [opened, slot, purpose, dependents, create, context,
                         done](Expected<std::optional<QByteArray>> text) {
        if (!text) {
            done(text.failure());
            return;
        }
        if (text.value()) {
            Expected<SecretKey> key = SecretKey::fromSecret(*text.value(), slot->describe());
            if (!key) {
                done(key.failure());
                return;
            }
            done(std::make_shared<const SecretKey>(key.value()));
            return;
        }
        Expected<qint64> existing = rowCount(opened, dependents);
        if (!existing) {
            done(existing.failure());
            return;
        }
        if (existing.value() > 0) {
            done(fail(tr("%1 holds no %2, but the store has %3 rows in %4 that need it: restore "
                         "it from your backup of the store's secrets")
                          .arg(slot->describe(), purpose)
                          .arg(existing.value())
                          .arg(dependents)));
            return;
        }
        if (!create || !slot->isWritable()) {
            done(fail(tr("%1 holds no %2 yet; run 'framehousectl store init' once to create it")
                          .arg(slot->describe(), purpose)));
            return;
        }
        const SecretKey key = SecretKey::generate();
        QByteArray line = key.toHexLine();
        slot->write(line, context, [slot, key, purpose, done](Expected<void> written) {
            if (!written) {
                done(fail(tr("cannot save the new %1 to %2: %3")
                              .arg(purpose, slot->describe(), written.error())));
                return;
            }
            done(std::make_shared<const SecretKey>(key));
        });
        SecretKey::wipe(line);
    });
}
} // namespace

void EngineSecrets::load(const OpenedStore &opened, bool create, QObject *context, Done done)
{
    loadKey(opened, PepperName, tr("API-key pepper"), QStringLiteral("api_keys"), create, context,
            [opened, create, context, done](Expected<std::shared_ptr<const SecretKey>> pepper) {
                if (!pepper) {
                    done(pepper.failure());
                    return;
                }
                loadKey(
                    opened, AuditKeyName, tr("audit key"), QStringLiteral("audit_records"), create,
                    context,
                    [opened, pepper, done](Expected<std::shared_ptr<const SecretKey>> auditKey) {
                        if (!auditKey) {
                            done(auditKey.failure());
                            return;
                        }
                        const StoreLocation location(
                            QFileInfo(opened.store->databasePath()).path());
                        auto anchor = std::make_shared<const AuditAnchor>(
                            opened.keySource->auditAnchor(location.directory()),
                            location.secretsLockPath());
                        EngineSecrets secrets;
                        secrets.pepper = pepper.value();
                        secrets.audit = std::make_shared<const AuditLog>(auditKey.value(), anchor);
                        done(std::move(secrets));
                    });
            });
}
