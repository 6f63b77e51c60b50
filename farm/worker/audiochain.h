#pragma once

#include "avhandles.h"
#include "expected.h"
#include "jobs/jobspec.h"

#include <functional>
#include <optional>

// The audio path: decode -> filter graph (timestamps moved to the job's
// origin, trim, swresample to the encoder's sample format, rate and
// layout, frames cut to the encoder's frame size) -> AAC or Opus encoder.
// The graph is built from the first decoded frame. Failures carry
// WorkerError codes.
class AudioChain {
public:
    using PacketSink = std::function<Expected<void>(AVPacket *packet)>;

    AudioChain(AVStream *stream, JobSpec::AudioCodec codec, int bitrateKbps);
    ~AudioChain();
    AudioChain(const AudioChain &) = delete;
    AudioChain &operator=(const AudioChain &) = delete;

    // Decoder and encoder. Times as for VideoChain::openEncoder.
    Expected<void> open(qint64 originUs, std::optional<qint64> endUs, bool globalHeader);
    AVCodecContext *encoder() const { return m_encoder.get(); }

    // Packets go to `sink` in the encoder's time base.
    void setSink(PacketSink sink) { m_sink = std::move(sink); }
    Expected<void> decode(const AVPacket *packet);
    Expected<void> finish();
    bool done() const { return m_graphDone; }

private:
    Expected<void> openEncoder(bool globalHeader);
    Expected<void> receiveFrames();
    Expected<void> buildGraph(const AVFrame *first);
    Expected<void> filter(AVFrame *frame);
    Expected<void> encode(AVFrame *frame);

    AVStream *m_stream;
    JobSpec::AudioCodec m_codec;
    int m_bitrateKbps;
    qint64 m_originUs = 0;
    std::optional<qint64> m_endUs;

    CodecPtr m_decoder;
    bool m_decoderDrained = false;
    GraphPtr m_graph;
    AVFilterContext *m_source = nullptr;
    AVFilterContext *m_sinkFilter = nullptr;
    bool m_graphDone = false;
    // What the graph was built for; a change mid-stream is refused.
    int m_sourceRate = 0;
    int m_sourceFormat = -1;
    AVChannelLayout m_sourceLayout = {};

    CodecPtr m_encoder;
    PacketSink m_sink;
};
