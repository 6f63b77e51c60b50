#include "testsupport.h"

#include "audit/auditrecord.h"
#include "security/filesecretslot.h"

#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSqlQuery>
#include <QTest>
#include <QThread>

namespace {
void appendTo(const QString &name, const QString &text)
{
    QDir().mkpath(TestSupport::transcriptDirectory());
    QFile file(TestSupport::transcriptDirectory() + u'/' + name + u'-' +
               QString::number(QCoreApplication::applicationPid()) + QStringLiteral(".txt"));
    if (!file.open(QIODevice::Append | QIODevice::WriteOnly))
        qFatal("cannot write the test transcript %s", qPrintable(file.fileName()));
    file.write(text.toUtf8());
    file.write("\n");
}

const QRegularExpression &tokenPattern()
{
    static const QRegularExpression pattern(
        QStringLiteral("fhk_[0-9A-Za-z]{12}_[0-9A-Za-z]{24}_[0-9A-Za-z]{6}"));
    return pattern;
}
} // namespace

QString TestSupport::transcriptDirectory() { return QStringLiteral(TEST_TRANSCRIPT_DIR); }

void TestSupport::recordSecret(const QString &token) { appendTo(QStringLiteral("secrets"), token); }

void TestSupport::recordOutput(const QString &what, const QString &text)
{
    appendTo(QStringLiteral("outputs"), QStringLiteral("=== ") + what + u'\n' + text);
}

std::unique_ptr<TestSupport::TestStore> TestSupport::makeStore()
{
    auto store = std::make_unique<TestStore>();
    const QString keyFile = store->dir.filePath(QStringLiteral("store.key"));
    writeKeyFile(keyFile);
    store->opened = createStore(store->dir.filePath(QStringLiteral("store")), keyFile);
    store->secrets = loadSecrets(store->opened);
    return store;
}

TestSupport::TestStore::~TestStore()
{
    if (!opened.store)
        return;
    QSqlQuery q(db());
    if (!q.exec(QStringLiteral("SELECT %1 FROM audit_records ORDER BY seq")
                    .arg(AuditRecord::selectColumns()))) {
        qWarning("cannot put the test store's audit log into the transcript");
        return;
    }
    QString lines;
    while (q.next())
        lines +=
            QString::fromUtf8(
                QJsonDocument(AuditRecord::fromQuery(q).toJson()).toJson(QJsonDocument::Compact)) +
            u'\n';
    recordOutput(QStringLiteral("audit log of ") + dir.path(), lines);
}

bool TestSupport::TestStore::inThreads(int count,
                                       const std::function<void(int, QSqlDatabase)> &body) const
{
    QAtomicInt failures = 0;
    QList<QThread *> threads;
    for (int t = 0; t < count; ++t) {
        threads << QThread::create([this, t, &body, &failures] {
            Expected<QSqlDatabase> c = opened.store->connection();
            if (c)
                body(t, c.value());
            else
                failures.ref();
            opened.store->releaseThreadConnection();
        });
        threads.last()->start();
    }
    for (QThread *thread : std::as_const(threads)) {
        if (!thread->wait(120000))
            qFatal("a test thread did not end within two minutes");
        delete thread;
    }
    return failures.loadRelaxed() == 0;
}

EngineSecrets TestSupport::loadSecrets(const OpenedStore &opened, bool create)
{
    std::optional<Expected<EngineSecrets>> result;
    QEventLoop loop;
    EngineSecrets::load(opened, create, &loop, [&](Expected<EngineSecrets> r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec();
    if (!*result)
        qFatal("cannot load the store's secrets: %s", qPrintable(result->error()));
    return std::move(result->value());
}

SecretKey TestSupport::writeKeyFile(const QString &path)
{
    const SecretKey key = SecretKey::generate();
    FileSecretSlot slot(path, true);
    if (!slot.writeNow(key.toHexLine()))
        qFatal("cannot write %s", qPrintable(path));
    return key;
}

SecretKey TestSupport::readKeyFile(const QString &path)
{
    Expected<std::optional<QByteArray>> text = FileSecretSlot(path, false).readNow();
    if (!text || !text.value())
        qFatal("cannot read %s", qPrintable(path));
    return SecretKey::fromSecret(*text.value(), path).value();
}

Expected<OpenedStore> TestSupport::openStore(const StoreRequest &request)
{
    std::optional<Expected<OpenedStore>> result;
    QEventLoop loop;
    StoreOpener::open(request, &loop, [&](Expected<OpenedStore> r) {
        result.emplace(std::move(r));
        loop.quit();
    });
    if (!result)
        loop.exec();
    return std::move(*result);
}

OpenedStore TestSupport::createStore(const QString &dir, const QString &keyFile)
{
    StoreRequest request;
    request.directory = dir;
    request.keyFile = keyFile;
    request.createIfMissing = true;
    Expected<OpenedStore> opened = openStore(request);
    if (!opened)
        qFatal("cannot create the store: %s", qPrintable(opened.error()));
    return std::move(opened.value());
}

TestSupport::Run TestSupport::runCtl(const QStringList &arguments, const QProcessEnvironment &env)
{
    QProcess process;
    if (!env.isEmpty())
        process.setProcessEnvironment(env);
    process.start(QStringLiteral(FRAMEHOUSECTL_PATH), arguments);
    if (!process.waitForFinished(120000))
        qFatal("framehousectl did not finish");
    Run run{process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()),
            QString::fromUtf8(process.readAllStandardError())};
    // A new key is printed once, on its own line, by keys create/rotate: that
    // line is the one place it may appear. Everything else is scanned.
    QString scanned;
    const QStringList lines = run.out.split(u'\n');
    const bool createsKey = arguments.contains(QStringLiteral("keys")) &&
                            (arguments.contains(QStringLiteral("create")) ||
                             arguments.contains(QStringLiteral("rotate")));
    for (const QString &line : lines) {
        const QRegularExpressionMatch token = tokenPattern().match(line);
        const bool tokenLine = token.hasMatch() && (line.trimmed() == token.captured() ||
                                                    line.contains(QStringLiteral("\"token\"")));
        if (createsKey && tokenLine)
            recordSecret(token.captured());
        else
            scanned += line + u'\n';
    }
    recordOutput(QStringLiteral("framehousectl ") + arguments.join(u' '),
                 scanned + QStringLiteral("--- stderr\n") + run.err);
    return run;
}

QByteArray TestSupport::readRaw(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

QStringList TestSupport::anyApiPort()
{
    return {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")};
}
