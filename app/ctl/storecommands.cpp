#include "storecommands.h"

#include "ctloutput.h"
#include "engine/enginesecrets.h"
#include "engine/storeoptions.h"
#include "security/filesecretslot.h"
#include "store/storemaintenance.h"

#include <QDateTime>

#include <QFileInfo>
#include <QTextStream>

using namespace CtlOutput;

namespace {
// Appends `event` once the operation has succeeded. Moving files is not a
// transaction, so the record follows the change; if it cannot be written
// the command fails and says so. After a restore the anchor is reset to the
// restored chain, which is older than the one it replaced.
void recordThen(QObject *context, const std::shared_ptr<OpenedStore> &opened, bool create,
                const AuditEvent &event, bool resetAnchor, const QString &success,
                const StoreCommands::Finished &finished)
{
    EngineSecrets::load(*opened, create, context, [=](Expected<EngineSecrets> secrets) {
        const QString unaudited =
            QObject::tr("%1, but it could not be recorded in the audit log: %2");
        if (!secrets) {
            finished(report(unaudited.arg(success, secrets.error())));
            return;
        }
        Expected<QSqlDatabase> db = opened->store->connection();
        if (!db) {
            finished(report(unaudited.arg(success, db.error())));
            return;
        }
        AuditEvent recorded = event;
        if (resetAnchor) {
            // The records after the backup are gone: the restored log becomes
            // the reference, and the record says how far the log had reached.
            Expected<std::optional<AuditTip>> previous = secrets->audit->acceptAsIs(db.value());
            if (!previous) {
                finished(report(unaudited.arg(success, previous.error())));
                return;
            }
            if (previous.value())
                recorded.details.insert(QStringLiteral("previous_anchor_seq"),
                                        previous.value()->seq);
        }
        Expected<AuditRecord> written =
            secrets->audit->record(db.value(), recorded, QDateTime::currentMSecsSinceEpoch());
        if (!written) {
            finished(report(unaudited.arg(success, written.error())));
            return;
        }
        out() << success << Qt::endl;
        finished(Success);
    });
}

AuditEvent storeEvent(const QString &action, const OpenedStore &opened, const QString &file = {})
{
    AuditEvent event;
    event.actor = AuditEvent::operatorActor();
    event.action = action;
    event.target = opened.store->databasePath();
    if (!file.isEmpty())
        event.details.insert(QStringLiteral("file"), file);
    return event;
}

// The backup key: the one in --backup-key-file (created if the file does
// not exist yet), else the store key.
Expected<SecretKey> backupKey(const QCommandLineParser &parser, const OpenedStore &opened,
                              bool mayCreate)
{
    const QString path = parser.value(QStringLiteral("backup-key-file"));
    if (path.isEmpty())
        return *opened.key;
    FileSecretSlot slot(path, true);
    Expected<std::optional<QByteArray>> text = slot.readNow();
    if (!text)
        return text.failure();
    if (text.value()) {
        return SecretKey::fromSecret(*text.value(), slot.describe());
    }
    if (!mayCreate)
        return fail(QObject::tr("%1 does not exist").arg(slot.describe()));
    const SecretKey key = SecretKey::generate();
    QByteArray line = key.toHexLine();
    Expected<void> written = slot.writeNow(line);
    SecretKey::wipe(line);
    if (!written)
        return written.failure();
    out() << QObject::tr("created a new backup key in %1; keep it apart from the backup").arg(path)
          << Qt::endl;
    return key;
}

int printCheck(OpenedStore &opened)
{
    Expected<QSqlDatabase> db = opened.store->connection();
    if (!db)
        return report(db.error());
    Expected<QStringList> problems = StoreMaintenance::check(db.value());
    if (!problems)
        return report(problems.error());
    if (!problems.value().isEmpty()) {
        for (const QString &problem : problems.value())
            err() << problem << Qt::endl;
        return report(QObject::tr("the store %1 failed its check (%2 problems)")
                          .arg(opened.store->databasePath())
                          .arg(problems.value().size()));
    }
    out() << QObject::tr("ok: %1 (cipher and integrity checks passed)")
                 .arg(opened.store->databasePath())
          << Qt::endl;
    return Success;
}

int printInfo(OpenedStore &opened)
{
    Expected<StoreMaintenance::Facts> facts = StoreMaintenance::info(opened);
    if (!facts)
        return report(facts.error());
    int width = 0;
    for (const auto &fact : facts.value())
        width = qMax(width, static_cast<int>(fact.first.size()));
    for (const auto &fact : facts.value())
        out() << fact.first.leftJustified(width + 2, u' ') << fact.second << Qt::endl;
    return Success;
}
} // namespace

StoreCommands::StoreCommands(QObject *parent)
    : QObject(parent)
{}

QString StoreCommands::synopsis()
{
    return tr("store init       create the store and its key (first run), or open it\n"
              "store check      verify every page's HMAC and the database's integrity\n"
              "store info       show the store's location, key source and schema\n"
              "store backup     write an encrypted copy: --output FILE [--backup-key-file F]\n"
              "store restore    replace the store from a backup: --input FILE "
              "[--backup-key-file F]\n"
              "store rekey      rotate the store key and update the key source");
}

void StoreCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOption(QCommandLineOption(
        QStringLiteral("output"), tr("backup: the backup file to write."), QStringLiteral("FILE")));
    parser.addOption(QCommandLineOption(
        QStringLiteral("input"), tr("restore: the backup file to read."), QStringLiteral("FILE")));
    parser.addOption(QCommandLineOption(
        QStringLiteral("backup-key-file"),
        tr("backup/restore: the backup's own key file (created by backup if missing); "
           "default: the store key."),
        QStringLiteral("FILE")));
}

void StoreCommands::run(const QString &command, const QCommandLineParser &parser, Finished finished)
{
    static const QStringList known{QStringLiteral("init"),    QStringLiteral("check"),
                                   QStringLiteral("info"),    QStringLiteral("backup"),
                                   QStringLiteral("restore"), QStringLiteral("rekey")};
    if (!known.contains(command)) {
        finished(unknownCommand(QStringLiteral("store"), {command}));
        return;
    }
    if (command == QLatin1String("backup") && !parser.isSet(QStringLiteral("output"))) {
        finished(report(tr("store backup needs --output FILE"), Usage));
        return;
    }
    if (command == QLatin1String("restore") && !parser.isSet(QStringLiteral("input"))) {
        finished(report(tr("store restore needs --input FILE"), Usage));
        return;
    }

    StoreRequest request = StoreOptions::requestFrom(parser);
    const bool writes = command == QLatin1String("init") || command == QLatin1String("restore") ||
                        command == QLatin1String("rekey");
    request.exclusive = writes;
    request.excludeReaders =
        command == QLatin1String("restore") || command == QLatin1String("rekey");
    request.createIfMissing =
        command == QLatin1String("init") || command == QLatin1String("restore");

    StoreOpener::open(request, this, [this, command, &parser, finished](Expected<OpenedStore> r) {
        if (!r) {
            finished(report(r.error()));
            return;
        }
        auto opened = std::make_shared<OpenedStore>(std::move(r.value()));
        if (command == QLatin1String("init")) {
            const QString done =
                (opened->created ? tr("created a new store in %1, key in %2")
                                 : tr("the store in %1 already exists and opens with %2"))
                    .arg(QFileInfo(opened->store->databasePath()).path(),
                         opened->keySource->describe());
            AuditEvent event = storeEvent(QStringLiteral("store.opened"), *opened);
            if (opened->created)
                event.action = QStringLiteral("store.created");
            recordThen(this, opened, true, event, false, done, finished);
        } else if (command == QLatin1String("check")) {
            finished(printCheck(*opened));
        } else if (command == QLatin1String("info")) {
            finished(printInfo(*opened));
        } else if (command == QLatin1String("backup")) {
            Expected<SecretKey> key = backupKey(parser, *opened, true);
            if (!key) {
                finished(report(key.error()));
                return;
            }
            const QString target = parser.value(QStringLiteral("output"));
            Expected<void> done = StoreMaintenance::backup(*opened->store, target, key.value());
            if (!done) {
                finished(report(done.error()));
                return;
            }
            recordThen(this, opened, false,
                       storeEvent(QStringLiteral("store.backup"), *opened, target), false,
                       tr("wrote an encrypted backup to %1").arg(target), finished);
        } else if (command == QLatin1String("restore")) {
            Expected<SecretKey> key = backupKey(parser, *opened, false);
            if (!key) {
                finished(report(key.error()));
                return;
            }
            const QString source = parser.value(QStringLiteral("input"));
            Expected<void> done = StoreMaintenance::restore(*opened, source, key.value());
            if (!done) {
                finished(report(done.error()));
                return;
            }
            recordThen(this, opened, true,
                       storeEvent(QStringLiteral("store.restored"), *opened, source), true,
                       tr("restored %1 from %2").arg(opened->store->databasePath(), source),
                       finished);
        } else {
            StoreMaintenance::rekey(*opened, this, [this, opened, finished](Expected<void> done) {
                if (!done) {
                    finished(report(done.error()));
                    return;
                }
                recordThen(this, opened, true, storeEvent(QStringLiteral("store.rekeyed"), *opened),
                           false,
                           tr("the store key was rotated; %1 holds the new key")
                               .arg(opened->keySource->describe()),
                           finished);
            });
        }
    });
}
