#include "storeopener.h"

#include "security/durablefile.h"
#include "storefiles.h"

#include <QCoreApplication>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("StoreOpener", text); }

Failure noStore(const StoreLocation &location)
{
    return fail(tr("there is no store in %1; create one with: framehousectl store init --store %1")
                    .arg(location.directory()));
}

struct Attempt {
    StoreRequest request;
    StoreLocation location;
    QObject *context;
    StoreOpener::Done done;
    OpenedStore result;
};
using AttemptPtr = std::shared_ptr<Attempt>;

Store::Options storeOptions(const Attempt &a, bool create)
{
    Store::Options options;
    options.create = create ? Store::Create::IfMissing : Store::Create::Never;
    options.migrate = a.request.exclusive;
    return options;
}

void finish(const AttemptPtr &a, Expected<std::unique_ptr<Store>> store, const SecretKey &key)
{
    if (!store) {
        a->done(store.failure());
        return;
    }
    a->result.store = std::move(store.value());
    a->result.key = std::make_shared<SecretKey>(key);
    a->done(std::move(a->result));
}

// Clears the pending slot, then hands over the opened store.
void dropPendingThenFinish(const AttemptPtr &a, std::unique_ptr<Store> store, const SecretKey &key)
{
    auto opened = std::make_shared<std::unique_ptr<Store>>(std::move(store));
    a->result.keySource->pending()->remove(a->context, [a, key, opened](Expected<void> removed) {
        if (!removed) {
            a->done(removed.failure());
            return;
        }
        finish(a, std::move(*opened), key);
    });
}

// The current key did not open the store: a rekey may have swapped the
// database and died before it promoted the new key. Try the pending one.
void tryPendingKey(const AttemptPtr &a, Failure original)
{
    const SecretSlot *pending = a->result.keySource->pending();
    if (!pending) {
        a->done(original);
        return;
    }
    pending->read(a->context, [a, original](Expected<std::optional<QByteArray>> text) {
        if (!text || !text.value()) {
            a->done(original);
            return;
        }
        Expected<SecretKey> key =
            SecretKey::fromSecret(*text.value(), a->result.keySource->pending()->describe());
        if (!key) {
            a->done(original);
            return;
        }
        Expected<std::unique_ptr<Store>> store =
            Store::open(a->location.databasePath(), key.value(), storeOptions(*a, false));
        if (!store) {
            a->done(original);
            return;
        }
        if (!a->request.exclusive) {
            finish(a, std::move(store), key.value());
            return;
        }
        // Promote: current := pending, then drop pending.
        const SecretKey promoted = key.value();
        QByteArray line = promoted.toHexLine();
        auto opened = std::make_shared<std::unique_ptr<Store>>(std::move(store.value()));
        a->result.keySource->current().write(
            line, a->context, [a, promoted, opened](Expected<void> written) {
                if (!written) {
                    a->done(written.failure());
                    return;
                }
                dropPendingThenFinish(a, std::move(*opened), promoted);
            });
        SecretKey::wipe(line);
    });
}

void openWithKey(const AttemptPtr &a, const SecretKey &key, bool create)
{
    Expected<std::unique_ptr<Store>> store =
        Store::open(a->location.databasePath(), key, storeOptions(*a, create));
    if (!store && store.code() == Store::WrongKey) {
        tryPendingKey(a, fail(tr("%1 does not open the store %2: it holds the wrong key, or the "
                                 "file is not a Framehouse store. The store was left untouched.")
                                  .arg(a->result.keySource->describe(), a->location.databasePath()),
                              Store::WrongKey));
        return;
    }
    const SecretSlot *pending = a->result.keySource->pending();
    if (!store || !a->request.exclusive || !pending) {
        finish(a, std::move(store), key);
        return;
    }
    // The current key works, so any pending key is from a rekey that died
    // before it swapped the database: discard it.
    dropPendingThenFinish(a, std::move(store.value()), key);
}

void createKeyAndStore(const AttemptPtr &a)
{
    const SecretKey key = SecretKey::generate();
    QByteArray line = key.toHexLine();
    a->result.keySource->current().write(line, a->context, [a, key](Expected<void> written) {
        if (!written) {
            a->done(fail(tr("cannot save the new store key to %1: %2")
                             .arg(a->result.keySource->describe(), written.error())));
            return;
        }
        a->result.created = true;
        openWithKey(a, key, true);
    });
    SecretKey::wipe(line);
}

void readCurrentKey(const AttemptPtr &a)
{
    const bool exists = a->location.databaseExists();
    a->result.keySource->current().read(
        a->context, [a, exists](Expected<std::optional<QByteArray>> text) {
            if (!text) {
                a->done(text.failure());
                return;
            }
            const SecretSlot &slot = a->result.keySource->current();
            if (!text.value()) {
                if (exists) {
                    tryPendingKey(a, fail(tr("the store %1 exists but %2 holds no key for it. It "
                                             "was left untouched: restore the key, or give the "
                                             "right one with --key-file FILE.")
                                              .arg(a->location.databasePath(), slot.describe())));
                } else if (a->request.createIfMissing && slot.isWritable()) {
                    createKeyAndStore(a);
                } else if (a->request.createIfMissing) {
                    a->done(fail(tr("%1 holds no key and is read-only").arg(slot.describe())));
                } else {
                    a->done(noStore(a->location));
                }
                return;
            }
            Expected<SecretKey> key = SecretKey::fromSecret(*text.value(), slot.describe());
            if (!key) {
                a->done(key.failure());
                return;
            }
            if (!exists && !a->request.createIfMissing) {
                a->done(noStore(a->location));
                return;
            }
            a->result.created = !exists;
            openWithKey(a, key.value(), !exists);
        });
}
} // namespace

void StoreOpener::open(const StoreRequest &request, QObject *context, Done done)
{
    auto a = std::make_shared<Attempt>(
        Attempt{request, StoreLocation(request.directory), context, std::move(done), {}});
    const StoreLocation &location = a->location;
    if (!location.databaseExists() && !request.createIfMissing &&
        !StoreFiles::hasInterruptedRestore(location)) {
        a->done(noStore(location));
        return;
    }
    if (request.exclusive || request.createIfMissing) {
        Expected<void> dir = DurableFile::ensurePrivateDirectory(location.directory());
        if (!dir) {
            a->done(dir.failure());
            return;
        }
    }
    if (!request.exclusive || request.excludeReaders) {
        Expected<std::unique_ptr<StoreLock>> readers = StoreLock::acquire(
            location, request.exclusive ? StoreLock::Kind::NoReaders : StoreLock::Kind::Reader);
        if (!readers) {
            a->done(readers.failure());
            return;
        }
        a->result.readersLock = std::move(readers.value());
    }
    if (request.exclusive) {
        Expected<std::unique_ptr<StoreLock>> lock = StoreLock::acquire(location);
        if (!lock) {
            a->done(lock.failure());
            return;
        }
        a->result.lock = std::move(lock.value());
        Expected<void> recovered = StoreFiles::recoverInterruptedOperations(location);
        if (!recovered) {
            a->done(recovered.failure());
            return;
        }
    }

    Expected<QString> id = location.readIdentity();
    if (!id) {
        a->done(id.failure());
        return;
    }
    if (id.value().isEmpty()) {
        const bool keychain =
            request.keyFile.isEmpty() && qEnvironmentVariableIsEmpty("CREDENTIALS_DIRECTORY");
        if (location.databaseExists() && keychain) {
            a->done(fail(tr("%1 is missing, so the store's keychain entry cannot be found; give "
                            "the key with --key-file FILE")
                             .arg(location.identityPath())));
            return;
        }
        if (request.exclusive || request.createIfMissing)
            id = location.createIdentity();
        if (!id) {
            a->done(id.failure());
            return;
        }
    }
    a->result.storeId = id.value();
    a->result.keySource =
        std::make_shared<StoreKeySource>(StoreKeySource::select(request.keyFile, id.value()));
    readCurrentKey(a);
}
