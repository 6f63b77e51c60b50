#include "keychainsecretslot.h"

#include "filesecretslot.h"

#include <QCoreApplication>
#include <QFileInfo>

#include <qt6keychain/keychain.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("KeychainSecretSlot", text); }

bool sessionBusReachable()
{
    if (!qEnvironmentVariableIsEmpty("DBUS_SESSION_BUS_ADDRESS"))
        return true;
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    return !runtime.isEmpty() && QFileInfo::exists(runtime + QStringLiteral("/bus"));
}

template <typename Job> Job *makeJob(const QString &account)
{
    auto *job = new Job(QString::fromLatin1(KeychainSecretSlot::Service));
    job->setAutoDelete(true);
    job->setInsecureFallback(false);
    job->setKey(account);
    return job;
}
} // namespace

std::unique_ptr<SecretSlot> SecretSlot::file(const QString &path, bool writable)
{
    return std::make_unique<FileSecretSlot>(path, writable);
}

std::unique_ptr<SecretSlot> SecretSlot::keychain(const QString &account)
{
    return std::make_unique<KeychainSecretSlot>(account);
}

KeychainSecretSlot::KeychainSecretSlot(QString account)
    : m_account(std::move(account))
{}

QString KeychainSecretSlot::describe() const
{
    return tr("OS keychain entry %1/%2").arg(QString::fromLatin1(Service), m_account);
}

QString KeychainSecretSlot::explainFailure(int keychainError, const QString &detail)
{
    const QString alternative =
        tr("On a machine without a desktop keychain, keep the key in a file instead: "
           "--key-file FILE (or FRAMEHOUSE_KEY_FILE=FILE), mode 0600.");
    if (!sessionBusReachable())
        return tr("the OS keychain cannot be reached: there is no D-Bus session bus "
                  "(DBUS_SESSION_BUS_ADDRESS is not set). %1")
            .arg(alternative);
    switch (keychainError) {
    case QKeychain::AccessDeniedByUser:
    case QKeychain::AccessDenied:
        return tr("the OS keychain refused access (%1). Unlock the keychain and try again. %2")
            .arg(detail, alternative);
    case QKeychain::NoBackendAvailable:
        return tr("no OS keychain service is running on the D-Bus session bus (%1). Start "
                  "gnome-keyring or KWallet. %2")
            .arg(detail, alternative);
    default:
        return tr("the OS keychain failed (error %1: %2). %3")
            .arg(QString::number(keychainError), detail, alternative);
    }
}

namespace {
// QtKeychain runs one job at a time and starts the next only after every
// handler of `finished` has returned. Handing the result over through the
// event loop lets a callback start (and even wait for) another keychain job.
template <typename Result, typename Done> void deliver(QObject *context, Done done, Result result)
{
    QMetaObject::invokeMethod(
        context,
        [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); },
        Qt::QueuedConnection);
}
} // namespace

void KeychainSecretSlot::read(QObject *context, ReadDone done) const
{
    auto *job = makeJob<QKeychain::ReadPasswordJob>(m_account);
    QObject::connect(
        job, &QKeychain::Job::finished, context, [job, context, done](QKeychain::Job *) {
            using Result = Expected<std::optional<QByteArray>>;
            if (job->error() == QKeychain::EntryNotFound)
                deliver(context, done, Result(std::optional<QByteArray>{}));
            else if (job->error() != QKeychain::NoError)
                deliver(context, done,
                        Result(fail(explainFailure(job->error(), job->errorString()))));
            else
                deliver(context, done, Result(std::optional<QByteArray>(job->binaryData())));
        });
    job->start();
}

void KeychainSecretSlot::write(const QByteArray &secret, QObject *context, WriteDone done) const
{
    auto *job = makeJob<QKeychain::WritePasswordJob>(m_account);
    job->setBinaryData(secret);
    QObject::connect(
        job, &QKeychain::Job::finished, context, [job, context, done](QKeychain::Job *) {
            if (job->error() != QKeychain::NoError)
                deliver(context, done,
                        Expected<void>(fail(explainFailure(job->error(), job->errorString()))));
            else
                deliver(context, done, Expected<void>());
        });
    job->start();
}

void KeychainSecretSlot::remove(QObject *context, WriteDone done) const
{
    auto *job = makeJob<QKeychain::DeletePasswordJob>(m_account);
    QObject::connect(
        job, &QKeychain::Job::finished, context, [job, context, done](QKeychain::Job *) {
            if (job->error() != QKeychain::NoError && job->error() != QKeychain::EntryNotFound)
                deliver(context, done,
                        Expected<void>(fail(explainFailure(job->error(), job->errorString()))));
            else
                deliver(context, done, Expected<void>());
        });
    job->start();
}
