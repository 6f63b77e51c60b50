#include "apicommands.h"

#include "api/banlist.h"
#include "api/tlsidentity.h"
#include "audit/auditevent.h"
#include "ctloutput.h"
#include "engine/enginesettings.h"
#include "security/redactor.h"
#include "store/rowvalues.h"
#include "storesession.h"
#include "texttable.h"

#include <QDateTime>
#include <QJsonArray>

using namespace CtlOutput;

namespace {
qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

void printField(const QString &label, const QString &value)
{
    out() << QString(label + u':').leftJustified(13) << Redactor::text(value) << Qt::endl;
}

QStringList alternativeNames(const QSslCertificate &certificate)
{
    QStringList names;
    const auto entries = certificate.subjectAlternativeNames();
    for (auto it = entries.cbegin(); it != entries.cend(); ++it) {
        const QString kind = it.key() == QSsl::DnsEntry         ? QStringLiteral("DNS")
                             : it.key() == QSsl::IpAddressEntry ? QStringLiteral("IP")
                                                                : QStringLiteral("email");
        names << kind + u':' + it.value();
    }
    return names;
}

// Where the engine's certificate comes from, as framehoused decides it:
// the configured files win over the store's self-signed certificate.
struct CertificateSource {
    QString file; // empty: the store
    std::optional<QSslCertificate> certificate;
};

void printInfo(const QString &configFile, const EngineSettings &settings,
               const CertificateSource &source, bool json)
{
    const std::optional<QSslCertificate> &certificate = source.certificate;
    const qint64 expires = certificate ? certificate->expiryDate().toMSecsSinceEpoch() : qint64(0);
    if (json) {
        QJsonValue described;
        if (certificate) {
            described = QJsonObject{
                {QStringLiteral("source"),
                 source.file.isEmpty() ? QStringLiteral("store") : QStringLiteral("file")},
                {QStringLiteral("file"), RowValues::jsonText(source.file)},
                {QStringLiteral("sha256"), TlsIdentity::fingerprintSha256(*certificate)},
                {QStringLiteral("subject_alt_names"),
                 QJsonArray::fromStringList(alternativeNames(*certificate))},
                {QStringLiteral("not_before"),
                 RowValues::jsonTime(certificate->effectiveDate().toMSecsSinceEpoch())},
                {QStringLiteral("expires"), RowValues::jsonTime(expires)},
                {QStringLiteral("expired"), expires <= nowMs()},
            };
        }
        printJson(QJsonDocument(QJsonObject{
            {QStringLiteral("config"), RowValues::jsonText(configFile)},
            {QStringLiteral("enabled"), settings.apiEnabled},
            {QStringLiteral("listen"), settings.listen()},
            {QStringLiteral("certificate"), described},
        }));
        return;
    }
    printField(ApiCommands::tr("listen"),
               configFile.isEmpty()
                   ? ApiCommands::tr("%1 (default; framehoused --listen or [api] listen in its "
                                     "settings file change it)")
                         .arg(settings.listen())
                   : ApiCommands::tr("%1 (from %2)").arg(settings.listen(), configFile));
    if (!settings.apiEnabled)
        printField(ApiCommands::tr("enabled"), ApiCommands::tr("no ([api] enabled = false)"));
    if (!certificate) {
        printField(ApiCommands::tr("certificate"),
                   ApiCommands::tr("none yet; start framehoused once to create it"));
        return;
    }
    printField(ApiCommands::tr("certificate"),
               source.file.isEmpty() ? ApiCommands::tr("self-signed, kept in the store")
                                     : ApiCommands::tr("from %1").arg(source.file));
    printField(ApiCommands::tr("sha256"), TlsIdentity::fingerprintSha256(*certificate));
    printField(ApiCommands::tr("names"), alternativeNames(*certificate).join(QStringLiteral(", ")));
    printField(ApiCommands::tr("expires"), expires <= nowMs()
                                               ? ApiCommands::tr("%1 (expired)").arg(time(expires))
                                               : time(expires));
}

int listBans(QSqlDatabase db, bool json)
{
    Expected<QList<BanList::Ban>> bans = BanList::list(db, nowMs());
    if (!bans)
        return report(bans.error());
    if (json) {
        QJsonArray array;
        for (const BanList::Ban &ban : bans.value())
            array.append(QJsonObject{
                {QStringLiteral("address"), ban.address},
                {QStringLiteral("reason"), ban.reason},
                {QStringLiteral("failures"), ban.failures},
                {QStringLiteral("banned_at"), RowValues::jsonTime(ban.bannedAt)},
                {QStringLiteral("expires_at"), RowValues::jsonTime(ban.expiresAt)},
            });
        printJson(QJsonDocument(array));
        return Success;
    }
    if (bans->isEmpty()) {
        out() << ApiCommands::tr("no address is banned") << Qt::endl;
        return Success;
    }
    QList<QStringList> rows{{ApiCommands::tr("ADDRESS"), ApiCommands::tr("FAILURES"),
                             ApiCommands::tr("BANNED"), ApiCommands::tr("UNTIL"),
                             ApiCommands::tr("REASON")}};
    for (const BanList::Ban &ban : bans.value())
        rows << QStringList{ban.address, QString::number(ban.failures), time(ban.bannedAt),
                            time(ban.expiresAt), ban.reason};
    TextTable::print(rows);
    return Success;
}

int unban(const StoreSession &session, const QString &address)
{
    Expected<void> lifted = BanList::unban(session.db(), *session.secrets.audit, address,
                                           AuditEvent::operatorActor(), nowMs());
    if (!lifted) {
        if (lifted.failure().code == BanList::NotBanned)
            return report(ApiCommands::tr("%1; 'framehousectl api bans' lists the banned "
                                          "addresses")
                              .arg(lifted.error()));
        return report(lifted.error());
    }
    // A running engine keeps its own copy of the bans and reloads it from
    // the store on its maintenance tick.
    out() << ApiCommands::tr("%1 is no longer banned; a running engine lets it in again when it "
                             "next reloads its bans (within 5 seconds)")
                 .arg(Redactor::escapeControls(address.trimmed()))
          << Qt::endl;
    return Success;
}
} // namespace

ApiCommands::ApiCommands(QObject *parent)
    : QObject(parent)
{}

QString ApiCommands::synopsis()
{
    return tr("api info          [--config FILE] [--json]   the API's address and its "
              "certificate's SHA-256\n"
              "api bans          [--json]   addresses banned after failed authentications\n"
              "api unban IP      lift the ban of IP (audited)");
}

void ApiCommands::addOptions(QCommandLineParser &parser)
{
    parser.addOption({QStringLiteral("config"),
                      tr("api info: the engine's settings file, as given to framehoused "
                         "(default: $FRAMEHOUSE_CONFIG)."),
                      QStringLiteral("FILE")});
}

void ApiCommands::run(const QStringList &words, const QCommandLineParser &parser, Finished finished)
{
    const QString command = words.value(0);
    const bool shaped = ((command == QLatin1String("info") || command == QLatin1String("bans")) &&
                         words.size() == 1) ||
                        (command == QLatin1String("unban") && words.size() == 2);
    if (!shaped) {
        finished(unknownCommand(QStringLiteral("api"), words));
        return;
    }
    const bool json = parser.isSet(QStringLiteral("json"));
    if (command == QLatin1String("info")) {
        const QString configFile = parser.isSet(QStringLiteral("config"))
                                       ? parser.value(QStringLiteral("config"))
                                       : qEnvironmentVariable("FRAMEHOUSE_CONFIG");
        EngineSettings settings;
        if (!configFile.isEmpty()) {
            Expected<EngineSettings> loaded = EngineSettings::load(configFile);
            if (!loaded) {
                finished(report(loaded.error()));
                return;
            }
            settings = loaded.value();
        }
        if (!settings.tlsCertificate.isEmpty()) {
            // The engine serves these files; the store's certificate is unused.
            const QList<QSslCertificate> chain = QSslCertificate::fromPath(
                settings.tlsCertificate, QSsl::Pem, QSslCertificate::PatternSyntax::FixedString);
            if (chain.isEmpty()) {
                finished(report(tr("[api] tls_certificate %1 cannot be read or holds no PEM "
                                   "certificate")
                                    .arg(settings.tlsCertificate)));
                return;
            }
            printInfo(configFile, settings, {settings.tlsCertificate, chain.first()}, json);
            finished(Success);
            return;
        }
        StoreSession::open(parser, this, [=](Expected<StoreSession> session) {
            if (!session) {
                finished(report(session.error()));
                return;
            }
            Expected<std::optional<QSslCertificate>> stored =
                TlsIdentity::storedCertificate(session->db());
            if (!stored) {
                finished(report(stored.error()));
                return;
            }
            printInfo(configFile, settings, {QString(), stored.value()}, json);
            finished(Success);
        });
        return;
    }
    StoreSession::open(parser, this, [=](Expected<StoreSession> session) {
        if (!session) {
            finished(report(session.error()));
            return;
        }
        if (command == QLatin1String("bans"))
            finished(listBans(session->db(), json));
        else
            finished(unban(session.value(), words.at(1)));
    });
}
