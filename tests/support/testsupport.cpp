#include "testsupport.h"

#include "security/filesecretslot.h"

#include <QEventLoop>
#include <QFile>
#include <QTest>

StoreKey TestSupport::writeKeyFile(const QString &path)
{
    const StoreKey key = StoreKey::generate();
    FileSecretSlot slot(path, true);
    if (!slot.writeNow(key.toHexLine()))
        qFatal("cannot write %s", qPrintable(path));
    return key;
}

StoreKey TestSupport::readKeyFile(const QString &path)
{
    Expected<std::optional<QByteArray>> text = FileSecretSlot(path, false).readNow();
    if (!text || !text.value())
        qFatal("cannot read %s", qPrintable(path));
    return StoreKey::fromSecret(*text.value(), path).value();
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
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1,
            QString::fromUtf8(process.readAllStandardOutput()),
            QString::fromUtf8(process.readAllStandardError())};
}

QByteArray TestSupport::readRaw(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}
