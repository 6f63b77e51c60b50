#include "transcoder.h"

#include "audiochain.h"
#include "encodersettings.h"
#include "fdavio.h"
#include "inputfile.h"
#include "outputverifier.h"
#include "streamcopy.h"
#include "videochain.h"
#include "workererror.h"

#include <QCoreApplication>
#include <QJsonArray>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("Transcoder", text); }

void note(const QString &text) { std::fprintf(stderr, "%s\n", qPrintable(text)); }

// Packets read ahead while the video path looks for its first frame or
// key frame: enough for any sane interleaving, bounded for a crafted file.
constexpr qint64 MaxStashBytes = 64 << 20;
constexpr qint64 ProgressIntervalMs = 250;

const char *muxerName(JobSpec::Container container)
{
    switch (container) {
    case JobSpec::Container::Mp4:
        return "mp4";
    case JobSpec::Container::Mov:
        return "mov";
    case JobSpec::Container::Mkv:
        return "matroska";
    case JobSpec::Container::Webm:
        return "webm";
    }
    return "mp4";
}

const char *demuxerName(JobSpec::Container container)
{
    return container == JobSpec::Container::Mkv || container == JobSpec::Container::Webm
               ? "matroska"
               : "mov";
}

// Audio we copy into each container as it is; the rest is transcoded to
// the container's usual codec. Matroska takes everything FFmpeg can mux.
bool acceptsAudio(JobSpec::Container container, const AVOutputFormat *format, AVCodecID codec)
{
    if (avformat_query_codec(format, codec, FF_COMPLIANCE_NORMAL) != 1)
        return false;
    switch (container) {
    case JobSpec::Container::Mkv:
        return true;
    case JobSpec::Container::Mp4:
        return codec == AV_CODEC_ID_AAC || codec == AV_CODEC_ID_MP3 || codec == AV_CODEC_ID_AC3 ||
               codec == AV_CODEC_ID_EAC3 || codec == AV_CODEC_ID_OPUS;
    case JobSpec::Container::Mov:
        return codec == AV_CODEC_ID_AAC || codec == AV_CODEC_ID_MP3 || codec == AV_CODEC_ID_AC3 ||
               codec == AV_CODEC_ID_EAC3 || codec == AV_CODEC_ID_ALAC ||
               codec == AV_CODEC_ID_PCM_S16LE || codec == AV_CODEC_ID_PCM_S16BE ||
               codec == AV_CODEC_ID_PCM_S24LE || codec == AV_CODEC_ID_PCM_S24BE;
    case JobSpec::Container::Webm:
        return codec == AV_CODEC_ID_OPUS || codec == AV_CODEC_ID_VORBIS;
    }
    return false;
}

int refuseOutputOpen(AVFormatContext *format, AVIOContext **, const char *, int, AVDictionary **)
{
    av_log(format, AV_LOG_ERROR, "refused to open a second output file\n");
    return AVERROR(EPERM);
}

qint64 toUs(qint64 ts, AVRational tb) { return av_rescale_q(ts, tb, AV_TIME_BASE_Q); }

QString seconds(qint64 us) { return QString::number(double(us) / 1e6, 'f', 3); }

bool valid(AVRational r) { return r.num > 0 && r.den > 0; }
} // namespace

Transcoder::Transcoder(const WorkerRequest &request, Report report)
    : m_request(request)
    , m_spec(request.spec)
    , m_report(std::move(report))
{}

Transcoder::~Transcoder()
{
    // The chains hold references into the input; the output context is
    // freed before the AVIOContext it writes through.
    m_video.reset();
    m_audio.reset();
    if (m_output)
        avformat_free_context(m_output);
}

Expected<QJsonObject> Transcoder::run()
{
    m_clock.start();
    Expected<void> step = plan();
    if (step)
        step = prime();
    if (step)
        step = openPaths();
    if (step)
        step = openOutput();
    if (!step)
        return step.failure();
    reportStarted();

    if (m_video)
        step = m_video->start();
    while (step && !m_stash.empty()) {
        PacketPtr packet = std::move(m_stash.front());
        m_stash.pop_front();
        step = dispatch(packet.get());
    }
    PacketPtr packet = makePacket();
    while (step && !m_inputEnded && !allDone()) {
        const int ret = av_read_frame(m_input->format(), packet.get());
        if (ret == AVERROR_EOF) {
            m_inputEnded = true;
            break;
        }
        if (ret < 0)
            return fail(tr("the input is damaged or truncated: %1").arg(AvHandles::errorText(ret)),
                        WorkerError::InputInvalid);
        step = dispatch(packet.get());
        av_packet_unref(packet.get());
    }
    if (step && m_video)
        step = m_video->finish();
    if (step && m_audio)
        step = m_audio->finish();
    if (step)
        step = finishOutput();
    if (!step)
        return step.failure();
    if (m_video && m_video->decodeErrors() > 0)
        note(tr("note: %1 damaged video packets were skipped").arg(m_video->decodeErrors()));
    return verify();
}

Expected<void> Transcoder::plan()
{
    Expected<std::unique_ptr<InputFile>> input = InputFile::open(m_request.inputFd);
    if (!input)
        return input.failure();
    m_input = std::move(input).value();
    AVFormatContext *format = m_input->format();

    if (m_spec.videoCodec != JobSpec::VideoCodec::None) {
        if (m_input->videoStream() < 0)
            return fail(tr("the input has no video stream; set video.codec to \"none\" for an "
                           "audio-only output"),
                        WorkerError::InputInvalid);
        m_videoIn = format->streams[m_input->videoStream()];
    }
    if (m_spec.audioCodec != JobSpec::AudioCodec::None && m_input->audioStream() >= 0)
        m_audioIn = format->streams[m_input->audioStream()];
    if (!m_videoIn && !m_audioIn)
        return fail(tr("the input has no audio stream and video.codec is \"none\": there is "
                       "nothing to encode"),
                    WorkerError::InputInvalid);

    m_outputFormat = av_guess_format(muxerName(m_spec.container), nullptr, nullptr);
    if (!m_outputFormat)
        return fail(tr("the %1 muxer is not available in this FFmpeg build")
                        .arg(JobSpec::containerName(m_spec.container)),
                    WorkerError::Unsupported);
    if (m_videoIn && m_spec.videoCodec == JobSpec::VideoCodec::Copy &&
        avformat_query_codec(m_outputFormat, m_videoIn->codecpar->codec_id, FF_COMPLIANCE_NORMAL) !=
            1)
        return fail(tr("the input's %1 video cannot be copied into %2; choose a video codec to "
                       "transcode it")
                        .arg(QString::fromUtf8(avcodec_get_name(m_videoIn->codecpar->codec_id)),
                             JobSpec::containerName(m_spec.container)),
                    WorkerError::Unsupported);

    if (m_audioIn) {
        switch (m_spec.audioCodec) {
        case JobSpec::AudioCodec::Copy:
            if (acceptsAudio(m_spec.container, m_outputFormat, m_audioIn->codecpar->codec_id)) {
                m_audioPlan = AudioPlan::Copy;
            } else {
                m_audioPlan =
                    m_spec.container == JobSpec::Container::Webm ? AudioPlan::Opus : AudioPlan::Aac;
                note(tr("note: %1 audio cannot be copied into %2; encoding %3 instead")
                         .arg(QString::fromUtf8(avcodec_get_name(m_audioIn->codecpar->codec_id)),
                              JobSpec::containerName(m_spec.container),
                              m_audioPlan == AudioPlan::Opus ? QStringLiteral("opus")
                                                             : QStringLiteral("aac")));
            }
            break;
        case JobSpec::AudioCodec::Aac:
            m_audioPlan = AudioPlan::Aac;
            break;
        case JobSpec::AudioCodec::Opus:
            m_audioPlan = AudioPlan::Opus;
            break;
        case JobSpec::AudioCodec::None:
            break;
        }
    }

    // The origin: the trim start, counted from where the main stream starts.
    const AVStream *primary = m_videoIn ? m_videoIn : m_audioIn;
    const qint64 startUs = primary->start_time != AV_NOPTS_VALUE
                               ? toUs(primary->start_time, primary->time_base)
                               : m_input->startUs();
    const qint64 trimStartUs = std::llround(m_spec.trimStartS * 1e6);
    m_requestedOriginUs = startUs + trimStartUs;
    if (m_input->durationUs() > 0)
        m_inputEndUs = m_input->startUs() + m_input->durationUs();
    if (m_inputEndUs > 0 && m_requestedOriginUs >= m_inputEndUs)
        return fail(tr("the trim starts at %1 s, but the input lasts only %2 s")
                        .arg(seconds(trimStartUs), seconds(m_input->durationUs())),
                    WorkerError::InputInvalid);
    if (m_spec.trimDurationS)
        m_endUs = m_requestedOriginUs + std::llround(*m_spec.trimDurationS * 1e6);
    if (trimStartUs > 0) {
        // To the key frame at or before the start; the filters (or the
        // copy's window) drop what comes before it.
        const int ret =
            avformat_seek_file(format, -1, INT64_MIN, m_requestedOriginUs, m_requestedOriginUs, 0);
        if (ret < 0)
            note(tr("note: the input cannot seek (%1); reading it from the start")
                     .arg(AvHandles::errorText(ret)));
    }
    return {};
}

Expected<void> Transcoder::prime()
{
    const bool transcodeVideo = m_videoIn && m_spec.videoCodec != JobSpec::VideoCodec::Copy;
    const bool copyVideo = m_videoIn && !transcodeVideo;
    if (transcodeVideo) {
        // Decode on the device of the first hardware candidate that opens.
        QString device;
        for (const EncoderChoice::Candidate &candidate : m_request.encoders.candidates) {
            const EncoderSettings::Encoder *known = EncoderSettings::find(candidate.encoder);
            if (!known || !known->device)
                break;
            if (m_devices.get(QString::fromLatin1(known->device))) {
                device = QString::fromLatin1(known->device);
                break;
            }
        }
        m_video = std::make_unique<VideoChain>(m_videoIn, m_spec, m_devices);
        Expected<void> opened = m_video->openDecoder(device);
        if (!opened)
            return opened;
    }
    if (copyVideo)
        m_videoCopy = std::make_unique<StreamCopy>(m_videoIn);

    bool haveKeyFrame = false;
    bool pastOrigin = false;
    qint64 keyFrameUs = 0;
    PacketPtr packet = makePacket();
    while (m_videoIn) {
        if (transcodeVideo && m_video->hasFrame())
            break;
        if (copyVideo && haveKeyFrame && pastOrigin)
            break;
        const int ret = av_read_frame(m_input->format(), packet.get());
        if (ret == AVERROR_EOF) {
            m_inputEnded = true;
            if (transcodeVideo) {
                Expected<void> drained = m_video->decode(nullptr);
                if (!drained)
                    return drained;
            }
            break;
        }
        if (ret < 0)
            return fail(tr("the input is damaged or truncated: %1").arg(AvHandles::errorText(ret)),
                        WorkerError::InputInvalid);
        const int index = packet->stream_index;
        if (index == m_videoIn->index) {
            const qint64 shown = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
            const qint64 shownUs =
                shown != AV_NOPTS_VALUE ? toUs(shown, m_videoIn->time_base) : AV_NOPTS_VALUE;
            if (shownUs != AV_NOPTS_VALUE)
                m_lastReadUs = std::max(m_lastReadUs, shownUs);
            if (transcodeVideo) {
                Expected<void> decoded = m_video->decode(packet.get());
                if (!decoded)
                    return decoded;
            } else if (shownUs != AV_NOPTS_VALUE) {
                const bool key = packet->flags & AV_PKT_FLAG_KEY;
                if (key && (!haveKeyFrame || shownUs <= m_requestedOriginUs)) {
                    // A later key frame still before the start: begin there.
                    std::erase_if(m_stash, [this](const PacketPtr &p) {
                        return p->stream_index == m_videoIn->index;
                    });
                    haveKeyFrame = true;
                    keyFrameUs = shownUs;
                }
                if (haveKeyFrame) {
                    Expected<void> kept = stash(packet.get());
                    if (!kept)
                        return kept;
                    const qint64 decodedAt = packet->dts != AV_NOPTS_VALUE
                                                 ? toUs(packet->dts, m_videoIn->time_base)
                                                 : shownUs;
                    pastOrigin = decodedAt > m_requestedOriginUs;
                }
            }
        } else if (m_audioIn && index == m_audioIn->index) {
            Expected<void> kept = stash(packet.get());
            if (!kept)
                return kept;
        }
        av_packet_unref(packet.get());
    }

    if (copyVideo && !haveKeyFrame)
        return fail(tr("the input's video has no key frame to start a copy from"),
                    WorkerError::InputInvalid);
    m_originUs = copyVideo ? keyFrameUs : m_requestedOriginUs;
    qint64 endUs = m_inputEndUs;
    if (m_endUs)
        endUs = endUs > 0 ? std::min(endUs, *m_endUs) : *m_endUs;
    m_expectedUs = endUs > 0 ? std::max<qint64>(0, endUs - m_originUs) : 0;
    return {};
}

Expected<void> Transcoder::stash(AVPacket *packet)
{
    m_stashBytes += packet->size;
    if (m_stashBytes > MaxStashBytes)
        return fail(tr("the input's video yields no usable frame within its first %1 MiB")
                        .arg(MaxStashBytes >> 20),
                    WorkerError::InputInvalid);
    PacketPtr copy(av_packet_clone(packet));
    if (!copy)
        return fail(tr("out of memory reading the input"), WorkerError::InputInvalid);
    m_stash.push_back(std::move(copy));
    return {};
}

Expected<void> Transcoder::openPaths()
{
    const bool globalHeader = m_outputFormat->flags & AVFMT_GLOBALHEADER;
    std::optional<qint64> relativeEnd;
    if (m_endUs)
        relativeEnd = *m_endUs - m_originUs;
    if (m_audioPlan == AudioPlan::Copy) {
        m_audioCopy = std::make_unique<StreamCopy>(m_audioIn);
        m_audioCopy->setWindow(m_originUs, m_endUs);
    } else if (m_audioPlan != AudioPlan::None) {
        m_audio = std::make_unique<AudioChain>(
            m_audioIn,
            m_audioPlan == AudioPlan::Opus ? JobSpec::AudioCodec::Opus : JobSpec::AudioCodec::Aac,
            m_spec.audioBitrateKbps);
        // Decoders return whole frames; the padding of the last one, which
        // the container's duration leaves out, is cut at the stream's end.
        std::optional<qint64> audioEnd = relativeEnd;
        if (m_audioIn->start_time != AV_NOPTS_VALUE && m_audioIn->duration != AV_NOPTS_VALUE &&
            m_audioIn->duration > 0) {
            const qint64 streamEnd =
                toUs(m_audioIn->start_time + m_audioIn->duration, m_audioIn->time_base) -
                m_originUs;
            if (!audioEnd || streamEnd < *audioEnd)
                audioEnd = streamEnd;
        }
        Expected<void> opened = m_audio->open(m_originUs, audioEnd, globalHeader);
        if (!opened)
            return opened;
    }
    if (m_videoCopy)
        m_videoCopy->setWindow(m_originUs, m_endUs);
    if (m_video)
        return m_video->openEncoder(m_request.encoders.candidates, m_originUs, relativeEnd,
                                    globalHeader, &m_fallbacks);
    return {};
}

Expected<void> Transcoder::openOutput()
{
    int ret = avformat_alloc_output_context2(&m_output, m_outputFormat, nullptr, nullptr);
    if (ret < 0 || !m_output)
        return fail(tr("cannot set up the %1 output: %2")
                        .arg(JobSpec::containerName(m_spec.container), AvHandles::errorText(ret)),
                    WorkerError::OutputFailed);
    m_outputIo = FdAvio::open(m_request.outputFd, FdAvio::Mode::ReadWrite);
    if (!m_outputIo)
        return fail(tr("out of memory opening the output"), WorkerError::OutputFailed);
    m_output->pb = m_outputIo->context();
    m_output->flags |= AVFMT_FLAG_CUSTOM_IO;
    m_output->io_open = &refuseOutputOpen;

    const bool isoFamily =
        m_spec.container == JobSpec::Container::Mp4 || m_spec.container == JobSpec::Container::Mov;
    auto addEncoded = [&](AVCodecContext *enc) -> int {
        AVStream *stream = avformat_new_stream(m_output, nullptr);
        if (!stream)
            return AVERROR(ENOMEM);
        const int r = avcodec_parameters_from_context(stream->codecpar, enc);
        if (r < 0)
            return r;
        stream->time_base = enc->time_base;
        if (enc->codec_type == AVMEDIA_TYPE_VIDEO) {
            stream->avg_frame_rate = enc->framerate;
            stream->sample_aspect_ratio = enc->sample_aspect_ratio;
            // hvc1: parameter sets only in the sample description, which
            // is what Apple players require.
            if (isoFamily && enc->codec_id == AV_CODEC_ID_HEVC)
                stream->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
        }
        return stream->index;
    };
    auto addCopied = [&](const AVStream *input) -> int {
        AVStream *stream = avformat_new_stream(m_output, nullptr);
        if (!stream)
            return AVERROR(ENOMEM);
        const int r = avcodec_parameters_copy(stream->codecpar, input->codecpar);
        if (r < 0)
            return r;
        stream->codecpar->codec_tag = 0; // the output container's own tag
        stream->time_base = input->time_base;
        stream->avg_frame_rate = input->avg_frame_rate;
        stream->sample_aspect_ratio = input->sample_aspect_ratio;
        return stream->index;
    };

    if (m_video) {
        m_videoOut = addEncoded(m_video->encoder());
        m_outWidth = m_video->encoder()->width;
        m_outHeight = m_video->encoder()->height;
    } else if (m_videoCopy) {
        m_videoOut = addCopied(m_videoIn);
        m_outWidth = m_videoIn->codecpar->width;
        m_outHeight = m_videoIn->codecpar->height;
    }
    if (m_videoOut < -1)
        return fail(
            tr("cannot set up the output's video stream: %1").arg(AvHandles::errorText(m_videoOut)),
            WorkerError::OutputFailed);
    if (m_audio)
        m_audioOut = addEncoded(m_audio->encoder());
    else if (m_audioCopy)
        m_audioOut = addCopied(m_audioIn);
    if (m_audioOut < -1)
        return fail(
            tr("cannot set up the output's audio stream: %1").arg(AvHandles::errorText(m_audioOut)),
            WorkerError::OutputFailed);

    ret = avformat_write_header(m_output, nullptr);
    if (ret < 0)
        return writeFailure(ret, tr("cannot start the output"));

    if (m_video)
        m_video->setSink(
            [this](AVPacket *p) { return write(p, m_videoOut, m_video->encoder()->time_base); });
    if (m_videoCopy)
        m_videoCopy->setSink(
            [this](AVPacket *p) { return write(p, m_videoOut, m_videoIn->time_base); });
    if (m_audio) {
        // Matroska stores Opus's pre-skip as CodecDelay, which its readers
        // subtract from every timestamp: the packets start at 0 so that the
        // first real sample lands at 0 with the first video frame.
        const AVCodecContext *enc = m_audio->encoder();
        const bool matroska = m_spec.container == JobSpec::Container::Mkv ||
                              m_spec.container == JobSpec::Container::Webm;
        const qint64 shift =
            matroska && enc->codec_id == AV_CODEC_ID_OPUS
                ? av_rescale_q(enc->initial_padding, {1, enc->sample_rate}, enc->time_base)
                : 0;
        m_audio->setSink([this, shift](AVPacket *p) {
            if (p->pts != AV_NOPTS_VALUE)
                p->pts += shift;
            if (p->dts != AV_NOPTS_VALUE)
                p->dts += shift;
            return write(p, m_audioOut, m_audio->encoder()->time_base);
        });
    }
    if (m_audioCopy)
        m_audioCopy->setSink(
            [this](AVPacket *p) { return write(p, m_audioOut, m_audioIn->time_base); });
    m_clock.restart();
    return {};
}

Expected<void> Transcoder::dispatch(AVPacket *packet)
{
    const int index = packet->stream_index;
    const AVStream *stream = m_input->format()->streams[index];
    if (packet->pts != AV_NOPTS_VALUE &&
        ((m_videoIn && index == m_videoIn->index) || (m_audioIn && index == m_audioIn->index)))
        m_lastReadUs =
            std::max(m_lastReadUs, toUs(packet->pts + packet->duration, stream->time_base));
    if (m_videoIn && index == m_videoIn->index)
        return m_video ? m_video->decode(packet) : m_videoCopy->push(packet);
    if (m_audioIn && index == m_audioIn->index) {
        if (m_audio)
            return m_audio->decode(packet);
        if (m_audioCopy)
            return m_audioCopy->push(packet);
    }
    return {};
}

Expected<void> Transcoder::write(AVPacket *packet, int outputStream, AVRational timeBase)
{
    AVStream *stream = m_output->streams[outputStream];
    packet->stream_index = outputStream;
    av_packet_rescale_ts(packet, timeBase, stream->time_base);
    const int primary = m_videoOut >= 0 ? m_videoOut : m_audioOut;
    if (outputStream == m_videoOut)
        ++m_videoPackets;
    if (outputStream == primary) {
        ++m_primaryPackets;
        if (packet->pts != AV_NOPTS_VALUE)
            m_outTimeUs = std::max(m_outTimeUs, toUs(packet->pts, stream->time_base));
    }
    const int ret = av_interleaved_write_frame(m_output, packet);
    if (ret < 0)
        return writeFailure(ret, tr("writing the output failed"));
    if (outputStream == primary &&
        (m_lastProgressMs < 0 || m_clock.elapsed() - m_lastProgressMs >= ProgressIntervalMs))
        reportProgress();
    return {};
}

Expected<void> Transcoder::finishOutput()
{
    int ret = av_write_trailer(m_output);
    if (ret < 0)
        return writeFailure(ret, tr("cannot finish the output"));
    avio_flush(m_output->pb);
    if (m_output->pb->error < 0)
        return writeFailure(m_output->pb->error, tr("writing the output failed"));
    if (::fsync(m_request.outputFd) != 0)
        return fail(tr("cannot flush the output to disk: %1")
                        .arg(QString::fromLocal8Bit(std::strerror(errno))),
                    WorkerError::OutputFailed);
    return {};
}

Expected<QJsonObject> Transcoder::verify()
{
    OutputVerifier::Expectation expected;
    expected.demuxer = demuxerName(m_spec.container);
    AVRational frameRate = {0, 1};
    if (m_video) {
        const AVCodecContext *enc = m_video->encoder();
        expected.streams.append({AVMEDIA_TYPE_VIDEO, enc->codec_id, enc->width, enc->height});
        frameRate = enc->framerate;
    } else if (m_videoCopy) {
        const AVCodecParameters *par = m_videoIn->codecpar;
        expected.streams.append({AVMEDIA_TYPE_VIDEO, par->codec_id, par->width, par->height});
        frameRate =
            valid(m_videoIn->avg_frame_rate) ? m_videoIn->avg_frame_rate : m_videoIn->r_frame_rate;
    }
    if (m_audio) {
        const AVCodecContext *enc = m_audio->encoder();
        expected.streams.append({AVMEDIA_TYPE_AUDIO, enc->codec_id, 0, 0,
                                 enc->ch_layout.nb_channels, enc->sample_rate});
    } else if (m_audioCopy) {
        const AVCodecParameters *par = m_audioIn->codecpar;
        expected.streams.append({AVMEDIA_TYPE_AUDIO, par->codec_id, 0, 0,
                                 par->ch_layout.nb_channels, par->sample_rate});
    }
    expected.durationUs = m_expectedUs;
    // One video frame (rounding of the container's clock included); an
    // audio-only output gets the length of a long audio frame.
    expected.toleranceUs =
        (valid(frameRate) ? av_rescale_q(1, av_inv_q(frameRate), AV_TIME_BASE_Q) : 64'000) + 1'000;
    expected.videoPackets = m_videoOut >= 0 ? m_videoPackets : -1;

    Expected<QJsonObject> verified = OutputVerifier::verify(m_request.outputFd, expected);
    if (!verified && m_expectedUs > 0 &&
        m_lastReadUs < m_originUs + m_expectedUs - 2 * expected.toleranceUs &&
        !(m_endUs && allDone()))
        return fail(tr("the input ends at %1 s, before the %2 s its container declares: it is "
                       "truncated or damaged")
                        .arg(seconds(m_lastReadUs - m_originUs), seconds(m_expectedUs)),
                    WorkerError::InputInvalid);
    return verified;
}

Failure Transcoder::writeFailure(int ret, const QString &what) const
{
    if (m_outputIo && m_outputIo->lastErrno() == EFBIG)
        return fail(
            tr("the output reached the file size limit of %1 MiB").arg(m_request.fileSizeMb),
            WorkerError::LimitExceeded);
    return fail(QStringLiteral("%1: %2").arg(what, AvHandles::errorText(ret)),
                WorkerError::OutputFailed);
}

void Transcoder::reportStarted()
{
    QJsonArray fallbacks;
    for (const EncoderChoice::Skipped &skipped : m_request.encoders.skipped)
        fallbacks.append(QJsonObject{{QStringLiteral("encoder"), skipped.encoder},
                                     {QStringLiteral("reason"), skipped.reason}});
    for (const EncoderChoice::Skipped &skipped : std::as_const(m_fallbacks))
        fallbacks.append(QJsonObject{{QStringLiteral("encoder"), skipped.encoder},
                                     {QStringLiteral("reason"), skipped.reason}});
    const QString encoder = m_video       ? m_video->candidate().encoder
                            : m_videoCopy ? QStringLiteral("copy")
                                          : QStringLiteral("none");
    m_report(WorkerMessage::Type::Started,
             {{QStringLiteral("encoder"), encoder},
              {QStringLiteral("hardware"), m_video && m_video->candidate().hardware},
              {QStringLiteral("fallbacks"), fallbacks},
              {QStringLiteral("expected_duration_us"), m_expectedUs},
              {QStringLiteral("width"), m_outWidth},
              {QStringLiteral("height"), m_outHeight}});
}

void Transcoder::reportProgress()
{
    const qint64 elapsedMs = std::max<qint64>(1, m_clock.elapsed());
    m_lastProgressMs = m_clock.elapsed();
    const double elapsedS = double(elapsedMs) / 1000.0;
    m_report(
        WorkerMessage::Type::Progress,
        {{QStringLiteral("frame"), m_primaryPackets},
         {QStringLiteral("fps"), std::round(double(m_primaryPackets) / elapsedS * 100) / 100},
         {QStringLiteral("speed"), std::round(double(m_outTimeUs) / 1e6 / elapsedS * 1000) / 1000},
         {QStringLiteral("out_time_us"), m_outTimeUs}});
}

bool Transcoder::allDone() const
{
    const bool videoDone = (!m_video || m_video->done()) && (!m_videoCopy || m_videoCopy->done());
    const bool audioDone = (!m_audio || m_audio->done()) && (!m_audioCopy || m_audioCopy->done());
    return videoDone && audioDone;
}
