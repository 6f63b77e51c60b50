#include "storesession.h"

#include "engine/storeoptions.h"

#include <QFileInfo>

QSqlDatabase StoreSession::db() const
{
    Expected<QSqlDatabase> db = opened.store->connection();
    return db ? db.value() : QSqlDatabase();
}

void StoreSession::open(const QCommandLineParser &parser, QObject *context, Done done)
{
    StoreRequest request = StoreOptions::requestFrom(parser);
    request.exclusive = false;
    StoreOpener::open(request, context, [context, done](Expected<OpenedStore> opened) {
        if (!opened) {
            done(opened.failure());
            return;
        }
        auto session = std::make_shared<StoreSession>();
        session->opened = std::move(opened.value());
        EngineSecrets::load(session->opened, false, context,
                            [session, done](Expected<EngineSecrets> secrets) {
                                if (!secrets) {
                                    done(secrets.failure());
                                    return;
                                }
                                session->secrets = std::move(secrets.value());
                                done(std::move(*session));
                            });
    });
}

QString StoreSession::uploadsDirectory() const
{
    return QFileInfo(opened.store->databasePath()).absolutePath() + QStringLiteral("/uploads");
}
