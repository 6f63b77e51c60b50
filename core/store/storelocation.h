#pragma once

#include "expected.h"

#include <QString>

// The files of one store, all in one private directory (mode 0700):
//   framehouse.db (+ -wal, -shm)  the SQLCipher database
//   framehouse.lock               held by the one engine using the store
//   store.id                      the store's id, names its keychain entry
//   framehouse.secrets.lock       serialises creating the store's other
//                                 secrets and moving the audit anchor
class StoreLocation {
public:
    explicit StoreLocation(QString dir);

    // --store, else FRAMEHOUSE_STORE, else the per-user data location.
    static QString defaultDirectory();

    const QString &directory() const { return m_dir; }
    QString databasePath() const;
    QString lockPath() const;
    QString identityPath() const;
    QString secretsLockPath() const;
    bool databaseExists() const;

    // The store id (a UUID) from store.id; empty if the file is missing.
    Expected<QString> readIdentity() const;
    Expected<QString> createIdentity() const;

private:
    QString m_dir;
};
