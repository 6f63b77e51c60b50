#include "security/secretkey.h"

#include <QTest>

class TestStoreKey : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parsesHex_data();
    void parsesHex();
    void roundTripsThroughHexLine();
    void generatesDistinctKeys();
    void sqlLiteralIsRawKeyForm();
};

void TestStoreKey::parsesHex_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<bool>("valid");
    const QByteArray hex64(64, 'a');
    QTest::newRow("64 hex digits") << hex64 << true;
    QTest::newRow("with newline") << hex64 + '\n' << true;
    QTest::newRow("upper case") << QByteArray(64, 'F') << true;
    QTest::newRow("two newlines") << hex64 + "\n\n" << false;
    QTest::newRow("63 digits") << QByteArray(63, 'a') << false;
    QTest::newRow("65 digits") << QByteArray(65, 'a') << false;
    QTest::newRow("non-hex") << QByteArray(63, 'a') + 'g' << false;
    QTest::newRow("space") << QByteArray(63, 'a') + ' ' << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("passphrase") << QByteArray("correct horse battery staple") << false;
}

void TestStoreKey::parsesHex()
{
    QFETCH(QByteArray, text);
    QFETCH(bool, valid);
    const Expected<SecretKey> key = SecretKey::fromHex(text);
    QCOMPARE(key.ok(), valid);
    if (!valid)
        QVERIFY(!key.error().isEmpty());
}

void TestStoreKey::roundTripsThroughHexLine()
{
    const SecretKey key = SecretKey::generate();
    QByteArray line = key.toHexLine();
    QCOMPARE(line.size(), 65);
    QVERIFY(line.endsWith('\n'));
    const Expected<SecretKey> back = SecretKey::fromHex(line);
    QVERIFY(back.ok());
    QVERIFY(back.value() == key);
    SecretKey::wipe(line);
    QVERIFY(line.isEmpty());
}

void TestStoreKey::generatesDistinctKeys()
{
    QVERIFY(!(SecretKey::generate() == SecretKey::generate()));
}

void TestStoreKey::sqlLiteralIsRawKeyForm()
{
    const SecretKey key = SecretKey::fromHex(QByteArray(64, '0')).value();
    const std::string literal = key.sqlLiteral();
    QCOMPARE(QByteArray::fromStdString(literal), "x'" + QByteArray(64, '0') + "'");
}

QTEST_GUILESS_MAIN(TestStoreKey)
#include "tst_secretkey.moc"
