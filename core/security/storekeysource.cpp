#include "storekeysource.h"

#include <QFileInfo>

StoreKeySource::StoreKeySource(Kind kind, std::shared_ptr<SecretSlot> current,
                               std::shared_ptr<SecretSlot> pending)
    : m_kind(kind)
    , m_current(std::move(current))
    , m_pending(std::move(pending))
{}

StoreKeySource StoreKeySource::select(const QString &keyFile, const QString &storeId)
{
    if (!keyFile.isEmpty())
        return StoreKeySource(Kind::KeyFile, SecretSlot::file(keyFile),
                              SecretSlot::file(keyFile + QStringLiteral(".pending")));
    const QString credentials = qEnvironmentVariable("CREDENTIALS_DIRECTORY");
    if (!credentials.isEmpty()) {
        const QString path = credentials + QStringLiteral("/store-key");
        if (QFileInfo::exists(path))
            return StoreKeySource(Kind::SystemdCredential, SecretSlot::file(path, false), nullptr);
    }
    const QString account = QStringLiteral("store-") + storeId;
    return StoreKeySource(Kind::Keychain, SecretSlot::keychain(account),
                          SecretSlot::keychain(account + QStringLiteral(".pending")));
}
