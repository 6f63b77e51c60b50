#include "security/apikeytoken.h"
#include "testsupport.h"

#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

namespace {
// Where a secret was found. Only the key id is kept: the report of a leak
// must not leak it again.
struct Leak {
    QString file;
    qsizetype offset = 0;
    QByteArray keyId;
    bool wholeKey = false; // the whole key, not only its secret part

    QString describe() const
    {
        return QStringLiteral("%1 at byte %2: %3 of API key %4")
            .arg(file)
            .arg(offset)
            .arg(wholeKey ? QStringLiteral("the whole key") : QStringLiteral("the secret part"),
                 QString::fromLatin1(keyId));
    }
};

bool isBase62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// Finds the secret parts of known API keys in any text. A secret is 24
// base62 characters, so only runs of at least that many base62 characters
// can hold one; every 24-character window of such a run is looked up, so
// a secret glued to other letters or digits is found too.
class SecretScanner {
public:
    // False for a line that is not a whole API key.
    bool add(const QByteArray &token)
    {
        static const QRegularExpression shape(
            QStringLiteral("^fhk_([0-9A-Za-z]{12})_([0-9A-Za-z]{24})_[0-9A-Za-z]{6}$"));
        const QRegularExpressionMatch match = shape.match(QString::fromLatin1(token));
        if (!match.hasMatch())
            return false;
        m_keys.insert(match.captured(2).toLatin1(), token);
        return true;
    }
    qsizetype size() const { return m_keys.size(); }

    QList<Leak> scan(const QByteArray &data, const QString &name) const
    {
        constexpr qsizetype SecretLength = ApiKeyToken::SecretLength;
        constexpr qsizetype PrefixLength = 4 + ApiKeyToken::IdLength + 1; // "fhk_<id>_"
        QList<Leak> leaks;
        qsizetype i = 0;
        while (i < data.size()) {
            if (!isBase62(data.at(i))) {
                ++i;
                continue;
            }
            qsizetype end = i;
            while (end < data.size() && isBase62(data.at(end)))
                ++end;
            for (qsizetype at = i; at + SecretLength <= end; ++at) {
                const auto found =
                    m_keys.constFind(QByteArray::fromRawData(data.constData() + at, SecretLength));
                if (found == m_keys.constEnd())
                    continue;
                const QByteArray &token = found.value();
                Leak leak;
                leak.file = name;
                leak.offset = at;
                leak.keyId = token.mid(4, ApiKeyToken::IdLength);
                leak.wholeKey =
                    at >= PrefixLength && data.mid(at - PrefixLength, token.size()) == token;
                leaks << leak;
            }
            i = end;
        }
        return leaks;
    }

private:
    QHash<QByteArray, QByteArray> m_keys; // secret part -> whole key
};

struct DirectoryScan {
    qsizetype secrets = 0;
    qsizetype files = 0;
    qint64 bytes = 0;
    // "API key <id> (...), expires ...:" lines: a key was shown (on the next
    // line, which the transcript leaves out and records as a secret).
    qsizetype keysShown = 0;
    QList<Leak> leaks;
    QStringList problems;
};

bool isSecretsFile(const QFileInfo &file)
{
    return file.fileName().startsWith(QLatin1String("secrets-")) &&
           file.fileName().endsWith(QLatin1String(".txt"));
}

// Every secrets-*.txt in `directory` (one whole key a line) against every
// other file in it, at any depth.
DirectoryScan scanDirectory(const QString &directory)
{
    DirectoryScan result;
    SecretScanner scanner;
    QStringList others;
    QDirIterator it(directory, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QFileInfo file(it.next());
        if (!isSecretsFile(file)) {
            others << file.filePath();
            continue;
        }
        QFile in(file.filePath());
        if (!in.open(QIODevice::ReadOnly)) {
            result.problems << QString(QStringLiteral("cannot read ") + file.filePath());
            continue;
        }
        int lineNumber = 0;
        const QList<QByteArray> lines = in.readAll().split('\n');
        for (const QByteArray &line : lines) {
            ++lineNumber;
            if (!line.trimmed().isEmpty() && !scanner.add(line.trimmed()))
                result.problems << QStringLiteral("%1:%2 is not an API key")
                                       .arg(file.filePath())
                                       .arg(lineNumber);
        }
    }
    result.secrets = scanner.size();
    others.sort();
    for (const QString &path : std::as_const(others)) {
        QFile in(path);
        if (!in.open(QIODevice::ReadOnly)) {
            result.problems << QString(QStringLiteral("cannot read ") + path);
            continue;
        }
        const QByteArray data = in.readAll();
        static const QRegularExpression shown(
            QStringLiteral("^API key [0-9A-Za-z]{12} \\(.*\\), expires .*:$"),
            QRegularExpression::MultilineOption);
        result.keysShown += QString::fromUtf8(data).count(shown);
        ++result.files;
        result.bytes += data.size();
        result.leaks << scanner.scan(data, path);
    }
    return result;
}

QString describe(const QList<Leak> &leaks)
{
    QStringList out;
    for (const Leak &leak : leaks)
        out << leak.describe();
    return out.join(u'\n');
}
} // namespace

// Runs after every other test (a cleanup of the transcript fixture): no
// API key any of them created may appear in any output they recorded.
class TestSecretScan : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void scannerFindsPlantedSecrets_data();
    void scannerFindsPlantedSecrets();
    void scannerReadsADirectory();
    void noSecretInTheTranscript();
};

void TestSecretScan::scannerFindsPlantedSecrets_data()
{
    QTest::addColumn<QByteArray>("text"); // {KEY}, {SECRET}, {ID}, ... stand for a real key's parts
    QTest::addColumn<int>("leaks");
    QTest::addColumn<int>("wholeKeys");

    QTest::newRow("whole key in a log line")
        << QByteArray("2026-11-23 auth ok key={KEY} from 10.0.0.1\n") << 1 << 1;
    QTest::newRow("whole key alone") << QByteArray("{KEY}") << 1 << 1;
    QTest::newRow("whole key in JSON") << QByteArray("{\"token\":\"{KEY}\"}") << 1 << 1;
    QTest::newRow("secret alone") << QByteArray("secret={SECRET}\n") << 1 << 0;
    QTest::newRow("secret at the end") << QByteArray("x {SECRET}") << 1 << 0;
    QTest::newRow("secret glued to letters") << QByteArray("abc{SECRET}xyz0") << 1 << 0;
    QTest::newRow("key with a wrong id")
        << QByteArray("fhk_AAAAAAAAAAAA_{SECRET}_{CHECK}") << 1 << 0;
    QTest::newRow("two keys") << QByteArray("{KEY} and again {KEY}") << 2 << 2;
    QTest::newRow("redacted key") << QByteArray("key=fhk_{ID}_\xe2\x80\xa6 refused") << 0 << 0;
    QTest::newRow("id only") << QByteArray("revoked API key {ID}") << 0 << 0;
    QTest::newRow("one character changed") << QByteArray("{NEAR}") << 0 << 0;
    QTest::newRow("23 characters of it") << QByteArray("{SHORT}") << 0 << 0;
    QTest::newRow("split by a space") << QByteArray("{SHORT} {LAST}") << 0 << 0;
    QTest::newRow("nothing") << QByteArray() << 0 << 0;
}

void TestSecretScan::scannerFindsPlantedSecrets()
{
    QFETCH(QByteArray, text);
    QFETCH(int, leaks);
    QFETCH(int, wholeKeys);

    const QByteArray key = ApiKeyToken::generate().toString().toLatin1();
    const QList<QByteArray> parts = key.split('_');
    QCOMPARE(parts.size(), 4);
    const QByteArray secret = parts.at(2);
    QByteArray near = secret;
    near[5] = near.at(5) == 'a' ? 'b' : 'a';
    text.replace("{KEY}", key)
        .replace("{SECRET}", secret)
        .replace("{ID}", parts.at(1))
        .replace("{CHECK}", parts.at(3))
        .replace("{NEAR}", near)
        .replace("{SHORT}", secret.left(secret.size() - 1))
        .replace("{LAST}", secret.right(1));

    SecretScanner scanner;
    QVERIFY(scanner.add(key));
    QVERIFY(scanner.add(ApiKeyToken::generate().toString().toLatin1())); // a bystander
    QCOMPARE(scanner.size(), 2);
    QVERIFY(!scanner.add("fhk_short"));
    QVERIFY(!scanner.add(QByteArray(key + "x")));
    const QList<Leak> found = scanner.scan(text, QStringLiteral("synthetic"));
    QCOMPARE(found.size(), leaks);
    QCOMPARE(std::count_if(found.cbegin(), found.cend(), [](const Leak &l) { return l.wholeKey; }),
             qsizetype(wholeKeys));
    for (const Leak &leak : found) {
        QCOMPARE(leak.keyId, parts.at(1));
        QCOMPARE(text.mid(leak.offset, secret.size()), secret);
        QVERIFY(!leak.describe().contains(QString::fromLatin1(secret)));
    }
}

void TestSecretScan::scannerReadsADirectory()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString key = ApiKeyToken::generate().toString();
    const QString other = ApiKeyToken::generate().toString();
    auto write = [&](const QString &name, const QByteArray &data) {
        QFile file(dir.filePath(name));
        QDir().mkpath(QFileInfo(file).path());
        if (!file.open(QIODevice::WriteOnly))
            return false;
        return file.write(data) == data.size();
    };
    QVERIFY(write(QStringLiteral("secrets-1.txt"), QString(key + u'\n').toLatin1()));
    QVERIFY(write(QStringLiteral("secrets-2.txt"), QString(other + u'\n').toLatin1()));
    QVERIFY(write(QStringLiteral("outputs-1.txt"), "=== clean\nnothing here\n"));
    DirectoryScan clean = scanDirectory(dir.path());
    QCOMPARE(clean.secrets, 2);
    QCOMPARE(clean.files, 1);
    QVERIFY2(clean.leaks.isEmpty(), qPrintable(describe(clean.leaks)));
    QVERIFY2(clean.problems.isEmpty(), qPrintable(clean.problems.join(u'\n')));

    // A key planted in a copied log deep below, and one's secret in an export.
    QVERIFY(write(QStringLiteral("logs/engine/framehoused.log"),
                  QByteArray(QByteArray("auth ok key=") + key.toLatin1() + "\n")));
    QVERIFY(
        write(QStringLiteral("audit-export.jsonl"),
              QByteArray(QByteArray("{\"s\":\"") + other.toLatin1().split('_').at(2) + "\"}\n")));
    const DirectoryScan dirty = scanDirectory(dir.path());
    QCOMPARE(dirty.files, 3);
    QCOMPARE(dirty.leaks.size(), 2);
    QCOMPARE(dirty.bytes,
             QFileInfo(dir.filePath(QStringLiteral("outputs-1.txt"))).size() +
                 QFileInfo(dir.filePath(QStringLiteral("logs/engine/framehoused.log"))).size() +
                 QFileInfo(dir.filePath(QStringLiteral("audit-export.jsonl"))).size());
    for (const Leak &leak : dirty.leaks) {
        if (leak.file.endsWith(QLatin1String("framehoused.log"))) {
            QVERIFY(leak.wholeKey);
            QCOMPARE(QString::fromLatin1(leak.keyId), key.mid(4, ApiKeyToken::IdLength));
        } else {
            QVERIFY(leak.file.endsWith(QLatin1String("audit-export.jsonl")));
            QVERIFY(!leak.wholeKey);
            QCOMPARE(QString::fromLatin1(leak.keyId), other.mid(4, ApiKeyToken::IdLength));
        }
    }

    // A secrets file that holds something else is a problem, not ignored.
    QVERIFY(write(QStringLiteral("secrets-3.txt"), "not a key\n"));
    QCOMPARE(scanDirectory(dir.path()).problems.size(), 1);
}

void TestSecretScan::noSecretInTheTranscript()
{
    const QString directory = TestSupport::transcriptDirectory();
    const DirectoryScan result = scanDirectory(directory);
    qInfo("scanned %lld bytes in %lld files of %s for %lld API keys", qint64(result.bytes),
          qint64(result.files), qPrintable(directory), qint64(result.secrets));
    QVERIFY2(result.problems.isEmpty(), qPrintable(result.problems.join(u'\n')));
    // Every key that framehousectl showed must have been recorded, or the
    // scan would miss it.
    QVERIFY2(result.secrets >= result.keysShown,
             qPrintable(QStringLiteral("%1 keys were shown but only %2 recorded")
                            .arg(result.keysShown)
                            .arg(result.secrets)));
    // The full run (./setup.sh test, CI) must have produced a transcript:
    // an empty one would prove nothing. A subset (ctest -L unit) may not.
    if (qEnvironmentVariableIsSet("FRAMEHOUSE_FULL_TEST_RUN")) {
        QVERIFY2(result.secrets >= 20,
                 qPrintable(QStringLiteral("only %1 API keys were recorded in %2")
                                .arg(result.secrets)
                                .arg(directory)));
        QVERIFY2(result.files > 0, "no outputs were recorded");
    }
    QVERIFY2(result.leaks.isEmpty(),
             qPrintable(QString(QStringLiteral("%1 secrets leaked:\n").arg(result.leaks.size()) +
                                describe(result.leaks))));
}

QTEST_GUILESS_MAIN(TestSecretScan)
#include "tst_secretscan.moc"
