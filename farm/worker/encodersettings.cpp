#include "encodersettings.h"

#include <QCoreApplication>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/dict.h>
}

#include <algorithm>
#include <array>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("EncoderSettings", text); }

using Codec = JobSpec::VideoCodec;
using Family = EncoderSettings::Family;

constexpr EncoderSettings::Encoder Encoders[] = {
    {"libx264", Codec::H264, Family::Software, nullptr},
    {"libx265", Codec::Hevc, Family::Software, nullptr},
    {"libsvtav1", Codec::Av1, Family::Software, nullptr},
    {"libvpx-vp9", Codec::Vp9, Family::Software, nullptr},
    {"h264_nvenc", Codec::H264, Family::Nvenc, "cuda"},
    {"hevc_nvenc", Codec::Hevc, Family::Nvenc, "cuda"},
    {"av1_nvenc", Codec::Av1, Family::Nvenc, "cuda"},
    {"h264_qsv", Codec::H264, Family::Qsv, "qsv"},
    {"hevc_qsv", Codec::Hevc, Family::Qsv, "qsv"},
    {"vp9_qsv", Codec::Vp9, Family::Qsv, "qsv"},
    {"av1_qsv", Codec::Av1, Family::Qsv, "qsv"},
    {"h264_vaapi", Codec::H264, Family::Vaapi, "vaapi"},
    {"hevc_vaapi", Codec::Hevc, Family::Vaapi, "vaapi"},
    {"vp9_vaapi", Codec::Vp9, Family::Vaapi, "vaapi"},
    {"av1_vaapi", Codec::Av1, Family::Vaapi, "vaapi"},
};

// The x264 speed names, fastest first; every table below follows them.
constexpr std::array<const char *, 9> Speeds = {
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"};

int speedIndex(const QString &speed)
{
    for (size_t i = 0; i < Speeds.size(); ++i)
        if (speed == QLatin1StringView(Speeds[i]))
            return int(i);
    return 5; // medium
}

// The software encoders' defaults, so that hardware encoders without a
// CRF aim at a comparable quality.
int defaultQuality(Codec codec)
{
    switch (codec) {
    case Codec::H264:
        return 23;
    case Codec::Hevc:
        return 28;
    default:
        return 32;
    }
}

// VP9 and AV1 CRF run 0..63; the hardware quantisers of those codecs 0..255.
int hardwareQuality(Codec codec, int crf)
{
    if (codec == Codec::Vp9 || codec == Codec::Av1)
        return std::min(255, crf * 4);
    return std::clamp(crf, 1, 51);
}

void setInt(AVDictionary **options, const char *key, qint64 value)
{
    av_dict_set_int(options, key, value, 0);
}

bool supports(const AVCodec *codec, AVPixelFormat format)
{
    if (!codec->pix_fmts)
        return true;
    for (const AVPixelFormat *p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
        if (*p == format)
            return true;
    return false;
}
} // namespace

const EncoderSettings::Encoder *EncoderSettings::find(const QString &name)
{
    for (const Encoder &encoder : Encoders)
        if (name == QLatin1StringView(encoder.name))
            return &encoder;
    return nullptr;
}

AVPixelFormat EncoderSettings::softwareFormat(const Encoder &encoder, const AVCodec *codec,
                                              const QString &specFormat, QString *error)
{
    const bool tenBit = specFormat == QLatin1StringView("yuv420p10le");
    if (uploadsFrames(encoder))
        return tenBit ? AV_PIX_FMT_P010LE : AV_PIX_FMT_NV12;
    const AVPixelFormat preferred[2] = {tenBit ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P,
                                        tenBit ? AV_PIX_FMT_P010LE : AV_PIX_FMT_NV12};
    for (AVPixelFormat format : preferred)
        if (supports(codec, format))
            return format;
    *error = tr("%1 cannot encode %2 here").arg(QString::fromLatin1(encoder.name), specFormat);
    return AV_PIX_FMT_NONE;
}

void EncoderSettings::apply(const Encoder &encoder, const JobSpec &spec, AVCodecContext *context,
                            AVDictionary **options)
{
    const int speed = speedIndex(spec.speed);
    context->thread_count = 0; // the encoder picks
    if (spec.bitrateKbps)
        context->bit_rate = qint64(*spec.bitrateKbps) * 1000;

    switch (encoder.family) {
    case Family::Software: {
        const QByteArray name(encoder.name);
        if (name == "libx264" || name == "libx265") {
            av_dict_set(options, "preset", Speeds[speed], 0);
            if (spec.crf)
                setInt(options, "crf", *spec.crf);
            if (name == "libx265")
                av_dict_set(options, "x265-params", "log-level=error", 0);
        } else if (name == "libsvtav1") {
            static constexpr int presets[] = {12, 11, 10, 9, 8, 7, 5, 4, 2};
            setInt(options, "preset", presets[speed]);
            if (spec.crf)
                setInt(options, "crf", *spec.crf);
        } else if (name == "libvpx-vp9") {
            // realtime for the three fastest, then "good" at falling cpu-used.
            static constexpr int cpuUsed[] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
            av_dict_set(options, "deadline", speed <= 2 ? "realtime" : "good", 0);
            setInt(options, "cpu-used", cpuUsed[speed]);
            setInt(options, "row-mt", 1);
            if (spec.crf) {
                setInt(options, "crf", *spec.crf);
                if (!spec.bitrateKbps)
                    context->bit_rate = 0; // constant quality, no bitrate cap
            }
        }
        break;
    }
    case Family::Nvenc: {
        static constexpr const char *presets[] = {"p1", "p2", "p3", "p3", "p4",
                                                  "p4", "p5", "p6", "p7"};
        av_dict_set(options, "preset", presets[speed], 0);
        av_dict_set(options, "rc", "vbr", 0);
        if (!spec.bitrateKbps) {
            const int crf = spec.crf.value_or(defaultQuality(encoder.codec));
            // NVENC's cq runs 0..51 for every codec.
            const int cq = encoder.codec == Codec::Av1 || encoder.codec == Codec::Vp9
                               ? std::clamp(crf * 51 / 63, 1, 51)
                               : std::clamp(crf, 1, 51);
            setInt(options, "cq", cq);
            context->bit_rate = 0;
        }
        break;
    }
    case Family::Qsv: {
        static constexpr const char *presets[] = {"veryfast", "veryfast", "veryfast",
                                                  "faster",   "fast",     "medium",
                                                  "slow",     "slower",   "veryslow"};
        av_dict_set(options, "preset", presets[speed], 0);
        if (!spec.bitrateKbps)
            context->global_quality =
                hardwareQuality(encoder.codec, spec.crf.value_or(defaultQuality(encoder.codec)));
        break;
    }
    case Family::Vaapi: {
        // Drivers read compression_level as their quality level: 1 is the
        // slowest and best.
        static constexpr int levels[] = {7, 7, 6, 5, 5, 4, 3, 2, 1};
        context->compression_level = levels[speed];
        if (spec.bitrateKbps) {
            av_dict_set(options, "rc_mode", "VBR", 0);
        } else {
            av_dict_set(options, "rc_mode", "CQP", 0);
            setInt(
                options, "qp",
                hardwareQuality(encoder.codec, spec.crf.value_or(defaultQuality(encoder.codec))));
        }
        break;
    }
    }
}
