#pragma once

#include <QByteArrayView>
#include <QString>
#include <QStringList>

#include <optional>

// Identifies uploaded media by its magic number, and checks that the name's
// extension and the declared Content-Type agree with what the bytes are.
// Only containers the worker's demuxer whitelist can read are allowed.
namespace MediaSniffer {
struct MediaType {
    QString name;           // "mp4", "matroska", ...
    QString mimeType;       // canonical, for the upload record
    QStringList extensions; // lower-case, without dot
    QStringList mimeTypes;  // accepted Content-Type values (parameters ignored)
};

// Bytes needed from the start of a file to decide (reads past are not needed).
constexpr qsizetype HeadBytes = 4096;

const QList<MediaType> &allowed();
// The type the first bytes (up to HeadBytes) show, if it is allowed.
std::optional<MediaType> identify(QByteArrayView head);
// Empty when `fileName`'s extension and `contentType` both fit `type`;
// else a sentence for the client naming what disagrees.
QString mismatch(const MediaType &type, const QString &fileName, const QString &contentType);
} // namespace MediaSniffer
