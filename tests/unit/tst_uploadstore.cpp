#include "api/uploadstore.h"
#include "jobs/jobqueue.h"
#include "testsupport.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRandomGenerator>
#include <QSqlQuery>
#include <QTest>

#include <csignal>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace Qt::StringLiterals;

// VERIFY_EXPECTED for a call, which must run once.
#define VERIFY_DONE(call)                                                                          \
    do {                                                                                           \
        const Expected<void> done_ = (call);                                                       \
        VERIFY_EXPECTED(done_);                                                                    \
    } while (false)

namespace {
constexpr qint64 T0 = 1'800'000'000'000;
constexpr qint64 HourMs = 3600 * 1000;
constexpr qsizetype Chunk = 64 * 1024;
const QString keyA = u"AAAAAAAAAAAAAAAA"_s;
const QString keyB = u"BBBBBBBBBBBBBBBB"_s;
const QHostAddress client(u"::ffff:192.0.2.7"_s);

QByteArray ffmpegOutput(const QString &path, const QStringList &arguments)
{
    QProcess ffmpeg;
    ffmpeg.start(u"ffmpeg"_s, QStringList{u"-nostdin"_s, u"-v"_s, u"error"_s, u"-y"_s, u"-f"_s,
                                          u"lavfi"_s, u"-i"_s, u"testsrc=d=1:s=64x64:r=10"_s} +
                                      arguments
                                  << path);
    if (!ffmpeg.waitForFinished(60'000) || ffmpeg.exitCode() != 0)
        qFatal("ffmpeg could not write %s: %s", qPrintable(path),
               ffmpeg.readAllStandardError().constData());
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        qFatal("cannot read %s", qPrintable(path));
    return file.readAll();
}

mode_t modeOf(const QString &path)
{
    struct stat st {};
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0)
        return 0;
    return st.st_mode & 07777;
}

// Everything in the directory, hidden temporary files included.
QStringList entries(const QString &directory)
{
    return QDir(directory).entryList(QDir::AllEntries | QDir::Hidden | QDir::System |
                                     QDir::NoDotAndDotDot);
}

// Writes until the writer fails; the failure, or std::nullopt when
// `limit` bytes went through.
std::optional<Failure> writeUntilFailure(UploadWriter &writer, const QByteArray &media,
                                         qsizetype limit)
{
    QByteArray chunk = media;
    chunk.resize(Chunk, 'x');
    for (qsizetype done = 0; done < limit; done += Chunk) {
        Expected<void> written = writer.write(chunk);
        if (!written)
            return written.failure();
    }
    return std::nullopt;
}
} // namespace

// Uploads on a real store: streaming to disk, the checks before a file
// is kept, ownership by key, expiry, and a disk that fills up.
class TestUploadStore : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void streamsAFileToDiskAndRecordsIt();
    void refusedContentLeavesNoFileAndNoRow_data();
    void refusedContentLeavesNoFileAndNoRow();
    void abortAndDestructionLeaveNoFile();
    void aFailedRecordRemovesTheFile();
    void uploadsBelongToTheirKey();
    void markUsedLinksTheJob();
    void expireRemovesOnlyUnusedOldUploads();
    void abandonedTemporaryFilesAreRemoved();
    void theDirectoryMustBeOursAlone_data();
    void theDirectoryMustBeOursAlone();
    void aFullDiskFailsCleanly();
    void aFileSizeLimitFailsCleanly();

private:
    QSqlDatabase db() { return m_store->db(); }
    QString uploads() const { return m_store->dir.filePath(u"uploads"_s); }
    Upload upload(const QString &keyId, qint64 now, const QString &name = u"clip.mp4"_s);
    qint64 count(const QString &sql);
    std::optional<Failure> fillDisk(const QString &directory, qsizetype limit);

    QTemporaryDir m_media;
    QByteArray m_mp4;
    QByteArray m_png;
    std::unique_ptr<TestSupport::TestStore> m_store;
};

void TestUploadStore::initTestCase()
{
    QVERIFY(m_media.isValid());
    m_mp4 = ffmpegOutput(m_media.filePath(u"clip.mp4"_s), {u"-c:v"_s, u"libx264"_s});
    m_png = ffmpegOutput(m_media.filePath(u"still.png"_s), {u"-frames:v"_s, u"1"_s});
}

void TestUploadStore::init() { m_store = TestSupport::makeStore(); }

void TestUploadStore::cleanup() { m_store.reset(); }

Upload TestUploadStore::upload(const QString &keyId, qint64 now, const QString &name)
{
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(uploads(), name, u"video/mp4"_s);
    if (!writer)
        qFatal("begin: %s", qPrintable(writer.error()));
    if (Expected<void> written = writer.value()->write(m_mp4); !written)
        qFatal("write: %s", qPrintable(written.error()));
    Expected<Upload> done =
        writer.value()->finish(db(), *m_store->secrets.audit, keyId, client, now);
    if (!done)
        qFatal("finish: %s", qPrintable(done.error()));
    return done.value();
}

qint64 TestUploadStore::count(const QString &sql)
{
    QSqlQuery q(db());
    if (!q.exec(sql) || !q.next())
        qFatal("cannot count: %s", qPrintable(sql));
    return q.value(0).toLongLong();
}

void TestUploadStore::streamsAFileToDiskAndRecordsIt()
{
    constexpr qint64 Size = 50 * 1024 * 1024;
    QByteArray bytes = m_mp4;
    bytes.resize(Size);
    QRandomGenerator noise(7);
    for (qsizetype i = m_mp4.size(); i < Size; ++i)
        bytes[i] = char(noise.bounded(256));

    QVERIFY(!QFileInfo::exists(uploads()));
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(uploads(), u"holiday.mp4"_s, u"video/mp4; codecs=avc1"_s);
    VERIFY_EXPECTED(writer);
    QCOMPARE(modeOf(uploads()), mode_t(0700));
    for (qsizetype at = 0; at < Size; at += Chunk)
        VERIFY_DONE(writer.value()->write(QByteArrayView(bytes).sliced(at, Chunk)));
    QCOMPARE(writer.value()->written(), Size);

    // Before finish: one hidden temporary file, private, with every byte.
    const QStringList partial = entries(uploads());
    QCOMPARE(partial.size(), 1);
    QVERIFY2(partial.first().startsWith(u".upload-"_s) && partial.first().endsWith(u".part"_s),
             qPrintable(partial.first()));
    const QString partialPath = uploads() + u'/' + partial.first();
    QCOMPARE(modeOf(partialPath), mode_t(0600));
    QCOMPARE(QFileInfo(partialPath).size(), Size);

    Expected<Upload> done = writer.value()->finish(db(), *m_store->secrets.audit, keyA, client, T0);
    VERIFY_EXPECTED(done);
    const QString sha256 =
        QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
    QCOMPARE(done->sha256, sha256);
    QCOMPARE(done->size, Size);
    QCOMPARE(done->mediaType, u"video/mp4"_s);
    QCOMPARE(done->name, u"holiday.mp4"_s);
    QCOMPARE(done->sourceIp, u"192.0.2.7"_s);
    QVERIFY(!done->jobId);
    QCOMPARE(done->id.size(), 28);
    QVERIFY(done->id.startsWith(u"upl_"_s));
    for (QChar c : done->id.mid(4))
        QVERIFY(c.isDigit() || (c.toLatin1() >= 'A' && c.toLatin1() <= 'Z') ||
                (c.toLatin1() >= 'a' && c.toLatin1() <= 'z'));

    // On disk under its id only, private, and byte for byte what was sent.
    QCOMPARE(entries(uploads()), QStringList{done->id});
    const QString path = uploads() + u'/' + done->id;
    QCOMPARE(modeOf(path), mode_t(0600));
    QCOMPARE(modeOf(uploads()), mode_t(0700));
    QFile stored(path);
    QVERIFY(stored.open(QIODevice::ReadOnly));
    QCryptographicHash onDisk(QCryptographicHash::Sha256);
    QVERIFY(onDisk.addData(&stored));
    QCOMPARE(QString::fromLatin1(onDisk.result().toHex()), sha256);

    Expected<Upload> found = UploadStore::find(db(), done->id, keyA, false);
    VERIFY_EXPECTED(found);
    QCOMPARE(found->sha256, sha256);
    QCOMPARE(found->size, Size);
    QCOMPARE(found->keyId, keyA);
    QCOMPARE(found->createdAt, T0);
    QCOMPARE(found->mediaType, u"video/mp4"_s);

    QSqlQuery q(db());
    QVERIFY(q.exec(u"SELECT actor, target, source_ip, details FROM audit_records "
                   "WHERE action = 'upload.created'"_s));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toString(), u"key:"_s + keyA);
    QCOMPARE(q.value(1).toString(), done->id);
    QCOMPARE(q.value(2).toString(), u"192.0.2.7"_s);
    const QJsonObject details = QJsonDocument::fromJson(q.value(3).toByteArray()).object();
    QCOMPARE(details.value(u"name"_s).toString(), u"holiday.mp4"_s);
    QCOMPARE(details.value(u"size"_s).toInteger(), Size);
    QCOMPARE(details.value(u"sha256"_s).toString(), sha256);
    QCOMPARE(details.value(u"media_type"_s).toString(), u"video/mp4"_s);
    QVERIFY(!q.next());
}

void TestUploadStore::refusedContentLeavesNoFileAndNoRow_data()
{
    QTest::addColumn<QString>("body"); // "mp4", "png" or "" for none
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QString>("contentType");
    QTest::addColumn<QString>("named");

    QTest::newRow("png named mp4") << u"png"_s << u"a.mp4"_s << u"video/mp4"_s << u"mp4"_s;
    QTest::newRow("wrong extension") << u"mp4"_s << u"a.mkv"_s << u"video/mp4"_s << u".mkv"_s;
    QTest::newRow("octet-stream") << u"mp4"_s << u"a.mp4"_s << u"application/octet-stream"_s
                                  << u"octet-stream"_s;
    QTest::newRow("no extension") << u"mp4"_s << u"a"_s << u"video/mp4"_s << u"extension"_s;
    QTest::newRow("empty body") << QString() << u"a.mp4"_s << u"video/mp4"_s << u"empty"_s;
}

void TestUploadStore::refusedContentLeavesNoFileAndNoRow()
{
    QFETCH(QString, body);
    QFETCH(QString, fileName);
    QFETCH(QString, contentType);
    QFETCH(QString, named);

    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(uploads(), fileName, contentType);
    VERIFY_EXPECTED(writer);
    if (!body.isEmpty())
        VERIFY_DONE(writer.value()->write(body == u"png"_s ? m_png : m_mp4));
    QCOMPARE(entries(uploads()).size(), 1);
    Expected<Upload> done = writer.value()->finish(db(), *m_store->secrets.audit, keyA, client, T0);
    QVERIFY(!done);
    QCOMPARE(done.code(), UploadWriter::UnsupportedMedia);
    QVERIFY2(done.error().contains(named), qPrintable(done.error()));
    QCOMPARE(entries(uploads()), QStringList());
    QCOMPARE(count(u"SELECT count(*) FROM uploads"_s), 0);
    QCOMPARE(count(u"SELECT count(*) FROM audit_records WHERE action LIKE 'upload.%'"_s), 0);
    // The writer is spent: nothing more is written or recorded.
    QVERIFY(!writer.value()->write(m_mp4));
    QVERIFY(!writer.value()->finish(db(), *m_store->secrets.audit, keyA, client, T0));
    QCOMPARE(entries(uploads()), QStringList());
}

void TestUploadStore::abortAndDestructionLeaveNoFile()
{
    {
        Expected<std::unique_ptr<UploadWriter>> writer =
            UploadWriter::begin(uploads(), u"a.mp4"_s, u"video/mp4"_s);
        VERIFY_EXPECTED(writer);
        VERIFY_DONE(writer.value()->write(m_mp4));
        QCOMPARE(entries(uploads()).size(), 1);
        writer.value()->abort();
        QCOMPARE(entries(uploads()), QStringList());
        QVERIFY(!writer.value()->write(m_mp4));
        QVERIFY(!writer.value()->finish(db(), *m_store->secrets.audit, keyA, client, T0));
        QCOMPARE(entries(uploads()), QStringList());
    }
    {
        Expected<std::unique_ptr<UploadWriter>> writer =
            UploadWriter::begin(uploads(), u"a.mp4"_s, u"video/mp4"_s);
        VERIFY_EXPECTED(writer);
        VERIFY_DONE(writer.value()->write(m_mp4));
        QCOMPARE(entries(uploads()).size(), 1);
    }
    QCOMPARE(entries(uploads()), QStringList());
    QCOMPARE(count(u"SELECT count(*) FROM uploads"_s), 0);
}

void TestUploadStore::aFailedRecordRemovesTheFile()
{
    QSqlQuery q(db());
    QVERIFY(q.exec(u"CREATE TEMP TRIGGER refuse BEFORE INSERT ON uploads "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"_s));
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(uploads(), u"a.mp4"_s, u"video/mp4"_s);
    VERIFY_EXPECTED(writer);
    VERIFY_DONE(writer.value()->write(m_mp4));
    Expected<Upload> done = writer.value()->finish(db(), *m_store->secrets.audit, keyA, client, T0);
    QVERIFY(!done);
    QVERIFY2(done.error().contains(u"refused by the test"_s), qPrintable(done.error()));
    QCOMPARE(entries(uploads()), QStringList());
    QVERIFY(q.exec(u"DROP TRIGGER refuse"_s));
    QCOMPARE(count(u"SELECT count(*) FROM uploads"_s), 0);
    QCOMPARE(count(u"SELECT count(*) FROM audit_records WHERE action LIKE 'upload.%'"_s), 0);
}

void TestUploadStore::uploadsBelongToTheirKey()
{
    const Upload mine = upload(keyA, T0);
    Expected<Upload> found = UploadStore::find(db(), mine.id, keyA, false);
    VERIFY_EXPECTED(found);
    QCOMPARE(found->id, mine.id);

    Expected<Upload> other = UploadStore::find(db(), mine.id, keyB, false);
    QVERIFY(!other);
    QCOMPARE(other.code(), UploadStore::NotFound);
    Expected<Upload> missing =
        UploadStore::find(db(), u"upl_000000000000000000000000"_s, keyA, false);
    QVERIFY(!missing);
    QCOMPARE(missing.code(), UploadStore::NotFound);
    // Another key's upload and none at all read the same.
    QCOMPARE(other.error(),
             QString(missing.error()).replace(u"upl_000000000000000000000000"_s, mine.id));
    Expected<Upload> malformed = UploadStore::find(db(), u"../../etc/passwd"_s, keyA, true);
    QVERIFY(!malformed);
    QCOMPARE(malformed.code(), UploadStore::NotFound);

    Expected<Upload> asAdministrator = UploadStore::find(db(), mine.id, keyB, true);
    VERIFY_EXPECTED(asAdministrator);
    QCOMPARE(asAdministrator->keyId, keyA);
}

void TestUploadStore::markUsedLinksTheJob()
{
    const Upload u = upload(keyA, T0);
    JobQueue queue(m_store->secrets.audit);
    Expected<Job> job = queue.submit(
        db(),
        {u"from upload"_s, u"web-720p-h264"_s, QJsonObject{{u"input"_s, u"from upload"_s}}, 0},
        u"operator:test"_s, T0 + 1);
    VERIFY_EXPECTED(job);
    VERIFY_DONE(UploadStore::markUsed(db(), u.id, job->id, T0 + 2));
    Expected<Upload> found = UploadStore::find(db(), u.id, keyA, false);
    VERIFY_EXPECTED(found);
    QVERIFY(found->jobId);
    QCOMPARE(*found->jobId, job->id);
    QCOMPARE(count(u"SELECT used_at FROM uploads"_s), T0 + 2);

    Expected<void> none =
        UploadStore::markUsed(db(), u"upl_000000000000000000000000"_s, job->id, T0);
    QVERIFY(!none);
    QCOMPARE(none.code(), UploadStore::NotFound);
}

void TestUploadStore::expireRemovesOnlyUnusedOldUploads()
{
    const Upload oldA = upload(keyA, T0);
    const Upload oldB = upload(keyB, T0 + 1);
    const Upload oldUsed = upload(keyA, T0 + 2);
    const Upload fresh = upload(keyA, T0 + 25 * HourMs);
    JobQueue queue(m_store->secrets.audit);
    Expected<Job> job =
        queue.submit(db(), {u"j"_s, u"web-720p-h264"_s, QJsonObject{{u"input"_s, u"j"_s}}, 0},
                     u"operator:test"_s, T0 + 3);
    VERIFY_EXPECTED(job);
    VERIFY_DONE(UploadStore::markUsed(db(), oldUsed.id, job->id, T0 + 4));

    const qint64 now = T0 + 26 * HourMs;
    Expected<int> expired =
        UploadStore::expire(db(), *m_store->secrets.audit, uploads(), now - 24 * HourMs, now);
    VERIFY_EXPECTED(expired);
    QCOMPARE(expired.value(), 2);

    QStringList left = entries(uploads());
    left.sort();
    QStringList expected{oldUsed.id, fresh.id};
    expected.sort();
    QCOMPARE(left, expected);
    QSqlQuery q(db());
    QVERIFY(q.exec(u"SELECT id FROM uploads ORDER BY id"_s));
    QStringList rows;
    while (q.next())
        rows << q.value(0).toString();
    QCOMPARE(rows, expected);
    for (const Upload &gone : {oldA, oldB}) {
        Expected<Upload> found = UploadStore::find(db(), gone.id, gone.keyId, false);
        QCOMPARE(found.code(), UploadStore::NotFound);
    }

    QVERIFY(q.exec(u"SELECT actor, details FROM audit_records WHERE action = 'upload.expired'"_s));
    QVERIFY(q.next());
    QCOMPARE(q.value(0).toString(), u"system"_s);
    const QJsonObject details = QJsonDocument::fromJson(q.value(1).toByteArray()).object();
    QCOMPARE(details.value(u"count"_s).toInt(), 2);
    QCOMPARE(details.value(u"ids"_s).toArray(), (QJsonArray{oldA.id, oldB.id}));
    QVERIFY(!q.next());

    // Nothing more is due: no second record.
    Expected<int> again =
        UploadStore::expire(db(), *m_store->secrets.audit, uploads(), now - 24 * HourMs, now);
    VERIFY_EXPECTED(again);
    QCOMPARE(again.value(), 0);
    QCOMPARE(count(u"SELECT count(*) FROM audit_records WHERE action = 'upload.expired'"_s), 1);

    // A row whose file is already gone (a crash between the two) goes too.
    QVERIFY(QFile::remove(uploads() + u'/' + fresh.id));
    Expected<int> orphan = UploadStore::expire(db(), *m_store->secrets.audit, uploads(),
                                               now + 24 * HourMs, now + 24 * HourMs);
    VERIFY_EXPECTED(orphan);
    QCOMPARE(orphan.value(), 1);
    QCOMPARE(entries(uploads()), QStringList{oldUsed.id});
    QCOMPARE(count(u"SELECT count(*) FROM uploads"_s), 1);
}

void TestUploadStore::theDirectoryMustBeOursAlone_data()
{
    QTest::addColumn<QString>("setup");
    QTest::addColumn<QString>("named");
    QTest::newRow("symlink") << u"symlink"_s << u"symbolic link"_s;
    QTest::newRow("shared") << u"shared"_s << u"chmod 700"_s;
    QTest::newRow("another user's") << u"foreign"_s << u"belongs to"_s;
    QTest::newRow("a file") << u"file"_s << u"not a directory"_s;
}

void TestUploadStore::theDirectoryMustBeOursAlone()
{
    QFETCH(QString, setup);
    QFETCH(QString, named);

    const QString elsewhere = m_store->dir.filePath(u"elsewhere"_s);
    QVERIFY(QDir().mkdir(elsewhere));
    QString directory = uploads();
    const QByteArray name = QFile::encodeName(directory);
    if (setup == u"symlink") {
        QVERIFY(QFile::link(elsewhere, directory));
    } else if (setup == u"shared") {
        QVERIFY(::mkdir(name.constData(), 0700) == 0 && ::chmod(name.constData(), 0755) == 0);
    } else if (setup == u"foreign") {
        // Only root can give a directory away; anyone else finds one that
        // is not theirs at the root of the file system.
        if (::geteuid() == 0)
            QVERIFY(::mkdir(name.constData(), 0700) == 0 &&
                    ::chown(name.constData(), 65534, 65534) == 0);
        else
            directory = QDir::rootPath();
    } else {
        QFile file(directory);
        QVERIFY(file.open(QIODevice::WriteOnly));
    }
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(directory, u"a.mp4"_s, u"video/mp4"_s);
    QVERIFY(!writer);
    QVERIFY2(writer.error().contains(named), qPrintable(writer.error()));
    QCOMPARE(entries(elsewhere), QStringList());
    if (setup == u"shared")
        QCOMPARE(modeOf(directory), mode_t(0755));
}

// Writes into `directory` until the writer fails (or `limit` bytes went
// through) and checks that nothing is left behind.
std::optional<Failure> TestUploadStore::fillDisk(const QString &directory, qsizetype limit)
{
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(directory, u"big.mp4"_s, u"video/mp4"_s);
    if (!writer)
        return writer.failure();
    return writeUntilFailure(*writer.value(), m_mp4, limit);
}

void TestUploadStore::aFullDiskFailsCleanly()
{
    // A real full file system where this may mount one (root); else the
    // file-size limit, which fails the same write with EFBIG.
    QTemporaryDir mountPoint;
    QVERIFY(mountPoint.isValid());
    const QByteArray target = QFile::encodeName(mountPoint.path());
    const bool mounted =
        ::geteuid() == 0 && ::mount("tmpfs", target.constData(), "tmpfs", MS_NOSUID | MS_NODEV,
                                    "size=1m,mode=0700") == 0;
    const QString directory = mountPoint.filePath(u"uploads"_s);
    std::optional<Failure> failure;
    if (mounted) {
        failure = fillDisk(directory, 8 * 1024 * 1024);
    } else {
        struct rlimit saved {};
        QVERIFY(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        struct rlimit small = saved;
        small.rlim_cur = 1024 * 1024;
        const auto previous = std::signal(SIGXFSZ, SIG_IGN);
        QVERIFY(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        failure = fillDisk(directory, 8 * 1024 * 1024);
        ::setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, previous);
    }
    const QStringList left = entries(directory);
    if (mounted)
        QVERIFY(::umount2(target.constData(), MNT_DETACH) == 0);
    QVERIFY(failure);
    QCOMPARE(failure->code, UploadWriter::NoSpace);
    QVERIFY2(failure->message.contains(u"does not fit"_s), qPrintable(failure->message));
    QCOMPARE(left, QStringList());
}

void TestUploadStore::aFileSizeLimitFailsCleanly()
{
    struct rlimit saved {};
    QVERIFY(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    struct rlimit small = saved;
    small.rlim_cur = 512 * 1024;
    const auto previous = std::signal(SIGXFSZ, SIG_IGN);
    QVERIFY(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::optional<Failure> failure = fillDisk(uploads(), 8 * 1024 * 1024);
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous);
    QVERIFY(failure);
    QCOMPARE(failure->code, UploadWriter::NoSpace);
    QVERIFY2(failure->message.contains(u"does not fit"_s), qPrintable(failure->message));
    QCOMPARE(entries(uploads()), QStringList());
    QCOMPARE(count(u"SELECT count(*) FROM uploads"_s), 0);
}

void TestUploadStore::abandonedTemporaryFilesAreRemoved()
{
    // A missing directory holds nothing to remove.
    Expected<int> none = UploadStore::removeAbandonedParts(uploads() + u"-missing"_s, 0);
    VERIFY_EXPECTED(none);
    QCOMPARE(none.value(), 0);

    QVERIFY(QDir().mkpath(uploads()));
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    auto make = [&](const QString &name, qint64 ageMs) {
        const QString path = uploads() + u'/' + name;
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("partial");
        file.flush();
        // Set while open: Qt changes a file's times through its descriptor.
        QVERIFY(file.setFileTime(QDateTime::fromMSecsSinceEpoch(now - ageMs),
                                 QFileDevice::FileModificationTime));
        file.close();
    };
    make(u".upload-old1.part"_s, 3 * HourMs);
    make(u".upload-old2.part"_s, 5 * HourMs);
    make(u".upload-live.part"_s, 60 * 1000);           // still being written
    make(u"upl_notatemporaryfileatall"_s, 5 * HourMs); // a finished upload
    // A link with the temporary name is neither followed nor removed.
    const QString target = m_store->dir.filePath(u"elsewhere"_s);
    make(u"../elsewhere"_s, 5 * HourMs);
    QVERIFY(QFile::link(target, uploads() + u"/.upload-link.part"_s));

    Expected<int> removed = UploadStore::removeAbandonedParts(uploads(), now - 2 * HourMs);
    VERIFY_EXPECTED(removed);
    QCOMPARE(removed.value(), 2);
    QVERIFY(!QFile::exists(uploads() + u"/.upload-old1.part"_s));
    QVERIFY(!QFile::exists(uploads() + u"/.upload-old2.part"_s));
    QVERIFY(QFile::exists(uploads() + u"/.upload-live.part"_s));
    QVERIFY(QFile::exists(uploads() + u"/upl_notatemporaryfileatall"_s));
    QVERIFY(QFileInfo(uploads() + u"/.upload-link.part"_s).isSymLink());
    QVERIFY(QFile::exists(target));
}

QTEST_GUILESS_MAIN(TestUploadStore)
#include "tst_uploadstore.moc"
