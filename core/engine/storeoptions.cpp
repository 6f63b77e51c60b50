#include "storeoptions.h"

#include "store/storelocation.h"

#include <QCoreApplication>

void StoreOptions::addTo(QCommandLineParser &parser)
{
    parser.addOption(QCommandLineOption(
        QStringLiteral("store"),
        QCoreApplication::translate("StoreOptions",
                                    "The store directory (default: $FRAMEHOUSE_STORE, else %1).")
            .arg(StoreLocation::defaultDirectory()),
        QStringLiteral("DIR")));
    parser.addOption(QCommandLineOption(
        QStringLiteral("key-file"),
        QCoreApplication::translate("StoreOptions",
                                    "A file (mode 0600) holding the store key as 64 hex digits "
                                    "(default: $FRAMEHOUSE_KEY_FILE, else the systemd credential "
                                    "store-key, else the OS keychain)."),
        QStringLiteral("FILE")));
}

StoreRequest StoreOptions::requestFrom(const QCommandLineParser &parser)
{
    StoreRequest request;
    request.directory = parser.isSet(QStringLiteral("store"))
                            ? parser.value(QStringLiteral("store"))
                            : StoreLocation::defaultDirectory();
    request.keyFile = parser.isSet(QStringLiteral("key-file"))
                          ? parser.value(QStringLiteral("key-file"))
                          : qEnvironmentVariable("FRAMEHOUSE_KEY_FILE");
    return request;
}
