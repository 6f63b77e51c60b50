#pragma once

#include "expected.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>

#include <optional>

// A validated job: what to read, what to write and how to encode it. Parsed
// from strict JSON (unknown fields, wrong types and out-of-range values are
// refused with the field's path and the reason, e.g. "video.crf: must be an
// integer from 0 to 51"). Used by the engine (submission) and by
// framehouse-worker (which receives it on stdin), so it depends on QtCore only.
//
// JSON shape (every field except input/output optional, defaults below):
//   {"input":     {"path": "/abs/file"} | {"upload": "upl_<24 base62>"},
//    "output":    {"directory": "/abs/dir", "name": "file.mp4"},
//    "container": "mp4" | "mkv" | "mov" | "webm",
//    "video":     {"codec": "h264"|"hevc"|"av1"|"vp9"|"copy"|"none",
//                  "crf": 0..63 (codec-dependent max) | "bitrate_kbps": 50..500000,
//                  "speed": "ultrafast".."veryslow",
//                  "max_width": 16..8192, "max_height": 16..8192,
//                  "fps": 1..240, "pixel_format": "yuv420p"|"yuv420p10le"},
//    "audio":     {"codec": "copy"|"aac"|"opus"|"none", "bitrate_kbps": 16..512},
//    "trim":      {"start_s": 0..864000, "duration_s": > 0 and <= 864000},
//    "priority":  -100..100,
//    "hardware":  "auto"|"nvenc"|"vaapi"|"qsv"|"software"}
// Paths are absolute and already normalised (no "//", "." or ".." parts, no
// trailing "/"), at most 4096 bytes, without control characters. The output
// name is one directory entry: 1..200 bytes of UTF-8, no "/" or "\", no
// leading "." (temporary outputs use one), no control, line-separator or
// bidirectional-control characters, ending with the container's extension.
// An upload is "upl_" and 24 base62 characters.
struct JobSpec {
    enum class Container { Mp4, Mkv, Mov, Webm };
    enum class VideoCodec { H264, Hevc, Av1, Vp9, Copy, None };
    enum class AudioCodec { Copy, Aac, Opus, None };
    enum class Hardware { Auto, Nvenc, Vaapi, Qsv, Software };

    // Exactly one of inputPath / inputUpload is set.
    QString inputPath;
    QString inputUpload;
    QString outputDirectory;
    QString outputName;
    Container container = Container::Mp4;

    VideoCodec videoCodec = VideoCodec::H264;
    std::optional<int> crf;         // when neither is given the encoder default CRF applies
    std::optional<int> bitrateKbps; // video target bitrate
    QString speed = QStringLiteral("medium");
    std::optional<int> maxWidth;
    std::optional<int> maxHeight;
    std::optional<double> fps;
    QString pixelFormat = QStringLiteral("yuv420p");

    AudioCodec audioCodec = AudioCodec::Aac;
    int audioBitrateKbps = 128;

    double trimStartS = 0;
    std::optional<double> trimDurationS;

    int priority = 0;
    Hardware hardware = Hardware::Auto;

    // Strict parse and validation of the JSON shape above, including the
    // combinations (codec allowed in the container, crf range per codec,
    // "copy" video with no scaling or fps, at least one of video and audio).
    // The output name must end with the container's extension. Whether the
    // paths lie inside the allowed roots is the engine's decision, not this.
    // The message names the first field at fault: "<path>: <reason>".
    static Expected<JobSpec> fromJson(const QJsonObject &json);
    // Canonical JSON: every field written, defaults included, except those
    // that do not apply (the encoding settings of "copy"/"none" video, the
    // bitrate of "copy"/"none" audio) and unset optionals; fromJson(toJson())
    // round-trips.
    QJsonObject toJson() const;
    // Every leaf field of the JSON shape as a dotted path ("video.crf"), in
    // the order above.
    static QStringList fieldPaths();

    bool operator==(const JobSpec &other) const = default;

    static QString containerName(Container c);
    static QString videoCodecName(VideoCodec c);
    static QString audioCodecName(AudioCodec c);
    static QString hardwareName(Hardware h);
    // The output file's extension for a container ("mp4", "mkv", "mov", "webm").
    static QString extension(Container c);
};
