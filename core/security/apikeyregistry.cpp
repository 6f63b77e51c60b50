#include "apikeyregistry.h"

#include "apikeytoken.h"
#include "audit/auditlog.h"
#include "secretkey.h"
#include "store/rowvalues.h"
#include "store/store.h"
#include "store/storesettings.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QSqlError>
#include <QSqlQuery>

#include <openssl/crypto.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("ApiKeyRegistry", text); }

constexpr qint64 DayMs = 24LL * 3600 * 1000;
constexpr qint64 LastUseResolutionMs = 60 * 1000;

Expected<ApiKey> findIn(QSqlDatabase &db, const QString &id, QByteArray *digest = nullptr)
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1, secret_digest FROM api_keys WHERE id = ?")
                  .arg(ApiKey::selectColumns()));
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot read API key %1").arg(id), q, ApiKeyRegistry::StoreError);
    if (!q.next())
        return fail(tr("there is no API key %1").arg(id), ApiKeyRegistry::UnknownKey);
    if (digest)
        *digest = q.value(18).toByteArray();
    return ApiKey::fromQuery(q);
}

// The expiry of a new key, within the operator's maximum.
Expected<std::optional<qint64>> expiryFor(QSqlDatabase &db, const ApiKeyRegistry::NewKey &request,
                                          qint64 now)
{
    if (request.neverExpires) {
        if (request.expiresInDays)
            return fail(tr("a key either never expires or expires in some days, not both"));
        return std::optional<qint64>();
    }
    Expected<qint64> maximum = StoreSettings::value(db, StoreSettings::MaximumKeyExpiryDays);
    if (!maximum)
        return maximum.failure();
    qint64 days = 0;
    if (request.expiresInDays) {
        days = *request.expiresInDays;
    } else {
        Expected<qint64> byDefault = StoreSettings::value(db, StoreSettings::DefaultKeyExpiryDays);
        if (!byDefault)
            return byDefault.failure();
        days = qMin(byDefault.value(), maximum.value());
    }
    if (days < 1 || days > maximum.value())
        return fail(tr("a key may expire in 1 to %1 days (setting %2); %3 was asked")
                        .arg(maximum.value())
                        .arg(StoreSettings::MaximumKeyExpiryDays)
                        .arg(days));
    return std::optional<qint64>(now + days * DayMs);
}

Expected<void> validate(const ApiKeyRegistry::NewKey &request)
{
    if (request.name.trimmed().isEmpty())
        return fail(tr("a key needs a name"));
    if (request.ownerUser.trimmed().isEmpty())
        return fail(tr("a key needs an owner id"));
    if (!request.scopes)
        return fail(tr("a key needs at least one scope"));
    if (request.name.size() > 200 || request.ownerName.size() > 200 ||
        request.ownerUser.size() > 200 || request.ownerEmail.size() > 320)
        return fail(tr("names, owner id and e-mail address are limited to 200 characters"));
    if (!request.ownerEmail.isEmpty() && !request.ownerEmail.contains(u'@'))
        return fail(tr("'%1' is not an e-mail address").arg(request.ownerEmail));
    if (request.rateLimitPerHour && *request.rateLimitPerHour < 1)
        return fail(tr("a rate limit must be at least 1 request per hour"));
    if (request.maxConcurrentJobs && *request.maxConcurrentJobs < 1)
        return fail(tr("a key must be allowed at least 1 concurrent job"));
    return {};
}

AuditEvent keyEvent(const QString &actor, const QString &action, const QString &id)
{
    AuditEvent event;
    event.actor = actor;
    event.action = action;
    event.target = id;
    return event;
}

Expected<void> appended(AuditLog::Writer &w, const AuditEvent &event)
{
    Expected<AuditRecord> r = w.append(event);
    if (!r)
        return r.failure();
    return {};
}
// Inserts a new key inside `w`'s transaction, with its audit record.
Expected<ApiKeyRegistry::Created> insertKey(AuditLog::Writer &w, const SecretKey &pepper,
                                            const ApiKeyRegistry::NewKey &request,
                                            const QString &rotatedFrom, const QString &actor)
{
    const qint64 now = w.now();
    Expected<std::optional<qint64>> expiry = expiryFor(w.db(), request, now);
    if (!expiry)
        return expiry.failure();
    const ApiKeyToken token = ApiKeyToken::generate();
    QSqlQuery q(w.db());
    q.prepare(QStringLiteral("INSERT INTO api_keys (id, name, owner_user, owner_name, owner_email, "
                             "scopes, secret_digest, created_at, expires_at, never_expires, "
                             "allowlist, rate_limit_per_hour, max_concurrent_jobs, rotated_from) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q.addBindValue(token.id());
    q.addBindValue(request.name);
    q.addBindValue(request.ownerUser);
    q.addBindValue(RowValues::nullIfEmpty(request.ownerName));
    q.addBindValue(RowValues::nullIfEmpty(request.ownerEmail));
    q.addBindValue(ScopeNames::names(request.scopes).join(u' '));
    q.addBindValue(pepper.hmac(token.secret()));
    q.addBindValue(now);
    q.addBindValue(RowValues::nullable(expiry.value()));
    q.addBindValue(request.neverExpires ? 1 : 0);
    q.addBindValue(RowValues::nullIfEmpty(request.allowlist.toString()));
    q.addBindValue(RowValues::nullable(request.rateLimitPerHour));
    q.addBindValue(RowValues::nullable(request.maxConcurrentJobs));
    q.addBindValue(RowValues::nullIfEmpty(rotatedFrom));
    if (!q.exec())
        return sqlFailure(tr("cannot save the new API key"), q, ApiKeyRegistry::StoreError);
    Expected<ApiKey> key = findIn(w.db(), token.id());
    if (!key)
        return key.failure();
    AuditEvent event = keyEvent(actor, QStringLiteral("key.created"), token.id());
    event.details = key->toJson(now);
    event.details.remove(QStringLiteral("status"));
    if (!rotatedFrom.isEmpty())
        event.details.insert(QStringLiteral("rotated_from"), rotatedFrom);
    Expected<void> audited = appended(w, event);
    if (!audited)
        return audited.failure();
    return ApiKeyRegistry::Created{key.value(), token.toString()};
}
} // namespace

ApiKeyRegistry::ApiKeyRegistry(std::shared_ptr<const SecretKey> pepper,
                               std::shared_ptr<const AuditLog> audit)
    : m_pepper(std::move(pepper))
    , m_audit(std::move(audit))
{}

QByteArray ApiKeyRegistry::digest(const QByteArray &secret) const { return m_pepper->hmac(secret); }

Expected<ApiKeyRegistry::Created> ApiKeyRegistry::create(QSqlDatabase db, const NewKey &request,
                                                         const QString &actor, qint64 now) const
{
    Expected<void> valid = validate(request);
    if (!valid)
        return valid.failure();
    std::optional<Created> created;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<Created> inserted = insertKey(w, *m_pepper, request, QString(), actor);
        if (!inserted)
            return inserted.failure();
        created = std::move(inserted.value());
        return {};
    });
    if (!done)
        return done.failure();
    return std::move(*created);
}

Expected<QList<ApiKey>> ApiKeyRegistry::list(QSqlDatabase db, bool includeInactive,
                                             qint64 now) const
{
    QSqlQuery q(db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT %1 FROM api_keys ORDER BY created_at DESC, id")
                    .arg(ApiKey::selectColumns())))
        return sqlFailure(tr("cannot list API keys"), q, ApiKeyRegistry::StoreError);
    QList<ApiKey> keys;
    while (q.next()) {
        ApiKey key = ApiKey::fromQuery(q);
        if (includeInactive || key.status(now) == ApiKey::Status::Active)
            keys.append(std::move(key));
    }
    return keys;
}

Expected<ApiKey> ApiKeyRegistry::find(QSqlDatabase db, const QString &id) const
{
    if (!ApiKeyToken::isId(id))
        return fail(tr("'%1' is not an API key id (12 letters and digits)").arg(id), UnknownKey);
    return findIn(db, id);
}

Expected<ApiKey> ApiKeyRegistry::revoke(QSqlDatabase db, const QString &id, const QString &reason,
                                        const QString &actor, qint64 now) const
{
    if (reason.trimmed().isEmpty())
        return fail(tr("a revocation needs a reason"));
    std::optional<ApiKey> revoked;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<ApiKey> key = find(w.db(), id);
        if (!key)
            return key.failure();
        if (key->revokedAt)
            return fail(tr("API key %1 was already revoked").arg(id));
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("UPDATE api_keys SET revoked_at = ?, revoked_by = ?, "
                                 "revoked_reason = ? WHERE id = ? AND revoked_at IS NULL"));
        q.addBindValue(now);
        q.addBindValue(actor);
        q.addBindValue(reason);
        q.addBindValue(id);
        if (!q.exec() || q.numRowsAffected() != 1)
            return sqlFailure(tr("cannot revoke API key %1").arg(id), q,
                              ApiKeyRegistry::StoreError);
        AuditEvent event = keyEvent(actor, QStringLiteral("key.revoked"), id);
        event.details = {{QStringLiteral("reason"), reason}};
        Expected<void> audited = appended(w, event);
        if (!audited)
            return audited;
        Expected<ApiKey> after = findIn(w.db(), id);
        if (!after)
            return after.failure();
        revoked = after.value();
        return {};
    });
    if (!done)
        return done.failure();
    return std::move(*revoked);
}

Expected<int> ApiKeyRegistry::revokeAll(QSqlDatabase db, const QString &reason,
                                        const QString &actor, qint64 now) const
{
    if (reason.trimmed().isEmpty())
        return fail(tr("a revocation needs a reason"));
    int count = 0;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery ids(w.db());
        ids.setForwardOnly(true);
        if (!ids.exec(
                QStringLiteral("SELECT id FROM api_keys WHERE revoked_at IS NULL ORDER BY id")))
            return sqlFailure(tr("cannot list API keys"), ids, ApiKeyRegistry::StoreError);
        QStringList revoked;
        while (ids.next())
            revoked << ids.value(0).toString();
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("UPDATE api_keys SET revoked_at = ?, revoked_by = ?, "
                                 "revoked_reason = ? WHERE revoked_at IS NULL"));
        q.addBindValue(now);
        q.addBindValue(actor);
        q.addBindValue(reason);
        if (!q.exec())
            return sqlFailure(tr("cannot revoke the API keys"), q, ApiKeyRegistry::StoreError);
        count = q.numRowsAffected();
        AuditEvent event = keyEvent(actor, QStringLiteral("key.revoked_all"), QString());
        event.details = {{QStringLiteral("reason"), reason},
                         {QStringLiteral("count"), count},
                         {QStringLiteral("keys"), QJsonArray::fromStringList(revoked)}};
        return appended(w, event);
    });
    if (!done)
        return done.failure();
    return count;
}

Expected<ApiKeyRegistry::Created> ApiKeyRegistry::rotate(QSqlDatabase db, const QString &id,
                                                         qint64 graceMs, const QString &actor,
                                                         qint64 now) const
{
    if (graceMs < 0)
        return fail(tr("the grace period cannot be negative"));
    std::optional<Created> created;
    Expected<void> done = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        Expected<ApiKey> old = find(w.db(), id);
        if (!old)
            return old.failure();
        if (old->status(now) != ApiKey::Status::Active)
            return fail(tr("API key %1 is %2; only an active key can be rotated")
                            .arg(id, ApiKey::statusName(old->status(now))));
        if (old->allowlist.isDenyingAll())
            return fail(tr("the stored address allowlist of API key %1 is damaged; create a new "
                           "key with the right --allow-cidr instead")
                            .arg(id));
        NewKey request;
        request.name = old->name;
        request.ownerUser = old->ownerUser;
        request.ownerName = old->ownerName;
        request.ownerEmail = old->ownerEmail;
        request.scopes = old->scopes;
        request.neverExpires = old->neverExpires;
        request.allowlist = old->allowlist;
        request.rateLimitPerHour = old->rateLimitPerHour;
        request.maxConcurrentJobs = old->maxConcurrentJobs;
        Expected<Created> inserted = insertKey(w, *m_pepper, request, id, actor);
        if (!inserted)
            return inserted.failure();

        const qint64 graceEnd =
            old->expiresAt ? qMin(*old->expiresAt, now + graceMs) : now + graceMs;
        QSqlQuery q(w.db());
        q.prepare(
            QStringLiteral("UPDATE api_keys SET expires_at = ?, never_expires = 0 WHERE id = ?"));
        q.addBindValue(graceEnd);
        q.addBindValue(id);
        if (!q.exec() || q.numRowsAffected() != 1)
            return sqlFailure(tr("cannot shorten API key %1").arg(id), q,
                              ApiKeyRegistry::StoreError);
        AuditEvent event = keyEvent(actor, QStringLiteral("key.rotated"), id);
        event.details = {{QStringLiteral("new_key"), inserted->key.id},
                         {QStringLiteral("old_key_expires_at"), graceEnd}};
        Expected<void> audited = appended(w, event);
        if (!audited)
            return audited;
        created = std::move(inserted.value());
        return {};
    });
    if (!done)
        return done.failure();
    return std::move(*created);
}

Expected<ApiKey> ApiKeyRegistry::authenticate(QSqlDatabase db, QStringView presented,
                                              const QHostAddress &from, qint64 now) const
{
    Expected<ApiKeyToken> token = ApiKeyToken::parse(presented);
    if (!token)
        return fail(token.error(), Malformed);
    const QByteArray offered = digest(token->secret());
    QByteArray stored;
    Expected<ApiKey> key = findIn(db, token->id(), &stored);
    if (!key) {
        // Same work for an unknown id as for a wrong secret.
        const QByteArray dummy(offered.size(), '\0');
        (void)CRYPTO_memcmp(offered.constData(), dummy.constData(), offered.size());
        return key.failure();
    }
    if (stored.size() != offered.size() ||
        CRYPTO_memcmp(offered.constData(), stored.constData(), offered.size()) != 0)
        return fail(tr("API key %1: wrong secret").arg(key->id), WrongSecret);
    switch (key->status(now)) {
    case ApiKey::Status::Revoked:
        return fail(tr("API key %1 was revoked").arg(key->id), Revoked);
    case ApiKey::Status::Expired:
        return fail(tr("API key %1 has expired").arg(key->id), Expired);
    case ApiKey::Status::Active:
        break;
    }
    if (!key->allowlist.allows(from))
        return fail(tr("API key %1 may not be used from %2").arg(key->id, from.toString()),
                    AddressNotAllowed);

    const QString address = from.toString();
    if (key->lastUsedAt && key->lastUsedIp == address &&
        now - *key->lastUsedAt < LastUseResolutionMs)
        return key;
    Expected<void> recorded = m_audit->commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        // Decided inside the transaction, so two first requests at once
        // write one first-use record.
        QSqlQuery used(w.db());
        used.setForwardOnly(true);
        used.prepare(QStringLiteral("SELECT last_used_at IS NULL FROM api_keys WHERE id = ?"));
        used.addBindValue(key->id);
        if (!used.exec() || !used.next())
            return sqlFailure(tr("cannot record the use of API key %1").arg(key->id), used,
                              ApiKeyRegistry::StoreError);
        const bool firstUse = used.value(0).toInt() == 1;
        QSqlQuery q(w.db());
        q.prepare(
            QStringLiteral("UPDATE api_keys SET last_used_at = ?, last_used_ip = ? WHERE id = ?"));
        q.addBindValue(now);
        q.addBindValue(address);
        q.addBindValue(key->id);
        if (!q.exec())
            return sqlFailure(tr("cannot record the use of API key %1").arg(key->id), q,
                              ApiKeyRegistry::StoreError);
        if (!firstUse)
            return {};
        AuditEvent event =
            keyEvent(AuditEvent::keyActor(key->id), QStringLiteral("key.first_use"), key->id);
        event.sourceIp = address;
        return appended(w, event);
    });
    if (!recorded)
        return fail(recorded.error(), StoreError);
    key->lastUsedAt = now;
    key->lastUsedIp = address;
    return key;
}
