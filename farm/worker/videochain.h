#pragma once

#include "avhandles.h"
#include "encodersettings.h"
#include "expected.h"
#include "hw/encoderchoice.h"
#include "jobs/jobspec.h"

#include <QList>

#include <deque>
#include <functional>
#include <optional>
#include <vector>

class HwDevices;

// The video path: decode (in software, or on the chosen hardware device
// when it decodes this codec; frames are brought back to memory either
// way) -> filter graph (timestamps moved to the job's origin, trim, fps,
// scale to fit, pixel format, upload for vaapi/qsv) -> encoder. The graph
// is built from the first decoded frame, so its real format and size are
// known; frames decoded before that are held. Failures carry WorkerError
// codes.
class VideoChain {
public:
    using PacketSink = std::function<Expected<void>(AVPacket *packet)>;

    VideoChain(AVStream *stream, const JobSpec &spec, HwDevices &devices);
    ~VideoChain();
    VideoChain(const VideoChain &) = delete;
    VideoChain &operator=(const VideoChain &) = delete;

    // `hardwareDevice`: the device type of the encoder candidate likely to
    // be used ("" for none); decoding uses it when it can.
    Expected<void> openDecoder(const QString &hardwareDevice);
    // One packet from the demuxer; nullptr drains the decoder.
    Expected<void> decode(const AVPacket *packet);
    bool hasFrame() const { return m_sawFrame; }

    // Tries the candidates in order: device, graph and encoder for each;
    // records why each one before the one that opened was left. Times are
    // in microseconds on the input's clock (`originUs` becomes 0) and
    // relative to the origin (`endUs`).
    Expected<void> openEncoder(const QList<EncoderChoice::Candidate> &candidates, qint64 originUs,
                               std::optional<qint64> endUs, bool globalHeader,
                               QList<EncoderChoice::Skipped> *fallbacks);
    AVCodecContext *encoder() const { return m_encoder.get(); }
    const EncoderChoice::Candidate &candidate() const { return m_candidate; }

    // Packets go to `sink` (time base: the encoder's) from start() on;
    // start() sends the frames held until then.
    void setSink(PacketSink sink) { m_sink = std::move(sink); }
    Expected<void> start();
    // Drains decoder, graph and encoder.
    Expected<void> finish();
    // The trim end has passed: nothing more will come out.
    bool done() const { return m_graphDone; }
    qint64 decodeErrors() const { return m_decodeErrors; }

private:
    static AVPixelFormat pickFormat(AVCodecContext *context, const AVPixelFormat *formats);
    Expected<void> openDecoderContext(AVBufferRef *device);
    Expected<void> sendToDecoder(const AVPacket *packet);
    Expected<void> receiveFrames();
    Expected<void> fallBackToSoftwareDecoding(const QString &why);
    Expected<void> tryCandidate(const EncoderChoice::Candidate &candidate, qint64 originUs,
                                std::optional<qint64> endUs, bool globalHeader);
    Expected<void> buildGraph(const EncoderSettings::Encoder &encoder, AVPixelFormat format,
                              AVBufferRef *device, qint64 originUs, std::optional<qint64> endUs);
    Expected<void> filter(AVFrame *frame);
    Expected<void> encode(AVFrame *frame);
    Failure encodingFailure(int ret) const;

    AVStream *m_stream;
    const JobSpec &m_spec;
    HwDevices &m_devices;
    const AVCodec *m_decoderCodec = nullptr;
    CodecPtr m_decoder;
    AVPixelFormat m_hwFormat = AV_PIX_FMT_NONE;
    bool m_sawFrame = false;
    bool m_decoderDrained = false;
    std::vector<PacketPtr> m_sentBeforeFirstFrame; // replayed if hardware decoding fails
    std::deque<FramePtr> m_held;
    qint64 m_decodeErrors = 0;

    GraphPtr m_graph;
    AVFilterContext *m_source = nullptr;
    AVFilterContext *m_sinkFilter = nullptr;
    bool m_graphDone = false;

    CodecPtr m_encoder;
    EncoderChoice::Candidate m_candidate;
    qint64 m_packetDuration = 0;
    bool m_started = false;
    PacketSink m_sink;
};
