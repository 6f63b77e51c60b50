#pragma once

#include <QList>
#include <QString>

// Test media made with the FFmpeg libraries: small clips with a moving
// picture and a tone, damaged files, and a probe that reads any file back.
// Errors come back as a message (empty on success).
namespace MediaGen {
struct ClipOptions {
    int width = 320;
    int height = 240;
    int fps = 30;
    double seconds = 3;
    bool audio = true;
    bool video = true;
    QString videoCodec = QStringLiteral("libx264"); // an FFmpeg encoder name
    QString audioCodec = QStringLiteral("aac");     // an FFmpeg encoder name
    QString container = QStringLiteral("mp4");      // an FFmpeg muxer name; "mkv" is matroska
    int sampleRate = 44100;
    int channels = 2;
    int keyFrameSeconds = 1; // one key frame every this many seconds
};
// Frames carry their number (0, 1, ...) as an 8-bit code in a band across
// the top, above a moving gradient and a bouncing square; the audio is a
// 440 Hz tone.

QString writeClip(const QString &path, const ClipOptions &options = {});
// The numbers drawn into the decoded video frames of a clip writeClip made
// (0 for its first frame, counting modulo 256), in presentation order: which part of the clip a
// trimmed or copied output holds.
QString readFrameNumbers(const QString &path, QList<int> *numbers);
// Cuts the file to `fraction` of its size.
QString truncate(const QString &path, double fraction);
// A real Matroska file whose video stream declares 100000x100000 pixels
// (the frames inside are small MJPEG pictures).
QString writeHugeDimensionClip(const QString &path);

struct Stream {
    QString type; // "video", "audio", "subtitle", "data", ...
    QString codec;
    int width = 0;
    int height = 0;
    QString pixelFormat; // video only, e.g. "yuv420p10le"
    int channels = 0;
    int sampleRate = 0;
    qint64 startUs = 0;    // first packet's presentation time
    qint64 durationUs = 0; // from the first packet's start to the last one's end
    qint64 packets = 0;
};
struct Probe {
    QString error; // empty when the file opened and was read to the end
    QString format;
    qint64 durationUs = 0; // as the container reports it
    QList<Stream> streams;

    // The first stream of `type`, or nullptr.
    const Stream *first(const QString &type) const;
};
Probe probe(const QString &path);
} // namespace MediaGen
