#include "mediagen.h"

#include <QFile>
#include <QtGlobal>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <cmath>
#include <memory>
#include <numbers>

namespace {
// Test output stays readable: FFmpeg's encoders report at length otherwise.
void quiet()
{
    av_log_set_level(AV_LOG_ERROR);
    qputenv("SVT_LOG", "1"); // SVT-AV1 logs on its own channel: errors only
}

QString averror(int code)
{
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return QString::fromUtf8(text);
}

struct CodecFree {
    void operator()(AVCodecContext *c) const { avcodec_free_context(&c); }
};
struct FrameFree {
    void operator()(AVFrame *f) const { av_frame_free(&f); }
};
struct PacketFree {
    void operator()(AVPacket *p) const { av_packet_free(&p); }
};
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;

// An output file being written; closes and frees whatever was opened.
class Output {
public:
    ~Output()
    {
        if (!format)
            return;
        if (!(format->oformat->flags & AVFMT_NOFILE))
            avio_closep(&format->pb);
        avformat_free_context(format);
    }

    QString open(const QString &path, const QString &container)
    {
        const QByteArray name =
            (container == QLatin1StringView("mkv") ? QStringLiteral("matroska") : container)
                .toLatin1();
        int ret = avformat_alloc_output_context2(&format, nullptr, name.constData(),
                                                 QFile::encodeName(path).constData());
        if (ret < 0 || !format)
            return QStringLiteral("no muxer %1: %2").arg(container, averror(ret));
        ret = avio_open(&format->pb, QFile::encodeName(path).constData(), AVIO_FLAG_WRITE);
        if (ret < 0)
            return QStringLiteral("cannot create %1: %2").arg(path, averror(ret));
        return {};
    }

    // Sends `frame` (nullptr: flush) through `codec` into stream `index`.
    QString encode(AVCodecContext *codec, AVFrame *frame, int index)
    {
        int ret = avcodec_send_frame(codec, frame);
        if (ret < 0 && ret != AVERROR_EOF)
            return QStringLiteral("encoding failed: %1").arg(averror(ret));
        PacketPtr packet(av_packet_alloc());
        for (;;) {
            ret = avcodec_receive_packet(codec, packet.get());
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
                return {};
            if (ret < 0)
                return QStringLiteral("encoding failed: %1").arg(averror(ret));
            packet->stream_index = index;
            av_packet_rescale_ts(packet.get(), codec->time_base, format->streams[index]->time_base);
            ret = av_interleaved_write_frame(format, packet.get());
            if (ret < 0)
                return QStringLiteral("writing failed: %1").arg(averror(ret));
        }
    }

    AVFormatContext *format = nullptr;
};

AVPixelFormat pickPixelFormat(const AVCodec *codec)
{
    if (!codec->pix_fmts)
        return AV_PIX_FMT_YUV420P;
    if (codec->id == AV_CODEC_ID_MJPEG)
        return codec->pix_fmts[0]; // full-range YUV, the only kind JPEG knows
    for (const AVPixelFormat *p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
        if (*p == AV_PIX_FMT_YUV420P)
            return *p;
    return codec->pix_fmts[0];
}

constexpr int CodeBits = 8;

int codeBandHeight(int height) { return std::max(8, height / 12); }

// A diagonal gradient sliding right and a bright square bouncing across,
// so every frame differs; the frame number in a band across the top.
QString drawPicture(AVFrame *frame, int index)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(AVPixelFormat(frame->format));
    if (!desc || (desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_HWACCEL)) ||
        desc->comp[0].depth != 8 || desc->nb_components < 3)
        return QStringLiteral("cannot draw into %1")
            .arg(QString::fromLatin1(desc ? desc->name : "?"));
    const int w = frame->width;
    const int h = frame->height;
    const int band = codeBandHeight(h);
    const int box = std::max(8, h / 6);
    const int span = std::max(1, w - box);
    const int step = (index * 4) % (2 * span);
    const int bx = step < span ? step : 2 * span - step;
    const int by = (h - box) / 2;
    for (int y = 0; y < h; ++y) {
        uint8_t *row = frame->data[0] + y * frame->linesize[0];
        for (int x = 0; x < w; ++x) {
            if (y < band) {
                const int bit = std::min(CodeBits - 1, x * CodeBits / w);
                row[x] = (index >> (CodeBits - 1 - bit)) & 1 ? 235 : 16;
                continue;
            }
            const bool inBox = x >= bx && x < bx + box && y >= by && y < by + box;
            row[x] = inBox ? 235 : uint8_t(40 + ((x + y + index * 3) % 160));
        }
    }
    const int cw = AV_CEIL_RSHIFT(w, desc->log2_chroma_w);
    const int ch = AV_CEIL_RSHIFT(h, desc->log2_chroma_h);
    const int chromaBand = AV_CEIL_RSHIFT(band, desc->log2_chroma_h);
    for (int plane = 1; plane <= 2; ++plane)
        for (int y = 0; y < ch; ++y) {
            uint8_t *row = frame->data[plane] + y * frame->linesize[plane];
            for (int x = 0; x < cw; ++x)
                row[x] = y < chromaBand ? 128
                         : plane == 1   ? uint8_t(64 + (x * 128) / std::max(1, cw))
                                        : uint8_t(64 + ((y + index) * 128 / std::max(1, ch)) % 128);
        }
    return {};
}

// The number drawn into a decoded frame, whatever its size and bit depth.
int frameNumber(const AVFrame *frame)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(AVPixelFormat(frame->format));
    if (!desc || (desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_HWACCEL)))
        return -1;
    const int depth = desc->comp[0].depth;
    const int y = codeBandHeight(frame->height) / 2;
    int number = 0;
    for (int bit = 0; bit < CodeBits; ++bit) {
        const int x = (2 * bit + 1) * frame->width / (2 * CodeBits);
        const uint8_t *row = frame->data[0] + y * frame->linesize[0];
        const int luma =
            depth > 8 ? reinterpret_cast<const uint16_t *>(row)[x] >> (depth - 8) : row[x];
        number = number << 1 | (luma > 128 ? 1 : 0);
    }
    return number;
}

// A 440 Hz tone at a third of full scale, in whatever sample format the
// encoder takes.
QString drawTone(AVFrame *frame, qint64 firstSample)
{
    const auto format = AVSampleFormat(frame->format);
    const int channels = frame->ch_layout.nb_channels;
    const bool planar = av_sample_fmt_is_planar(format);
    for (int i = 0; i < frame->nb_samples; ++i) {
        const double t = double(firstSample + i) / frame->sample_rate;
        const double v = 0.3 * std::sin(2 * std::numbers::pi * 440.0 * t);
        for (int c = 0; c < channels; ++c) {
            const int slot = planar ? i : i * channels + c;
            uint8_t *base = frame->extended_data[planar ? c : 0];
            switch (av_get_packed_sample_fmt(format)) {
            case AV_SAMPLE_FMT_FLT:
                reinterpret_cast<float *>(base)[slot] = float(v);
                break;
            case AV_SAMPLE_FMT_DBL:
                reinterpret_cast<double *>(base)[slot] = v;
                break;
            case AV_SAMPLE_FMT_S16:
                reinterpret_cast<int16_t *>(base)[slot] = int16_t(v * 32767);
                break;
            case AV_SAMPLE_FMT_S32:
                reinterpret_cast<int32_t *>(base)[slot] = int32_t(v * 2147483647.0);
                break;
            default:
                return QStringLiteral("cannot draw into %1")
                    .arg(QString::fromLatin1(av_get_sample_fmt_name(format)));
            }
        }
    }
    return {};
}

CodecPtr openVideoEncoder(const QString &name, int width, int height, int fps, int gop,
                          bool globalHeader, QString *error)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(name.toLatin1().constData());
    if (!codec) {
        *error = QStringLiteral("no encoder %1").arg(name);
        return {};
    }
    CodecPtr ctx(avcodec_alloc_context3(codec));
    ctx->width = width;
    ctx->height = height;
    ctx->time_base = {1, fps};
    ctx->framerate = {fps, 1};
    ctx->gop_size = gop;
    ctx->pix_fmt = pickPixelFormat(codec);
    ctx->thread_count = 0;
    if (globalHeader)
        ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *options = nullptr;
    if (name == QLatin1StringView("libx264")) {
        av_dict_set(&options, "preset", "veryfast", 0);
        // Key frames exactly every `gop` frames, so trims land on them.
        av_dict_set(&options, "x264-params", "scenecut=0", 0);
    } else if (name == QLatin1StringView("libx265")) {
        av_dict_set(&options, "preset", "ultrafast", 0);
        av_dict_set(&options, "x265-params", "log-level=error", 0);
    } else if (name == QLatin1StringView("libvpx-vp9")) {
        av_dict_set(&options, "deadline", "realtime", 0);
        av_dict_set(&options, "cpu-used", "8", 0);
    } else if (name == QLatin1StringView("libsvtav1")) {
        av_dict_set(&options, "preset", "12", 0);
    }
    const int ret = avcodec_open2(ctx.get(), codec, &options);
    av_dict_free(&options);
    if (ret < 0) {
        *error = QStringLiteral("cannot open %1: %2").arg(name, averror(ret));
        return {};
    }
    return ctx;
}
} // namespace

const MediaGen::Stream *MediaGen::Probe::first(const QString &type) const
{
    for (const Stream &stream : streams)
        if (stream.type == type)
            return &stream;
    return nullptr;
}

QString MediaGen::writeClip(const QString &path, const ClipOptions &options)
{
    quiet();
    if (!options.video && !options.audio)
        return QStringLiteral("a clip needs video or audio");
    Output out;
    QString error = out.open(path, options.container);
    if (!error.isEmpty())
        return error;
    const bool globalHeader = out.format->oformat->flags & AVFMT_GLOBALHEADER;

    CodecPtr video;
    int videoIndex = -1;
    if (options.video) {
        video = openVideoEncoder(options.videoCodec, options.width, options.height, options.fps,
                                 options.fps * options.keyFrameSeconds, globalHeader, &error);
        if (!video)
            return error;
        AVStream *stream = avformat_new_stream(out.format, nullptr);
        avcodec_parameters_from_context(stream->codecpar, video.get());
        stream->time_base = video->time_base;
        stream->avg_frame_rate = video->framerate;
        videoIndex = stream->index;
    }

    CodecPtr audio;
    int audioIndex = -1;
    if (options.audio) {
        const AVCodec *codec =
            avcodec_find_encoder_by_name(options.audioCodec.toLatin1().constData());
        if (!codec)
            return QStringLiteral("no encoder %1").arg(options.audioCodec);
        audio.reset(avcodec_alloc_context3(codec));
        audio->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_S16;
        audio->sample_rate = options.sampleRate;
        if (codec->supported_samplerates) {
            bool supported = false;
            for (const int *r = codec->supported_samplerates; *r; ++r)
                supported = supported || *r == options.sampleRate;
            if (!supported)
                audio->sample_rate = codec->supported_samplerates[0];
        }
        av_channel_layout_default(&audio->ch_layout, options.channels);
        audio->bit_rate = 128000;
        audio->time_base = {1, audio->sample_rate};
        if (globalHeader)
            audio->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        const int ret = avcodec_open2(audio.get(), codec, nullptr);
        if (ret < 0)
            return QStringLiteral("cannot open %1: %2").arg(options.audioCodec, averror(ret));
        AVStream *stream = avformat_new_stream(out.format, nullptr);
        avcodec_parameters_from_context(stream->codecpar, audio.get());
        stream->time_base = audio->time_base;
        audioIndex = stream->index;
    }

    int ret = avformat_write_header(out.format, nullptr);
    if (ret < 0)
        return QStringLiteral("cannot write the header: %1").arg(averror(ret));

    const qint64 totalFrames = std::llround(options.seconds * options.fps);
    const qint64 totalSamples = audio ? std::llround(options.seconds * audio->sample_rate) : 0;
    qint64 frameIndex = 0;
    qint64 sampleIndex = 0;
    while ((video && frameIndex < totalFrames) || (audio && sampleIndex < totalSamples)) {
        const bool videoNext =
            video && frameIndex < totalFrames &&
            (!audio || sampleIndex >= totalSamples ||
             av_compare_ts(frameIndex, video->time_base, sampleIndex, audio->time_base) <= 0);
        FramePtr frame(av_frame_alloc());
        if (videoNext) {
            frame->format = video->pix_fmt;
            frame->width = video->width;
            frame->height = video->height;
            if ((ret = av_frame_get_buffer(frame.get(), 0)) < 0)
                return averror(ret);
            error = drawPicture(frame.get(), int(frameIndex));
            if (!error.isEmpty())
                return error;
            frame->pts = frameIndex++;
            error = out.encode(video.get(), frame.get(), videoIndex);
        } else {
            const bool variable = audio->codec->capabilities & (AV_CODEC_CAP_VARIABLE_FRAME_SIZE |
                                                                AV_CODEC_CAP_SMALL_LAST_FRAME);
            const int size = audio->frame_size > 0 ? audio->frame_size : 1024;
            const qint64 left = totalSamples - sampleIndex;
            frame->nb_samples = int(left < size && variable ? left : size);
            frame->format = audio->sample_fmt;
            frame->sample_rate = audio->sample_rate;
            av_channel_layout_copy(&frame->ch_layout, &audio->ch_layout);
            if ((ret = av_frame_get_buffer(frame.get(), 0)) < 0)
                return averror(ret);
            error = drawTone(frame.get(), sampleIndex);
            if (!error.isEmpty())
                return error;
            frame->pts = sampleIndex;
            sampleIndex += frame->nb_samples;
            error = out.encode(audio.get(), frame.get(), audioIndex);
        }
        if (!error.isEmpty())
            return error;
    }
    if (video && !(error = out.encode(video.get(), nullptr, videoIndex)).isEmpty())
        return error;
    if (audio && !(error = out.encode(audio.get(), nullptr, audioIndex)).isEmpty())
        return error;
    ret = av_write_trailer(out.format);
    if (ret < 0)
        return QStringLiteral("cannot write the trailer: %1").arg(averror(ret));
    return {};
}

QString MediaGen::readFrameNumbers(const QString &path, QList<int> *numbers)
{
    quiet();
    numbers->clear();
    AVFormatContext *format = nullptr;
    int ret = avformat_open_input(&format, QFile::encodeName(path).constData(), nullptr, nullptr);
    if (ret < 0)
        return QStringLiteral("cannot open %1: %2").arg(path, averror(ret));
    std::unique_ptr<AVFormatContext, void (*)(AVFormatContext *)> owner(
        format, [](AVFormatContext *f) { avformat_close_input(&f); });
    if ((ret = avformat_find_stream_info(format, nullptr)) < 0)
        return QStringLiteral("cannot read the streams of %1: %2").arg(path, averror(ret));
    const AVCodec *codec = nullptr;
    const int index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (index < 0 || !codec)
        return QStringLiteral("%1 has no video stream we can decode").arg(path);
    CodecPtr decoder(avcodec_alloc_context3(codec));
    avcodec_parameters_to_context(decoder.get(), format->streams[index]->codecpar);
    decoder->pkt_timebase = format->streams[index]->time_base;
    if ((ret = avcodec_open2(decoder.get(), codec, nullptr)) < 0)
        return QStringLiteral("cannot open the decoder: %1").arg(averror(ret));
    PacketPtr packet(av_packet_alloc());
    FramePtr frame(av_frame_alloc());
    bool draining = false;
    while (!draining) {
        ret = av_read_frame(format, packet.get());
        if (ret == AVERROR_EOF) {
            draining = true;
            ret = avcodec_send_packet(decoder.get(), nullptr);
        } else if (ret < 0) {
            return QStringLiteral("reading %1 failed: %2").arg(path, averror(ret));
        } else {
            ret = packet->stream_index == index ? avcodec_send_packet(decoder.get(), packet.get())
                                                : 0;
            av_packet_unref(packet.get());
        }
        if (ret < 0)
            return QStringLiteral("decoding %1 failed: %2").arg(path, averror(ret));
        while ((ret = avcodec_receive_frame(decoder.get(), frame.get())) >= 0) {
            numbers->append(frameNumber(frame.get()));
            av_frame_unref(frame.get());
        }
        if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
            return QStringLiteral("decoding %1 failed: %2").arg(path, averror(ret));
    }
    return {};
}

QString MediaGen::truncate(const QString &path, double fraction)
{
    QFile file(path);
    if (!file.exists())
        return QStringLiteral("%1 does not exist").arg(path);
    if (!file.resize(qint64(double(file.size()) * fraction)))
        return file.errorString();
    return {};
}

QString MediaGen::writeHugeDimensionClip(const QString &path)
{
    quiet();
    constexpr int Claimed = 100000;
    Output out;
    QString error = out.open(path, QStringLiteral("matroska"));
    if (!error.isEmpty())
        return error;
    CodecPtr video = openVideoEncoder(QStringLiteral("mjpeg"), 64, 64, 10, 1,
                                      out.format->oformat->flags & AVFMT_GLOBALHEADER, &error);
    if (!video)
        return error;
    AVStream *stream = avformat_new_stream(out.format, nullptr);
    avcodec_parameters_from_context(stream->codecpar, video.get());
    stream->codecpar->width = Claimed;
    stream->codecpar->height = Claimed;
    stream->time_base = video->time_base;
    int ret = avformat_write_header(out.format, nullptr);
    if (ret < 0)
        return QStringLiteral("cannot write the header: %1").arg(averror(ret));
    for (int i = 0; i < 5; ++i) {
        FramePtr frame(av_frame_alloc());
        frame->format = video->pix_fmt;
        frame->width = video->width;
        frame->height = video->height;
        if ((ret = av_frame_get_buffer(frame.get(), 0)) < 0)
            return averror(ret);
        if (!(error = drawPicture(frame.get(), i)).isEmpty())
            return error;
        frame->pts = i;
        if (!(error = out.encode(video.get(), frame.get(), stream->index)).isEmpty())
            return error;
    }
    if (!(error = out.encode(video.get(), nullptr, stream->index)).isEmpty())
        return error;
    ret = av_write_trailer(out.format);
    return ret < 0 ? QStringLiteral("cannot write the trailer: %1").arg(averror(ret)) : QString();
}

MediaGen::Probe MediaGen::probe(const QString &path)
{
    quiet();
    Probe result;
    AVFormatContext *format = nullptr;
    int ret = avformat_open_input(&format, QFile::encodeName(path).constData(), nullptr, nullptr);
    if (ret < 0) {
        result.error = QStringLiteral("cannot open %1: %2").arg(path, averror(ret));
        return result;
    }
    std::unique_ptr<AVFormatContext, void (*)(AVFormatContext *)> owner(
        format, [](AVFormatContext *f) { avformat_close_input(&f); });
    ret = avformat_find_stream_info(format, nullptr);
    if (ret < 0) {
        result.error = QStringLiteral("cannot read the streams of %1: %2").arg(path, averror(ret));
        return result;
    }
    result.format = QString::fromUtf8(format->iformat->name);
    result.durationUs = format->duration == AV_NOPTS_VALUE ? 0 : format->duration;
    QList<qint64> first(format->nb_streams, AV_NOPTS_VALUE);
    QList<qint64> last(format->nb_streams, AV_NOPTS_VALUE);
    for (unsigned i = 0; i < format->nb_streams; ++i) {
        const AVCodecParameters *par = format->streams[i]->codecpar;
        Stream stream;
        const char *type = av_get_media_type_string(par->codec_type);
        stream.type = QString::fromLatin1(type ? type : "unknown");
        stream.codec = QString::fromUtf8(avcodec_get_name(par->codec_id));
        stream.width = par->width;
        stream.height = par->height;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            const char *name = av_get_pix_fmt_name(AVPixelFormat(par->format));
            stream.pixelFormat = QString::fromLatin1(name ? name : "");
        }
        stream.channels = par->ch_layout.nb_channels;
        stream.sampleRate = par->sample_rate;
        result.streams.append(stream);
    }
    PacketPtr packet(av_packet_alloc());
    while ((ret = av_read_frame(format, packet.get())) >= 0) {
        const int i = packet->stream_index;
        const AVRational tb = format->streams[i]->time_base;
        ++result.streams[i].packets;
        if (packet->pts != AV_NOPTS_VALUE) {
            const qint64 start = av_rescale_q(packet->pts, tb, AV_TIME_BASE_Q);
            const qint64 end = av_rescale_q(packet->pts + packet->duration, tb, AV_TIME_BASE_Q);
            if (first[i] == AV_NOPTS_VALUE || start < first[i])
                first[i] = start;
            if (last[i] == AV_NOPTS_VALUE || end > last[i])
                last[i] = end;
        }
        av_packet_unref(packet.get());
    }
    if (ret != AVERROR_EOF)
        result.error = QStringLiteral("reading %1 stopped early: %2").arg(path, averror(ret));
    for (unsigned i = 0; i < format->nb_streams; ++i) {
        if (first[i] == AV_NOPTS_VALUE)
            continue;
        result.streams[i].startUs = first[i];
        result.streams[i].durationUs = last[i] - first[i];
    }
    return result;
}
