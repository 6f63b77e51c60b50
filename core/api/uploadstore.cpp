#include "uploadstore.h"

#include "api/mediasniffer.h"
#include "audit/auditlog.h"
#include "store/store.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QRandomGenerator>
#include <QSqlQuery>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("UploadStore", text); }
QString errnoText(int error) { return QString::fromLocal8Bit(std::strerror(error)); }

constexpr int IdLength = 24;
constexpr int TempNameLength = 16;

QString randomBase62(int length)
{
    static constexpr char16_t alphabet[] =
        u"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    QString out;
    out.reserve(length);
    for (int i = 0; i < length; ++i)
        out += QChar(alphabet[QRandomGenerator::system()->bounded(62)]);
    return out;
}

// Ids reach file names: only ever upl_ + base62, never a path.
bool isUploadId(QStringView id)
{
    if (id.size() != 4 + IdLength || !id.startsWith(u"upl_"))
        return false;
    for (QChar c : id.mid(4)) {
        if (!(c.isDigit() || (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z')))
            return false;
    }
    return true;
}

// A full disk, a full quota and a file-size limit all mean the upload
// cannot be stored here; the client is told so (507), not that it erred.
bool isOutOfSpace(int error) { return error == ENOSPC || error == EDQUOT || error == EFBIG; }

// Client-facing (507): says what happened without naming server paths.
Failure outOfSpace(int error)
{
    return fail(tr("the upload does not fit on the server's disk (%1); try again later or send a "
                   "smaller file")
                    .arg(errnoText(error)),
                UploadWriter::NoSpace);
}

// The directory holds every client's media: it must be ours alone, and a
// symlink planted in its place must not redirect the writes.
Expected<void> privateDirectory(const QString &directory)
{
    const QByteArray name = QFile::encodeName(directory);
    const bool created = ::mkdir(name.constData(), 0700) == 0;
    if (!created && errno != EEXIST)
        return fail(
            tr("cannot create the uploads directory %1: %2").arg(directory, errnoText(errno)));
    struct stat st {};
    if (::lstat(name.constData(), &st) != 0)
        return fail(
            tr("cannot inspect the uploads directory %1: %2").arg(directory, errnoText(errno)));
    if (S_ISLNK(st.st_mode))
        return fail(tr("the uploads directory %1 is a symbolic link; it must be a real directory")
                        .arg(directory));
    if (!S_ISDIR(st.st_mode))
        return fail(tr("the uploads directory %1 exists and is not a directory").arg(directory));
    if (st.st_uid != ::geteuid())
        return fail(tr("the uploads directory %1 belongs to user id %2, not to this process's "
                       "user (%3)")
                        .arg(directory)
                        .arg(st.st_uid)
                        .arg(::geteuid()));
    // An existing directory is never loosened or tightened behind the
    // operator's back: a shared one is refused with the fix.
    if (!created && (st.st_mode & (S_IRWXG | S_IRWXO)))
        return fail(tr("the uploads directory %1 can be accessed by group or others (mode %2); "
                       "fix it with: chmod 700 %1")
                        .arg(directory, QString::number(st.st_mode & 07777, 8)));
    // The umask may only have narrowed what mkdir asked for.
    if (created && (st.st_mode & 07777) != 0700 && ::chmod(name.constData(), 0700) != 0)
        return fail(tr("cannot make the uploads directory %1 private (chmod 700): %2")
                        .arg(directory, errnoText(errno)));
    return {};
}

Expected<void> syncDirectory(const QString &directory)
{
    const int fd =
        ::open(QFile::encodeName(directory).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(tr("cannot open directory %1: %2").arg(directory, errnoText(errno)));
    const bool synced = ::fsync(fd) == 0;
    const int error = errno;
    ::close(fd);
    if (!synced)
        return fail(tr("cannot flush directory %1 to disk: %2").arg(directory, errnoText(error)));
    return {};
}

// Never over an existing file: another upload's id must not be clobbered.
int renameNoReplace(const QByteArray &from, const QByteArray &to)
{
    const int done =
        ::renameat2(AT_FDCWD, from.constData(), AT_FDCWD, to.constData(), RENAME_NOREPLACE);
    if (done != 0 && (errno == EINVAL || errno == ENOSYS))
        return ::rename(from.constData(), to.constData());
    return done;
}

QString addressText(const QHostAddress &address)
{
    if (address.isNull())
        return {};
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    return isV4 ? QHostAddress(v4).toString() : address.toString();
}

QString filePath(const QString &directory, const QString &id) { return directory + u'/' + id; }

QString allowedNames()
{
    QStringList names;
    for (const MediaSniffer::MediaType &type : MediaSniffer::allowed())
        names << type.name;
    return names.join(QStringLiteral(", "));
}
} // namespace

Expected<std::unique_ptr<UploadWriter>> UploadWriter::begin(const QString &uploadsDirectory,
                                                            const QString &fileName,
                                                            const QString &contentType)
{
    Expected<void> ready = privateDirectory(uploadsDirectory);
    if (!ready)
        return ready.failure();
    std::unique_ptr<UploadWriter> writer(new UploadWriter);
    writer->m_directory = uploadsDirectory;
    writer->m_fileName = fileName;
    writer->m_contentType = contentType;
    auto file = std::make_unique<QFile>(uploadsDirectory + QStringLiteral("/.upload-") +
                                        randomBase62(TempNameLength) + QStringLiteral(".part"));
    // NewOnly is O_EXCL: never an existing file, never through a symlink.
    if (!file->open(QIODevice::WriteOnly | QIODevice::NewOnly | QIODevice::Unbuffered,
                    QFileDevice::ReadOwner | QFileDevice::WriteOwner)) {
        const int error = errno;
        if (isOutOfSpace(error))
            return outOfSpace(error);
        return fail(tr("cannot create a temporary file in %1: %2")
                        .arg(uploadsDirectory, file->errorString()));
    }
    writer->m_file = std::move(file);
    return writer;
}

UploadWriter::~UploadWriter() { abort(); }

Expected<void> UploadWriter::write(QByteArrayView bytes)
{
    if (!m_file)
        return fail(tr("the upload is already finished or abandoned"));
    const char *data = bytes.data();
    qsizetype left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(m_file->handle(), data, size_t(left));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int error = errno;
            abort();
            if (isOutOfSpace(error))
                return outOfSpace(error);
            return fail(tr("cannot write the upload to %1: %2").arg(m_directory, errnoText(error)));
        }
        data += n;
        left -= n;
    }
    m_hash.addData(bytes);
    if (m_head.size() < MediaSniffer::HeadBytes)
        m_head.append(bytes.first(std::min(bytes.size(), MediaSniffer::HeadBytes - m_head.size())));
    m_written += bytes.size();
    return {};
}

Expected<Upload> UploadWriter::finish(QSqlDatabase db, const AuditLog &audit, const QString &keyId,
                                      const QHostAddress &source, qint64 now)
{
    if (!m_file)
        return fail(tr("the upload is already finished or abandoned"));
    if (m_written == 0) {
        abort();
        return fail(tr("the upload is empty; send the media file as the request body"),
                    UnsupportedMedia);
    }
    const std::optional<MediaSniffer::MediaType> type = MediaSniffer::identify(m_head);
    if (!type) {
        abort();
        return fail(tr("the content is not a media format the farm accepts; send one of: %1")
                        .arg(allowedNames()),
                    UnsupportedMedia);
    }
    if (const QString problem = MediaSniffer::mismatch(*type, m_fileName, m_contentType);
        !problem.isEmpty()) {
        abort();
        return fail(problem, UnsupportedMedia);
    }
    if (::fsync(m_file->handle()) != 0) {
        const int error = errno;
        abort();
        if (isOutOfSpace(error))
            return outOfSpace(error);
        return fail(
            tr("cannot flush the upload to disk in %1: %2").arg(m_directory, errnoText(error)));
    }
    m_file->close();

    Upload upload;
    const QByteArray from = QFile::encodeName(m_file->fileName());
    for (int attempt = 0; upload.id.isEmpty(); ++attempt) {
        const QString id = QStringLiteral("upl_") + randomBase62(IdLength);
        if (renameNoReplace(from, QFile::encodeName(filePath(m_directory, id))) == 0) {
            upload.id = id;
        } else if (errno != EEXIST || attempt == 2) {
            const int error = errno;
            abort();
            return fail(tr("cannot move the upload into place in %1: %2")
                            .arg(m_directory, errnoText(error)));
        }
    }
    m_file.reset();
    const QString path = filePath(m_directory, upload.id);
    auto removeFile = [&] {
        ::unlink(QFile::encodeName(path).constData());
        (void)syncDirectory(m_directory);
    };
    if (Expected<void> synced = syncDirectory(m_directory); !synced) {
        removeFile();
        return synced.failure();
    }

    upload.keyId = keyId;
    upload.name = m_fileName;
    upload.mediaType = type->mimeType;
    upload.size = m_written;
    upload.sha256 = QString::fromLatin1(m_hash.result().toHex());
    upload.createdAt = now;
    upload.sourceIp = addressText(source);
    Expected<void> recorded = audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        QSqlQuery q(w.db());
        q.prepare(QStringLiteral("INSERT INTO uploads (id, key_id, name, media_type, size, "
                                 "sha256, created_at, source_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
        q.addBindValue(upload.id);
        q.addBindValue(upload.keyId);
        q.addBindValue(upload.name);
        q.addBindValue(upload.mediaType);
        q.addBindValue(upload.size);
        q.addBindValue(upload.sha256);
        q.addBindValue(upload.createdAt);
        q.addBindValue(upload.sourceIp);
        if (!q.exec())
            return sqlFailure(tr("cannot record the upload"), q);
        AuditEvent event;
        event.actor = AuditEvent::keyActor(keyId);
        event.action = QStringLiteral("upload.created");
        event.target = upload.id;
        event.sourceIp = upload.sourceIp;
        event.details = {{QStringLiteral("name"), upload.name},
                         {QStringLiteral("size"), upload.size},
                         {QStringLiteral("sha256"), upload.sha256},
                         {QStringLiteral("media_type"), upload.mediaType}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
    if (!recorded) {
        removeFile();
        return recorded.failure();
    }
    return upload;
}

void UploadWriter::abort()
{
    if (!m_file)
        return;
    const QByteArray name = QFile::encodeName(m_file->fileName());
    m_file->close();
    ::unlink(name.constData());
    m_file.reset();
}

Expected<Upload> UploadStore::find(QSqlDatabase db, const QString &id, const QString &keyId,
                                   bool anyKey)
{
    // The same answer for a missing upload and another key's: ids are not
    // to be probed.
    const auto notFound = [&] {
        return isUploadId(id)
                   ? fail(tr("there is no upload %1").arg(id), NotFound)
                   : fail(tr("an upload id is upl_ followed by 24 letters or digits"), NotFound);
    };
    if (!isUploadId(id))
        return notFound();
    QSqlQuery q(db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT id, key_id, name, media_type, size, sha256, created_at, "
                             "source_ip, job_id FROM uploads WHERE id = ?"));
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot read upload %1").arg(id), q);
    if (!q.next())
        return notFound();
    Upload upload;
    upload.id = q.value(0).toString();
    upload.keyId = q.value(1).toString();
    if (!anyKey && upload.keyId != keyId)
        return notFound();
    upload.name = q.value(2).toString();
    upload.mediaType = q.value(3).toString();
    upload.size = q.value(4).toLongLong();
    upload.sha256 = q.value(5).toString();
    upload.createdAt = q.value(6).toLongLong();
    upload.sourceIp = q.value(7).toString();
    if (!q.value(8).isNull())
        upload.jobId = q.value(8).toLongLong();
    return upload;
}

Expected<void> UploadStore::markUsed(QSqlDatabase db, const QString &id, qint64 jobId, qint64 now)
{
    // One upload may feed several jobs: job_id names the latest, used_at
    // keeps the first use.
    QSqlQuery q(db);
    q.prepare(QStringLiteral(
        "UPDATE uploads SET job_id = ?, used_at = coalesce(used_at, ?) WHERE id = ?"));
    q.addBindValue(jobId);
    q.addBindValue(now);
    q.addBindValue(id);
    if (!q.exec())
        return sqlFailure(tr("cannot mark upload %1 as used").arg(id), q);
    if (q.numRowsAffected() != 1)
        return fail(tr("there is no upload %1").arg(id), NotFound);
    return {};
}

Expected<int> UploadStore::expire(QSqlDatabase db, const AuditLog &audit,
                                  const QString &uploadsDirectory, qint64 createdBefore, qint64 now)
{
    static const QString due = QStringLiteral(
        "SELECT id FROM uploads WHERE used_at IS NULL AND created_at < ? ORDER BY created_at, id");
    {
        // Most runs find nothing: no write transaction for them.
        QSqlQuery q(db);
        q.setForwardOnly(true);
        q.prepare(due);
        q.addBindValue(createdBefore);
        if (!q.exec())
            return sqlFailure(tr("cannot list expired uploads"), q);
        if (!q.next())
            return 0;
    }
    QJsonArray removed;
    QStringList problems;
    // Chosen again inside the write transaction, so that a job cannot take
    // an upload between the choice and the removal. Files go first: a crash
    // in between leaves rows without files, which the next run removes.
    Expected<void> done = audit.commit(db, now, [&](AuditLog::Writer &w) -> Expected<void> {
        removed = {};
        problems.clear();
        QSqlQuery q(w.db());
        q.setForwardOnly(true);
        q.prepare(due);
        q.addBindValue(createdBefore);
        if (!q.exec())
            return sqlFailure(tr("cannot list expired uploads"), q);
        QStringList ids;
        while (q.next())
            ids << q.value(0).toString();
        for (const QString &id : std::as_const(ids)) {
            if (isUploadId(id) &&
                ::unlink(QFile::encodeName(filePath(uploadsDirectory, id)).constData()) != 0 &&
                errno != ENOENT) {
                const QString why = errnoText(errno);
                problems << tr("cannot remove upload %1: %2").arg(id, why);
                continue;
            }
            removed << id;
        }
        if (removed.isEmpty())
            return {};
        // A missing directory holds none of the files: nothing to flush.
        if (Expected<void> synced = syncDirectory(uploadsDirectory);
            !synced && QFileInfo::exists(uploadsDirectory))
            return synced;
        QSqlQuery remove(w.db());
        remove.prepare(QStringLiteral("DELETE FROM uploads WHERE id = ?"));
        for (const QJsonValue &id : std::as_const(removed)) {
            remove.addBindValue(id.toString());
            if (!remove.exec())
                return sqlFailure(tr("cannot remove the record of upload %1").arg(id.toString()),
                                  remove);
        }
        AuditEvent event;
        event.actor = AuditEvent::systemActor();
        event.action = QStringLiteral("upload.expired");
        event.details = {{QStringLiteral("count"), removed.size()},
                         {QStringLiteral("ids"), removed}};
        Expected<AuditRecord> written = w.append(event);
        if (!written)
            return written.failure();
        return {};
    });
    if (!done)
        return done.failure();
    if (!problems.isEmpty())
        return fail(QCoreApplication::translate(
                        "UploadStore", "removed %n expired upload(s), but not all: ", nullptr,
                        int(removed.size())) +
                    problems.join(QStringLiteral("; ")));
    return int(removed.size());
}

Expected<int> UploadStore::removeAbandonedParts(const QString &uploadsDirectory,
                                                qint64 modifiedBefore)
{
    const QDir dir(uploadsDirectory);
    if (!dir.exists())
        return 0;
    int removed = 0;
    const QStringList parts = dir.entryList({QStringLiteral(".upload-*.part")},
                                            QDir::Files | QDir::Hidden | QDir::System);
    for (const QString &name : parts) {
        const QByteArray path = QFile::encodeName(dir.filePath(name));
        struct stat st {};
        // lstat: a link put there is neither followed nor counted.
        if (::lstat(path.constData(), &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        const qint64 modified = qint64(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (modified >= modifiedBefore)
            continue;
        if (::unlink(path.constData()) != 0 && errno != ENOENT)
            return fail(
                tr("cannot remove the abandoned upload %1: %2").arg(name, errnoText(errno)));
        ++removed;
    }
    return removed;
}
