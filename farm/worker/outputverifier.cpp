#include "outputverifier.h"

#include "avhandles.h"
#include "fdavio.h"
#include "workererror.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QStringList>

extern "C" {
#include <libavutil/dict.h>
}

#include <sys/stat.h>
#include <vector>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("OutputVerifier", text); }

QString typeName(AVMediaType type)
{
    return QString::fromLatin1(type == AVMEDIA_TYPE_VIDEO ? "video" : "audio");
}

QString codecName(AVCodecID id) { return QString::fromUtf8(avcodec_get_name(id)); }

Failure failed(const QString &what)
{
    return fail(tr("the output failed verification: %1").arg(what), WorkerError::OutputFailed);
}

struct FormatCloser {
    void operator()(AVFormatContext *f) const { avformat_close_input(&f); }
};
} // namespace

Expected<QJsonObject> OutputVerifier::verify(int fd, const Expectation &expected)
{
    struct stat st = {};
    if (::fstat(fd, &st) != 0)
        return failed(tr("the output descriptor cannot be read"));
    std::unique_ptr<FdAvio> io = FdAvio::open(fd, FdAvio::Mode::Read);
    if (!io)
        return failed(tr("out of memory"));
    AVFormatContext *raw = avformat_alloc_context();
    if (!raw)
        return failed(tr("out of memory"));
    raw->pb = io->context();
    raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    AVDictionary *options = nullptr;
    av_dict_set(&options, "protocol_whitelist", "", 0);
    int ret = avformat_open_input(&raw, "", av_find_input_format(expected.demuxer), &options);
    av_dict_free(&options);
    if (ret < 0)
        return failed(tr("it does not open as %1: %2")
                          .arg(QString::fromLatin1(expected.demuxer), AvHandles::errorText(ret)));
    std::unique_ptr<AVFormatContext, FormatCloser> format(raw);
    ret = avformat_find_stream_info(format.get(), nullptr);
    if (ret < 0)
        return failed(tr("its streams cannot be read: %1").arg(AvHandles::errorText(ret)));

    // Every packet read, so a file cut short anywhere shows.
    const unsigned count = format->nb_streams;
    std::vector<qint64> packets(count, 0);
    std::vector<qint64> firstUs(count, AV_NOPTS_VALUE);
    std::vector<qint64> endUs(count, AV_NOPTS_VALUE);
    PacketPtr packet = makePacket();
    while ((ret = av_read_frame(format.get(), packet.get())) >= 0) {
        const int i = packet->stream_index;
        const AVRational tb = format->streams[i]->time_base;
        ++packets[i];
        if (packet->pts != AV_NOPTS_VALUE) {
            const qint64 start = av_rescale_q(packet->pts, tb, AV_TIME_BASE_Q);
            const qint64 end = av_rescale_q(packet->pts + packet->duration, tb, AV_TIME_BASE_Q);
            if (firstUs[i] == AV_NOPTS_VALUE || start < firstUs[i])
                firstUs[i] = start;
            if (endUs[i] == AV_NOPTS_VALUE || end > endUs[i])
                endUs[i] = end;
        }
        av_packet_unref(packet.get());
    }
    if (ret != AVERROR_EOF)
        return failed(tr("reading it back stopped early: %1").arg(AvHandles::errorText(ret)));

    QStringList problems;
    if (qsizetype(count) != expected.streams.size())
        problems << tr("it has %1 streams, expected %2").arg(count).arg(expected.streams.size());
    QJsonArray streams;
    qint64 videoPackets = 0;
    std::vector<bool> used(count, false);
    for (const Stream &want : expected.streams) {
        int found = -1;
        for (unsigned i = 0; i < count && found < 0; ++i)
            if (!used[i] && format->streams[i]->codecpar->codec_type == want.type)
                found = int(i);
        if (found < 0) {
            problems << tr("the %1 stream is missing").arg(typeName(want.type));
            continue;
        }
        used[found] = true;
        const AVCodecParameters *par = format->streams[found]->codecpar;
        if (par->codec_id != want.codec)
            problems << tr("the %1 stream is %2, expected %3")
                            .arg(typeName(want.type), codecName(par->codec_id),
                                 codecName(want.codec));
        if (packets[found] == 0)
            problems << tr("the %1 stream is empty").arg(typeName(want.type));
        if (want.type == AVMEDIA_TYPE_VIDEO) {
            videoPackets += packets[found];
            if (par->width != want.width || par->height != want.height)
                problems << tr("the video is %1x%2, expected %3x%4")
                                .arg(par->width)
                                .arg(par->height)
                                .arg(want.width)
                                .arg(want.height);
            streams.append(QJsonObject{{QStringLiteral("type"), QStringLiteral("video")},
                                       {QStringLiteral("codec"), codecName(par->codec_id)},
                                       {QStringLiteral("width"), par->width},
                                       {QStringLiteral("height"), par->height}});
        } else {
            if (par->ch_layout.nb_channels != want.channels || par->sample_rate != want.sampleRate)
                problems << tr("the audio has %1 channels at %2 Hz, expected %3 at %4 Hz")
                                .arg(par->ch_layout.nb_channels)
                                .arg(par->sample_rate)
                                .arg(want.channels)
                                .arg(want.sampleRate);
            streams.append(QJsonObject{{QStringLiteral("type"), QStringLiteral("audio")},
                                       {QStringLiteral("codec"), codecName(par->codec_id)},
                                       {QStringLiteral("channels"), par->ch_layout.nb_channels},
                                       {QStringLiteral("sample_rate"), par->sample_rate}});
        }
    }
    if (expected.videoPackets >= 0 && videoPackets != expected.videoPackets)
        problems << tr("it holds %1 video frames, %2 were written")
                        .arg(videoPackets)
                        .arg(expected.videoPackets);

    qint64 duration = format->duration;
    if (duration == AV_NOPTS_VALUE || duration <= 0) {
        qint64 first = AV_NOPTS_VALUE;
        qint64 last = AV_NOPTS_VALUE;
        for (unsigned i = 0; i < count; ++i) {
            if (firstUs[i] != AV_NOPTS_VALUE && (first == AV_NOPTS_VALUE || firstUs[i] < first))
                first = firstUs[i];
            if (endUs[i] != AV_NOPTS_VALUE && (last == AV_NOPTS_VALUE || endUs[i] > last))
                last = endUs[i];
        }
        duration = first == AV_NOPTS_VALUE ? 0 : last - first;
    }
    if (expected.durationUs > 0 &&
        std::llabs(duration - expected.durationUs) > expected.toleranceUs)
        problems << tr("it lasts %1 s, expected %2 s")
                        .arg(double(duration) / 1e6, 0, 'f', 3)
                        .arg(double(expected.durationUs) / 1e6, 0, 'f', 3);
    if (!problems.isEmpty())
        return failed(problems.join(QStringLiteral("; ")));

    return QJsonObject{{QStringLiteral("duration_us"), duration},
                       {QStringLiteral("size"), qint64(st.st_size)},
                       {QStringLiteral("frames"), videoPackets},
                       {QStringLiteral("streams"), streams}};
}
