#include "settingscommands.h"

#include "ctloutput.h"
#include "store/storesettings.h"
#include "storesession.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QJsonArray>

using namespace CtlOutput;

SettingsCommands::SettingsCommands(QObject *parent)
    : QObject(parent)
{}

QString SettingsCommands::synopsis()
{
    return tr("settings list     [--json]   the operator settings and their values\n"
              "settings set KEY VALUE      change one (audited)");
}

void SettingsCommands::run(const QStringList &words, const QCommandLineParser &parser,
                           Finished finished)
{
    const QString command = words.value(0);
    if (!(command == QLatin1String("list") && words.size() == 1) &&
        !(command == QLatin1String("set") && words.size() == 3)) {
        finished(unknownCommand(QStringLiteral("settings"), words));
        return;
    }
    StoreSession::open(parser, this, [words, &parser, finished](Expected<StoreSession> session) {
        if (!session) {
            finished(report(session.error()));
            return;
        }
        if (words.first() == QLatin1String("set")) {
            Expected<void> done = StoreSettings::set(
                session->db(), *session->secrets.audit, words.at(1), words.at(2),
                AuditEvent::operatorActor(), QDateTime::currentMSecsSinceEpoch());
            if (!done) {
                finished(report(done.error()));
                return;
            }
            out() << tr("%1 = %2").arg(words.at(1), words.at(2)) << Qt::endl;
            finished(Success);
            return;
        }
        QJsonArray array;
        for (const StoreSettings::Definition &d : StoreSettings::definitions()) {
            Expected<qint64> value = StoreSettings::value(session->db(), d.key);
            if (!value) {
                finished(report(value.error()));
                return;
            }
            const QString description = QCoreApplication::translate("StoreSettings", d.description);
            if (parser.isSet(QStringLiteral("json"))) {
                array.append(QJsonObject{{QStringLiteral("key"), QString(d.key)},
                                         {QStringLiteral("value"), value.value()},
                                         {QStringLiteral("default"), d.defaultValue},
                                         {QStringLiteral("description"), description}});
            } else {
                out() << QString(d.key).leftJustified(28)
                      << QString::number(value.value()).leftJustified(8) << description << Qt::endl;
            }
        }
        if (parser.isSet(QStringLiteral("json")))
            printJson(QJsonDocument(array));
        finished(Success);
    });
}
