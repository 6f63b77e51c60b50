#pragma once

#include "expected.h"

#include <QCryptographicHash>
#include <QFile>
#include <QHostAddress>
#include <QList>
#include <QSqlDatabase>
#include <QString>

#include <memory>

class AuditLog;

// Uploaded media: <store dir>/uploads/<id> (directory 0700, files 0600) plus
// a row in the uploads table, written only for a complete, checked file.
struct Upload {
    QString id; // upl_ + 24 base62
    QString keyId;
    QString name;
    QString mediaType;
    qint64 size = 0;
    QString sha256;
    qint64 createdAt = 0;
    QString sourceIp;
    std::optional<qint64> jobId;
};

// One upload being received: bytes go to a hidden temporary file in the
// uploads directory as they arrive (bounded memory), hashed on the way.
// finish() checks the magic number against the name and Content-Type,
// fsyncs, renames into place and records the row (audited
// "upload.created"); abort() or destruction without finish() removes the
// temporary file.
class UploadWriter {
public:
    // Failure::code of finish() when the bytes are not an allowed media type
    // or disagree with the name/Content-Type (the client gets 415).
    static constexpr int UnsupportedMedia = 415;
    // Failure::code when the disk is full (507).
    static constexpr int NoSpace = 507;

    static Expected<std::unique_ptr<UploadWriter>>
    begin(const QString &uploadsDirectory, const QString &fileName, const QString &contentType);
    ~UploadWriter();

    Expected<void> write(QByteArrayView bytes);
    Expected<Upload> finish(QSqlDatabase db, const AuditLog &audit, const QString &keyId,
                            const QHostAddress &source, qint64 now);
    void abort();
    qint64 written() const { return m_written; }

private:
    UploadWriter() = default;
    QString m_directory;
    QString m_fileName;
    QString m_contentType;
    std::unique_ptr<QFile> m_file;
    QCryptographicHash m_hash{QCryptographicHash::Sha256};
    QByteArray m_head; // first MediaSniffer::HeadBytes
    qint64 m_written = 0;
};

namespace UploadStore {
// Failure::code of find() and markUsed() when there is no such upload, or
// it belongs to another key (the client gets 404 either way).
constexpr int NotFound = 404;

// The upload, if it exists and belongs to `keyId` (any key with `anyKey`).
Expected<Upload> find(QSqlDatabase db, const QString &id, const QString &keyId, bool anyKey);
// Marks it used by a job (inside the caller's transaction).
Expected<void> markUsed(QSqlDatabase db, const QString &id, qint64 jobId, qint64 now);
// Removes files and rows of uploads no job used that are older than
// `createdBefore`; returns how many. Audited as one "upload.expired" record
// when any were removed.
Expected<int> expire(QSqlDatabase db, const AuditLog &audit, const QString &uploadsDirectory,
                     qint64 createdBefore, qint64 now);
// Removes the temporary files of uploads that an engine killed mid-upload
// left behind: regular files named .upload-*.part not written to since
// `modifiedBefore` (a live upload writes at least every api.body_timeout_s
// or is dropped). Returns how many; a missing directory holds none.
Expected<int> removeAbandonedParts(const QString &uploadsDirectory, qint64 modifiedBefore);
} // namespace UploadStore
