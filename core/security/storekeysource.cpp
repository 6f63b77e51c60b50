#include "storekeysource.h"

#include <QFileInfo>

StoreKeySource::StoreKeySource(Kind kind, QString location, std::shared_ptr<SecretSlot> current,
                               std::shared_ptr<SecretSlot> pending)
    : m_kind(kind)
    , m_location(std::move(location))
    , m_current(std::move(current))
    , m_pending(std::move(pending))
{}

StoreKeySource StoreKeySource::select(const QString &keyFile, const QString &storeId)
{
    if (!keyFile.isEmpty())
        return StoreKeySource(Kind::KeyFile, keyFile, SecretSlot::file(keyFile),
                              SecretSlot::file(keyFile + QStringLiteral(".pending")));
    const QString credentials = qEnvironmentVariable("CREDENTIALS_DIRECTORY");
    if (!credentials.isEmpty()) {
        const QString path = credentials + QStringLiteral("/store-key");
        if (QFileInfo::exists(path))
            return StoreKeySource(Kind::SystemdCredential, credentials,
                                  SecretSlot::file(path, false), nullptr);
    }
    const QString account = QStringLiteral("store-") + storeId;
    return StoreKeySource(Kind::Keychain, storeId, SecretSlot::keychain(account),
                          SecretSlot::keychain(account + QStringLiteral(".pending")));
}

QString StoreKeySource::keyFilePath() const
{
    switch (m_kind) {
    case Kind::KeyFile:
        return m_location;
    case Kind::SystemdCredential:
        return m_location + QStringLiteral("/store-key");
    case Kind::Keychain:
        break;
    }
    return {};
}

QString StoreKeySource::companionFilePath(const QString &name) const
{
    switch (m_kind) {
    case Kind::KeyFile: {
        QString base = m_location;
        if (base.endsWith(QLatin1String(".key")))
            base.chop(4);
        return base + u'.' + name;
    }
    case Kind::SystemdCredential:
        return m_location + u'/' + name;
    case Kind::Keychain:
        break;
    }
    return {};
}

std::shared_ptr<SecretSlot> StoreKeySource::companion(const QString &name) const
{
    if (m_kind == Kind::Keychain)
        return SecretSlot::keychain(name + u'-' + m_location);
    return SecretSlot::file(companionFilePath(name), m_kind == Kind::KeyFile);
}

std::shared_ptr<SecretSlot> StoreKeySource::auditAnchor(const QString &storeDirectory) const
{
    const QString name = QStringLiteral("audit-anchor");
    const QString configured = qEnvironmentVariable("FRAMEHOUSE_AUDIT_ANCHOR");
    if (!configured.isEmpty())
        return SecretSlot::file(configured);
    if (m_kind != Kind::SystemdCredential)
        return companion(name);
    const QString state = qEnvironmentVariable("STATE_DIRECTORY").section(u':', 0, 0);
    return SecretSlot::file((state.isEmpty() ? storeDirectory : state) + u'/' + name);
}
