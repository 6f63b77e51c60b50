#pragma once

#include "expected.h"
#include "fdavio.h"

#include <QByteArray>
#include <QString>

#include <memory>

extern "C" {
#include <libavcodec/codec_id.h>
}

struct AVCodec;
struct AVDictionary;
struct AVFormatContext;
struct AVIOContext;

// The untrusted input, opened from its descriptor with every door FFmpeg
// has closed: no protocol may be opened at all (an empty protocol
// whitelist, and an io_open callback that refuses any nested open), only
// the demuxers and decoders listed here, bounded probing, and a pixel
// limit checked both on what the container claims and on what the
// streams turn out to be. Failures carry WorkerError codes.
class InputFile {
public:
    static constexpr int MaxDimension = 8192;
    static constexpr qint64 MaxPixels = qint64(MaxDimension) * MaxDimension;

    static Expected<std::unique_ptr<InputFile>> open(int fd);
    ~InputFile();
    InputFile(const InputFile &) = delete;
    InputFile &operator=(const InputFile &) = delete;

    AVFormatContext *format() const { return m_format; }
    // -1 when the input has none.
    int videoStream() const { return m_video; }
    int audioStream() const { return m_audio; }
    // The container's start and duration (0 when it does not say).
    qint64 startUs() const;
    qint64 durationUs() const;

    // The decoder we accept for `id`, or nullptr.
    static const AVCodec *decoderFor(AVCodecID id);
    // Adds the decoder restrictions (codec whitelist, pixel limit) to `options`.
    static void restrictDecoder(AVDictionary **options);

private:
    InputFile() = default;
    Expected<void> openFormat(int fd);
    Expected<void> checkDimensions(const QString &stage) const;
    void chooseStreams();
    static int refuseNestedOpen(AVFormatContext *format, AVIOContext **pb, const char *url,
                                int flags, AVDictionary **options);

    std::unique_ptr<FdAvio> m_io;
    AVFormatContext *m_format = nullptr;
    int m_video = -1;
    int m_audio = -1;
    bool m_nestedOpenRefused = false;
};
