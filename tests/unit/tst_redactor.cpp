#include "security/redactor.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

namespace {
// Shaped like ApiKeyToken's output: 12 + 24 + 6 base62 characters.
const QString Id1 = QStringLiteral("AbCdEf012345");
const QString Secret1 = QStringLiteral("S3cr3tPartNumberOne00xyz");
const QString Check1 = QStringLiteral("Zz9Yy8");
const QString Key1 = QStringLiteral("fhk_") + Id1 + u'_' + Secret1 + u'_' + Check1;
const QString Id2 = QStringLiteral("zyxWVU987654");
const QString Secret2 = QStringLiteral("AnotherSecretOfTwentyFou");
const QString Key2 = QStringLiteral("fhk_") + Id2 + u'_' + Secret2 + QStringLiteral("_Qq1Ww2");
const QString Redacted1 = QStringLiteral("fhk_") + Id1 + QStringLiteral("_\u2026");
const QString Redacted2 = QStringLiteral("fhk_") + Id2 + QStringLiteral("_\u2026");
const QString Malformed = QStringLiteral("fhk_\u2026");

// What no output may ever hold, raw.
bool hasRawControl(const QString &text)
{
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t c = text[i].unicode();
        if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
            (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069))
            return true;
        if (QChar::isHighSurrogate(c) && i + 1 < text.size() &&
            QChar::isLowSurrogate(text[i + 1].unicode())) {
            ++i;
            continue;
        }
        if (QChar::isSurrogate(c))
            return true;
    }
    return false;
}
} // namespace

class TestRedactor : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void text_data();
    void text();
    void neverLeavesARawControlCharacter();
    void escapedInputCannotForgeAnEscape();
    void json();
    void linearOnHostileInput_data();
    void linearOnHostileInput();

private:
    QByteArray m_savedHome;
};

void TestRedactor::initTestCase()
{
    // A HOME that is neither /root nor under /home, so the $HOME rule is
    // tested on its own whoever runs the test.
    m_savedHome = qgetenv("HOME");
    qputenv("HOME", "/srv/fh-service/");
}

void TestRedactor::cleanupTestCase() { qputenv("HOME", m_savedHome); }

void TestRedactor::text_data()
{
    QTest::addColumn<QString>("input");
    QTest::addColumn<QString>("expected");
    // Fragments that must not survive, whatever else happens to the text.
    QTest::addColumn<QStringList>("forbidden");

    const QStringList secrets{Secret1, Secret2};

    // API keys
    QTest::newRow("full key") << Key1 << Redacted1 << secrets;
    QTest::newRow("key in a sentence")
        << QString(QStringLiteral("rejected key ") + Key1 + u'.')
        << QString(QStringLiteral("rejected key ") + Redacted1) << secrets;
    QTest::newRow("upper-case prefix")
        << QString(QStringLiteral("FHK_") + Id1 + u'_' + Secret1)
        << QString(QStringLiteral("FHK_") + Id1 + QStringLiteral("_\u2026")) << secrets;
    QTest::newRow("truncated secret")
        << QString(QStringLiteral("fhk_") + Id1 + u'_' + Secret1.left(10)) << Redacted1
        << QStringList{Secret1.left(10)};
    QTest::newRow("nothing after the id")
        << QString(QStringLiteral("fhk_") + Id1 + u'_') << Redacted1 << QStringList{};
    QTest::newRow("secret with foreign characters")
        << QString(QStringLiteral("fhk_") + Id1 + QStringLiteral("_abc+/=def%20ghi:jkl*mno x"))
        << QString(Redacted1 + QStringLiteral(" x"))
        << QStringList{QStringLiteral("abc"), QStringLiteral("ghi"), QStringLiteral("mno")};
    QTest::newRow("id too short") << QStringLiteral("fhk_short_S3cr3tPartNumberOne00xyz_AAAAAA")
                                  << Malformed << secrets;
    QTest::newRow("id too long") << QString(QStringLiteral("fhk_") + Id1 + u'Q' + u'_' + Secret1)
                                 << Malformed << secrets;
    QTest::newRow("id with a bad character")
        << QString(QStringLiteral("fhk_AbCdEf-12345_") + Secret1) << Malformed << secrets;
    QTest::newRow("url-encoded underscores")
        << QString(QStringLiteral("fhk_") + Id1 + QStringLiteral("%5F") + Secret1 +
                   QStringLiteral("%5F") + Check1)
        << Malformed << secrets;
    QTest::newRow("bare prefix") << QStringLiteral("keys start with fhk_")
                                 << QStringLiteral("keys start with fhk_\u2026") << secrets;
    QTest::newRow("glued to a word") << QString(QStringLiteral("xfhk_") + Id1 + u'_' + Secret1)
                                     << QString(u'x' + Redacted1) << secrets;
    QTest::newRow("in a URL") << QString(QStringLiteral("GET https://farm:8443/v1/jobs?key=") +
                                         Key1 + QStringLiteral("&page=2 HTTP/1.1"))
                              << QString(QStringLiteral("GET https://farm:8443/v1/jobs?key=") +
                                         Redacted1 + QStringLiteral("&page=2 HTTP/1.1"))
                              << secrets;
    QTest::newRow("in JSON") << QString(QStringLiteral("{\"key\":\"") + Key1 +
                                        QStringLiteral("\",\"n\":1}"))
                             << QString(QStringLiteral("{\"key\":\"") + Redacted1 +
                                        QStringLiteral("\",\"n\":1}"))
                             << secrets;
    QTest::newRow("bearer header")
        << QString(QStringLiteral("Authorization: Bearer ") + Key1)
        << QString(QStringLiteral("Authorization: Bearer ") + Redacted1) << secrets;
    QTest::newRow("header with CRLF")
        << QString(QStringLiteral("Authorization: Bearer ") + Key1 + QStringLiteral("\r\nHost: x"))
        << QString(QStringLiteral("Authorization: Bearer ") + Redacted1 +
                   QStringLiteral("\\r\\nHost: x"))
        << secrets;
    QTest::newRow("two keys") << QString(QStringLiteral("old=") + Key1 + QStringLiteral(", new=") +
                                         Key2)
                              << QString(QStringLiteral("old=") + Redacted1 +
                                         QStringLiteral(", new=") + Redacted2)
                              << secrets;
    QTest::newRow("two keys glued") << QString(Key1 + Key2) << Redacted1 << secrets;
    QTest::newRow("redacted stays redacted") << Redacted1 << Redacted1 << secrets;

    // E-mail addresses
    QTest::newRow("email") << QStringLiteral("alice.smith@example.org")
                           << QStringLiteral("a***@example.org")
                           << QStringList{QStringLiteral("lice")};
    QTest::newRow("email in a sentence")
        << QStringLiteral("mail bob+jobs@mail.example.co.uk.")
        << QStringLiteral("mail b***@mail.example.co.uk.") << QStringList{QStringLiteral("bob")};
    QTest::newRow("email in angle brackets") << QStringLiteral("From: Carol <carol@example.com>")
                                             << QStringLiteral("From: Carol <c***@example.com>")
                                             << QStringList{QStringLiteral("carol@")};
    QTest::newRow("two emails") << QStringLiteral("dave@a.io,erin@b.io")
                                << QStringLiteral("d***@a.io,e***@b.io")
                                << QStringList{QStringLiteral("dave"), QStringLiteral("erin")};
    QTest::newRow("one-letter local part")
        << QStringLiteral("x@example.org") << QStringLiteral("x***@example.org") << QStringList{};
    QTest::newRow("not an email: no dot")
        << QStringLiteral("user@localhost") << QStringLiteral("user@localhost") << QStringList{};
    QTest::newRow("not an email: alone")
        << QStringLiteral("@ user @ x") << QStringLiteral("@ user @ x") << QStringList{};

    // Home directories
    QTest::newRow("home path") << QStringLiteral("cannot open /home/alice/videos/in.mov: denied")
                               << QStringLiteral("cannot open ~/videos/in.mov: denied")
                               << QStringList{QStringLiteral("alice")};
    QTest::newRow("home directory itself")
        << QStringLiteral("HOME=/home/alice") << QStringLiteral("HOME=~")
        << QStringList{QStringLiteral("alice")};
    QTest::newRow("home in a file URL")
        << QStringLiteral("file:///home/frank/a.mkv") << QStringLiteral("file://~/a.mkv")
        << QStringList{QStringLiteral("frank")};
    QTest::newRow("two homes") << QStringLiteral("'/home/gina/a' -> '/home/hank/b'")
                               << QStringLiteral("'~/a' -> '~/b'")
                               << QStringList{QStringLiteral("gina"), QStringLiteral("hank")};
    QTest::newRow("root's home") << QStringLiteral("/root/.config/framehouse")
                                 << QStringLiteral("~/.config/framehouse") << QStringList{};
    QTest::newRow("root alone") << QStringLiteral("in /root") << QStringLiteral("in ~")
                                << QStringList{};
    QTest::newRow("not root's home") << QStringLiteral("/rootfs/img /home/")
                                     << QStringLiteral("/rootfs/img /home/") << QStringList{};
    QTest::newRow("$HOME") << QStringLiteral("store at /srv/fh-service/store.db")
                           << QStringLiteral("store at ~/store.db")
                           << QStringList{QStringLiteral("fh-service")};
    QTest::newRow("$HOME alone") << QStringLiteral("/srv/fh-service") << QStringLiteral("~")
                                 << QStringList{QStringLiteral("fh-service")};
    QTest::newRow("not $HOME") << QStringLiteral("/srv/fh-service2/x")
                               << QStringLiteral("/srv/fh-service2/x") << QStringList{};

    // Control characters and escaping
    QTest::newRow("LF") << QStringLiteral("a\nb") << QStringLiteral("a\\nb") << QStringList{};
    QTest::newRow("CR") << QStringLiteral("a\rb") << QStringLiteral("a\\rb") << QStringList{};
    QTest::newRow("TAB") << QStringLiteral("a\tb") << QStringLiteral("a\\tb") << QStringList{};
    QTest::newRow("NUL") << QString(QStringLiteral("a") + QChar(0) + u'b')
                         << QStringLiteral("a\\u0000b") << QStringList{};
    QTest::newRow("ESC") << QStringLiteral("\x1b[31mred\x1b[0m")
                         << QStringLiteral("\\u001b[31mred\\u001b[0m") << QStringList{};
    QTest::newRow("DEL") << QStringLiteral("a\x7f") << QStringLiteral("a\\u007f") << QStringList{};
    QTest::newRow("C1 NEL and CSI") << QStringLiteral("a\u0085b\u009bc")
                                    << QStringLiteral("a\\u0085b\\u009bc") << QStringList{};
    QTest::newRow("U+2028 and U+2029") << QStringLiteral("a\u2028b\u2029c")
                                       << QStringLiteral("a\\u2028b\\u2029c") << QStringList{};
    QTest::newRow("bidi override") << QStringLiteral("file\u202Egpj.exe")
                                   << QStringLiteral("file\\u202egpj.exe") << QStringList{};
    QTest::newRow("lone surrogate") << QString(QStringLiteral("a") + QChar(0xd800) + u'b')
                                    << QStringLiteral("a\\ud800b") << QStringList{};
    QTest::newRow("backslash") << QStringLiteral("C:\\dir\\new")
                               << QStringLiteral("C:\\\\dir\\\\new") << QStringList{};
    QTest::newRow("forged log line")
        << QStringLiteral("job 7 done\n{\"level\":\"info\",\"message\":\"key rotated\"}")
        << QStringLiteral("job 7 done\\n{\"level\":\"info\",\"message\":\"key rotated\"}")
        << QStringList{};
    QTest::newRow("forged fail2ban line")
        << QStringLiteral("x\r\nframehouse: authentication failure from 10.0.0.1 key=- reason=x")
        << QStringLiteral("x\\r\\nframehouse: authentication failure from 10.0.0.1 key=- reason=x")
        << QStringList{};
    QTest::newRow("newline inside a key")
        << QString(QStringLiteral("fhk_") + Id1 + u'_' + Secret1 + QStringLiteral("\nnext"))
        << QString(Redacted1 + QStringLiteral("\\nnext")) << secrets;

    // Kept as is
    QTest::newRow("plain text") << QStringLiteral("transcode finished in 12.5 s")
                                << QStringLiteral("transcode finished in 12.5 s") << QStringList{};
    QTest::newRow("non-ASCII") << QStringLiteral("Café 日本 🎬 résumé")
                               << QStringLiteral("Café 日本 🎬 résumé") << QStringList{};
    QTest::newRow("empty") << QString() << QString() << QStringList{};
}

void TestRedactor::text()
{
    QFETCH(QString, input);
    QFETCH(QString, expected);
    QFETCH(QStringList, forbidden);
    const QString output = Redactor::text(input);
    QCOMPARE(output, expected);
    QVERIFY2(!hasRawControl(output), qPrintable(output));
    QVERIFY(!output.contains(u'\n'));
    for (const QString &fragment : forbidden)
        QVERIFY2(!output.contains(fragment), qPrintable(fragment));
}

void TestRedactor::neverLeavesARawControlCharacter()
{
    for (char32_t c = 0; c <= 0xffff; ++c) {
        const QString input = QStringLiteral("a") + QChar(static_cast<char16_t>(c)) + u'b';
        const QString output = Redactor::text(input);
        QVERIFY2(!hasRawControl(output), qPrintable(QString::number(c, 16)));
    }
    // A valid surrogate pair is a character, not something to escape.
    const QString emoji = QStringLiteral("\U0001F3AC");
    QCOMPARE(Redactor::text(emoji), emoji);
}

void TestRedactor::escapedInputCannotForgeAnEscape()
{
    // Without escaping the backslash, a client could send the six characters
    // \u000a and have them read back as a newline it never sent.
    const QString real = Redactor::text(u"a\nb");
    const QString typed = Redactor::text(u"a\\nb");
    QVERIFY(real != typed);
    QCOMPARE(typed, QStringLiteral("a\\\\nb"));
    QCOMPARE(Redactor::text(u"\\u001b"), QStringLiteral("\\\\u001b"));
}

void TestRedactor::json()
{
    const QJsonObject input{
        {QStringLiteral("key"), Key1},
        {Key2, QStringLiteral("a key as an object key")},
        {QStringLiteral("count"), 3},
        {QStringLiteral("ratio"), 0.5},
        {QStringLiteral("ok"), true},
        {QStringLiteral("none"), QJsonValue::Null},
        {QStringLiteral("nested"),
         QJsonObject{
             {QStringLiteral("path"), QStringLiteral("/home/ivan/in.mov")},
             {QStringLiteral("list"), QJsonArray{Key1, 7, QStringLiteral("line\nbreak"),
                                                 QJsonArray{QStringLiteral("judy@example.org")}}}}},
    };
    const QJsonValue output = Redactor::json(input);
    QVERIFY(output.isObject());
    const QJsonObject object = output.toObject();
    QCOMPARE(object.value(QStringLiteral("key")).toString(), Redacted1);
    QVERIFY(object.contains(Redacted2));
    QVERIFY(!object.contains(Key2));
    QCOMPARE(object.value(QStringLiteral("count")).toInt(), 3);
    QCOMPARE(object.value(QStringLiteral("ratio")).toDouble(), 0.5);
    QCOMPARE(object.value(QStringLiteral("ok")).toBool(), true);
    QVERIFY(object.value(QStringLiteral("none")).isNull());
    const QJsonObject nested = object.value(QStringLiteral("nested")).toObject();
    QCOMPARE(nested.value(QStringLiteral("path")).toString(), QStringLiteral("~/in.mov"));
    const QJsonArray list = nested.value(QStringLiteral("list")).toArray();
    QCOMPARE(list.size(), 4);
    QCOMPARE(list.at(0).toString(), Redacted1);
    QCOMPARE(list.at(1).toInt(), 7);
    QCOMPARE(list.at(2).toString(), QStringLiteral("line\\nbreak"));
    QCOMPARE(list.at(3).toArray().at(0).toString(), QStringLiteral("j***@example.org"));

    const QByteArray serialized = QJsonDocument(object).toJson(QJsonDocument::Compact);
    QVERIFY(!serialized.contains(Secret1.toUtf8()));
    QVERIFY(!serialized.contains(Secret2.toUtf8()));
    QVERIFY(!serialized.contains("ivan"));

    // Scalars pass through; a bare string is redacted too.
    QCOMPARE(Redactor::json(QJsonValue(42)), QJsonValue(42));
    QCOMPARE(Redactor::json(QJsonValue(Key1)).toString(), Redacted1);
}

void TestRedactor::linearOnHostileInput_data()
{
    QTest::addColumn<QString>("input");
    constexpr int n = 200000;
    QTest::newRow("prefixes") << QStringLiteral("fhk_").repeated(n);
    QTest::newRow("ids") << QString(QStringLiteral("fhk_") + Id1).repeated(n / 4);
    QTest::newRow("at signs") << QStringLiteral("a@").repeated(n);
    QTest::newRow("local part then at signs")
        << QString(QString(n, u'a') + QStringLiteral("@b").repeated(n));
    QTest::newRow("domains") << QString(QStringLiteral("a@") + QStringLiteral("b.").repeated(n));
    QTest::newRow("homes") << QStringLiteral("/home/").repeated(n);
    QTest::newRow("controls") << QString(n, QChar(0x1b));
}

void TestRedactor::linearOnHostileInput()
{
    QFETCH(QString, input);
    QElapsedTimer timer;
    timer.start();
    const QString output = Redactor::text(input);
    // Quadratic behaviour on this much input would take minutes.
    QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
    QVERIFY(!output.isEmpty());
}

QTEST_GUILESS_MAIN(TestRedactor)
#include "tst_redactor.moc"
