#include "storelocation.h"

#include "security/durablefile.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QUuid>

StoreLocation::StoreLocation(QString dir)
    : m_dir(QDir(dir).absolutePath())
{}

QString StoreLocation::defaultDirectory()
{
    const QString fromEnvironment = qEnvironmentVariable("FRAMEHOUSE_STORE");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) +
           QStringLiteral("/framehouse");
}

QString StoreLocation::databasePath() const { return m_dir + QStringLiteral("/framehouse.db"); }
QString StoreLocation::lockPath() const { return m_dir + QStringLiteral("/framehouse.lock"); }
QString StoreLocation::secretsLockPath() const
{
    return m_dir + QStringLiteral("/framehouse.secrets.lock");
}

QString StoreLocation::identityPath() const { return m_dir + QStringLiteral("/store.id"); }
bool StoreLocation::databaseExists() const { return QFileInfo::exists(databasePath()); }

Expected<QString> StoreLocation::readIdentity() const
{
    QFile file(identityPath());
    if (!file.exists())
        return QString();
    if (!file.open(QIODevice::ReadOnly))
        return fail(QCoreApplication::translate("StoreLocation", "cannot read %1: %2")
                        .arg(identityPath(), file.errorString()));
    const QString id = QString::fromLatin1(file.read(64)).trimmed();
    static const QRegularExpression uuid(
        QStringLiteral("^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"));
    if (!uuid.match(id).hasMatch())
        return fail(QCoreApplication::translate("StoreLocation", "%1 does not hold a store id")
                        .arg(identityPath()));
    return id;
}

Expected<QString> StoreLocation::createIdentity() const
{
    const QString id = QUuid::createUuid().toString(QUuid::WithoutBraces);
    Expected<void> written = DurableFile::replace(identityPath(), id.toLatin1() + '\n', 0600);
    if (!written)
        return written.failure();
    return id;
}
