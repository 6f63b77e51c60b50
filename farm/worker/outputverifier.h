#pragma once

#include "expected.h"

#include <QJsonObject>
#include <QList>

extern "C" {
#include <libavcodec/codec_id.h>
#include <libavutil/avutil.h>
}

// Reads the finished output back from offset 0 through its own
// AVIOContext on the output descriptor (pread, so the muxer's offset is
// not disturbed) and checks it is what the job asked for: the streams
// with their codecs and dimensions, every video packet, and the duration
// within one frame. What it measured becomes the "finished" message.
class OutputVerifier {
public:
    struct Stream {
        AVMediaType type = AVMEDIA_TYPE_UNKNOWN;
        AVCodecID codec = AV_CODEC_ID_NONE;
        int width = 0;
        int height = 0;
        int channels = 0;
        int sampleRate = 0;
    };
    struct Expectation {
        const char *demuxer = nullptr; // "mov", "matroska"
        QList<Stream> streams;
        qint64 durationUs = 0; // 0: not known, not checked
        qint64 toleranceUs = 0;
        qint64 videoPackets = -1; // -1: not checked
    };

    // The "finished" body, or an OutputFailed failure naming what was wrong.
    static Expected<QJsonObject> verify(int fd, const Expectation &expected);
};
