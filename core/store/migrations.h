#pragma once

#include "expected.h"

#include <QList>
#include <QSqlDatabase>
#include <QString>

// Forward-only schema migrations. Each one is its own SQL file in
// core/store/migrations/NNNN_name.sql (compiled in as a resource), applied in
// its own transaction together with PRAGMA user_version. An applied
// migration is never edited: a change is a new file.
namespace Migrations {
struct Migration {
    int version;
    QString name;
    QString sql;
};

QList<Migration> all();
int latestVersion();
Expected<int> currentVersion(QSqlDatabase &db);
// Brings the schema to `target` (default: the latest). A store newer than
// this build is refused, never downgraded.
Expected<void> migrate(QSqlDatabase &db, int target = -1);
} // namespace Migrations
