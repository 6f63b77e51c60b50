#pragma once

#include "audit/auditlog.h"
#include "store/storeopener.h"

#include <functional>
#include <memory>

// The store's two other secrets, kept the same way as its key (see
// StoreKeySource::companion): the pepper of API-key digests
// ("api-key-pepper") and the audit log's HMAC key ("audit-key").
struct EngineSecrets {
    // Their names beside the store key (StoreKeySource::companion).
    static inline const QString PepperName = QStringLiteral("api-key-pepper");
    static inline const QString AuditKeyName = QStringLiteral("audit-key");

    std::shared_ptr<const SecretKey> pepper;
    std::shared_ptr<const AuditLog> audit;

    using Done = std::function<void(Expected<EngineSecrets>)>;
    // Reads both. With `create` (the engine and `store init`, which hold the
    // store exclusively), a missing one is generated, but only while nothing
    // in the store depends on it yet: a store with keys and no pepper is an
    // error, never a silent new pepper. A key that is not the one the store
    // was set up with (its fingerprint is kept in the store) is refused.
    static void load(const OpenedStore &opened, bool create, QObject *context, Done done);
};
