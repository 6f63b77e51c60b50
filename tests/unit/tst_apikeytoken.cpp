#include "security/apikeytoken.h"
#include "security/ipallowlist.h"
#include "security/scopes.h"

#include <QSet>
#include <QTest>

class TestApiKeyToken : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void generatedKeysHaveTheDocumentedShape();
    void generatedKeysParseBack();
    void rejectsBadShapes_data();
    void rejectsBadShapes();
    void everySingleCharacterChangeIsCaughtByTheChecksum();
    void scopes_data();
    void scopes();
    void allowlist_data();
    void allowlist();
    void malformedAllowlistsAreRejected_data();
    void malformedAllowlistsAreRejected();
};

void TestApiKeyToken::generatedKeysHaveTheDocumentedShape()
{
    const QRegularExpression shape(
        QStringLiteral("^fhk_[0-9A-Za-z]{12}_[0-9A-Za-z]{24}_[0-9A-Za-z]{6}$"));
    QSet<QString> ids;
    QSet<QString> secrets;
    for (int i = 0; i < 2000; ++i) {
        const ApiKeyToken token = ApiKeyToken::generate();
        QVERIFY2(shape.match(token.toString()).hasMatch(), qPrintable(token.toString()));
        QCOMPARE(token.toString().size(), ApiKeyToken::Length);
        ids.insert(token.id());
        secrets.insert(QString::fromLatin1(token.secret()));
    }
    QCOMPARE(ids.size(), 2000);
    QCOMPARE(secrets.size(), 2000);
    // 24 characters of base62 carry log2(62) * 24 = 142.9 bits (>= 128).
    QVERIFY(std::log2(62.0) * ApiKeyToken::SecretLength >= 128.0);
}

void TestApiKeyToken::generatedKeysParseBack()
{
    for (int i = 0; i < 200; ++i) {
        const ApiKeyToken token = ApiKeyToken::generate();
        Expected<ApiKeyToken> parsed = ApiKeyToken::parse(token.toString());
        QVERIFY2(parsed, qPrintable(parsed.ok() ? QString() : parsed.error()));
        QCOMPARE(parsed->id(), token.id());
        QCOMPARE(parsed->secret(), token.secret());
    }
}

void TestApiKeyToken::rejectsBadShapes_data()
{
    QTest::addColumn<QString>("text");
    const QString good = ApiKeyToken::generate().toString();
    QTest::newRow("empty") << QString();
    QTest::newRow("prefix only") << QStringLiteral("fhk_");
    QTest::newRow("wrong prefix") << QStringLiteral("fhx_") + good.mid(4);
    QTest::newRow("upper-case prefix") << QStringLiteral("FHK_") + good.mid(4);
    QTest::newRow("truncated by one") << good.chopped(1);
    QTest::newRow("one extra") << good + u'a';
    QTest::newRow("trailing newline") << good + u'\n';
    QTest::newRow("leading space") << u' ' + good.chopped(1);
    QTest::newRow("separator moved") << good.left(15) + u'_' + good.mid(17) + u'x';
    QTest::newRow("non-base62 in secret") << good.left(20) + u'-' + good.mid(21);
    QTest::newRow("non-ASCII in id") << good.left(5) + QChar(0xe9) + good.mid(6);
    QTest::newRow("bearer prefix") << QStringLiteral("Bearer ") + good;
}

void TestApiKeyToken::rejectsBadShapes()
{
    QFETCH(QString, text);
    QVERIFY(!ApiKeyToken::parse(text));
}

void TestApiKeyToken::everySingleCharacterChangeIsCaughtByTheChecksum()
{
    static const QString alphabet =
        QStringLiteral("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    const QString good = ApiKeyToken::generate().toString();
    int tried = 0;
    for (int position = 4; position < good.size(); ++position) {
        if (good[position] == u'_')
            continue;
        for (QChar c : alphabet) {
            if (c == good[position])
                continue;
            QString typo = good;
            typo[position] = c;
            QVERIFY2(!ApiKeyToken::parse(typo), qPrintable(QString::number(position)));
            ++tried;
        }
    }
    QCOMPARE(tried, (ApiKeyToken::Length - 6) * 61);
}

void TestApiKeyToken::scopes_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QStringList>("names");
    QTest::newRow("two") << QStringLiteral("jobs:submit,jobs:read") << true
                         << QStringList{QStringLiteral("jobs:submit"), QStringLiteral("jobs:read")};
    QTest::newRow("spaces and order")
        << QStringLiteral(" admin  metrics:read ") << true
        << QStringList{QStringLiteral("metrics:read"), QStringLiteral("admin")};
    QTest::newRow("all") << ScopeNames::all().join(u',') << true << ScopeNames::all();
    QTest::newRow("unknown") << QStringLiteral("jobs:submit,jobs:delete") << false << QStringList();
    QTest::newRow("case matters") << QStringLiteral("ADMIN") << false << QStringList();
    QTest::newRow("empty") << QString() << false << QStringList();
    QTest::newRow("wildcard") << QStringLiteral("*") << false << QStringList();
}

void TestApiKeyToken::scopes()
{
    QFETCH(QString, text);
    QFETCH(bool, valid);
    QFETCH(QStringList, names);
    Expected<Scopes> parsed = ScopeNames::parse(text);
    QCOMPARE(parsed.ok(), valid);
    if (valid) {
        QCOMPARE(ScopeNames::names(parsed.value()), names);
        // admin does not imply the job scopes
        if (parsed->testFlag(Scope::Admin) && names.size() == 1)
            QVERIFY(!parsed->testFlag(Scope::JobsSubmit));
    } else {
        QVERIFY(parsed.error().contains(QStringLiteral("jobs:submit")));
    }
}

void TestApiKeyToken::allowlist_data()
{
    QTest::addColumn<QString>("list");
    QTest::addColumn<QString>("address");
    QTest::addColumn<bool>("allowed");
    QTest::newRow("empty allows all") << QString() << QStringLiteral("203.0.113.9") << true;
    QTest::newRow("v4 inside") << QStringLiteral("10.0.0.0/8") << QStringLiteral("10.200.1.2")
                               << true;
    QTest::newRow("v4 outside") << QStringLiteral("10.0.0.0/8") << QStringLiteral("11.0.0.1")
                                << false;
    QTest::newRow("v4 edge") << QStringLiteral("192.168.1.0/24") << QStringLiteral("192.168.1.255")
                             << true;
    QTest::newRow("v4 past edge") << QStringLiteral("192.168.1.0/24")
                                  << QStringLiteral("192.168.2.0") << false;
    QTest::newRow("single host") << QStringLiteral("198.51.100.7") << QStringLiteral("198.51.100.7")
                                 << true;
    QTest::newRow("single host other")
        << QStringLiteral("198.51.100.7") << QStringLiteral("198.51.100.8") << false;
    QTest::newRow("v6 inside") << QStringLiteral("2001:db8::/32")
                               << QStringLiteral("2001:db8:ffff::1") << true;
    QTest::newRow("v6 outside") << QStringLiteral("2001:db8::/32") << QStringLiteral("2001:db9::1")
                                << false;
    QTest::newRow("v4-mapped client")
        << QStringLiteral("10.0.0.0/8") << QStringLiteral("::ffff:10.1.2.3") << true;
    QTest::newRow("v4 list, v6 client")
        << QStringLiteral("10.0.0.0/8") << QStringLiteral("::1") << false;
    QTest::newRow("mixed list") << QStringLiteral("10.0.0.0/8, 2001:db8::/32")
                                << QStringLiteral("2001:db8::5") << true;
}

void TestApiKeyToken::allowlist()
{
    QFETCH(QString, list);
    QFETCH(QString, address);
    QFETCH(bool, allowed);
    Expected<IpAllowlist> parsed = IpAllowlist::parse(list);
    QVERIFY(parsed);
    QCOMPARE(parsed->allows(QHostAddress(address)), allowed);
    // The canonical text parses to the same list.
    Expected<IpAllowlist> again = IpAllowlist::parse(parsed->toString());
    QVERIFY(again);
    QCOMPARE(again->allows(QHostAddress(address)), allowed);
}

void TestApiKeyToken::malformedAllowlistsAreRejected_data()
{
    QTest::addColumn<QString>("list");
    QTest::newRow("words") << QStringLiteral("office");
    QTest::newRow("prefix too long") << QStringLiteral("10.0.0.0/33");
    QTest::newRow("shorthand") << QStringLiteral("10/8");
    QTest::newRow("bad octet") << QStringLiteral("10.0.0.256/24");
    QTest::newRow("one bad among good") << QStringLiteral("10.0.0.0/8,not-an-ip");
    QTest::newRow("v6 prefix too long") << QStringLiteral("2001:db8::/129");
}

void TestApiKeyToken::malformedAllowlistsAreRejected()
{
    QFETCH(QString, list);
    Expected<IpAllowlist> parsed = IpAllowlist::parse(list);
    QVERIFY(!parsed);
    QVERIFY(parsed.error().contains(u'\''));
}

QTEST_GUILESS_MAIN(TestApiKeyToken)
#include "tst_apikeytoken.moc"
