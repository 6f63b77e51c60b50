#include "store/storesettings.h"
#include "testsupport.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QTest>

#include <sys/stat.h>

namespace {
constexpr qint64 HourMs = 3600LL * 1000;
constexpr qint64 DayMs = 24 * HourMs;

const QString forgedLine = QStringLiteral("framehouse: authentication failure");

const QRegularExpression &keyIdShape()
{
    static const QRegularExpression shape(QStringLiteral("^[0-9A-Za-z]{12}$"));
    return shape;
}

const QRegularExpression &tokenShape()
{
    static const QRegularExpression shape(
        QStringLiteral("^fhk_([0-9A-Za-z]{12})_[0-9A-Za-z]{24}_[0-9A-Za-z]{6}$"));
    return shape;
}

QStringList lines(const QString &text) { return text.split(u'\n', Qt::SkipEmptyParts); }

// Empty when `err` is exactly one line "framehousectl: error: ..." with
// no raw control character in it; else what is wrong with it.
QString oneLineErrorProblem(const QString &err)
{
    if (!err.startsWith(TestSupport::CtlErrorPrefix))
        return QStringLiteral("stderr does not start with '%1': %2")
            .arg(TestSupport::CtlErrorPrefix, err.left(300));
    if (!err.endsWith(u'\n') || err.count(u'\n') != 1)
        return QStringLiteral("stderr is %1 lines, not one: %2")
            .arg(err.count(u'\n'))
            .arg(err.left(300));
    if (err.contains(u'\r') || err.contains(QChar(0x1b)))
        return QStringLiteral("stderr holds a raw CR or ESC: ") + err;
    return {};
}

// Parses `text` as one JSON document; an empty document on failure.
QJsonDocument parseJson(const QString &text, QString *problem = nullptr)
{
    QJsonParseError error{};
    QJsonDocument document = QJsonDocument::fromJson(text.toUtf8(), &error);
    if (error.error != QJsonParseError::NoError && problem)
        *problem = error.errorString() + QStringLiteral(" in: ") + text.left(300);
    return document;
}

qint64 msFromIso(const QJsonValue &value)
{
    const QDateTime time = QDateTime::fromString(value.toString(), Qt::ISODateWithMs);
    return time.isValid() ? time.toMSecsSinceEpoch() : -1;
}

QStringList sorted(QStringList list)
{
    list.sort();
    return list;
}

QStringList stringsOf(const QJsonValue &array)
{
    QStringList out;
    for (const QJsonValue &value : array.toArray())
        out << value.toString();
    return out;
}

// Empty when `text` carries no raw CR or ESC and no line of it, once its
// indentation is dropped, starts like the forged log line.
QString injectionProblem(const QString &what, const QString &text)
{
    if (text.contains(u'\r'))
        return what + QStringLiteral(": a raw CR in the output");
    if (text.contains(QChar(0x1b)))
        return what + QStringLiteral(": a raw ESC in the output");
    for (const QString &line : text.split(u'\n')) {
        if (QStringView(line).trimmed().startsWith(forgedLine))
            return what + QStringLiteral(": a line starts with the forged text: ") + line;
    }
    return {};
}

// Beyond CR and ESC: no control character at all in a text (not JSON)
// output, apart from the newlines that end its lines.
QString controlProblem(const QString &what, const QString &text)
{
    for (const QChar c : text) {
        if (c != u'\n' &&
            (c.category() == QChar::Other_Control || c == QChar(0x2028) || c == QChar(0x2029)))
            return what + QStringLiteral(": a raw control character U+%1")
                              .arg(c.unicode(), 4, 16, QLatin1Char('0'));
    }
    return {};
}
} // namespace

// Evaluates `run` once: it may be the framehousectl call itself.
#define VERIFY_FAILS_WITH_ONE_LINE(run, code)                                                      \
    do {                                                                                           \
        const TestSupport::Run &failed_ = (run);                                                   \
        QVERIFY2(failed_.exitCode == (code),                                                       \
                 qPrintable(QStringLiteral("exit code %1, expected %2; stderr: %3")                \
                                .arg(failed_.exitCode)                                             \
                                .arg(code)                                                         \
                                .arg(failed_.err)));                                               \
        const QString oneLine_ = oneLineErrorProblem(failed_.err);                                 \
        QVERIFY2(oneLine_.isEmpty(), qPrintable(oneLine_));                                        \
    } while (false)

// framehousectl keys, audit and settings, run end to end as real processes
// against a real store.
class TestCtl : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void createPrintsTheKeyOnce_data();
    void createPrintsTheKeyOnce();
    void listShowsActiveKeysAndAllAddsInactive();
    void neverExpiringKeysAreFlagged();
    void showPrintsOneKey();
    void revoke_data();
    void revoke();
    void revokeAllNeedsConfirmation();
    void rotateKeepsTheOldKeyForTheGrace_data();
    void rotateKeepsTheOldKeyForTheGrace();
    void usageErrors_data();
    void usageErrors();
    void auditVerifyFindsTampering();
    void auditExportWritesJsonLines();
    void auditTailShowsTheNewestRecords();
    void auditTailFollowsUntilSigterm();
    void auditPrune_data();
    void auditPrune();
    void settings_data();
    void settings();
    void logInjection_data();
    void logInjection();
    void helpListsEveryGroup();
    void helpForEveryCommand_data();
    void helpForEveryCommand();

private:
    QStringList storeArgs() const
    {
        return {QStringLiteral("--store"), m_store, QStringLiteral("--key-file"), m_key};
    }
    TestSupport::Run ctl(const QStringList &arguments) const
    {
        return TestSupport::runCtl(arguments + storeArgs());
    }
    // keys create --json with a name, an owner and jobs:read unless `extra`
    // says otherwise; the new key's JSON (with its token), empty on failure.
    QJsonObject createKey(const QStringList &extra = {}, const QString &name = {});
    QJsonObject showKey(const QString &id);
    QJsonArray listKeys(bool all);

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_store;
    QString m_key;
};

void TestCtl::initTestCase() { QVERIFY(QFile::exists(QStringLiteral(FRAMEHOUSECTL_PATH))); }

void TestCtl::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_store = m_dir->filePath(QStringLiteral("store"));
    m_key = m_dir->filePath(QStringLiteral("store.key"));
    TestSupport::writeKeyFile(m_key);
    const TestSupport::Run run = ctl({QStringLiteral("store"), QStringLiteral("init")});
    VERIFY_SUCCEEDS(run);
}

void TestCtl::cleanup() { m_dir.reset(); }

QJsonObject TestCtl::createKey(const QStringList &extra, const QString &name)
{
    QStringList arguments{QStringLiteral("keys"),
                          QStringLiteral("create"),
                          QStringLiteral("--json"),
                          QStringLiteral("--name"),
                          name.isEmpty() ? QStringLiteral("render node") : name,
                          QStringLiteral("--owner-id"),
                          QStringLiteral("u-17")};
    if (!extra.contains(QStringLiteral("--scopes")))
        arguments << QStringLiteral("--scopes") << QStringLiteral("jobs:read");
    const TestSupport::Run run = ctl(arguments + extra);
    if (run.exitCode != 0) {
        qWarning("keys create failed: %s", qPrintable(run.err));
        return {};
    }
    return parseJson(run.out).object();
}

QJsonObject TestCtl::showKey(const QString &id)
{
    const TestSupport::Run run =
        ctl({QStringLiteral("keys"), QStringLiteral("show"), id, QStringLiteral("--json")});
    if (run.exitCode != 0) {
        qWarning("keys show failed: %s", qPrintable(run.err));
        return {};
    }
    return parseJson(run.out).object();
}

QJsonArray TestCtl::listKeys(bool all)
{
    QStringList arguments{QStringLiteral("keys"), QStringLiteral("list"), QStringLiteral("--json")};
    if (all)
        arguments << QStringLiteral("--all");
    const TestSupport::Run run = ctl(arguments);
    if (run.exitCode != 0) {
        qWarning("keys list failed: %s", qPrintable(run.err));
        return {};
    }
    return parseJson(run.out).array();
}

void TestCtl::createPrintsTheKeyOnce_data()
{
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<bool>("json");
    QTest::addColumn<QStringList>("scopes");
    QTest::addColumn<int>("days"); // 0: never expires
    QTest::addColumn<QJsonObject>("fields");

    const QStringList submitRead{QStringLiteral("jobs:submit"), QStringLiteral("jobs:read")};
    const QStringList defaults{QStringLiteral("--scopes"), QStringLiteral("jobs:submit,jobs:read")};
    const QJsonObject noOwner{
        {QStringLiteral("owner"), QJsonObject{{QStringLiteral("id"), QStringLiteral("u-17")},
                                              {QStringLiteral("name"), QJsonValue()},
                                              {QStringLiteral("email"), QJsonValue()}}}};
    QTest::newRow("plain, default expiry") << defaults << false << submitRead << 90 << noOwner;
    QTest::newRow("json, default expiry") << defaults << true << submitRead << 90 << noOwner;

    const QStringList owner{QStringLiteral("--scopes"),          QStringLiteral("jobs:read"),
                            QStringLiteral("--owner-name"),      QStringLiteral("Ada Lovelace"),
                            QStringLiteral("--owner-email"),     QStringLiteral("ada@example.org"),
                            QStringLiteral("--expires-in-days"), QStringLiteral("30")};
    const QJsonObject ownerFields{
        {QStringLiteral("owner"),
         QJsonObject{{QStringLiteral("id"), QStringLiteral("u-17")},
                     {QStringLiteral("name"), QStringLiteral("Ada Lovelace")},
                     {QStringLiteral("email"), QStringLiteral("ada@example.org")}}}};
    QTest::newRow("plain, owner, 30 days")
        << owner << false << QStringList{QStringLiteral("jobs:read")} << 30 << ownerFields;
    QTest::newRow("json, owner, 30 days")
        << owner << true << QStringList{QStringLiteral("jobs:read")} << 30 << ownerFields;

    const QStringList never{QStringLiteral("--scopes"), QStringLiteral("admin"),
                            QStringLiteral("--never-expires")};
    QTest::newRow("plain, never expires")
        << never << false << QStringList{QStringLiteral("admin")} << 0 << noOwner;
    QTest::newRow("json, never expires")
        << never << true << QStringList{QStringLiteral("admin")} << 0 << noOwner;

    const QStringList limits{QStringLiteral("--scopes"),
                             QStringLiteral("uploads:write,jobs:submit"),
                             QStringLiteral("--allow-cidr"),
                             QStringLiteral("10.0.0.0/8,192.168.1.7"),
                             QStringLiteral("--rate-limit"),
                             QStringLiteral("50/m"),
                             QStringLiteral("--max-concurrent-jobs"),
                             QStringLiteral("3")};
    const QJsonObject limitFields{
        {QStringLiteral("allow_cidrs"), QStringLiteral("10.0.0.0/8 192.168.1.7/32")},
        {QStringLiteral("rate_limit_per_hour"), 3000},
        {QStringLiteral("max_concurrent_jobs"), 3}};
    const QStringList uploadSubmit{QStringLiteral("uploads:write"), QStringLiteral("jobs:submit")};
    QTest::newRow("plain, limits") << limits << false << uploadSubmit << 90 << limitFields;
    QTest::newRow("json, limits") << limits << true << uploadSubmit << 90 << limitFields;
    QTest::newRow("json, per hour rate limit")
        << QStringList{QStringLiteral("--scopes"), QStringLiteral("metrics:read"),
                       QStringLiteral("--rate-limit"), QStringLiteral("1000/h")}
        << true << QStringList{QStringLiteral("metrics:read")} << 90
        << QJsonObject{{QStringLiteral("rate_limit_per_hour"), 1000},
                       {QStringLiteral("allow_cidrs"), QJsonValue()}};
}

void TestCtl::createPrintsTheKeyOnce()
{
    QFETCH(QStringList, extra);
    QFETCH(bool, json);
    QFETCH(QStringList, scopes);
    QFETCH(int, days);
    QFETCH(QJsonObject, fields);

    const QString name =
        QStringLiteral("node %1").arg(QString::fromLatin1(QTest::currentDataTag()));
    QStringList arguments{QStringLiteral("keys"),       QStringLiteral("create"),
                          QStringLiteral("--name"),     name,
                          QStringLiteral("--owner-id"), QStringLiteral("u-17")};
    if (json)
        arguments << QStringLiteral("--json");
    const TestSupport::Run run = ctl(arguments + extra);
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.err.isEmpty(), qPrintable(run.err));

    QString id;
    QString token;
    QJsonObject key;
    if (json) {
        QString problem;
        key = parseJson(run.out, &problem).object();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        id = key.value(QStringLiteral("id")).toString();
        token = key.value(QStringLiteral("token")).toString();
        // What keys show prints is what keys create printed, less the token.
        QJsonObject shown = showKey(id);
        QVERIFY(!shown.contains(QStringLiteral("token")));
        QJsonObject withoutToken = key;
        withoutToken.remove(QStringLiteral("token"));
        QCOMPARE(shown, withoutToken);
    } else {
        const QStringList out = lines(run.out);
        QCOMPARE(out.size(), 3);
        static const QRegularExpression header(
            QStringLiteral("^API key ([0-9A-Za-z]{12}) \\((.*)\\), expires (.+):$"));
        const QRegularExpressionMatch match = header.match(out.at(0));
        QVERIFY2(match.hasMatch(), qPrintable(out.at(0)));
        id = match.captured(1);
        QCOMPARE(match.captured(2), name);
        if (days == 0)
            QCOMPARE(match.captured(3), QStringLiteral("never (!)"));
        else
            QVERIFY2(match.captured(3).endsWith(QStringLiteral(" UTC")),
                     qPrintable(match.captured(3)));
        token = out.at(1);
        QVERIFY(out.at(2).contains(QStringLiteral("shown only once")));
        key = showKey(id);
    }
    QVERIFY2(keyIdShape().match(id).hasMatch(), qPrintable(id));
    const QRegularExpressionMatch tokenMatch = tokenShape().match(token);
    QVERIFY2(tokenMatch.hasMatch(), "the token does not have the fhk_<id>_<secret>_<check> shape");
    QCOMPARE(tokenMatch.captured(1), id);
    QCOMPARE(run.out.count(token), 1);

    QCOMPARE(key.value(QStringLiteral("id")).toString(), id);
    QCOMPARE(key.value(QStringLiteral("name")).toString(), name);
    QCOMPARE(key.value(QStringLiteral("status")).toString(), QStringLiteral("active"));
    QCOMPARE(sorted(stringsOf(key.value(QStringLiteral("scopes")))), sorted(scopes));
    QCOMPARE(key.value(QStringLiteral("owner")).toObject().value(QStringLiteral("id")).toString(),
             QStringLiteral("u-17"));
    QCOMPARE(key.value(QStringLiteral("never_expires")).toBool(), days == 0);
    QVERIFY(key.value(QStringLiteral("never_expires")).isBool());
    const qint64 created = msFromIso(key.value(QStringLiteral("created_at")));
    QVERIFY(created > 0);
    QVERIFY(qAbs(created - QDateTime::currentMSecsSinceEpoch()) < 10 * 60 * 1000);
    if (days == 0) {
        QVERIFY(key.value(QStringLiteral("expires_at")).isNull());
    } else {
        QCOMPARE(msFromIso(key.value(QStringLiteral("expires_at"))) - created, days * DayMs);
    }
    QVERIFY(key.value(QStringLiteral("revoked_at")).isNull());
    QVERIFY(key.value(QStringLiteral("rotated_from")).isNull());
    for (auto it = fields.constBegin(); it != fields.constEnd(); ++it)
        QCOMPARE(key.value(it.key()), it.value());
}

void TestCtl::listShowsActiveKeysAndAllAddsInactive()
{
    const QString active = createKey().value(QStringLiteral("id")).toString();
    const QString never =
        createKey({QStringLiteral("--never-expires")}).value(QStringLiteral("id")).toString();
    const QString revoked = createKey().value(QStringLiteral("id")).toString();
    const QString expired = createKey().value(QStringLiteral("id")).toString();
    QVERIFY(!active.isEmpty() && !never.isEmpty() && !revoked.isEmpty() && !expired.isEmpty());
    VERIFY_SUCCEEDS(ctl({QStringLiteral("keys"), QStringLiteral("revoke"), revoked,
                         QStringLiteral("--reason"), QStringLiteral("left the team")}));
    // A rotation with no grace leaves the old key expired at once.
    const TestSupport::Run rotation =
        ctl({QStringLiteral("keys"), QStringLiteral("rotate"), expired, QStringLiteral("--grace"),
             QStringLiteral("0s"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(rotation);
    const QString replacement =
        parseJson(rotation.out).object().value(QStringLiteral("id")).toString();
    QVERIFY(!replacement.isEmpty());
    const QStringList activeIds = sorted({active, never, replacement});
    const QStringList allIds = sorted({active, never, replacement, revoked, expired});

    // The table: a header, then one line per key, never-expiring ones flagged.
    for (const bool all : {false, true}) {
        QStringList arguments{QStringLiteral("keys"), QStringLiteral("list")};
        if (all)
            arguments << QStringLiteral("--all");
        const TestSupport::Run table = ctl(arguments);
        VERIFY_SUCCEEDS(table);
        const QStringList rows = lines(table.out);
        QCOMPARE(rows.size(), 1 + (all ? allIds : activeIds).size());
        QVERIFY(rows.at(0).startsWith(QStringLiteral("ID ")));
        QVERIFY(rows.at(0).contains(QStringLiteral("EXPIRES")));
        QStringList ids;
        for (const QString &row : rows.mid(1)) {
            const QString id = row.section(u' ', 0, 0);
            ids << id;
            QCOMPARE(row.contains(QStringLiteral("never (!)")), id == never);
            const QString status = id == revoked   ? QStringLiteral("revoked")
                                   : id == expired ? QStringLiteral("expired")
                                                   : QStringLiteral("active");
            QVERIFY2(row.contains(QString(QStringLiteral("  ") + status + QStringLiteral("  "))),
                     qPrintable(row));
        }
        QCOMPARE(sorted(ids), all ? allIds : activeIds);
    }

    // JSON: the same keys, newest first.
    for (const bool all : {false, true}) {
        const QJsonArray keys = listKeys(all);
        QStringList ids;
        QString previousCreated;
        for (const QJsonValue &value : keys) {
            const QJsonObject key = value.toObject();
            const QString id = key.value(QStringLiteral("id")).toString();
            ids << id;
            const QString status = key.value(QStringLiteral("status")).toString();
            QCOMPARE(status, id == revoked   ? QStringLiteral("revoked")
                             : id == expired ? QStringLiteral("expired")
                                             : QStringLiteral("active"));
            QCOMPARE(key.value(QStringLiteral("never_expires")).toBool(), id == never);
            QVERIFY(!key.contains(QStringLiteral("token")));
            const QString created = key.value(QStringLiteral("created_at")).toString();
            if (!previousCreated.isEmpty())
                QVERIFY2(created <= previousCreated, "keys list is not newest first");
            previousCreated = created;
        }
        QCOMPARE(sorted(ids), all ? allIds : activeIds);
    }
}

void TestCtl::neverExpiringKeysAreFlagged()
{
    const QString id =
        createKey({QStringLiteral("--never-expires")}).value(QStringLiteral("id")).toString();
    QVERIFY(!id.isEmpty());
    const TestSupport::Run show = ctl({QStringLiteral("keys"), QStringLiteral("show"), id});
    VERIFY_SUCCEEDS(show);
    QVERIFY2(show.out.contains(QRegularExpression(QStringLiteral("(?m)^expires: +never \\(!\\)$"))),
             qPrintable(show.out));
    const QJsonObject key = showKey(id);
    QCOMPARE(key.value(QStringLiteral("never_expires")), QJsonValue(true));
    QVERIFY(key.value(QStringLiteral("expires_at")).isNull());
    // Asking for both is a contradiction, refused.
    const TestSupport::Run both = ctl(
        {QStringLiteral("keys"), QStringLiteral("create"), QStringLiteral("--name"),
         QStringLiteral("n"), QStringLiteral("--owner-id"), QStringLiteral("u"),
         QStringLiteral("--scopes"), QStringLiteral("jobs:read"), QStringLiteral("--never-expires"),
         QStringLiteral("--expires-in-days"), QStringLiteral("10")});
    QVERIFY2(both.exitCode == 1 || both.exitCode == 2, qPrintable(both.err));
    const QString oneLine = oneLineErrorProblem(both.err);
    QVERIFY2(oneLine.isEmpty(), qPrintable(oneLine));
    QCOMPARE(listKeys(true).size(), 1);
}

void TestCtl::showPrintsOneKey()
{
    const QString id =
        createKey({QStringLiteral("--owner-name"), QStringLiteral("Grace Hopper"),
                   QStringLiteral("--scopes"), QStringLiteral("jobs:read,jobs:cancel"),
                   QStringLiteral("--allow-cidr"), QStringLiteral("10.1.2.0/24")})
            .value(QStringLiteral("id"))
            .toString();
    QVERIFY(!id.isEmpty());
    const TestSupport::Run show = ctl({QStringLiteral("keys"), QStringLiteral("show"), id});
    VERIFY_SUCCEEDS(show);
    QMap<QString, QString> fields;
    for (const QString &line : lines(show.out)) {
        const qsizetype colon = line.indexOf(u':');
        QVERIFY2(colon > 0, qPrintable(line));
        fields.insert(line.left(colon), line.mid(colon + 1).trimmed());
    }
    QCOMPARE(fields.value(QStringLiteral("id")), id);
    QCOMPARE(fields.value(QStringLiteral("name")), QStringLiteral("render node"));
    QVERIFY(fields.value(QStringLiteral("owner")).startsWith(QStringLiteral("u-17 (Grace Hopper")));
    QCOMPARE(fields.value(QStringLiteral("scopes")), QStringLiteral("jobs:read jobs:cancel"));
    QCOMPARE(fields.value(QStringLiteral("status")), QStringLiteral("active"));
    QCOMPARE(fields.value(QStringLiteral("allowed from")), QStringLiteral("10.1.2.0/24"));
    QCOMPARE(fields.value(QStringLiteral("revoked")), QStringLiteral("-"));

    const QJsonObject key = showKey(id);
    QCOMPARE(key.value(QStringLiteral("id")).toString(), id);
    QCOMPARE(key.value(QStringLiteral("allow_cidrs")).toString(), QStringLiteral("10.1.2.0/24"));
    QCOMPARE(key.value(QStringLiteral("owner")).toObject().value(QStringLiteral("name")),
             QJsonValue(QStringLiteral("Grace Hopper")));
    QVERIFY(!key.contains(QStringLiteral("token")));

    for (const QString &missing : {QStringLiteral("AAAAAAAAAAAA"), QStringLiteral("not-an-id")}) {
        const TestSupport::Run run = ctl(
            {QStringLiteral("keys"), QStringLiteral("show"), missing, QStringLiteral("--json")});
        VERIFY_FAILS_WITH_ONE_LINE(run, 1);
        QVERIFY(run.out.isEmpty());
    }
}

void TestCtl::revoke_data()
{
    QTest::addColumn<QString>("id"); // empty: the key created for the row
    QTest::addColumn<QStringList>("extra");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");

    QTest::newRow("no reason") << QString() << QStringList() << 2 << QStringLiteral("--reason");
    QTest::newRow("blank reason") << QString()
                                  << QStringList{QStringLiteral("--reason"), QStringLiteral("  ")}
                                  << 2 << QStringLiteral("--reason");
    QTest::newRow("unknown id") << QStringLiteral("AAAAAAAAAAAA")
                                << QStringList{QStringLiteral("--reason"), QStringLiteral("x")} << 1
                                << QStringLiteral("no API key AAAAAAAAAAAA");
    QTest::newRow("malformed id") << QStringLiteral("not-an-id")
                                  << QStringList{QStringLiteral("--reason"), QStringLiteral("x")}
                                  << 1 << QStringLiteral("not-an-id");
    QTest::newRow("revoked") << QString()
                             << QStringList{QStringLiteral("--reason"),
                                            QStringLiteral("laptop stolen")}
                             << 0 << QString();
}

void TestCtl::revoke()
{
    QFETCH(QString, id);
    QFETCH(QStringList, extra);
    QFETCH(int, exitCode);
    QFETCH(QString, message);

    const QString created = createKey().value(QStringLiteral("id")).toString();
    QVERIFY(!created.isEmpty());
    const QString target = id.isEmpty() ? created : id;
    const TestSupport::Run run =
        ctl(QStringList{QStringLiteral("keys"), QStringLiteral("revoke"), target} + extra);
    if (exitCode == 0) {
        VERIFY_SUCCEEDS(run);
        QVERIFY(run.out.contains(QString(QStringLiteral("revoked API key ") + target)));
    } else {
        VERIFY_FAILS_WITH_ONE_LINE(run, exitCode);
        QVERIFY2(run.err.contains(message), qPrintable(run.err));
    }

    const QJsonObject key = showKey(created);
    if (exitCode == 0) {
        QCOMPARE(key.value(QStringLiteral("status")).toString(), QStringLiteral("revoked"));
        QCOMPARE(key.value(QStringLiteral("revoked_reason")).toString(),
                 QStringLiteral("laptop stolen"));
        QVERIFY(key.value(QStringLiteral("revoked_by"))
                    .toString()
                    .startsWith(QStringLiteral("operator:")));
        QVERIFY(msFromIso(key.value(QStringLiteral("revoked_at"))) > 0);
        QVERIFY(listKeys(false).isEmpty());
        // Once is enough: a second revocation fails and says why.
        const TestSupport::Run again =
            ctl(QStringList{QStringLiteral("keys"), QStringLiteral("revoke"), target} + extra);
        VERIFY_FAILS_WITH_ONE_LINE(again, 1);
        QVERIFY2(again.err.contains(QStringLiteral("already revoked")), qPrintable(again.err));
        const TestSupport::Run tail = ctl({QStringLiteral("audit"), QStringLiteral("tail")});
        QVERIFY(tail.out.contains(QString(QStringLiteral("key.revoked  ") + target)));
    } else {
        QCOMPARE(key.value(QStringLiteral("status")).toString(), QStringLiteral("active"));
        QVERIFY(key.value(QStringLiteral("revoked_at")).isNull());
    }
}

void TestCtl::revokeAllNeedsConfirmation()
{
    QStringList ids;
    for (int i = 0; i < 3; ++i)
        ids << createKey().value(QStringLiteral("id")).toString();
    QVERIFY(!ids.contains(QString()));

    const QStringList revokeAll{QStringLiteral("keys"), QStringLiteral("revoke-all")};
    TestSupport::Run run =
        ctl(revokeAll + QStringList{QStringLiteral("--reason"), QStringLiteral("incident 7")});
    VERIFY_FAILS_WITH_ONE_LINE(run, 2);
    QVERIFY2(run.err.contains(QStringLiteral("--yes")), qPrintable(run.err));
    QCOMPARE(listKeys(false).size(), 3);

    run = ctl(revokeAll + QStringList{QStringLiteral("--yes")});
    VERIFY_FAILS_WITH_ONE_LINE(run, 2);
    QVERIFY2(run.err.contains(QStringLiteral("--reason")), qPrintable(run.err));
    QCOMPARE(listKeys(false).size(), 3);

    run = ctl(revokeAll + QStringList{QStringLiteral("--reason"), QStringLiteral("incident 7"),
                                      QStringLiteral("--yes")});
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.out.contains(QStringLiteral("revoked 3 API keys")), qPrintable(run.out));
    QVERIFY(listKeys(false).isEmpty());
    const QJsonArray all = listKeys(true);
    QCOMPARE(all.size(), 3);
    for (const QJsonValue &key : all) {
        QCOMPARE(key.toObject().value(QStringLiteral("status")).toString(),
                 QStringLiteral("revoked"));
        QCOMPARE(key.toObject().value(QStringLiteral("revoked_reason")).toString(),
                 QStringLiteral("incident 7"));
    }
    // Nothing left to revoke.
    run = ctl(revokeAll + QStringList{QStringLiteral("--reason"), QStringLiteral("again"),
                                      QStringLiteral("--yes")});
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.out.contains(QStringLiteral("revoked 0 API keys")), qPrintable(run.out));
}

void TestCtl::rotateKeepsTheOldKeyForTheGrace_data()
{
    QTest::addColumn<bool>("json");
    QTest::newRow("plain") << false;
    QTest::newRow("json") << true;
}

void TestCtl::rotateKeepsTheOldKeyForTheGrace()
{
    QFETCH(bool, json);
    const QJsonObject old =
        createKey({QStringLiteral("--scopes"), QStringLiteral("jobs:submit,jobs:read"),
                   QStringLiteral("--expires-in-days"), QStringLiteral("30"),
                   QStringLiteral("--rate-limit"), QStringLiteral("600/h")});
    const QString oldId = old.value(QStringLiteral("id")).toString();
    QVERIFY(!oldId.isEmpty());

    QStringList arguments{QStringLiteral("keys"), QStringLiteral("rotate"), oldId,
                          QStringLiteral("--grace"), QStringLiteral("2h")};
    if (json)
        arguments << QStringLiteral("--json");
    const qint64 before = QDateTime::currentMSecsSinceEpoch();
    const TestSupport::Run run = ctl(arguments);
    const qint64 after = QDateTime::currentMSecsSinceEpoch();
    VERIFY_SUCCEEDS(run);

    QString newId;
    QString token;
    if (json) {
        QString problem;
        const QJsonObject created = parseJson(run.out, &problem).object();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        newId = created.value(QStringLiteral("id")).toString();
        token = created.value(QStringLiteral("token")).toString();
        QCOMPARE(created.value(QStringLiteral("rotated_from")).toString(), oldId);
    } else {
        const QStringList out = lines(run.out);
        QCOMPARE(out.size(), 4);
        QVERIFY2(out.at(0).startsWith(QStringLiteral("API key %1 stays valid until ").arg(oldId)),
                 qPrintable(out.at(0)));
        static const QRegularExpression header(QStringLiteral("^API key ([0-9A-Za-z]{12}) \\("));
        const QRegularExpressionMatch match = header.match(out.at(1));
        QVERIFY2(match.hasMatch(), qPrintable(out.at(1)));
        newId = match.captured(1);
        token = out.at(2);
    }
    QVERIFY(newId != oldId);
    const QRegularExpressionMatch tokenMatch = tokenShape().match(token);
    QVERIFY2(tokenMatch.hasMatch(), "the new token does not have the key shape");
    QCOMPARE(tokenMatch.captured(1), newId);

    const QJsonObject replacement = showKey(newId);
    QCOMPARE(replacement.value(QStringLiteral("rotated_from")).toString(), oldId);
    QCOMPARE(replacement.value(QStringLiteral("status")).toString(), QStringLiteral("active"));
    QCOMPARE(replacement.value(QStringLiteral("scopes")), old.value(QStringLiteral("scopes")));
    QCOMPARE(replacement.value(QStringLiteral("owner")), old.value(QStringLiteral("owner")));
    QCOMPARE(replacement.value(QStringLiteral("rate_limit_per_hour")), QJsonValue(600));

    // The old key stays valid for the grace, and not a moment longer.
    const QJsonObject previous = showKey(oldId);
    QCOMPARE(previous.value(QStringLiteral("status")).toString(), QStringLiteral("active"));
    const qint64 expires = msFromIso(previous.value(QStringLiteral("expires_at")));
    QVERIFY2(expires >= before + 2 * HourMs - 1 && expires <= after + 2 * HourMs,
             qPrintable(previous.value(QStringLiteral("expires_at")).toString()));

    const TestSupport::Run unknown =
        ctl({QStringLiteral("keys"), QStringLiteral("rotate"), QStringLiteral("AAAAAAAAAAAA")});
    VERIFY_FAILS_WITH_ONE_LINE(unknown, 1);
}

void TestCtl::usageErrors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message"); // a part of the error line; may be empty

    const QStringList create{QStringLiteral("keys"),       QStringLiteral("create"),
                             QStringLiteral("--name"),     QStringLiteral("n"),
                             QStringLiteral("--owner-id"), QStringLiteral("u")};
    const QStringList readScope{QStringLiteral("--scopes"), QStringLiteral("jobs:read")};
    auto args = [](std::initializer_list<const char *> words) {
        QStringList out;
        for (const char *word : words)
            out << QString::fromUtf8(word);
        return out;
    };

    QTest::newRow("unknown group") << args({"frobnicate", "list"}) << QString();
    QTest::newRow("unknown keys command") << args({"keys", "frobnicate"}) << QString();
    QTest::newRow("unknown audit command") << args({"audit", "frobnicate"}) << QString();
    QTest::newRow("unknown settings command") << args({"settings", "frobnicate"}) << QString();
    QTest::newRow("keys show without an id") << args({"keys", "show"}) << QString();
    QTest::newRow("keys list with an extra word") << args({"keys", "list", "extra"}) << QString();
    QTest::newRow("settings set without a value")
        << args({"settings", "set", "audit.retention_days"}) << QString();
    QTest::newRow("unknown option")
        << args({"keys", "list", "--frobnicate"}) << QStringLiteral("frobnicate");

    QTest::newRow("create without scopes") << create << QStringLiteral("--scopes");
    QTest::newRow("create without name")
        << args({"keys", "create", "--owner-id", "u", "--scopes", "jobs:read"})
        << QStringLiteral("--name");
    QTest::newRow("unknown scope")
        << create + args({"--scopes", "jobs:read,root"}) << QStringLiteral("unknown scope 'root'");
    QTest::newRow("empty scopes") << create + args({"--scopes", ""}) << QStringLiteral("scope");
    QTest::newRow("scope with a typo")
        << create + args({"--scopes", "jobs:submti"}) << QStringLiteral("jobs:submti");
    QTest::newRow("cidr prefix too long")
        << create + readScope + args({"--allow-cidr", "10.0.0.0/33"})
        << QStringLiteral("10.0.0.0/33");
    QTest::newRow("cidr not an address")
        << create + readScope + args({"--allow-cidr", "10.0.0.0/8,intranet"})
        << QStringLiteral("intranet");
    QTest::newRow("rate limit not a number")
        << create + readScope + args({"--rate-limit", "lots"}) << QStringLiteral("--rate-limit");
    QTest::newRow("rate limit zero")
        << create + readScope + args({"--rate-limit", "0/h"}) << QStringLiteral("--rate-limit");
    QTest::newRow("rate limit per day")
        << create + readScope + args({"--rate-limit", "100/d"}) << QStringLiteral("--rate-limit");
    QTest::newRow("max concurrent jobs zero")
        << create + readScope + args({"--max-concurrent-jobs", "0"})
        << QStringLiteral("--max-concurrent-jobs");
    QTest::newRow("expiry not a number") << create + readScope + args({"--expires-in-days", "ten"})
                                         << QStringLiteral("--expires-in-days");
    QTest::newRow("grace without unit")
        << args({"keys", "rotate", "AAAAAAAAAAAA", "--grace", "2"}) << QStringLiteral("--grace");
    QTest::newRow("grace unknown unit")
        << args({"keys", "rotate", "AAAAAAAAAAAA", "--grace", "2w"}) << QStringLiteral("--grace");
    QTest::newRow("grace negative")
        << args({"keys", "rotate", "AAAAAAAAAAAA", "--grace", "-1h"}) << QStringLiteral("--grace");
    QTest::newRow("revoke without reason")
        << args({"keys", "revoke", "AAAAAAAAAAAA"}) << QStringLiteral("--reason");
    QTest::newRow("revoke-all without yes")
        << args({"keys", "revoke-all", "--reason", "x"}) << QStringLiteral("--yes");
    QTest::newRow("prune without before") << args({"audit", "prune"}) << QStringLiteral("--before");
    QTest::newRow("prune before not a time")
        << args({"audit", "prune", "--before", "soon"}) << QStringLiteral("--before");
    QTest::newRow("export since not a time")
        << args({"audit", "export", "--since", "lately"}) << QStringLiteral("--since");
    QTest::newRow("reanchor without yes") << args({"audit", "reanchor"}) << QStringLiteral("--yes");
}

void TestCtl::usageErrors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    const TestSupport::Run run = ctl(arguments);
    VERIFY_FAILS_WITH_ONE_LINE(run, 2);
    QVERIFY2(run.err.contains(message), qPrintable(run.err));
    QVERIFY2(run.out.isEmpty(), qPrintable(run.out));
    QVERIFY(listKeys(true).isEmpty());
}

void TestCtl::auditVerifyFindsTampering()
{
    QVERIFY(!createKey().isEmpty()); // record 2
    QVERIFY(!createKey().isEmpty());

    TestSupport::Run run = ctl({QStringLiteral("audit"), QStringLiteral("verify")});
    VERIFY_SUCCEEDS(run);
    QVERIFY2(run.out.startsWith(QStringLiteral("ok: ")), qPrintable(run.out));
    QVERIFY(run.err.isEmpty());
    run = ctl({QStringLiteral("audit"), QStringLiteral("verify"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(run);
    QJsonObject verdict = parseJson(run.out).object();
    QCOMPARE(verdict.value(QStringLiteral("ok")), QJsonValue(true));
    QCOMPARE(verdict.value(QStringLiteral("type")).toString(), QStringLiteral("verification"));
    QVERIFY(verdict.value(QStringLiteral("problems")).toArray().isEmpty());
    QVERIFY(verdict.value(QStringLiteral("records")).toInt() >= 3);

    {
        // Someone with the store key edits a record behind the log's back.
        StoreRequest request;
        request.directory = m_store;
        request.keyFile = m_key;
        request.exclusive = false;
        Expected<OpenedStore> opened = TestSupport::openStore(request);
        QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error()));
        QSqlQuery q(opened->store->connection().value());
        QVERIFY(q.exec(QStringLiteral("SELECT action FROM audit_records WHERE seq = 2")));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toString(), QStringLiteral("key.created"));
        QVERIFY(q.exec(QStringLiteral(
            "UPDATE audit_records SET details = '{\"name\":\"harmless\"}' WHERE seq = 2")));
        QCOMPARE(q.numRowsAffected(), 1);
    }

    run = ctl({QStringLiteral("audit"), QStringLiteral("verify")});
    QVERIFY2(run.exitCode == 3, qPrintable(run.err));
    QVERIFY(!run.out.startsWith(QStringLiteral("ok")));
    // The problems, one line each, then the error line.
    const QStringList errLines = lines(run.err);
    QVERIFY2(errLines.size() >= 2, qPrintable(run.err));
    QVERIFY2(
        errLines.constLast().startsWith(QString(
            TestSupport::CtlErrorPrefix + QStringLiteral("the audit log failed verification"))),
        qPrintable(run.err));
    QVERIFY(!run.err.contains(u'\r') && !run.err.contains(QChar(0x1b)));

    run = ctl({QStringLiteral("audit"), QStringLiteral("verify"), QStringLiteral("--json")});
    VERIFY_FAILS_WITH_ONE_LINE(run, 3);
    QString problem;
    verdict = parseJson(run.out, &problem).object();
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(verdict.value(QStringLiteral("ok")), QJsonValue(false));
    const QJsonArray problems = verdict.value(QStringLiteral("problems")).toArray();
    QVERIFY(!problems.isEmpty());
    QVERIFY2(QJsonDocument(problems).toJson().contains("2"),
             "the problems do not name the edited record");

    // An export still writes the records, and says they do not verify.
    const QString exported = m_dir->filePath(QStringLiteral("tampered.jsonl"));
    run = ctl(
        {QStringLiteral("audit"), QStringLiteral("export"), QStringLiteral("--output"), exported});
    QVERIFY2(run.exitCode == 3, qPrintable(run.err));
    QVERIFY(run.err.contains(TestSupport::CtlErrorPrefix));
    const QString text = QString::fromUtf8(TestSupport::readRaw(exported));
    TestSupport::recordOutput(QStringLiteral("tampered audit export"), text);
    const QJsonObject summary = parseJson(lines(text).constLast()).object();
    QCOMPARE(summary.value(QStringLiteral("type")).toString(), QStringLiteral("verification"));
    QCOMPARE(summary.value(QStringLiteral("ok")), QJsonValue(false));
}

void TestCtl::auditExportWritesJsonLines()
{
    for (int i = 0; i < 3; ++i)
        QVERIFY(!createKey().isEmpty());
    VERIFY_SUCCEEDS(ctl({QStringLiteral("settings"), QStringLiteral("set"),
                         QStringLiteral("keys.default_expiry_days"), QStringLiteral("30")}));

    const QString file = m_dir->filePath(QStringLiteral("audit.jsonl"));
    TestSupport::Run run =
        ctl({QStringLiteral("audit"), QStringLiteral("export"), QStringLiteral("--output"), file});
    VERIFY_SUCCEEDS(run);
    QVERIFY(run.out.isEmpty());
    QVERIFY2(run.err.contains(QStringLiteral("exported 5 audit records")), qPrintable(run.err));
    struct stat st {};
    QCOMPARE(::stat(QFile::encodeName(file).constData(), &st), 0);
    QCOMPARE(st.st_mode & 0777, 0600u);

    const QString text = QString::fromUtf8(TestSupport::readRaw(file));
    TestSupport::recordOutput(QStringLiteral("audit export file"), text);
    QVERIFY(text.endsWith(u'\n'));
    const QStringList records = lines(text);
    QCOMPARE(records.size(), 6);
    static const QRegularExpression mac(QStringLiteral("^[0-9a-f]{64}$"));
    QStringList actions;
    for (qsizetype i = 0; i < records.size(); ++i) {
        QString problem;
        const QJsonDocument document = parseJson(records.at(i), &problem);
        QVERIFY2(problem.isEmpty() && document.isObject(), qPrintable(problem));
        const QJsonObject record = document.object();
        if (i + 1 == records.size()) {
            QCOMPARE(record.value(QStringLiteral("type")).toString(),
                     QStringLiteral("verification"));
            QCOMPARE(record.value(QStringLiteral("ok")), QJsonValue(true));
            QCOMPARE(record.value(QStringLiteral("exported")).toInt(), 5);
            QCOMPARE(record.value(QStringLiteral("last_seq")).toInt(), 5);
            QVERIFY(record.value(QStringLiteral("problems")).toArray().isEmpty());
            break;
        }
        QCOMPARE(record.value(QStringLiteral("seq")).toInteger(), qint64(i + 1));
        QVERIFY(mac.match(record.value(QStringLiteral("mac")).toString()).hasMatch());
        QVERIFY(record.value(QStringLiteral("time")).toString().endsWith(u'Z'));
        QVERIFY(record.value(QStringLiteral("actor"))
                    .toString()
                    .startsWith(QStringLiteral("operator:")));
        actions << record.value(QStringLiteral("action")).toString();
    }
    QCOMPARE(actions, (QStringList{QStringLiteral("store.created"), QStringLiteral("key.created"),
                                   QStringLiteral("key.created"), QStringLiteral("key.created"),
                                   QStringLiteral("settings.changed")}));

    // To stdout: the same lines, now with the first export's own record.
    run = ctl({QStringLiteral("audit"), QStringLiteral("export")});
    VERIFY_SUCCEEDS(run);
    const QStringList again = lines(run.out);
    QCOMPARE(again.size(), 7);
    QCOMPARE(again.mid(0, 5), records.mid(0, 5));
    QCOMPARE(parseJson(again.at(5)).object().value(QStringLiteral("action")).toString(),
             QStringLiteral("audit.exported"));

    // --since in the future: nothing but the summary.
    run = ctl({QStringLiteral("audit"), QStringLiteral("export"), QStringLiteral("--since"),
               QStringLiteral("2999-01-01")});
    VERIFY_SUCCEEDS(run);
    QCOMPARE(lines(run.out).size(), 1);
    const QJsonObject summary = parseJson(run.out).object();
    QCOMPARE(summary.value(QStringLiteral("type")).toString(), QStringLiteral("verification"));
    QCOMPARE(summary.value(QStringLiteral("exported")).toInt(), 0);
}

void TestCtl::auditTailShowsTheNewestRecords()
{
    QStringList ids;
    for (int i = 0; i < 21; ++i)
        ids << createKey().value(QStringLiteral("id")).toString();
    QVERIFY(!ids.contains(QString()));
    // 22 records: store.created and 21 key.created; tail shows the last 20.
    TestSupport::Run run = ctl({QStringLiteral("audit"), QStringLiteral("tail")});
    VERIFY_SUCCEEDS(run);
    const QStringList text = lines(run.out);
    QCOMPARE(text.size(), 20);
    static const QRegularExpression line(
        QStringLiteral("^(\\d+)  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d "
                       "UTC  operator:\\S+  key\\.created  "
                       "([0-9A-Za-z]{12})  ok  \\{.*\\}$"));
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QRegularExpressionMatch match = line.match(text.at(i));
        QVERIFY2(match.hasMatch(), qPrintable(text.at(i)));
        QCOMPARE(match.captured(1).toLongLong(), qint64(i + 3));
        QCOMPARE(match.captured(2), ids.at(i + 1));
    }

    run = ctl({QStringLiteral("audit"), QStringLiteral("tail"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(run);
    const QStringList json = lines(run.out);
    QCOMPARE(json.size(), 20);
    for (qsizetype i = 0; i < json.size(); ++i) {
        QString problem;
        const QJsonObject record = parseJson(json.at(i), &problem).object();
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(record.value(QStringLiteral("seq")).toInteger(), qint64(i + 3));
        QCOMPARE(record.value(QStringLiteral("target")).toString(), ids.at(i + 1));
        QCOMPARE(record.value(QStringLiteral("action")).toString(), QStringLiteral("key.created"));
    }
}

void TestCtl::auditTailFollowsUntilSigterm()
{
    QProcess tail;
    tail.start(QStringLiteral(FRAMEHOUSECTL_PATH),
               QStringList{QStringLiteral("audit"), QStringLiteral("tail"), QStringLiteral("-f")} +
                   storeArgs());
    QVERIFY(tail.waitForStarted());
    QByteArray seen;
    QTRY_VERIFY2_WITH_TIMEOUT((seen += tail.readAllStandardOutput()).contains("store.created"),
                              seen.constData(), 30000);

    const QString id = createKey().value(QStringLiteral("id")).toString();
    QVERIFY(!id.isEmpty());
    const QByteArray expected = "key.created  " + id.toLatin1();
    QTRY_VERIFY2_WITH_TIMEOUT((seen += tail.readAllStandardOutput()).contains(expected),
                              seen.constData(), 30000);
    // Followed, not re-printed: the first record appears once.
    QCOMPARE(seen.count("store.created"), 1);

    tail.terminate();
    QVERIFY(tail.waitForFinished(30000));
    seen += tail.readAllStandardOutput();
    const QString err = QString::fromUtf8(tail.readAllStandardError());
    TestSupport::recordOutput(QStringLiteral("framehousectl audit tail -f"),
                              QString::fromUtf8(seen) + QStringLiteral("--- stderr\n") + err);
    QCOMPARE(tail.exitStatus(), QProcess::NormalExit);
    QVERIFY2(tail.exitCode() == 0, qPrintable(err));
    QVERIFY2(err.isEmpty(), qPrintable(err));
}

void TestCtl::auditPrune_data()
{
    QTest::addColumn<QString>("before");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");

    QTest::newRow("10 days ago") << QStringLiteral("10d") << 1 << QStringLiteral("retention");
    QTest::newRow("a day inside the retention")
        << QStringLiteral("364d") << 1 << QStringLiteral("retention");
    QTest::newRow("now") << QStringLiteral("0d") << 1 << QStringLiteral("retention");
    QTest::newRow("next year") << QStringLiteral("2999-01-01") << 1 << QStringLiteral("retention");
    QTest::newRow("older than the retention")
        << QStringLiteral("4000d") << 0 << QStringLiteral("nothing was pruned");
    QTest::newRow("a date long ago")
        << QStringLiteral("2000-01-01") << 0 << QStringLiteral("nothing was pruned");
    QTest::newRow("not a time") << QStringLiteral("last week") << 2 << QStringLiteral("--before");
}

void TestCtl::auditPrune()
{
    QFETCH(QString, before);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    QVERIFY(!createKey().isEmpty());
    const TestSupport::Run run =
        ctl({QStringLiteral("audit"), QStringLiteral("prune"), QStringLiteral("--before"), before});
    if (exitCode == 0) {
        VERIFY_SUCCEEDS(run);
        QVERIFY2(run.out.contains(message), qPrintable(run.out));
    } else {
        VERIFY_FAILS_WITH_ONE_LINE(run, exitCode);
        QVERIFY2(run.err.contains(message), qPrintable(run.err));
    }
    // Whatever happened, every record is still there and verifies.
    const TestSupport::Run verify =
        ctl({QStringLiteral("audit"), QStringLiteral("verify"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(verify);
    const QJsonObject verdict = parseJson(verify.out).object();
    QCOMPARE(verdict.value(QStringLiteral("ok")), QJsonValue(true));
    QCOMPARE(verdict.value(QStringLiteral("first_seq")).toInt(), 1);
}

void TestCtl::settings_data()
{
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("value");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<qint64>("expected"); // the value settings list shows afterwards

    QTest::newRow("default expiry")
        << QStringLiteral("keys.default_expiry_days") << QStringLiteral("30") << 0 << qint64(30);
    QTest::newRow("maximum expiry")
        << QStringLiteral("keys.max_expiry_days") << QStringLiteral("730") << 0 << qint64(730);
    QTest::newRow("retention") << QStringLiteral("audit.retention_days") << QStringLiteral("400")
                               << 0 << qint64(400);
    QTest::newRow("retention below minimum")
        << QStringLiteral("audit.retention_days") << QStringLiteral("5") << 1 << qint64(365);
    QTest::newRow("retention above maximum")
        << QStringLiteral("audit.retention_days") << QStringLiteral("36501") << 1 << qint64(365);
    QTest::newRow("expiry zero") << QStringLiteral("keys.default_expiry_days")
                                 << QStringLiteral("0") << 1 << qint64(90);
    QTest::newRow("not a number") << QStringLiteral("keys.max_expiry_days")
                                  << QStringLiteral("lots") << 1 << qint64(365);
    QTest::newRow("fraction") << QStringLiteral("keys.max_expiry_days") << QStringLiteral("1.5")
                              << 1 << qint64(365);
    QTest::newRow("unknown setting")
        << QStringLiteral("keys.colour") << QStringLiteral("5") << 1 << qint64(-1);
}

void TestCtl::settings()
{
    QFETCH(QString, key);
    QFETCH(QString, value);
    QFETCH(int, exitCode);
    QFETCH(qint64, expected);

    const TestSupport::Run set =
        ctl({QStringLiteral("settings"), QStringLiteral("set"), key, value});
    if (exitCode == 0) {
        VERIFY_SUCCEEDS(set);
        QCOMPARE(set.out, QStringLiteral("%1 = %2\n").arg(key, value));
    } else {
        VERIFY_FAILS_WITH_ONE_LINE(set, exitCode);
        QVERIFY2(set.err.contains(key), qPrintable(set.err));
    }

    const TestSupport::Run list =
        ctl({QStringLiteral("settings"), QStringLiteral("list"), QStringLiteral("--json")});
    VERIFY_SUCCEEDS(list);
    QString problem;
    const QJsonArray settings = parseJson(list.out, &problem).array();
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QStringList keys;
    for (const QJsonValue &item : settings) {
        const QJsonObject setting = item.toObject();
        const QString name = setting.value(QStringLiteral("key")).toString();
        keys << name;
        QVERIFY(setting.value(QStringLiteral("value")).isDouble());
        QVERIFY(setting.value(QStringLiteral("default")).isDouble());
        QVERIFY(!setting.value(QStringLiteral("description")).toString().isEmpty());
        if (name == key)
            QCOMPARE(setting.value(QStringLiteral("value")).toInteger(), expected);
        else
            QCOMPARE(setting.value(QStringLiteral("value")),
                     setting.value(QStringLiteral("default")));
    }
    // Every setting the store knows, and only those.
    QStringList defined;
    for (const StoreSettings::Definition &d : StoreSettings::definitions())
        defined << QString(d.key);
    QCOMPARE(sorted(keys), sorted(defined));
    QVERIFY(keys.contains(QStringLiteral("farm.max_output_mb")));
    QVERIFY(keys.contains(QStringLiteral("api.ip_rate_per_s")));
    QCOMPARE(keys.contains(key), expected >= 0);

    const TestSupport::Run plain = ctl({QStringLiteral("settings"), QStringLiteral("list")});
    VERIFY_SUCCEEDS(plain);
    QCOMPARE(lines(plain.out).size(), keys.size());

    // The change is audited, a refused one is not.
    const TestSupport::Run tail = ctl({QStringLiteral("audit"), QStringLiteral("tail")});
    QCOMPARE(tail.out.contains(QString(QStringLiteral("settings.changed  ") + key)), exitCode == 0);

    // A new default expiry applies to the next key.
    if (exitCode == 0 && key == QLatin1String("keys.default_expiry_days")) {
        const QJsonObject created = createKey();
        QCOMPARE(msFromIso(created.value(QStringLiteral("expires_at"))) -
                     msFromIso(created.value(QStringLiteral("created_at"))),
                 expected * DayMs);
    }
}

void TestCtl::logInjection_data()
{
    QTest::addColumn<QString>("payload");
    const QString forged =
        QStringLiteral("framehouse: authentication failure from 1.2.3.4 key=x reason=y");
    QTest::newRow("newline") << QString(QStringLiteral("build farm\n") + forged);
    QTest::newRow("leading newline") << QString(u'\n' + forged);
    QTest::newRow("carriage return") << QString(QStringLiteral("build farm\r") + forged);
    QTest::newRow("CRLF") << QString(QStringLiteral("build farm\r\n") + forged +
                                     QStringLiteral("\r\n"));
    QTest::newRow("escape sequences") << QString(
        QStringLiteral("build farm") + QChar(0x1b) + QStringLiteral("[2K") + QChar(0x1b) +
        QStringLiteral("[1G") + forged + QChar(0x1b) + QStringLiteral("[31m"));
    QTest::newRow("everything") << QString(QStringLiteral("a\r") + QChar(0x1b) +
                                           QStringLiteral("[8m\n") + forged + QStringLiteral("\t") +
                                           QChar(0x7f) + QChar(0x9b) + QStringLiteral("2J") +
                                           QChar(0x2028) + forged);
}

void TestCtl::logInjection()
{
    QFETCH(QString, payload);

    TestSupport::Run created =
        ctl({QStringLiteral("keys"), QStringLiteral("create"), QStringLiteral("--name"), payload,
             QStringLiteral("--owner-id"), QStringLiteral("u-9"), QStringLiteral("--owner-name"),
             payload, QStringLiteral("--scopes"), QStringLiteral("jobs:read")});
    VERIFY_SUCCEEDS(created);
    QString problem = injectionProblem(QStringLiteral("keys create"), created.out + created.err);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(lines(created.out).size(), 3);
    const QString id = created.out.section(u' ', 2, 2);
    QVERIFY2(keyIdShape().match(id).hasMatch(), qPrintable(created.out));
    // A second key, revoked with the payload as its reason.
    const QString revoked =
        createKey({}, QStringLiteral("plain")).value(QStringLiteral("id")).toString();
    QVERIFY(!revoked.isEmpty());
    const TestSupport::Run revoke = ctl({QStringLiteral("keys"), QStringLiteral("revoke"), revoked,
                                         QStringLiteral("--reason"), payload});
    VERIFY_SUCCEEDS(revoke);

    // JSON keeps the text exactly, escaped.
    QCOMPARE(showKey(id).value(QStringLiteral("name")).toString(), payload);
    QCOMPARE(showKey(revoked).value(QStringLiteral("revoked_reason")).toString(), payload);

    const QString exportFile = m_dir->filePath(QStringLiteral("audit.jsonl"));
    const QList<QStringList> commands{
        {QStringLiteral("keys"), QStringLiteral("list")},
        {QStringLiteral("keys"), QStringLiteral("list"), QStringLiteral("--all")},
        {QStringLiteral("keys"), QStringLiteral("list"), QStringLiteral("--all"),
         QStringLiteral("--json")},
        {QStringLiteral("keys"), QStringLiteral("show"), id},
        {QStringLiteral("keys"), QStringLiteral("show"), id, QStringLiteral("--json")},
        {QStringLiteral("keys"), QStringLiteral("show"), revoked},
        {QStringLiteral("audit"), QStringLiteral("tail")},
        {QStringLiteral("audit"), QStringLiteral("tail"), QStringLiteral("--json")},
        {QStringLiteral("audit"), QStringLiteral("export")},
        {QStringLiteral("audit"), QStringLiteral("export"), QStringLiteral("--output"), exportFile},
    };
    for (const QStringList &command : commands) {
        const TestSupport::Run run = ctl(command);
        const QString what = command.join(u' ');
        QVERIFY2(run.exitCode == 0, qPrintable(QString(what + QStringLiteral(": ") + run.err)));
        QString text = run.out + run.err;
        if (command.contains(QStringLiteral("--output"))) {
            text = QString::fromUtf8(TestSupport::readRaw(exportFile));
            TestSupport::recordOutput(QStringLiteral("audit export file (log injection)"), text);
        }
        problem = injectionProblem(what, text);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        const bool json = command.contains(QStringLiteral("--json")) ||
                          command.contains(QStringLiteral("export"));
        if (!json) {
            problem = controlProblem(what, text);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
        }
        // One record, one line.
        const QStringList rows = lines(text);
        if (command.at(0) == QLatin1String("audit") && !json) {
            for (const QString &row : rows)
                QVERIFY2(row.contains(QRegularExpression(QStringLiteral("^\\d+  "))),
                         qPrintable(QString(what + QStringLiteral(": ") + row)));
        } else if (command.at(0) == QLatin1String("audit")) {
            for (const QString &row : rows) {
                QString parseProblem;
                QVERIFY2(parseJson(row, &parseProblem).isObject(), qPrintable(parseProblem));
            }
        } else if (command.at(1) == QLatin1String("list") && !json) {
            QCOMPARE(rows.size(), command.contains(QStringLiteral("--all")) ? 3 : 2);
        } else if (command.at(1) == QLatin1String("show") && !json) {
            QCOMPARE(rows.size(), 13);
        }
    }
}

void TestCtl::helpListsEveryGroup()
{
    const TestSupport::Run run = TestSupport::runCtl({QStringLiteral("--help")});
    VERIFY_SUCCEEDS(run);
    QVERIFY(run.err.isEmpty());
    for (const QString &command :
         {QStringLiteral("store init"), QStringLiteral("keys create"),
          QStringLiteral("keys revoke-all"), QStringLiteral("keys rotate"),
          QStringLiteral("audit verify"), QStringLiteral("audit tail"),
          QStringLiteral("audit reanchor"), QStringLiteral("settings set")})
        QVERIFY2(run.out.contains(QString(u'\n' + command + u' ')), qPrintable(command));
    QVERIFY(run.out.contains(QStringLiteral("Exit codes: 0 ok, 1 failed, 2 usage error, 3 "
                                            "verification failed.")));
}

void TestCtl::helpForEveryCommand_data()
{
    QTest::addColumn<QString>("group");
    QTest::addColumn<QString>("command");
    // The commands are the ones framehousectl --help lists (a command with
    // subcommands, like farm roots, is listed once per form).
    const TestSupport::Run run = TestSupport::runCtl({QStringLiteral("--help")});
    static const QRegularExpression commandLine(
        QStringLiteral("^(store|keys|audit|settings|jobs|farm|api) ([a-z-]+)(\\s|$)"));
    QStringList seen;
    for (const QString &line : run.out.split(u'\n')) {
        const QRegularExpressionMatch match = commandLine.match(line);
        if (!match.hasMatch())
            continue;
        const QString name = match.captured(1) + u' ' + match.captured(2);
        if (seen.contains(name))
            continue;
        seen << name;
        QTest::newRow(qPrintable(name)) << match.captured(1) << match.captured(2);
    }
    if (seen.size() < 26)
        QTest::newRow("framehousectl --help lists too few commands") << QString() << QString();
    const QStringList farmCommands{
        QStringLiteral("jobs submit"), QStringLiteral("jobs list"),  QStringLiteral("jobs show"),
        QStringLiteral("jobs cancel"), QStringLiteral("jobs retry"), QStringLiteral("jobs purge"),
        QStringLiteral("farm status"), QStringLiteral("farm pause"), QStringLiteral("farm resume"),
        QStringLiteral("farm hw"),     QStringLiteral("farm roots")};
    const QStringList listed = seen.filter(QRegularExpression(QStringLiteral("^(jobs|farm) ")));
    if (listed != farmCommands)
        QTest::newRow("framehousectl --help lists other jobs/farm commands")
            << QString() << listed.join(u',');
}

void TestCtl::helpForEveryCommand()
{
    QFETCH(QString, group);
    QFETCH(QString, command);
    QVERIFY2(!group.isEmpty(),
             qPrintable(QStringLiteral("--help lists the wrong commands: ") + command));
    const TestSupport::Run run = TestSupport::runCtl({group, command, QStringLiteral("--help")});
    VERIFY_SUCCEEDS(run);
    QVERIFY(run.err.isEmpty());
    QVERIFY2(run.out.startsWith(QString(group + u' ' + command)), qPrintable(run.out));
    // Only that command, not the whole help.
    QVERIFY2(!run.out.contains(QStringLiteral("Exit codes")), qPrintable(run.out));
    QVERIFY(lines(run.out).size() <= 4);
    // The same with the store options given: help never opens the store.
    const TestSupport::Run withStore = ctl({group, command, QStringLiteral("--help")});
    VERIFY_SUCCEEDS(withStore);
    QCOMPARE(withStore.out, run.out);
}

QTEST_GUILESS_MAIN(TestCtl)
#include "tst_ctl.moc"
