// Store benchmark: 100,000 job rows, each with an audit row, inserted in
// transactions of 100 and read back by id; SQLCipher through the project's
// driver against plain SQLite through the very same code path (the same
// library, opened without a key). Prints name=value lines.
#include "store/store.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>

#include <cstdio>

namespace {
struct Figures {
    double insertPerSecond;
    double readPerSecond;
};

Figures run(const QString &path, bool plaintext, int rows)
{
    Store::Options options;
    options.create = Store::Create::IfMissing;
    options.plaintext = plaintext;
    auto store = Store::open(path, SecretKey::generate(), options);
    if (!store)
        qFatal("%s", qPrintable(store.error()));
    QSqlDatabase db = store.value()->connection().value();
    QSqlQuery job(db);
    job.prepare(QStringLiteral("INSERT INTO jobs (uuid, name, preset, spec, submitted_by, "
                               "submitted_at) VALUES (?, ?, 'web-720p-h264', ?, 'bench', ?)"));
    QSqlQuery audit(db);
    audit.prepare(QStringLiteral("INSERT INTO audit_records (seq, at, actor, action, target, "
                                 "outcome, mac) VALUES (?, ?, 'bench', 'job.submit', ?, 'ok', ?)"));
    const QString spec = QStringLiteral("{\"container\":\"mp4\",\"video\":{\"codec\":\"h264\","
                                        "\"crf\":23},\"audio\":{\"codec\":\"aac\"}}");
    const QByteArray mac(32, 'm');
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < rows; ++i) {
        if (i % 100 == 0 && !db.transaction())
            qFatal("%s", qPrintable(db.lastError().text()));
        job.addBindValue(QStringLiteral("uuid-%1").arg(i));
        job.addBindValue(QStringLiteral("job %1").arg(i));
        job.addBindValue(spec);
        job.addBindValue(i);
        audit.addBindValue(i + 1);
        audit.addBindValue(i);
        audit.addBindValue(QStringLiteral("job:%1").arg(i + 1));
        audit.addBindValue(mac);
        if (!job.exec() || !audit.exec())
            qFatal("insert failed");
        if (i % 100 == 99 && !db.commit())
            qFatal("%s", qPrintable(db.lastError().text()));
    }
    const double insertSeconds = static_cast<double>(timer.nsecsElapsed()) / 1e9;
    QSqlQuery read(db);
    read.setForwardOnly(true);
    read.prepare(QStringLiteral("SELECT name, spec, state FROM jobs WHERE id = ?"));
    timer.restart();
    for (int i = 1; i <= rows; ++i) {
        read.addBindValue(i);
        if (!read.exec() || !read.next())
            qFatal("read failed");
    }
    const double readSeconds = static_cast<double>(timer.nsecsElapsed()) / 1e9;
    return {rows / insertSeconds, rows / readSeconds};
}
} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    const int rows = argc > 1 ? QByteArray(argv[1]).toInt() : 100000;
    QTemporaryDir dir;
    // Interleave the two so that neither gets a warmer machine.
    const Figures plain = run(dir.filePath(QStringLiteral("plain.db")), true, rows);
    const Figures cipher = run(dir.filePath(QStringLiteral("cipher.db")), false, rows);
    std::printf("rows=%d\n", rows);
    std::printf("store_insert_per_s=%.0f\n", cipher.insertPerSecond);
    std::printf("store_read_per_s=%.0f\n", cipher.readPerSecond);
    std::printf("plain_insert_per_s=%.0f\n", plain.insertPerSecond);
    std::printf("plain_read_per_s=%.0f\n", plain.readPerSecond);
    std::printf("cipher_vs_plain_insert=%.2f\n", cipher.insertPerSecond / plain.insertPerSecond);
    std::printf("cipher_vs_plain_read=%.2f\n", cipher.readPerSecond / plain.readPerSecond);
    return 0;
}
