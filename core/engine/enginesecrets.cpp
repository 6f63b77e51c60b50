#include "enginesecrets.h"

#include "security/secretslot.h"

#include <QCoreApplication>
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

// Reads one secret; creates it when allowed and `dependents` is empty.
void loadKey(const OpenedStore &opened, std::shared_ptr<SecretSlot> slot, const QString &purpose,
             const QString &dependents, bool create, QObject *context, KeyDone done)
{
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
    const StoreKeySource &source = *opened.keySource;
    loadKey(opened, source.companion(QStringLiteral("api-key-pepper")), tr("API-key pepper"),
            QStringLiteral("api_keys"), create, context,
            [opened, create, context, done](Expected<std::shared_ptr<const SecretKey>> pepper) {
                if (!pepper) {
                    done(pepper.failure());
                    return;
                }
                loadKey(
                    opened, opened.keySource->companion(QStringLiteral("audit-key")),
                    tr("audit key"), QStringLiteral("audit_records"), create, context,
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
