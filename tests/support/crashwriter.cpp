// Test helper: opens a store and writes transactions of `--batch` job rows
// until it is killed, printing "committed <n>" after each COMMIT returns.
#include "store/storeopener.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QSqlError>
#include <QSqlQuery>
#include <QTimer>

#include <unistd.h>

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.addOption({QStringLiteral("store"), QStringLiteral("store"), QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("key-file"), QStringLiteral("key"), QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("batch"), QStringLiteral("rows"), QStringLiteral("N")});
    parser.addOption({QStringLiteral("first"), QStringLiteral("first tx"), QStringLiteral("N")});
    parser.process(app);
    StoreRequest request;
    request.directory = parser.value(QStringLiteral("store"));
    request.keyFile = parser.value(QStringLiteral("key-file"));
    const int batch = parser.value(QStringLiteral("batch")).toInt();
    const int first = parser.value(QStringLiteral("first")).toInt();
    int code = 0;
    QTimer::singleShot(0, &app, [&] {
        StoreOpener::open(request, &app, [&](Expected<OpenedStore> opened) {
            if (!opened) {
                fprintf(stderr, "crashwriter: %s\n", qPrintable(opened.error()));
                code = 1;
                QCoreApplication::exit(1);
                return;
            }
            QSqlDatabase db = opened->store->connection().value();
            QSqlQuery insert(db);
            insert.prepare(
                QStringLiteral("INSERT INTO jobs (uuid, name, spec, submitted_by, submitted_at) "
                               "VALUES (?, ?, '{}', 'crashwriter', 0)"));
            for (int tx = first;; ++tx) {
                if (!db.transaction())
                    qFatal("begin: %s", qPrintable(db.lastError().text()));
                for (int row = 0; row < batch; ++row) {
                    insert.addBindValue(QStringLiteral("tx%1-%2").arg(tx).arg(row));
                    insert.addBindValue(QStringLiteral("tx%1").arg(tx));
                    if (!insert.exec())
                        qFatal("insert: %s", qPrintable(insert.lastError().text()));
                }
                if (!db.commit())
                    qFatal("commit: %s", qPrintable(db.lastError().text()));
                const QByteArray line = "committed " + QByteArray::number(tx) + '\n';
                if (::write(STDOUT_FILENO, line.constData(), static_cast<size_t>(line.size())) < 0)
                    qFatal("write");
            }
        });
    });
    const int loop = app.exec();
    return code ? code : loop;
}
