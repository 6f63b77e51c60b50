#include "hardwareprobe.h"

#include "worker/sandbox.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QMap>
#include <QScopeGuard>

#include <cstdarg>
#include <cstdio>
#include <mutex>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_vulkan.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
}

namespace {
QString tr(const char *text) { return QCoreApplication::translate("HardwareProbe", text); }

constexpr int FrameSize = 256;

// FFmpeg's messages during one attempt: the driver's own words are the best
// explanation of why something did not open. FFmpeg may log from its own
// threads, hence the lock.
std::mutex logMutex;
QStringList *logLines = nullptr;

void logCallback(void *context, int level, const char *format, va_list args)
{
    if (level > AV_LOG_WARNING)
        return;
    va_list copy;
    va_copy(copy, args);
    char line[1024];
    int printPrefix = 0;
    av_log_format_line2(context, level, format, copy, line, sizeof line, &printPrefix);
    va_end(copy);
    {
        const std::lock_guard lock(logMutex);
        if (logLines) {
            QString text = QString::fromUtf8(line).trimmed();
            while (text.endsWith(u'.'))
                text.chop(1);
            if (!text.isEmpty() && !logLines->contains(text))
                logLines->append(text);
        }
    }
    av_log_default_callback(context, level, format, args);
}

class LogCapture {
public:
    LogCapture()
    {
        const std::lock_guard lock(logMutex);
        logLines = &m_lines;
    }
    ~LogCapture()
    {
        const std::lock_guard lock(logMutex);
        logLines = nullptr;
    }
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;

    QString text() const
    {
        const std::lock_guard lock(logMutex);
        return m_lines.join(QStringLiteral("; "));
    }
    bool contains(const char *needle) const
    {
        return text().contains(QLatin1StringView(needle), Qt::CaseInsensitive);
    }

private:
    QStringList m_lines;
};

QString errorText(int error)
{
    char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(error, buffer, sizeof buffer);
    return QString::fromUtf8(buffer);
}

// "<what it means> (<FFmpeg's messages>: <error>)".
QString explain(const QString &meaning, const LogCapture &log, int error)
{
    QString cause = log.text();
    const QString code = errorText(error);
    cause = cause.isEmpty() ? code : cause + QStringLiteral(": ") + code;
    return meaning.isEmpty() ? cause : meaning + QStringLiteral(" (") + cause + u')';
}

QStringList deviceNodes(const char *pattern)
{
    const QDir dri(QStringLiteral("/dev/dri"));
    QStringList nodes;
    for (const QString &name :
         dri.entryList({QLatin1StringView(pattern)}, QDir::System | QDir::Files, QDir::Name))
        nodes << dri.filePath(name);
    return nodes;
}

// What an open failure most likely means, from the type and FFmpeg's words.
QString meaningOf(AVHWDeviceType type, const LogCapture &log)
{
    switch (type) {
    case AV_HWDEVICE_TYPE_CUDA:
        if (log.contains("libcuda"))
            return tr("no CUDA driver (libcuda.so.1 not found)");
        if (log.contains("NO_DEVICE") || log.contains("no CUDA-capable"))
            return tr("no CUDA-capable GPU");
        return tr("the CUDA driver did not initialise");
    case AV_HWDEVICE_TYPE_VAAPI:
        if (deviceNodes("renderD*").isEmpty())
            return tr("no GPU render node (/dev/dri/renderD*)");
        return tr("no VA-API driver for this GPU");
    case AV_HWDEVICE_TYPE_QSV:
        if (deviceNodes("renderD*").isEmpty())
            return tr("no GPU render node (/dev/dri/renderD*)");
        return tr("no Intel Quick Sync runtime for this GPU");
    case AV_HWDEVICE_TYPE_DRM:
        return tr("no DRM device (/dev/dri/card*)");
    case AV_HWDEVICE_TYPE_VDPAU:
        return tr("VDPAU needs an X11 display, which the worker cannot reach");
    case AV_HWDEVICE_TYPE_OPENCL:
        if (log.contains("-1001"))
            return tr("no OpenCL platform installed");
        return tr("no OpenCL device");
    case AV_HWDEVICE_TYPE_VULKAN:
        if (log.contains("INCOMPATIBLE_DRIVER"))
            return tr("no Vulkan driver");
        return tr("the Vulkan driver did not initialise");
    default:
        return {};
    }
}

// Vulkan opens on a CPU rasteriser where there is no GPU: that is software.
void describeVulkan(AVBufferRef *ref, CapabilityMatrix::Device &device)
{
    const auto *context = reinterpret_cast<const AVHWDeviceContext *>(ref->data);
    const auto *vulkan = static_cast<const AVVulkanDeviceContext *>(context->hwctx);
    const auto getProperties =
        vulkan->get_proc_addr
            ? reinterpret_cast<PFN_vkGetPhysicalDeviceProperties>(
                  vulkan->get_proc_addr(vulkan->inst, "vkGetPhysicalDeviceProperties"))
            : nullptr;
    if (!getProperties) {
        // What cannot be confirmed as hardware is not counted as hardware.
        device.detail = tr("opened, but the device type is unknown");
        return;
    }
    VkPhysicalDeviceProperties properties{};
    getProperties(vulkan->phys_dev, &properties);
    const QString name = QString::fromUtf8(properties.deviceName);
    bool software = properties.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    for (const char *rasteriser : {"llvmpipe", "lavapipe", "SwiftShader"}) {
        if (name.contains(QLatin1StringView(rasteriser), Qt::CaseInsensitive))
            software = true;
    }
    if (software) {
        device.detail = tr("software rasteriser (%1), not hardware").arg(name);
        return;
    }
    device.hardware = true;
    device.ok = true;
    device.detail = name;
}

struct OpenedDevice {
    CapabilityMatrix::Device entry;
    AVBufferRef *ref = nullptr; // kept for the encoders while ok
};

OpenedDevice openDevice(AVHWDeviceType type)
{
    OpenedDevice result;
    result.entry.type = QString::fromUtf8(av_hwdevice_get_type_name(type));

    const char *device = nullptr;
    QByteArray node;
    AVDictionary *options = nullptr;
    const auto freeOptions = qScopeGuard([&options] { av_dict_free(&options); });
    if (type == AV_HWDEVICE_TYPE_VAAPI) {
        // A render node only: X11 is out of reach in the sandbox.
        av_dict_set(&options, "connection_type", "drm", 0);
    } else if (type == AV_HWDEVICE_TYPE_DRM) {
        // FFmpeg's DRM device needs a node named; it has no default.
        const QStringList cards = deviceNodes("card*");
        if (cards.isEmpty()) {
            result.entry.detail = tr("no DRM device (/dev/dri/card*)");
            return result;
        }
        node = QFile::encodeName(cards.first());
        device = node.constData();
    }

    const LogCapture log;
    const int error = av_hwdevice_ctx_create(&result.ref, type, device, options, 0);
    if (error < 0) {
        result.ref = nullptr;
        result.entry.detail = explain(meaningOf(type, log), log, error);
        return result;
    }
    if (type == AV_HWDEVICE_TYPE_VULKAN) {
        describeVulkan(result.ref, result.entry);
    } else {
        result.entry.hardware = true;
        result.entry.ok = true;
        result.entry.detail = node.isEmpty() ? tr("opened") : QFile::decodeName(node);
    }
    if (!result.entry.ok)
        av_buffer_unref(&result.ref);
    return result;
}

struct Family {
    const char *suffix;
    const char *family;
    AVHWDeviceType device;
    AVPixelFormat hwFormat; // AV_PIX_FMT_NONE: the encoder takes frames in memory
};

const Family Families[] = {
    {"_nvenc", "nvenc", AV_HWDEVICE_TYPE_CUDA, AV_PIX_FMT_NONE},
    {"_vaapi", "vaapi", AV_HWDEVICE_TYPE_VAAPI, AV_PIX_FMT_VAAPI},
    {"_qsv", "qsv", AV_HWDEVICE_TYPE_QSV, AV_PIX_FMT_QSV},
};

bool isProbedCodec(AVCodecID id)
{
    return id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_HEVC || id == AV_CODEC_ID_AV1 ||
           id == AV_CODEC_ID_VP9;
}

AVPixelFormat memoryFormat(const AVCodec *codec)
{
    if (codec->pix_fmts) {
        for (const AVPixelFormat *f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f) {
            if (*f == AV_PIX_FMT_NV12 || *f == AV_PIX_FMT_YUV420P)
                return *f;
        }
    }
    return AV_PIX_FMT_NV12;
}

QString openFailureMeaning(const Family &family, const LogCapture &log)
{
    if (qstrcmp(family.family, "nvenc") == 0) {
        if (log.contains("unsupported device") || log.contains("No capable devices"))
            return tr("this GPU has no NVENC encoder");
        // What the driver answers when its session limit is reached.
        if (log.contains("out of memory") || log.contains("incompatible client key"))
            return tr("every NVENC session on this GPU is in use");
    }
    return tr("the encoder did not open");
}

// Opens the encoder on `device` and encodes one black frame; empty on
// success, else what went wrong.
QString encodeOneFrame(const AVCodec *codec, const Family &family, AVBufferRef *device)
{
    const LogCapture log;
    AVCodecContext *context = avcodec_alloc_context3(codec);
    AVBufferRef *frames = nullptr;
    AVFrame *frame = av_frame_alloc();
    AVFrame *hwFrame = av_frame_alloc();
    AVPacket *packet = av_packet_alloc();
    const auto cleanup = qScopeGuard([&] {
        av_packet_free(&packet);
        av_frame_free(&hwFrame);
        av_frame_free(&frame);
        av_buffer_unref(&frames);
        avcodec_free_context(&context);
    });
    if (!context || !frame || !hwFrame || !packet)
        return explain(QString(), log, AVERROR(ENOMEM));

    context->width = FrameSize;
    context->height = FrameSize;
    context->time_base = AVRational{1, 25};
    context->framerate = AVRational{25, 1};
    context->max_b_frames = 0;
    const AVPixelFormat swFormat =
        family.hwFormat == AV_PIX_FMT_NONE ? memoryFormat(codec) : AV_PIX_FMT_NV12;
    if (family.hwFormat == AV_PIX_FMT_NONE) {
        context->pix_fmt = swFormat;
        context->hw_device_ctx = av_buffer_ref(device);
    } else {
        frames = av_hwframe_ctx_alloc(device);
        if (!frames)
            return explain(QString(), log, AVERROR(ENOMEM));
        auto *framesContext = reinterpret_cast<AVHWFramesContext *>(frames->data);
        framesContext->format = family.hwFormat;
        framesContext->sw_format = swFormat;
        framesContext->width = FrameSize;
        framesContext->height = FrameSize;
        // Quick Sync needs a fixed pool large enough for its lookahead.
        framesContext->initial_pool_size = family.hwFormat == AV_PIX_FMT_QSV ? 32 : 4;
        if (const int error = av_hwframe_ctx_init(frames); error < 0)
            return explain(tr("cannot allocate frames on the device"), log, error);
        context->pix_fmt = family.hwFormat;
        context->hw_frames_ctx = av_buffer_ref(frames);
    }

    if (const int error = avcodec_open2(context, codec, nullptr); error < 0)
        return explain(openFailureMeaning(family, log), log, error);

    frame->format = swFormat;
    frame->width = FrameSize;
    frame->height = FrameSize;
    if (const int error = av_frame_get_buffer(frame, 0); error < 0)
        return explain(QString(), log, error);
    ptrdiff_t linesizes[4];
    for (int i = 0; i < 4; ++i)
        linesizes[i] = frame->linesize[i];
    av_image_fill_black(frame->data, linesizes, swFormat, AVCOL_RANGE_MPEG, FrameSize, FrameSize);
    frame->pts = 0;

    AVFrame *input = frame;
    if (frames) {
        if (const int error = av_hwframe_get_buffer(frames, hwFrame, 0); error < 0)
            return explain(tr("cannot allocate a frame on the device"), log, error);
        if (const int error = av_hwframe_transfer_data(hwFrame, frame, 0); error < 0)
            return explain(tr("cannot upload a frame to the device"), log, error);
        hwFrame->pts = 0;
        input = hwFrame;
    }
    if (const int error = avcodec_send_frame(context, input); error < 0)
        return explain(tr("the encoder refused a frame"), log, error);
    if (const int error = avcodec_send_frame(context, nullptr); error < 0)
        return explain(tr("the encoder refused a frame"), log, error);
    int packets = 0;
    for (;;) {
        const int error = avcodec_receive_packet(context, packet);
        if (error == AVERROR_EOF)
            break;
        if (error < 0)
            return explain(tr("the encoder failed"), log, error);
        ++packets;
        av_packet_unref(packet);
    }
    if (packets == 0)
        return tr("the encoder produced no output for a frame");
    return {};
}
} // namespace

CapabilityMatrix HardwareProbe::run()
{
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(logCallback);

    CapabilityMatrix matrix;
    matrix.probedAt = QDateTime::currentMSecsSinceEpoch();

    QMap<int, OpenedDevice> devices;
    const auto releaseDevices = qScopeGuard([&devices] {
        for (OpenedDevice &d : devices)
            av_buffer_unref(&d.ref);
    });
    for (AVHWDeviceType type = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE);
         type != AV_HWDEVICE_TYPE_NONE; type = av_hwdevice_iterate_types(type)) {
        OpenedDevice opened = openDevice(type);
        matrix.devices.append(opened.entry);
        devices.insert(int(type), opened);
    }

    void *iterator = nullptr;
    while (const AVCodec *codec = av_codec_iterate(&iterator)) {
        if (!av_codec_is_encoder(codec) || !isProbedCodec(codec->id))
            continue;
        const QString name = QString::fromUtf8(codec->name);
        for (const Family &family : Families) {
            if (!name.endsWith(QLatin1StringView(family.suffix)) || matrix.encoder(name))
                continue;
            CapabilityMatrix::Encoder entry;
            entry.name = name;
            entry.codec = QString::fromUtf8(avcodec_get_name(codec->id));
            entry.family = QString::fromLatin1(family.family);
            entry.device = QString::fromUtf8(av_hwdevice_get_type_name(family.device));
            const auto device = devices.constFind(int(family.device));
            if (device == devices.cend()) {
                entry.detail = tr("this FFmpeg build has no %1 devices").arg(entry.device);
            } else if (!device->ref) {
                entry.detail = tr("needs a %1 device: %2").arg(entry.device, device->entry.detail);
            } else {
                entry.detail = encodeOneFrame(codec, family, device->ref);
                entry.ok = entry.detail.isEmpty();
            }
            matrix.encoders.append(entry);
        }
    }
    av_log_set_callback(av_log_default_callback);
    return matrix;
}

int HardwareProbe::runAndPrint()
{
    const auto print = [](const QJsonObject &line) {
        const QByteArray text = QJsonDocument(line).toJson(QJsonDocument::Compact) + '\n';
        std::fwrite(text.constData(), 1, size_t(text.size()), stdout);
        std::fflush(stdout);
    };
    const auto sandbox = Sandbox::apply(SandboxPolicy::forEncoding());
    if (!sandbox) {
        print(QJsonObject{{QStringLiteral("v"), 1},
                          {QStringLiteral("type"), QStringLiteral("error")},
                          {QStringLiteral("code"), QStringLiteral("sandbox_failed")},
                          {QStringLiteral("message"), sandbox.error()}});
        return 1;
    }
    QJsonObject line = run().toJson();
    line.insert(QStringLiteral("v"), 1);
    line.insert(QStringLiteral("type"), QStringLiteral("capabilities"));
    line.insert(QStringLiteral("sandbox"),
                QJsonObject{{QStringLiteral("landlock_abi"), sandbox->landlockAbi},
                            {QStringLiteral("warning"), sandbox->warning}});
    print(line);
    return 0;
}
