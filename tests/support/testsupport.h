#pragma once

#include "store/storeopener.h"

#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

namespace TestSupport {
// A fresh random key written to `path` (mode 0600); returns the key.
StoreKey writeKeyFile(const QString &path);
StoreKey readKeyFile(const QString &path);

// Runs StoreOpener::open to completion (tests may wait on an event loop).
Expected<OpenedStore> openStore(const StoreRequest &request);
// Opens (creating it) a store in `dir` keyed by the key file `keyFile`.
OpenedStore createStore(const QString &dir, const QString &keyFile);

struct Run {
    int exitCode;
    QString out;
    QString err;
};
Run runCtl(const QStringList &arguments, const QProcessEnvironment &env = {});

// Raw file bytes, for the tests that look for plaintext.
QByteArray readRaw(const QString &path);
} // namespace TestSupport
