#include "audit/auditverifier.h"
#include "security/apikeyregistry.h"
#include "security/apikeytoken.h"
#include "security/secretkey.h"
#include "store/storesettings.h"
#include "testsupport.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QSqlQuery>
#include <QSqlRecord>
#include <QTest>

namespace {
constexpr qint64 DayMs = 24LL * 3600 * 1000;
constexpr qint64 T0 = 1'800'000'000'000; // a fixed "now" in UTC milliseconds
const QHostAddress local(QStringLiteral("127.0.0.1"));
const QString operatorActor = QStringLiteral("operator:test");
} // namespace

class TestApiKeys : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();
    void aCreatedKeyAuthenticatesAndOnlyItsDigestIsStored();
    void refusals_data();
    void refusals();
    void malformedKeysNeverReachTheStore();
    void expiryBoundaries_data();
    void expiryBoundaries();
    void maximumExpiryIsEnforcedAndConfigurable();
    void neverExpiringKeysNeedTheFlagAndAreFlagged();
    void revocationTakesEffectOnTheNextRequest();
    void revocationByAnotherProcessTakesEffectImmediately();
    void rotationKeepsTheOldKeyForTheGracePeriod();
    void revokeAllIsOneTransaction();
    void allowlistIsEnforced();
    void aDamagedAllowlistFailsClosed();
    void firstUseIsAuditedOnce();
    void aChangeWhoseAuditRecordFailsDoesNotHappen();
    void invalidRequestsAreRefused_data();
    void invalidRequestsAreRefused();

private:
    ApiKeyRegistry::Created create(ApiKeyRegistry::NewKey request = {}, qint64 now = T0);
    QSqlDatabase db() { return m_store->db(); }
    qint64 count(const QString &sql);

    std::unique_ptr<TestSupport::TestStore> m_store;
    std::unique_ptr<ApiKeyRegistry> m_registry;
};

void TestApiKeys::init()
{
    m_store = TestSupport::makeStore();
    m_registry = std::make_unique<ApiKeyRegistry>(m_store->secrets.pepper, m_store->secrets.audit);
}

void TestApiKeys::cleanup()
{
    m_registry.reset();
    m_store.reset();
}

ApiKeyRegistry::Created TestApiKeys::create(ApiKeyRegistry::NewKey request, qint64 now)
{
    if (request.name.isEmpty())
        request.name = QStringLiteral("render node");
    if (request.ownerUser.isEmpty())
        request.ownerUser = QStringLiteral("u-17");
    if (!request.scopes)
        request.scopes = Scope::JobsSubmit | Scope::JobsRead;
    Expected<ApiKeyRegistry::Created> created =
        m_registry->create(db(), request, operatorActor, now);
    if (!created)
        qFatal("create failed: %s", qPrintable(created.error()));
    TestSupport::recordSecret(created->token);
    return created.value();
}

qint64 TestApiKeys::count(const QString &sql)
{
    QSqlQuery q(db());
    if (!q.exec(sql) || !q.next())
        qFatal("query failed: %s", qPrintable(sql));
    return q.value(0).toLongLong();
}

void TestApiKeys::aCreatedKeyAuthenticatesAndOnlyItsDigestIsStored()
{
    const ApiKeyRegistry::Created created = create();
    Expected<ApiKey> key = m_registry->authenticate(db(), created.token, local, T0 + 1);
    QVERIFY2(key, qPrintable(key.ok() ? QString() : key.error()));
    QCOMPARE(key->id, created.key.id);
    QCOMPARE(key->scopes, Scope::JobsSubmit | Scope::JobsRead);

    const ApiKeyToken token = ApiKeyToken::parse(created.token).value();
    QSqlQuery q(db());
    QVERIFY(q.exec(QStringLiteral("SELECT * FROM api_keys")));
    QVERIFY(q.next());
    for (int i = 0; i < q.record().count(); ++i) {
        const QByteArray value = q.value(i).toByteArray();
        QVERIFY2(!value.contains(token.secret()), qPrintable(q.record().fieldName(i)));
    }
    QCOMPARE(q.value(QStringLiteral("secret_digest")).toByteArray(),
             m_store->secrets.pepper->hmac(token.secret()));
    // The digest is keyed: without the pepper, a plain SHA-256 does not match.
    QVERIFY(q.value(QStringLiteral("secret_digest")).toByteArray() !=
            QCryptographicHash::hash(token.secret(), QCryptographicHash::Sha256));
}

void TestApiKeys::refusals_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("refusal");
    QTest::newRow("wrong secret, valid checksum")
        << QStringLiteral("wrong-secret") << int(ApiKeyRegistry::WrongSecret);
    QTest::newRow("unknown id") << QStringLiteral("unknown-id") << int(ApiKeyRegistry::UnknownKey);
    QTest::newRow("typo") << QStringLiteral("typo") << int(ApiKeyRegistry::Malformed);
}

void TestApiKeys::refusals()
{
    QFETCH(QString, kind);
    QFETCH(int, refusal);
    const ApiKeyRegistry::Created created = create();
    QString presented;
    if (kind == QLatin1String("wrong-secret")) {
        // A second real key whose row is given the first key's digest: its
        // id and checksum are valid, its secret is not the stored one.
        const ApiKeyRegistry::Created second = create();
        QSqlQuery q(db());
        q.prepare(QStringLiteral("UPDATE api_keys SET secret_digest = "
                                 "(SELECT secret_digest FROM api_keys WHERE id = ?) WHERE id = ?"));
        q.addBindValue(created.key.id);
        q.addBindValue(second.key.id);
        QVERIFY(q.exec());
        presented = second.token;
    } else if (kind == QLatin1String("unknown-id")) {
        presented = ApiKeyToken::generate().toString();
    } else {
        presented = created.token;
        presented[20] = presented[20] == u'a' ? u'b' : u'a';
    }
    Expected<ApiKey> key = m_registry->authenticate(db(), presented, local, T0 + 1);
    QVERIFY(!key);
    QCOMPARE(key.code(), refusal);
    TestSupport::recordOutput(QStringLiteral("refusal message"), key.error());
}

void TestApiKeys::malformedKeysNeverReachTheStore()
{
    // An unopened connection: any lookup would fail with a store error.
    QSqlDatabase none;
    QString typo = ApiKeyToken::generate().toString();
    typo[10] = typo[10] == u'x' ? u'y' : u'x';
    for (const QString &text : {typo, QStringLiteral("fhk_short"), QStringLiteral("Bearer x")}) {
        Expected<ApiKey> key = m_registry->authenticate(none, text, local, T0);
        QVERIFY(!key);
        QCOMPARE(key.code(), int(ApiKeyRegistry::Malformed));
    }
    // ...whereas a well-formed key does reach it.
    Expected<ApiKey> key =
        m_registry->authenticate(none, ApiKeyToken::generate().toString(), local, T0);
    QCOMPARE(key.code(), int(ApiKeyRegistry::StoreError));
}

void TestApiKeys::expiryBoundaries_data()
{
    QTest::addColumn<int>("days");
    QTest::addColumn<qint64>("offset");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("1 day, just before") << 1 << DayMs - 1 << true;
    QTest::newRow("1 day, at expiry") << 1 << DayMs << false;
    QTest::newRow("1 day, after") << 1 << DayMs + 1 << false;
    QTest::newRow("90 days, last ms") << 90 << 90 * DayMs - 1 << true;
    QTest::newRow("90 days, at expiry") << 90 << 90 * DayMs << false;
    QTest::newRow("365 days, last ms") << 365 << 365 * DayMs - 1 << true;
    QTest::newRow("365 days, at expiry") << 365 << 365 * DayMs << false;
}

void TestApiKeys::expiryBoundaries()
{
    QFETCH(int, days);
    QFETCH(qint64, offset);
    QFETCH(bool, accepted);
    ApiKeyRegistry::NewKey request;
    request.expiresInDays = days;
    const ApiKeyRegistry::Created created = create(request);
    QCOMPARE(*created.key.expiresAt, T0 + days * DayMs);
    Expected<ApiKey> key = m_registry->authenticate(db(), created.token, local, T0 + offset);
    QCOMPARE(key.ok(), accepted);
    if (!accepted)
        QCOMPARE(key.code(), int(ApiKeyRegistry::Expired));
}

void TestApiKeys::maximumExpiryIsEnforcedAndConfigurable()
{
    ApiKeyRegistry::NewKey request;
    request.name = QStringLiteral("long");
    request.ownerUser = QStringLiteral("u");
    request.scopes = Scope::JobsRead;
    // Default: 90 days.
    QCOMPARE(*create(request).key.expiresAt, T0 + 90 * DayMs);
    request.expiresInDays = 366;
    Expected<ApiKeyRegistry::Created> tooLong =
        m_registry->create(db(), request, operatorActor, T0);
    QVERIFY(!tooLong);
    QVERIFY(tooLong.error().contains(QStringLiteral("365")));

    QVERIFY(StoreSettings::set(db(), *m_store->secrets.audit,
                               QStringLiteral("keys.max_expiry_days"), QStringLiteral("730"),
                               operatorActor, T0));
    QCOMPARE(*create(request).key.expiresAt, T0 + 366 * DayMs);
    QCOMPARE(count(QStringLiteral(
                 "SELECT count(*) FROM audit_records WHERE action = 'settings.changed'")),
             1);
    QVERIFY(!StoreSettings::set(db(), *m_store->secrets.audit,
                                QStringLiteral("keys.max_expiry_days"), QStringLiteral("0"),
                                operatorActor, T0));
    QVERIFY(!StoreSettings::set(db(), *m_store->secrets.audit, QStringLiteral("no.such.setting"),
                                QStringLiteral("1"), operatorActor, T0));
}

void TestApiKeys::neverExpiringKeysNeedTheFlagAndAreFlagged()
{
    ApiKeyRegistry::NewKey request;
    request.neverExpires = true;
    const ApiKeyRegistry::Created created = create(request);
    QVERIFY(!created.key.expiresAt);
    QVERIFY(created.key.neverExpires);
    QCOMPARE(created.key.toJson(T0).value(QStringLiteral("never_expires")).toBool(), true);
    QVERIFY(m_registry->authenticate(db(), created.token, local, T0 + 3650 * DayMs));

    request.expiresInDays = 10; // both at once is a contradiction
    QVERIFY(!m_registry->create(db(), request, operatorActor, T0));
}

void TestApiKeys::revocationTakesEffectOnTheNextRequest()
{
    const ApiKeyRegistry::Created created = create();
    QVERIFY(m_registry->authenticate(db(), created.token, local, T0 + 1));
    Expected<ApiKey> revoked =
        m_registry->revoke(db(), created.key.id, QStringLiteral("leaked"), operatorActor, T0 + 2);
    QVERIFY(revoked);
    QCOMPARE(revoked->status(T0 + 2), ApiKey::Status::Revoked);
    QCOMPARE(revoked->revokedBy, operatorActor);
    Expected<ApiKey> after = m_registry->authenticate(db(), created.token, local, T0 + 2);
    QVERIFY(!after);
    QCOMPARE(after.code(), int(ApiKeyRegistry::Revoked));
    QVERIFY(!m_registry->revoke(db(), created.key.id, QStringLiteral("again"), operatorActor, T0));
    QVERIFY(!m_registry->revoke(db(), created.key.id, QString(), operatorActor, T0));
}

void TestApiKeys::revocationByAnotherProcessTakesEffectImmediately()
{
    const ApiKeyRegistry::Created created = create({}, QDateTime::currentMSecsSinceEpoch());
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QVERIFY(m_registry->authenticate(db(), created.token, local, now));
    // The store stays open here, as in a running engine.
    const TestSupport::Run run = TestSupport::runCtl(
        {QStringLiteral("keys"), QStringLiteral("revoke"), created.key.id,
         QStringLiteral("--reason"), QStringLiteral("incident 42"), QStringLiteral("--store"),
         m_store->dir.filePath(QStringLiteral("store")), QStringLiteral("--key-file"),
         m_store->dir.filePath(QStringLiteral("store.key"))});
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    Expected<ApiKey> after = m_registry->authenticate(db(), created.token, local, now + 1);
    QVERIFY(!after);
    QCOMPARE(after.code(), int(ApiKeyRegistry::Revoked));
}

void TestApiKeys::rotationKeepsTheOldKeyForTheGracePeriod()
{
    ApiKeyRegistry::NewKey request;
    request.ownerName = QStringLiteral("Render Farm");
    request.ownerEmail = QStringLiteral("farm@example.org");
    request.allowlist = IpAllowlist::parse(QStringLiteral("127.0.0.0/8")).value();
    request.rateLimitPerHour = 500;
    request.maxConcurrentJobs = 3;
    const ApiKeyRegistry::Created old = create(request);
    const qint64 grace = 2 * 3600 * 1000;
    Expected<ApiKeyRegistry::Created> rotated =
        m_registry->rotate(db(), old.key.id, grace, operatorActor, T0 + 10);
    QVERIFY(rotated);
    TestSupport::recordSecret(rotated->token);
    const ApiKey &fresh = rotated->key;
    QVERIFY(fresh.id != old.key.id);
    QCOMPARE(fresh.rotatedFrom, old.key.id);
    QCOMPARE(fresh.ownerUser, old.key.ownerUser);
    QCOMPARE(fresh.ownerEmail, old.key.ownerEmail);
    QCOMPARE(fresh.scopes, old.key.scopes);
    QCOMPARE(fresh.allowlist.toString(), old.key.allowlist.toString());
    QCOMPARE(fresh.rateLimitPerHour, old.key.rateLimitPerHour);
    QCOMPARE(fresh.maxConcurrentJobs, old.key.maxConcurrentJobs);

    QVERIFY(m_registry->authenticate(db(), old.token, local, T0 + 10 + grace - 1));
    Expected<ApiKey> late = m_registry->authenticate(db(), old.token, local, T0 + 10 + grace);
    QCOMPARE(late.code(), int(ApiKeyRegistry::Expired));
    QVERIFY(m_registry->authenticate(db(), rotated->token, local, T0 + 10 + grace));
    // A revoked key cannot be rotated back to life.
    QVERIFY(m_registry->revoke(db(), fresh.id, QStringLiteral("done"), operatorActor, T0 + 20));
    QVERIFY(!m_registry->rotate(db(), fresh.id, grace, operatorActor, T0 + 30));
}

void TestApiKeys::revokeAllIsOneTransaction()
{
    QList<ApiKeyRegistry::Created> keys;
    for (int i = 0; i < 25; ++i)
        keys << create();
    QVERIFY(m_registry->revoke(db(), keys.first().key.id, QStringLiteral("earlier"), operatorActor,
                               T0 + 1));
    const qint64 auditBefore = count(QStringLiteral("SELECT count(*) FROM audit_records"));
    Expected<int> revoked =
        m_registry->revokeAll(db(), QStringLiteral("incident"), operatorActor, T0 + 5);
    QVERIFY(revoked);
    QCOMPARE(revoked.value(), 24);
    QCOMPARE(
        count(QStringLiteral("SELECT count(*) FROM api_keys WHERE revoked_at = %1").arg(T0 + 5)),
        24);
    QCOMPARE(count(QStringLiteral("SELECT count(*) FROM audit_records")), auditBefore + 1);
    for (const ApiKeyRegistry::Created &key : keys)
        QCOMPARE(m_registry->authenticate(db(), key.token, local, T0 + 6).code(),
                 int(ApiKeyRegistry::Revoked));
    QVERIFY(!m_registry->revokeAll(db(), QString(), operatorActor, T0 + 7));
}

void TestApiKeys::allowlistIsEnforced()
{
    ApiKeyRegistry::NewKey request;
    request.allowlist = IpAllowlist::parse(QStringLiteral("10.0.0.0/8,2001:db8::/32")).value();
    const ApiKeyRegistry::Created created = create(request);
    QVERIFY(m_registry->authenticate(db(), created.token, QHostAddress(QStringLiteral("10.9.8.7")),
                                     T0 + 1));
    QVERIFY(m_registry->authenticate(db(), created.token,
                                     QHostAddress(QStringLiteral("2001:db8::42")), T0 + 1));
    QVERIFY(m_registry->authenticate(db(), created.token,
                                     QHostAddress(QStringLiteral("::ffff:10.0.0.1")), T0 + 1));
    QCOMPARE(m_registry->authenticate(db(), created.token, local, T0 + 1).code(),
             int(ApiKeyRegistry::AddressNotAllowed));
    QCOMPARE(
        m_registry
            ->authenticate(db(), created.token, QHostAddress(QStringLiteral("2001:db9::1")), T0 + 1)
            .code(),
        int(ApiKeyRegistry::AddressNotAllowed));
}

void TestApiKeys::aDamagedAllowlistFailsClosed()
{
    ApiKeyRegistry::NewKey request;
    request.allowlist = IpAllowlist::parse(QStringLiteral("10.0.0.0/8")).value();
    const ApiKeyRegistry::Created created = create(request);
    QSqlQuery q(db());
    q.prepare(QStringLiteral("UPDATE api_keys SET allowlist = 'garbage' WHERE id = ?"));
    q.addBindValue(created.key.id);
    QVERIFY(q.exec());
    QCOMPARE(
        m_registry
            ->authenticate(db(), created.token, QHostAddress(QStringLiteral("10.0.0.1")), T0 + 1)
            .code(),
        int(ApiKeyRegistry::AddressNotAllowed));
    // Rotation would otherwise copy "no list" and allow every address.
    QVERIFY(!m_registry->rotate(db(), created.key.id, 0, operatorActor, T0 + 2));
}

void TestApiKeys::firstUseIsAuditedOnce()
{
    const ApiKeyRegistry::Created created = create();
    for (int i = 0; i < 5; ++i)
        QVERIFY(m_registry->authenticate(db(), created.token, local, T0 + 1 + i * 120000));
    QCOMPARE(
        count(QStringLiteral("SELECT count(*) FROM audit_records WHERE action = 'key.first_use'")),
        1);
    Expected<ApiKey> key = m_registry->find(db(), created.key.id);
    QCOMPARE(*key->lastUsedAt, T0 + 1 + 4 * 120000);
    QCOMPARE(key->lastUsedIp, QStringLiteral("127.0.0.1"));
}

void TestApiKeys::aChangeWhoseAuditRecordFailsDoesNotHappen()
{
    const ApiKeyRegistry::Created created = create();
    QSqlQuery q(db());
    QVERIFY(q.exec(QStringLiteral("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_records "
                                  "BEGIN SELECT RAISE(ABORT, 'audit disk full'); END")));
    const qint64 keysBefore = count(QStringLiteral("SELECT count(*) FROM api_keys"));

    Expected<ApiKey> revoked =
        m_registry->revoke(db(), created.key.id, QStringLiteral("x"), operatorActor, T0 + 1);
    QVERIFY(!revoked);
    QVERIFY2(revoked.error().contains(QStringLiteral("audit disk full")),
             qPrintable(revoked.error()));
    QVERIFY(!m_registry->revokeAll(db(), QStringLiteral("x"), operatorActor, T0 + 1));
    QVERIFY(!m_registry->rotate(db(), created.key.id, 0, operatorActor, T0 + 1));
    ApiKeyRegistry::NewKey request;
    request.name = QStringLiteral("n");
    request.ownerUser = QStringLiteral("u");
    request.scopes = Scope::Admin;
    QVERIFY(!m_registry->create(db(), request, operatorActor, T0 + 1));

    QCOMPARE(count(QStringLiteral("SELECT count(*) FROM api_keys")), keysBefore);
    QCOMPARE(m_registry->find(db(), created.key.id)->status(T0 + 1), ApiKey::Status::Active);
    QVERIFY(m_registry->authenticate(db(), created.token, local, T0 + 2).code() !=
            int(ApiKeyRegistry::Revoked));
}

void TestApiKeys::invalidRequestsAreRefused_data()
{
    QTest::addColumn<QString>("field");
    QTest::newRow("no name") << QStringLiteral("name");
    QTest::newRow("no owner") << QStringLiteral("owner");
    QTest::newRow("no scopes") << QStringLiteral("scopes");
    QTest::newRow("bad email") << QStringLiteral("email");
    QTest::newRow("zero rate") << QStringLiteral("rate");
    QTest::newRow("zero jobs") << QStringLiteral("jobs");
    QTest::newRow("zero days") << QStringLiteral("days");
}

void TestApiKeys::invalidRequestsAreRefused()
{
    QFETCH(QString, field);
    ApiKeyRegistry::NewKey request;
    request.name = QStringLiteral("n");
    request.ownerUser = QStringLiteral("u");
    request.scopes = Scope::JobsRead;
    if (field == QLatin1String("name"))
        request.name = QStringLiteral("  ");
    else if (field == QLatin1String("owner"))
        request.ownerUser.clear();
    else if (field == QLatin1String("scopes"))
        request.scopes = {};
    else if (field == QLatin1String("email"))
        request.ownerEmail = QStringLiteral("nobody");
    else if (field == QLatin1String("rate"))
        request.rateLimitPerHour = 0;
    else if (field == QLatin1String("jobs"))
        request.maxConcurrentJobs = 0;
    else
        request.expiresInDays = 0;
    Expected<ApiKeyRegistry::Created> created =
        m_registry->create(db(), request, operatorActor, T0);
    QVERIFY(!created);
    QCOMPARE(count(QStringLiteral("SELECT count(*) FROM api_keys")), 0);
}

QTEST_GUILESS_MAIN(TestApiKeys)
#include "tst_apikeys.moc"
