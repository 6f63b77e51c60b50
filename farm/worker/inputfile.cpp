#include "inputfile.h"

#include "avhandles.h"
#include "workererror.h"

#include <QCoreApplication>

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/dict.h>
}

#include <sys/stat.h>
#include <vector>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("InputFile", text); }

// The demuxers we accept, by the names FFmpeg gives them. Anything that
// reads other files or URLs (hls, dash, concat, image2, tty, ...) is not
// here.
constexpr const char *AcceptedFormats =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,ogg,wav,mp3,flac,aac,flv";

// The decoders we accept, preferred first where two decode the same codec.
constexpr const char *AcceptedDecoders[] = {
    // video
    "h264", "hevc", "libdav1d", "av1", "vp8", "vp9", "mpeg2video", "mpeg4", "mjpeg", "prores",
    "dnxhd", "ffv1", "rawvideo",
    // audio
    "aac", "aac_fixed", "mp3float", "mp3", "opus", "vorbis", "flac", "ac3", "ac3_fixed", "eac3",
    "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be", "pcm_f32le",
    "pcm_f32be", "pcm_f64le", "pcm_u8", "pcm_alaw", "pcm_mulaw"};

// Enough to find the streams of any sane file; bounded so a crafted one
// cannot make probing read or decode without end.
constexpr int ProbeBytes = 1 << 20;
constexpr qint64 StreamProbeBytes = 16 << 20;
constexpr qint64 AnalyzeDurationUs = 10'000'000;
constexpr int MaxStreams = 64;
constexpr int MaxSampleRate = 768'000;
constexpr int MaxChannels = 64;

QByteArray decoderList()
{
    QByteArray list;
    for (const char *name : AcceptedDecoders) {
        if (!list.isEmpty())
            list += ',';
        list += name;
    }
    return list;
}
} // namespace

InputFile::~InputFile() { avformat_close_input(&m_format); }

const AVCodec *InputFile::decoderFor(AVCodecID id)
{
    for (const char *name : AcceptedDecoders) {
        const AVCodec *codec = avcodec_find_decoder_by_name(name);
        if (codec && codec->id == id)
            return codec;
    }
    return nullptr;
}

void InputFile::restrictDecoder(AVDictionary **options)
{
    av_dict_set(options, "codec_whitelist", decoderList().constData(), 0);
    av_dict_set_int(options, "max_pixels", MaxPixels, 0);
}

int InputFile::refuseNestedOpen(AVFormatContext *format, AVIOContext **, const char *, int,
                                AVDictionary **)
{
    // The url is the input's own content: never echoed into the log.
    if (auto *self = static_cast<InputFile *>(format->opaque))
        self->m_nestedOpenRefused = true;
    av_log(format, AV_LOG_ERROR, "refused to open a resource the input refers to\n");
    return AVERROR(EPERM);
}

Expected<std::unique_ptr<InputFile>> InputFile::open(int fd)
{
    std::unique_ptr<InputFile> input(new InputFile);
    Expected<void> opened = input->openFormat(fd);
    if (!opened)
        return opened.failure();
    return input;
}

Expected<void> InputFile::openFormat(int fd)
{
    struct stat st = {};
    if (::fstat(fd, &st) != 0)
        return fail(tr("the input descriptor %1 is not open").arg(fd), WorkerError::InputInvalid);
    if (S_ISDIR(st.st_mode))
        return fail(tr("the input is a directory, not a media file"), WorkerError::InputInvalid);
    if (S_ISREG(st.st_mode) && st.st_size == 0)
        return fail(tr("the input file is empty (0 bytes)"), WorkerError::InputInvalid);

    m_io = FdAvio::open(fd, FdAvio::Mode::Read);
    if (!m_io)
        return fail(tr("out of memory opening the input"), WorkerError::InputInvalid);

    // Probe ourselves first so that a refusal can say what the input is.
    const AVInputFormat *detected = nullptr;
    const int score =
        av_probe_input_buffer2(m_io->context(), &detected, "", nullptr, 0, ProbeBytes);
    if (score < 0 || !detected || score < AVPROBE_SCORE_RETRY)
        return fail(tr("input is not a media file we accept (detected: none)"),
                    WorkerError::InputInvalid);
    if (av_match_list(detected->name, AcceptedFormats, ',') <= 0)
        return fail(tr("input is not a media file we accept (detected: %1)")
                        .arg(QString::fromUtf8(detected->name)),
                    WorkerError::InputInvalid);

    m_format = avformat_alloc_context();
    if (!m_format)
        return fail(tr("out of memory opening the input"), WorkerError::InputInvalid);
    m_format->pb = m_io->context();
    m_format->flags |= AVFMT_FLAG_CUSTOM_IO;
    m_format->opaque = this;
    m_format->io_open = &InputFile::refuseNestedOpen;

    AVDictionary *options = nullptr;
    // An empty protocol whitelist matches no protocol, "file" included
    // (checked: FFmpeg answers "Protocol 'file' not on whitelist ''").
    av_dict_set(&options, "protocol_whitelist", "", 0);
    av_dict_set(&options, "format_whitelist", AcceptedFormats, 0);
    av_dict_set(&options, "codec_whitelist", decoderList().constData(), 0);
    av_dict_set_int(&options, "probesize", StreamProbeBytes, 0);
    av_dict_set_int(&options, "analyzeduration", AnalyzeDurationUs, 0);
    av_dict_set_int(&options, "max_streams", MaxStreams, 0);
    int ret = avformat_open_input(&m_format, "", detected, &options);
    av_dict_free(&options);
    if (ret < 0) {
        if (m_nestedOpenRefused)
            return fail(tr("the input refers to other files or URLs, which are never opened"),
                        WorkerError::InputInvalid);
        return fail(
            tr("the input looks like %1 but cannot be read (damaged or truncated?): %2")
                .arg(QString::fromUtf8(detected->long_name ? detected->long_name : detected->name),
                     AvHandles::errorText(ret)),
            WorkerError::InputInvalid);
    }

    // What the container claims, before a decoder sees a byte of it.
    Expected<void> dimensions = checkDimensions(tr("claims"));
    if (!dimensions)
        return dimensions;

    std::vector<AVDictionary *> streamOptions(m_format->nb_streams, nullptr);
    for (AVDictionary *&dict : streamOptions)
        restrictDecoder(&dict);
    ret = avformat_find_stream_info(m_format, streamOptions.data());
    for (AVDictionary *&dict : streamOptions)
        av_dict_free(&dict);
    if (ret < 0)
        return fail(tr("cannot read the input's streams (damaged or truncated?): %1")
                        .arg(AvHandles::errorText(ret)),
                    WorkerError::InputInvalid);
    if (m_nestedOpenRefused)
        return fail(tr("the input refers to other files or URLs, which are never opened"),
                    WorkerError::InputInvalid);
    dimensions = checkDimensions(tr("has"));
    if (!dimensions)
        return dimensions;
    chooseStreams();
    return {};
}

Expected<void> InputFile::checkDimensions(const QString &stage) const
{
    for (unsigned i = 0; i < m_format->nb_streams; ++i) {
        const AVCodecParameters *par = m_format->streams[i]->codecpar;
        if (par->codec_type == AVMEDIA_TYPE_VIDEO &&
            (par->width > MaxDimension || par->height > MaxDimension ||
             qint64(par->width) * par->height > MaxPixels || par->width < 0 || par->height < 0))
            return fail(tr("the input %1 %2x%3 pixels; the limit is %4x%4 (%5 Mpixel)")
                            .arg(stage)
                            .arg(par->width)
                            .arg(par->height)
                            .arg(MaxDimension)
                            .arg(MaxPixels / 1'000'000),
                        WorkerError::LimitExceeded);
        if (par->codec_type == AVMEDIA_TYPE_AUDIO &&
            (par->sample_rate > MaxSampleRate || par->ch_layout.nb_channels > MaxChannels))
            return fail(tr("the input %1 %2 audio channels at %3 Hz; the limit is %4 channels at "
                           "%5 Hz")
                            .arg(stage)
                            .arg(par->ch_layout.nb_channels)
                            .arg(par->sample_rate)
                            .arg(MaxChannels)
                            .arg(MaxSampleRate),
                        WorkerError::LimitExceeded);
    }
    return {};
}

void InputFile::chooseStreams()
{
    // The largest real video stream: cover art is a video stream too.
    qint64 bestPixels = -1;
    for (unsigned i = 0; i < m_format->nb_streams; ++i) {
        const AVStream *stream = m_format->streams[i];
        if (stream->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
            (stream->disposition & AV_DISPOSITION_ATTACHED_PIC))
            continue;
        const qint64 pixels = qint64(stream->codecpar->width) * stream->codecpar->height;
        if (pixels > bestPixels) {
            bestPixels = pixels;
            m_video = int(i);
        }
    }
    const int audio = av_find_best_stream(m_format, AVMEDIA_TYPE_AUDIO, -1, m_video, nullptr, 0);
    m_audio = audio >= 0 ? audio : -1;
}

qint64 InputFile::startUs() const
{
    return m_format->start_time == AV_NOPTS_VALUE ? 0 : m_format->start_time;
}

qint64 InputFile::durationUs() const
{
    return m_format->duration == AV_NOPTS_VALUE || m_format->duration < 0 ? 0 : m_format->duration;
}
