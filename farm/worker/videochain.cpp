#include "videochain.h"

#include "filterpump.h"
#include "hwdevices.h"
#include "inputfile.h"
#include "workererror.h"

#include <QCoreApplication>
#include <QSize>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
}

#include <cmath>
#include <cstdio>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("VideoChain", text); }

// Frames held before the encoder opens: the first one is enough, a few
// more arrive with frame threading.
constexpr size_t MaxHeldFrames = 64;
// Packets kept to replay into a software decoder when hardware decoding
// fails before its first frame.
constexpr size_t MaxReplayPackets = 256;

void note(const QString &text) { std::fprintf(stderr, "%s\n", qPrintable(text)); }

QString rational(AVRational r) { return QStringLiteral("%1/%2").arg(r.num).arg(r.den); }

bool valid(AVRational r) { return r.num > 0 && r.den > 0; }

// Fit within the limits keeping the aspect ratio, never larger than the
// input, even dimensions (4:2:0 needs them).
QSize fitted(int width, int height, std::optional<int> maxWidth, std::optional<int> maxHeight)
{
    double scale = 1.0;
    if (maxWidth && width > *maxWidth)
        scale = std::min(scale, double(*maxWidth) / width);
    if (maxHeight && height > *maxHeight)
        scale = std::min(scale, double(*maxHeight) / height);
    const int w = std::max(2, int(std::floor(width * scale / 2)) * 2);
    const int h = std::max(2, int(std::floor(height * scale / 2)) * 2);
    return {w, h};
}
} // namespace

VideoChain::VideoChain(AVStream *stream, const JobSpec &spec, HwDevices &devices)
    : m_stream(stream)
    , m_spec(spec)
    , m_devices(devices)
{}

VideoChain::~VideoChain() = default;

Expected<void> VideoChain::openDecoder(const QString &hardwareDevice)
{
    m_decoderCodec = InputFile::decoderFor(m_stream->codecpar->codec_id);
    if (!m_decoderCodec)
        return fail(tr("the input's video codec (%1) is not one we decode")
                        .arg(QString::fromUtf8(avcodec_get_name(m_stream->codecpar->codec_id))),
                    WorkerError::Unsupported);
    AVBufferRef *device = nullptr;
    if (!hardwareDevice.isEmpty()) {
        const AVHWDeviceType type =
            av_hwdevice_find_type_by_name(hardwareDevice.toLatin1().constData());
        for (int i = 0;; ++i) {
            const AVCodecHWConfig *config = avcodec_get_hw_config(m_decoderCodec, i);
            if (!config)
                break;
            if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
                config->device_type == type) {
                m_hwFormat = config->pix_fmt;
                break;
            }
        }
        if (m_hwFormat != AV_PIX_FMT_NONE) {
            Expected<AVBufferRef *> opened = m_devices.get(hardwareDevice);
            if (opened)
                device = opened.value();
            else
                m_hwFormat = AV_PIX_FMT_NONE;
        }
    }
    if (device) {
        Expected<void> hardware = openDecoderContext(device);
        if (hardware)
            return {};
        note(tr("note: hardware video decoding did not open (%1); decoding in software")
                 .arg(hardware.error()));
        m_hwFormat = AV_PIX_FMT_NONE;
    }
    return openDecoderContext(nullptr);
}

Expected<void> VideoChain::openDecoderContext(AVBufferRef *device)
{
    m_decoder.reset(avcodec_alloc_context3(m_decoderCodec));
    if (!m_decoder)
        return fail(tr("out of memory opening the video decoder"), WorkerError::InputInvalid);
    int ret = avcodec_parameters_to_context(m_decoder.get(), m_stream->codecpar);
    if (ret < 0)
        return fail(tr("the input's video stream parameters are invalid: %1")
                        .arg(AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    m_decoder->pkt_timebase = m_stream->time_base;
    m_decoder->thread_count = 0;
    if (device) {
        m_decoder->hw_device_ctx = av_buffer_ref(device);
        m_decoder->opaque = this;
        m_decoder->get_format = &VideoChain::pickFormat;
    }
    AVDictionary *options = nullptr;
    InputFile::restrictDecoder(&options);
    ret = avcodec_open2(m_decoder.get(), m_decoderCodec, &options);
    av_dict_free(&options);
    if (ret < 0)
        return fail(tr("cannot open the %1 decoder: %2")
                        .arg(QString::fromUtf8(m_decoderCodec->name), AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    return {};
}

AVPixelFormat VideoChain::pickFormat(AVCodecContext *context, const AVPixelFormat *formats)
{
    const auto *self = static_cast<const VideoChain *>(context->opaque);
    for (const AVPixelFormat *p = formats; *p != AV_PIX_FMT_NONE; ++p)
        if (*p == self->m_hwFormat)
            return *p;
    // Not for this stream after all (profile, size): the decoder goes on in
    // software and its frames simply arrive in memory.
    for (const AVPixelFormat *p = formats; *p != AV_PIX_FMT_NONE; ++p) {
        const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(*p);
        if (desc && !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL)) {
            note(tr("note: the hardware decoder does not take this stream; decoding in software"));
            return *p;
        }
    }
    return AV_PIX_FMT_NONE;
}

Expected<void> VideoChain::decode(const AVPacket *packet)
{
    if (m_hwFormat != AV_PIX_FMT_NONE && !m_sawFrame) {
        if (m_sentBeforeFirstFrame.size() >= MaxReplayPackets)
            return fail(
                tr("the hardware decoder returned no frame for %1 packets").arg(MaxReplayPackets),
                WorkerError::HardwareFailed);
        PacketPtr copy(packet ? av_packet_clone(packet) : nullptr);
        if (packet && !copy)
            return fail(tr("out of memory decoding the input"), WorkerError::InputInvalid);
        m_sentBeforeFirstFrame.push_back(std::move(copy));
    }
    return sendToDecoder(packet);
}

Expected<void> VideoChain::sendToDecoder(const AVPacket *packet)
{
    if (!packet) {
        if (m_decoderDrained)
            return {};
        m_decoderDrained = true;
    }
    const int ret = avcodec_send_packet(m_decoder.get(), packet);
    if (ret == AVERROR_INVALIDDATA) {
        ++m_decodeErrors; // one damaged packet: the decoder resynchronises
    } else if (ret < 0 && ret != AVERROR_EOF) {
        const QString why = AvHandles::errorText(ret);
        if (m_hwFormat != AV_PIX_FMT_NONE && !m_sawFrame)
            return fallBackToSoftwareDecoding(why);
        return fail(tr("cannot decode the input's video: %1").arg(why),
                    m_hwFormat != AV_PIX_FMT_NONE ? WorkerError::HardwareFailed
                                                  : WorkerError::InputInvalid);
    }
    return receiveFrames();
}

Expected<void> VideoChain::receiveFrames()
{
    for (;;) {
        FramePtr frame = makeFrame();
        int ret = avcodec_receive_frame(m_decoder.get(), frame.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return {};
        if (ret == AVERROR_INVALIDDATA) {
            ++m_decodeErrors;
            continue;
        }
        if (ret < 0) {
            const QString why = AvHandles::errorText(ret);
            if (m_hwFormat != AV_PIX_FMT_NONE && !m_sawFrame)
                return fallBackToSoftwareDecoding(why);
            return fail(tr("cannot decode the input's video: %1").arg(why),
                        m_hwFormat != AV_PIX_FMT_NONE ? WorkerError::HardwareFailed
                                                      : WorkerError::InputInvalid);
        }
        if (m_hwFormat != AV_PIX_FMT_NONE && frame->format == m_hwFormat) {
            FramePtr software = makeFrame();
            ret = av_hwframe_transfer_data(software.get(), frame.get(), 0);
            if (ret >= 0)
                ret = av_frame_copy_props(software.get(), frame.get());
            if (ret < 0) {
                const QString why = AvHandles::errorText(ret);
                if (!m_sawFrame)
                    return fallBackToSoftwareDecoding(why);
                return fail(tr("cannot read a hardware-decoded frame back: %1").arg(why),
                            WorkerError::HardwareFailed);
            }
            frame = std::move(software);
        }
        frame->pts = frame->best_effort_timestamp;
        if (frame->pts == AV_NOPTS_VALUE)
            continue; // nowhere to place it on the timeline
        if (!m_sawFrame) {
            m_sawFrame = true;
            m_sentBeforeFirstFrame.clear();
        }
        if (!m_started) {
            if (m_held.size() >= MaxHeldFrames)
                return fail(tr("too many video frames before the encoder opened"),
                            WorkerError::InputInvalid);
            m_held.push_back(std::move(frame));
            continue;
        }
        Expected<void> filtered = filter(frame.get());
        if (!filtered)
            return filtered;
    }
}

Expected<void> VideoChain::fallBackToSoftwareDecoding(const QString &why)
{
    note(tr("note: hardware video decoding failed (%1); decoding in software").arg(why));
    m_hwFormat = AV_PIX_FMT_NONE;
    m_decoderDrained = false;
    Expected<void> opened = openDecoderContext(nullptr);
    if (!opened)
        return opened;
    std::vector<PacketPtr> replay = std::move(m_sentBeforeFirstFrame);
    m_sentBeforeFirstFrame.clear();
    for (const PacketPtr &packet : replay) {
        Expected<void> sent = sendToDecoder(packet.get());
        if (!sent)
            return sent;
    }
    return {};
}

Expected<void> VideoChain::openEncoder(const QList<EncoderChoice::Candidate> &candidates,
                                       qint64 originUs, std::optional<qint64> endUs,
                                       bool globalHeader, QList<EncoderChoice::Skipped> *fallbacks)
{
    if (m_held.empty())
        return fail(tr("the input's video stream has no frame that decodes"),
                    WorkerError::InputInvalid);
    QStringList reasons;
    for (const EncoderChoice::Candidate &candidate : candidates) {
        Expected<void> opened = tryCandidate(candidate, originUs, endUs, globalHeader);
        if (opened) {
            m_candidate = candidate;
            return {};
        }
        fallbacks->append({candidate.encoder, opened.error()});
        reasons << candidate.encoder + QStringLiteral(": ") + opened.error();
        note(tr("note: %1 did not open (%2); trying the next encoder")
                 .arg(candidate.encoder, opened.error()));
    }
    return fail(tr("no encoder opened (%1)").arg(reasons.join(QStringLiteral("; "))),
                WorkerError::EncoderFailed);
}

Expected<void> VideoChain::tryCandidate(const EncoderChoice::Candidate &candidate, qint64 originUs,
                                        std::optional<qint64> endUs, bool globalHeader)
{
    m_encoder.reset();
    m_graph.reset();
    const EncoderSettings::Encoder *known = EncoderSettings::find(candidate.encoder);
    if (!known)
        return fail(tr("not an encoder this worker drives"));
    const AVCodec *codec = avcodec_find_encoder_by_name(known->name);
    if (!codec)
        return fail(tr("not available in this FFmpeg build"));
    QString error;
    const AVPixelFormat format =
        EncoderSettings::softwareFormat(*known, codec, m_spec.pixelFormat, &error);
    if (format == AV_PIX_FMT_NONE)
        return fail(error);
    AVBufferRef *device = nullptr;
    if (known->device) {
        Expected<AVBufferRef *> opened = m_devices.get(QString::fromLatin1(known->device));
        if (!opened)
            return fail(opened.error());
        device = opened.value();
    }
    Expected<void> graph = buildGraph(
        *known, format, EncoderSettings::uploadsFrames(*known) ? device : nullptr, originUs, endUs);
    if (!graph)
        return graph;

    m_encoder.reset(avcodec_alloc_context3(codec));
    if (!m_encoder)
        return fail(tr("out of memory"));
    AVCodecContext *enc = m_encoder.get();
    const AVFrame *first = m_held.front().get();
    enc->width = av_buffersink_get_w(m_sinkFilter);
    enc->height = av_buffersink_get_h(m_sinkFilter);
    enc->pix_fmt = AVPixelFormat(av_buffersink_get_format(m_sinkFilter));
    enc->sample_aspect_ratio = av_buffersink_get_sample_aspect_ratio(m_sinkFilter);
    enc->time_base = av_buffersink_get_time_base(m_sinkFilter);
    AVRational rate = av_buffersink_get_frame_rate(m_sinkFilter);
    if (!valid(rate))
        rate = valid(m_stream->avg_frame_rate) ? m_stream->avg_frame_rate
               : valid(m_stream->r_frame_rate) ? m_stream->r_frame_rate
                                               : AVRational{25, 1};
    enc->framerate = rate;
    enc->color_range = first->color_range;
    enc->color_primaries = first->color_primaries;
    enc->color_trc = first->color_trc;
    enc->colorspace = first->colorspace;
    enc->chroma_sample_location = first->chroma_location;
    if (AVBufferRef *frames = av_buffersink_get_hw_frames_ctx(m_sinkFilter))
        enc->hw_frames_ctx = av_buffer_ref(frames);
    if (device && known->family == EncoderSettings::Family::Nvenc)
        enc->hw_device_ctx = av_buffer_ref(device);
    if (globalHeader)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *options = nullptr;
    EncoderSettings::apply(*known, m_spec, enc, &options);
    const int ret = avcodec_open2(enc, codec, &options);
    av_dict_free(&options);
    if (ret < 0) {
        m_encoder.reset();
        m_graph.reset();
        return fail(AvHandles::errorText(ret));
    }
    m_packetDuration = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), enc->time_base));
    return {};
}

Expected<void> VideoChain::buildGraph(const EncoderSettings::Encoder &encoder, AVPixelFormat format,
                                      AVBufferRef *device, qint64 originUs,
                                      std::optional<qint64> endUs)
{
    const AVFrame *first = m_held.front().get();
    m_graph.reset(avfilter_graph_alloc());
    if (!m_graph)
        return fail(tr("out of memory"));
    m_graphDone = false;
    AVRational aspect = first->sample_aspect_ratio;
    if (!valid(aspect))
        aspect = {1, 1};
    QString sourceArgs = QStringLiteral("video_size=%1x%2:pix_fmt=%3:time_base=%4:pixel_aspect=%5")
                             .arg(first->width)
                             .arg(first->height)
                             .arg(first->format)
                             .arg(rational(m_stream->time_base), rational(aspect));
    if (valid(m_stream->avg_frame_rate))
        sourceArgs += QStringLiteral(":frame_rate=") + rational(m_stream->avg_frame_rate);
    int ret =
        avfilter_graph_create_filter(&m_source, avfilter_get_by_name("buffer"), "in",
                                     sourceArgs.toLatin1().constData(), nullptr, m_graph.get());
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&m_sinkFilter, avfilter_get_by_name("buffersink"), "out",
                                           nullptr, nullptr, m_graph.get());
    if (ret < 0)
        return fail(tr("cannot set up the video filters: %1").arg(AvHandles::errorText(ret)));

    const qint64 offset = av_rescale_q(originUs, AV_TIME_BASE_Q, m_stream->time_base);
    QStringList chain;
    chain << QStringLiteral("setpts=PTS-(%1)").arg(offset);
    QString trim = QStringLiteral("trim=start=0");
    if (endUs)
        trim += QStringLiteral(":end=%1").arg(double(*endUs) / 1e6, 0, 'f', 6);
    chain << trim;
    if (m_spec.fps)
        chain << QStringLiteral("fps=fps=") + rational(av_d2q(*m_spec.fps, 1'001'000));
    const QSize size = fitted(first->width, first->height, m_spec.maxWidth, m_spec.maxHeight);
    chain << QStringLiteral("scale=w=%1:h=%2").arg(size.width()).arg(size.height());
    chain << QStringLiteral("format=pix_fmts=") + QString::fromLatin1(av_get_pix_fmt_name(format));
    if (device)
        chain << (encoder.family == EncoderSettings::Family::Qsv
                      ? QStringLiteral("hwupload=extra_hw_frames=64")
                      : QStringLiteral("hwupload"));

    AVFilterInOut *outputs = avfilter_inout_alloc();
    AVFilterInOut *inputs = avfilter_inout_alloc();
    if (!outputs || !inputs) {
        avfilter_inout_free(&outputs);
        avfilter_inout_free(&inputs);
        return fail(tr("out of memory"));
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = m_source;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = m_sinkFilter;
    ret = avfilter_graph_parse_ptr(m_graph.get(), chain.join(u',').toLatin1().constData(), &inputs,
                                   &outputs, nullptr);
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    if (ret >= 0 && device) {
        for (unsigned i = 0; i < m_graph->nb_filters; ++i)
            m_graph->filters[i]->hw_device_ctx = av_buffer_ref(device);
    }
    if (ret >= 0)
        ret = avfilter_graph_config(m_graph.get(), nullptr);
    if (ret < 0)
        return fail(tr("cannot set up the video filters: %1").arg(AvHandles::errorText(ret)));
    return {};
}

Expected<void> VideoChain::start()
{
    m_started = true;
    while (!m_held.empty()) {
        FramePtr frame = std::move(m_held.front());
        m_held.pop_front();
        Expected<void> filtered = filter(frame.get());
        if (!filtered)
            return filtered;
    }
    return {};
}

Expected<void> VideoChain::finish()
{
    Expected<void> drained = sendToDecoder(nullptr);
    if (!drained)
        return drained;
    Expected<void> filtered = filter(nullptr);
    if (!filtered)
        return filtered;
    return encode(nullptr);
}

Expected<void> VideoChain::filter(AVFrame *frame)
{
    return FilterPump::push(
        m_source, m_sinkFilter, frame, m_graphDone, tr("the video filters failed: %1"),
        m_candidate.hardware ? WorkerError::HardwareFailed : WorkerError::EncoderFailed,
        [this](AVFrame *out) {
            out->pict_type = AV_PICTURE_TYPE_NONE;
            return encode(out);
        });
}

Expected<void> VideoChain::encode(AVFrame *frame)
{
    int ret = avcodec_send_frame(m_encoder.get(), frame);
    if (ret < 0 && ret != AVERROR_EOF)
        return encodingFailure(ret);
    for (;;) {
        PacketPtr packet = makePacket();
        ret = avcodec_receive_packet(m_encoder.get(), packet.get());
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return {};
        if (ret < 0)
            return encodingFailure(ret);
        if (packet->duration <= 0)
            packet->duration = m_packetDuration;
        Expected<void> written = m_sink(packet.get());
        if (!written)
            return written;
    }
}

Failure VideoChain::encodingFailure(int ret) const
{
    return fail(
        tr("%1 failed while encoding: %2").arg(m_candidate.encoder, AvHandles::errorText(ret)),
        m_candidate.hardware ? WorkerError::HardwareFailed : WorkerError::EncoderFailed);
}
