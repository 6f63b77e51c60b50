#pragma once

#include "engine/enginesecrets.h"

#include <QCommandLineParser>

#include <functional>

// The store and its secrets, opened for a keys, audit or settings command.
// The open is shared: these commands work while the engine runs, and what
// they change (a revocation, above all) reaches the engine through the
// store on its next read.
struct StoreSession {
    OpenedStore opened;
    EngineSecrets secrets;

    QSqlDatabase db() const;
    // <store dir>/uploads, where the engine keeps uploaded media.
    QString uploadsDirectory() const;

    using Done = std::function<void(Expected<StoreSession>)>;
    static void open(const QCommandLineParser &parser, QObject *context, Done done);
};
