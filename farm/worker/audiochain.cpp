#include "audiochain.h"

#include "filterpump.h"
#include "inputfile.h"
#include "workererror.h"

#include <QCoreApplication>
#include <QStringList>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

namespace {
QString tr(const char *text) { return QCoreApplication::translate("AudioChain", text); }

QString layoutName(const AVChannelLayout &layout)
{
    char text[128] = {};
    av_channel_layout_describe(&layout, text, sizeof text);
    return QString::fromLatin1(text);
}

bool codecHasLayout(const AVCodec *codec, const AVChannelLayout &layout)
{
    if (!codec->ch_layouts)
        return false;
    for (const AVChannelLayout *l = codec->ch_layouts; l->nb_channels; ++l)
        if (av_channel_layout_compare(l, &layout) == 0)
            return true;
    return false;
}

bool codecHasRate(const AVCodec *codec, int rate)
{
    if (!codec->supported_samplerates)
        return true;
    for (const int *r = codec->supported_samplerates; *r; ++r)
        if (*r == rate)
            return true;
    return false;
}
} // namespace

AudioChain::AudioChain(AVStream *stream, JobSpec::AudioCodec codec, int bitrateKbps)
    : m_stream(stream)
    , m_codec(codec)
    , m_bitrateKbps(bitrateKbps)
{}

AudioChain::~AudioChain() { av_channel_layout_uninit(&m_sourceLayout); }

Expected<void> AudioChain::open(qint64 originUs, std::optional<qint64> endUs, bool globalHeader)
{
    m_originUs = originUs;
    m_endUs = endUs;
    const AVCodec *decoder = InputFile::decoderFor(m_stream->codecpar->codec_id);
    if (!decoder)
        return fail(tr("the input's audio codec (%1) is not one we decode")
                        .arg(QString::fromUtf8(avcodec_get_name(m_stream->codecpar->codec_id))),
                    WorkerError::Unsupported);
    m_decoder.reset(avcodec_alloc_context3(decoder));
    if (!m_decoder)
        return fail(tr("out of memory opening the audio decoder"), WorkerError::InputInvalid);
    int ret = avcodec_parameters_to_context(m_decoder.get(), m_stream->codecpar);
    if (ret < 0)
        return fail(tr("the input's audio stream parameters are invalid: %1")
                        .arg(AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    m_decoder->pkt_timebase = m_stream->time_base;
    AVDictionary *options = nullptr;
    InputFile::restrictDecoder(&options);
    ret = avcodec_open2(m_decoder.get(), decoder, &options);
    av_dict_free(&options);
    if (ret < 0)
        return fail(tr("cannot open the %1 decoder: %2")
                        .arg(QString::fromUtf8(decoder->name), AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    return openEncoder(globalHeader);
}

Expected<void> AudioChain::openEncoder(bool globalHeader)
{
    const bool opus = m_codec == JobSpec::AudioCodec::Opus;
    const AVCodec *codec = avcodec_find_encoder_by_name(opus ? "libopus" : "aac");
    if (!codec)
        return fail(tr("the %1 encoder is not available in this FFmpeg build")
                        .arg(QLatin1StringView(opus ? "libopus" : "aac")),
                    WorkerError::EncoderFailed);
    m_encoder.reset(avcodec_alloc_context3(codec));
    if (!m_encoder)
        return fail(tr("out of memory opening the audio encoder"), WorkerError::EncoderFailed);
    AVCodecContext *enc = m_encoder.get();

    enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    if (opus && codec->sample_fmts) {
        for (const AVSampleFormat *f = codec->sample_fmts; *f != AV_SAMPLE_FMT_NONE; ++f)
            if (*f == AV_SAMPLE_FMT_FLT)
                enc->sample_fmt = *f;
    }
    const int inputRate = m_stream->codecpar->sample_rate;
    enc->sample_rate =
        opus ? 48000 : (inputRate > 0 && codecHasRate(codec, inputRate) ? inputRate : 48000);
    const AVChannelLayout &input = m_stream->codecpar->ch_layout;
    int ret = 0;
    if (!opus && input.order != AV_CHANNEL_ORDER_UNSPEC && codecHasLayout(codec, input))
        ret = av_channel_layout_copy(&enc->ch_layout, &input);
    else
        av_channel_layout_default(&enc->ch_layout, input.nb_channels == 1 ? 1 : 2);
    if (ret < 0)
        return fail(tr("out of memory opening the audio encoder"), WorkerError::EncoderFailed);
    enc->bit_rate = qint64(m_bitrateKbps) * 1000;
    enc->time_base = {1, enc->sample_rate};
    if (globalHeader)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    ret = avcodec_open2(enc, codec, nullptr);
    if (ret < 0)
        return fail(tr("cannot open the %1 encoder: %2")
                        .arg(QString::fromUtf8(codec->name), AvHandles::errorText(ret)),
                    WorkerError::EncoderFailed);
    return {};
}

Expected<void> AudioChain::decode(const AVPacket *packet)
{
    if (m_graphDone)
        return {}; // past the trim end
    if (!packet) {
        if (m_decoderDrained)
            return {};
        m_decoderDrained = true;
    }
    const int ret = avcodec_send_packet(m_decoder.get(), packet);
    if (ret < 0 && ret != AVERROR_EOF && ret != AVERROR_INVALIDDATA)
        return fail(tr("cannot decode the input's audio: %1").arg(AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    return receiveFrames();
}

Expected<void> AudioChain::receiveFrames()
{
    for (;;) {
        FramePtr frame = makeFrame();
        const int ret = avcodec_receive_frame(m_decoder.get(), frame.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return {};
        if (ret == AVERROR_INVALIDDATA)
            continue;
        if (ret < 0)
            return fail(tr("cannot decode the input's audio: %1").arg(AvHandles::errorText(ret)),
                        WorkerError::InputInvalid);
        frame->pts = frame->best_effort_timestamp;
        if (frame->pts == AV_NOPTS_VALUE || frame->nb_samples <= 0)
            continue;
        if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
            const int channels = frame->ch_layout.nb_channels;
            av_channel_layout_uninit(&frame->ch_layout);
            av_channel_layout_default(&frame->ch_layout, channels);
        }
        if (!m_graph) {
            Expected<void> built = buildGraph(frame.get());
            if (!built)
                return built;
        } else if (frame->sample_rate != m_sourceRate || frame->format != m_sourceFormat ||
                   av_channel_layout_compare(&frame->ch_layout, &m_sourceLayout) != 0) {
            return fail(tr("the input's audio changes format mid-stream (%1 Hz %2 to %3 Hz %4), "
                           "which is not supported")
                            .arg(m_sourceRate)
                            .arg(layoutName(m_sourceLayout))
                            .arg(frame->sample_rate)
                            .arg(layoutName(frame->ch_layout)),
                        WorkerError::Unsupported);
        }
        Expected<void> filtered = filter(frame.get());
        if (!filtered)
            return filtered;
    }
}

Expected<void> AudioChain::buildGraph(const AVFrame *first)
{
    m_graph.reset(avfilter_graph_alloc());
    if (!m_graph)
        return fail(tr("out of memory"), WorkerError::EncoderFailed);
    m_sourceRate = first->sample_rate;
    m_sourceFormat = first->format;
    av_channel_layout_uninit(&m_sourceLayout);
    if (av_channel_layout_copy(&m_sourceLayout, &first->ch_layout) < 0)
        return fail(tr("out of memory"), WorkerError::EncoderFailed);

    const AVRational tb = m_stream->time_base;
    const QString sourceArgs =
        QStringLiteral("time_base=%1/%2:sample_rate=%3:sample_fmt=%4:channel_layout=%5")
            .arg(tb.num)
            .arg(tb.den)
            .arg(first->sample_rate)
            .arg(QString::fromLatin1(av_get_sample_fmt_name(AVSampleFormat(first->format))),
                 layoutName(first->ch_layout));
    int ret =
        avfilter_graph_create_filter(&m_source, avfilter_get_by_name("abuffer"), "in",
                                     sourceArgs.toLatin1().constData(), nullptr, m_graph.get());
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&m_sinkFilter, avfilter_get_by_name("abuffersink"),
                                           "out", nullptr, nullptr, m_graph.get());
    if (ret < 0)
        return fail(tr("cannot set up the audio filters: %1").arg(AvHandles::errorText(ret)),
                    WorkerError::EncoderFailed);

    const AVCodecContext *enc = m_encoder.get();
    QStringList chain;
    chain << QStringLiteral("asetpts=PTS-(%1)").arg(av_rescale_q(m_originUs, AV_TIME_BASE_Q, tb));
    QString trim = QStringLiteral("atrim=start=0");
    if (m_endUs)
        trim += QStringLiteral(":end=%1").arg(double(*m_endUs) / 1e6, 0, 'f', 6);
    chain << trim;
    chain << QStringLiteral("aresample=%1").arg(enc->sample_rate);
    chain << QStringLiteral("aformat=sample_fmts=%1:sample_rates=%2:channel_layouts=%3")
                 .arg(QString::fromLatin1(av_get_sample_fmt_name(enc->sample_fmt)))
                 .arg(enc->sample_rate)
                 .arg(layoutName(enc->ch_layout));

    AVFilterInOut *outputs = avfilter_inout_alloc();
    AVFilterInOut *inputs = avfilter_inout_alloc();
    if (!outputs || !inputs) {
        avfilter_inout_free(&outputs);
        avfilter_inout_free(&inputs);
        return fail(tr("out of memory"), WorkerError::EncoderFailed);
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = m_source;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = m_sinkFilter;
    ret = avfilter_graph_parse_ptr(m_graph.get(), chain.join(u',').toLatin1().constData(), &inputs,
                                   &outputs, nullptr);
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    if (ret >= 0)
        ret = avfilter_graph_config(m_graph.get(), nullptr);
    if (ret < 0)
        return fail(tr("cannot set up the audio filters: %1").arg(AvHandles::errorText(ret)),
                    WorkerError::EncoderFailed);
    if (!(enc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) && enc->frame_size > 0)
        av_buffersink_set_frame_size(m_sinkFilter, unsigned(enc->frame_size));
    return {};
}

Expected<void> AudioChain::finish()
{
    Expected<void> drained = decode(nullptr);
    if (!drained)
        return drained;
    if (m_graph) {
        Expected<void> filtered = filter(nullptr);
        if (!filtered)
            return filtered;
    }
    return encode(nullptr);
}

Expected<void> AudioChain::filter(AVFrame *frame)
{
    const AVRational sinkBase = av_buffersink_get_time_base(m_sinkFilter);
    return FilterPump::push(
        m_source, m_sinkFilter, frame, m_graphDone, tr("the audio filters failed: %1"),
        WorkerError::EncoderFailed, [&](AVFrame *out) {
            if (out->pts != AV_NOPTS_VALUE)
                out->pts = av_rescale_q(out->pts, sinkBase, m_encoder->time_base);
            return encode(out);
        });
}

Expected<void> AudioChain::encode(AVFrame *frame)
{
    int ret = avcodec_send_frame(m_encoder.get(), frame);
    if (ret < 0 && ret != AVERROR_EOF)
        return fail(tr("%1 failed while encoding: %2")
                        .arg(QString::fromUtf8(m_encoder->codec->name), AvHandles::errorText(ret)),
                    WorkerError::EncoderFailed);
    for (;;) {
        PacketPtr packet = makePacket();
        ret = avcodec_receive_packet(m_encoder.get(), packet.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return {};
        if (ret < 0)
            return fail(
                tr("%1 failed while encoding: %2")
                    .arg(QString::fromUtf8(m_encoder->codec->name), AvHandles::errorText(ret)),
                WorkerError::EncoderFailed);
        Expected<void> written = m_sink(packet.get());
        if (!written)
            return written;
    }
}
