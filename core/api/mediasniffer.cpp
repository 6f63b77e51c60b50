#include "mediasniffer.h"

#include <QCoreApplication>

#include <array>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("MediaSniffer", text); }

// Indexes into allowed(); the order of that list.
enum Kind {
    Mp4,
    QuickTime,
    ThreeGpp,
    Matroska,
    WebM,
    Avi,
    Wav,
    MpegTs,
    Flac,
    Ogg,
    Mp3,
    Aac,
    Flv,
};

std::optional<MediaSniffer::MediaType> kind(Kind k) { return MediaSniffer::allowed().at(k); }

quint32 be32(QByteArrayView b, qsizetype at)
{
    return (quint32(quint8(b[at])) << 24) | (quint32(quint8(b[at + 1])) << 16) |
           (quint32(quint8(b[at + 2])) << 8) | quint32(quint8(b[at + 3]));
}

bool startsWith(QByteArrayView head, qsizetype at, QByteArrayView magic)
{
    return head.size() >= at + magic.size() && head.sliced(at, magic.size()) == magic;
}

// ISO base media file format: the major brand says which family the file
// claims; HEIF/AVIF images and Motion JPEG 2000 share the box layout but
// the worker decodes neither, so any image brand refuses the file.
std::optional<Kind> isoBrand(QByteArrayView brand)
{
    static const std::array<QByteArrayView, 19> mp4Brands{
        "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "mp41",
        "mp42", "avc1", "dash", "M4A ", "M4B ", "M4V ", "M4VP", "MSNV", "XAVC"};
    if (brand == "qt  ")
        return QuickTime;
    if (brand.startsWith("3g"))
        return ThreeGpp;
    for (QByteArrayView b : mp4Brands) {
        if (brand == b)
            return Mp4;
    }
    return std::nullopt;
}

bool isImageBrand(QByteArrayView brand)
{
    static const std::array<QByteArrayView, 9> images{"mif1", "msf1", "heic", "heix", "hevc",
                                                      "avif", "avis", "jp2 ", "mjp2"};
    for (QByteArrayView b : images) {
        if (brand == b)
            return true;
    }
    return false;
}

std::optional<Kind> isoBmff(QByteArrayView head)
{
    if (!startsWith(head, 4, "ftyp") || head.size() < 16)
        return std::nullopt;
    const quint32 boxSize = be32(head, 0);
    if (boxSize < 16 || boxSize > quint32(MediaSniffer::HeadBytes) || (boxSize - 16) % 4 != 0)
        return std::nullopt;
    const QByteArrayView major = head.sliced(8, 4);
    QList<QByteArrayView> compatible;
    for (qsizetype at = 16; at + 4 <= qsizetype(boxSize) && at + 4 <= head.size(); at += 4)
        compatible << head.sliced(at, 4);
    if (isImageBrand(major))
        return std::nullopt;
    for (QByteArrayView b : compatible) {
        if (isImageBrand(b))
            return std::nullopt;
    }
    if (const std::optional<Kind> k = isoBrand(major))
        return k;
    // Cameras often put a vendor brand first and list the standard ones.
    for (QByteArrayView b : compatible) {
        if (const std::optional<Kind> k = isoBrand(b))
            return k;
    }
    return std::nullopt;
}

// An EBML variable-length integer at `at`: its length in bytes (0 when
// malformed or cut off) and its value, with the length marker kept for
// element IDs and removed for sizes.
struct VarInt {
    int length = 0;
    quint64 value = 0;
    bool allOnes = false;
};

VarInt readVarInt(QByteArrayView head, qsizetype at, int maxLength, bool keepMarker)
{
    VarInt v;
    if (at >= head.size())
        return v;
    const quint8 first = quint8(head[at]);
    int length = 1;
    while (length <= 8 && !(first & (0x80 >> (length - 1))))
        ++length;
    if (length > maxLength || at + length > head.size())
        return v;
    quint64 value = keepMarker ? first : (first & (0xFF >> length));
    bool allOnes = (first & (0xFF >> length)) == (0xFF >> length);
    for (int i = 1; i < length; ++i) {
        const quint8 byte = quint8(head[at + i]);
        value = (value << 8) | byte;
        allOnes = allOnes && byte == 0xFF;
    }
    v.length = length;
    v.value = value;
    v.allOnes = allOnes;
    return v;
}

// Matroska and WebM differ only in the DocType element of the EBML header.
std::optional<Kind> ebml(QByteArrayView head)
{
    constexpr quint64 EbmlId = 0x1A45DFA3;
    constexpr quint64 DocTypeId = 0x4282;
    const VarInt id = readVarInt(head, 0, 4, true);
    if (id.length != 4 || id.value != EbmlId)
        return std::nullopt;
    const VarInt headerSize = readVarInt(head, 4, 8, false);
    if (headerSize.length == 0 || headerSize.allOnes)
        return std::nullopt;
    const qsizetype start = 4 + headerSize.length;
    const quint64 end = start + headerSize.value;
    qsizetype at = start;
    while (quint64(at) < end) {
        const VarInt elementId = readVarInt(head, at, 4, true);
        if (elementId.length == 0)
            return std::nullopt;
        const VarInt size = readVarInt(head, at + elementId.length, 8, false);
        if (size.length == 0 || size.allOnes)
            return std::nullopt;
        const qsizetype data = at + elementId.length + size.length;
        if (size.value > quint64(head.size() - data) || data + qint64(size.value) > qint64(end))
            return std::nullopt;
        if (elementId.value == DocTypeId) {
            QByteArrayView docType = head.sliced(data, qsizetype(size.value));
            while (docType.endsWith('\0'))
                docType.chop(1);
            if (docType == "matroska")
                return Matroska;
            if (docType == "webm")
                return WebM;
            return std::nullopt;
        }
        at = data + qsizetype(size.value);
    }
    return std::nullopt;
}

// Transport stream packets of 188 bytes (204 with Reed-Solomon parity,
// 192 on Blu-ray with a 4-byte time code first): every packet start in the
// head must carry the sync byte and a valid adaptation field control.
bool transportStream(QByteArrayView head)
{
    constexpr int MinPackets = 3;
    struct Layout {
        int packetSize;
        int syncOffset;
    };
    for (const Layout layout : {Layout{188, 0}, Layout{192, 4}, Layout{204, 0}}) {
        int packets = 0;
        bool all = true;
        for (qsizetype at = layout.syncOffset; at + 4 <= head.size() && all;
             at += layout.packetSize) {
            all = head[at] == 0x47 && (quint8(head[at + 3]) & 0x30) != 0;
            ++packets;
        }
        if (all && packets >= MinPackets)
            return true;
    }
    return false;
}

// The length of the MPEG-1/2/2.5 Layer III frame whose header is at `at`,
// or 0 when there is no valid one (Layers I and II: the worker decodes
// only Layer III).
qsizetype mp3FrameLength(QByteArrayView head, qsizetype at)
{
    if (at + 4 > head.size())
        return 0;
    const quint8 b1 = quint8(head[at + 1]);
    const quint8 b2 = quint8(head[at + 2]);
    const quint8 b3 = quint8(head[at + 3]);
    if (quint8(head[at]) != 0xFF || (b1 & 0xE0) != 0xE0)
        return 0;
    const int version = (b1 >> 3) & 3; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    const int layer = (b1 >> 1) & 3;   // 1: Layer III
    const int bitrateIndex = b2 >> 4;
    const int rateIndex = (b2 >> 2) & 3;
    if (version == 1 || layer != 1 || bitrateIndex == 0 || bitrateIndex == 15 || rateIndex == 3 ||
        (b3 & 3) == 2)
        return 0;
    static constexpr int mpeg1Kbps[] = {0,   32,  40,  48,  56,  64,  80, 96,
                                        112, 128, 160, 192, 224, 256, 320};
    static constexpr int mpeg2Kbps[] = {0,  8,  16, 24,  32,  40,  48, 56,
                                        64, 80, 96, 112, 128, 144, 160};
    static constexpr int mpeg1Rates[] = {44100, 48000, 32000};
    const bool mpeg1 = version == 3;
    const int bitrate = (mpeg1 ? mpeg1Kbps : mpeg2Kbps)[bitrateIndex] * 1000;
    const int rate = mpeg1Rates[rateIndex] / (mpeg1 ? 1 : version == 2 ? 2 : 4);
    const int padding = (b2 >> 1) & 1;
    return (mpeg1 ? 144 : 72) * bitrate / rate + padding;
}

// The length of the ADTS (AAC) frame whose header is at `at`, or 0.
qsizetype adtsFrameLength(QByteArrayView head, qsizetype at)
{
    if (at + 7 > head.size())
        return 0;
    const quint8 b1 = quint8(head[at + 1]);
    const quint8 b2 = quint8(head[at + 2]);
    if (quint8(head[at]) != 0xFF || (b1 & 0xF6) != 0xF0 || ((b2 >> 2) & 0xF) > 12)
        return 0;
    const qsizetype headerSize = (b1 & 1) ? 7 : 9;
    const qsizetype length = ((quint8(head[at + 3]) & 3) << 11) | (quint8(head[at + 4]) << 3) |
                             (quint8(head[at + 5]) >> 5);
    return length > headerSize ? length : 0;
}

// A frame that fits in the head, followed by another one when the head
// holds the next header: one plausible header alone is too easy to hit.
bool framesAt(QByteArrayView head, qsizetype at,
              qsizetype (*frameLength)(QByteArrayView, qsizetype))
{
    const qsizetype first = frameLength(head, at);
    if (first == 0 || at + first > head.size())
        return false;
    const qsizetype next = at + first;
    if (next + 7 > head.size())
        return true;
    return frameLength(head, next) != 0;
}

std::optional<Kind> mpegAudio(QByteArrayView head)
{
    qsizetype at = 0;
    if (startsWith(head, 0, "ID3")) {
        // ID3v2: version 2-4, then a 28-bit size in four 7-bit bytes.
        if (head.size() < 10 || quint8(head[3]) < 2 || quint8(head[3]) > 4 ||
            quint8(head[4]) == 0xFF)
            return std::nullopt;
        quint32 size = 0;
        for (int i = 6; i < 10; ++i) {
            if (quint8(head[i]) & 0x80)
                return std::nullopt;
            size = (size << 7) | quint8(head[i]);
        }
        const bool footer = quint8(head[5]) & 0x10;
        at = 10 + qsizetype(size) + (footer ? 10 : 0);
        // A long tag (cover art) hides the first frame; the tag itself is
        // then the evidence, as it is for FFmpeg's probe.
        if (at + 7 > head.size())
            return Mp3;
    }
    if (framesAt(head, at, mp3FrameLength))
        return Mp3;
    if (framesAt(head, at, adtsFrameLength))
        return Aac;
    return std::nullopt;
}

std::optional<Kind> identifyKind(QByteArrayView head)
{
    if (std::optional<Kind> k = isoBmff(head))
        return k;
    if (std::optional<Kind> k = ebml(head))
        return k;
    if ((startsWith(head, 0, "RIFF") || startsWith(head, 0, "RF64")) && startsWith(head, 8, "WAVE"))
        return Wav;
    if (startsWith(head, 0, "RIFF") && startsWith(head, 8, "AVI "))
        return Avi;
    // STREAMINFO (type 0, 34 bytes) must be the first metadata block.
    if (startsWith(head, 0, "fLaC") && head.size() >= 8 && (quint8(head[4]) & 0x7F) == 0 &&
        be32(head, 4) == 34)
        return Flac;
    // Version 0, and the first page begins a logical stream.
    if (startsWith(head, 0, "OggS") && head.size() >= 6 && head[4] == 0 &&
        (quint8(head[5]) & ~0x07) == 0 && (quint8(head[5]) & 0x02))
        return Ogg;
    if (startsWith(head, 0, "FLV\x01") && head.size() >= 9 && (quint8(head[4]) & ~0x05) == 0 &&
        be32(head, 5) >= 9)
        return Flv;
    if (transportStream(head))
        return MpegTs;
    return mpegAudio(head);
}

// Client-supplied text echoed in a message: printable and short.
QString shown(const QString &text)
{
    constexpr qsizetype MaxShown = 64;
    QString out;
    for (QChar c : text.left(MaxShown))
        out += c.isPrint() ? c : QChar(u'?');
    if (text.size() > MaxShown)
        out += QStringLiteral("...");
    return out;
}

QString extensionOf(const QString &fileName)
{
    const qsizetype slash = std::max(fileName.lastIndexOf(u'/'), fileName.lastIndexOf(u'\\'));
    const QString base = fileName.mid(slash + 1);
    const qsizetype dot = base.lastIndexOf(u'.');
    return dot < 0 ? QString() : base.mid(dot + 1);
}

QString dotted(const QStringList &extensions)
{
    QStringList out;
    for (const QString &e : extensions)
        out << u'.' + e;
    return out.join(QStringLiteral(", "));
}
} // namespace

const QList<MediaSniffer::MediaType> &MediaSniffer::allowed()
{
    auto list = [](std::initializer_list<const char16_t *> items) {
        QStringList out;
        for (const char16_t *item : items)
            out << QString::fromUtf16(item);
        return out;
    };
    // Must follow enum Kind, and hold only what the worker's demuxer
    // whitelist (farm/worker/inputfile.cpp) opens.
    static const QList<MediaType> all{
        {QStringLiteral("mp4"), QStringLiteral("video/mp4"), list({u"mp4", u"m4v", u"m4a"}),
         list({u"video/mp4", u"audio/mp4", u"audio/x-m4a", u"video/x-m4v"})},
        {QStringLiteral("quicktime"), QStringLiteral("video/quicktime"), list({u"mov", u"qt"}),
         list({u"video/quicktime"})},
        {QStringLiteral("3gpp"), QStringLiteral("video/3gpp"), list({u"3gp", u"3g2"}),
         list({u"video/3gpp", u"audio/3gpp", u"video/3gpp2", u"audio/3gpp2"})},
        {QStringLiteral("matroska"), QStringLiteral("video/x-matroska"),
         list({u"mkv", u"mka", u"mk3d"}),
         list({u"video/x-matroska", u"audio/x-matroska", u"video/matroska", u"audio/matroska"})},
        {QStringLiteral("webm"), QStringLiteral("video/webm"), list({u"webm"}),
         list({u"video/webm", u"audio/webm"})},
        {QStringLiteral("avi"), QStringLiteral("video/x-msvideo"), list({u"avi"}),
         list({u"video/x-msvideo", u"video/avi", u"video/msvideo"})},
        {QStringLiteral("wav"), QStringLiteral("audio/wav"), list({u"wav", u"wave"}),
         list({u"audio/wav", u"audio/x-wav", u"audio/wave", u"audio/vnd.wave"})},
        {QStringLiteral("mpegts"), QStringLiteral("video/mp2t"),
         list({u"ts", u"mts", u"m2ts", u"m2t"}), list({u"video/mp2t"})},
        {QStringLiteral("flac"), QStringLiteral("audio/flac"), list({u"flac"}),
         list({u"audio/flac", u"audio/x-flac"})},
        {QStringLiteral("ogg"), QStringLiteral("audio/ogg"),
         list({u"ogg", u"oga", u"ogv", u"opus", u"ogx"}),
         list({u"audio/ogg", u"video/ogg", u"application/ogg", u"audio/opus"})},
        {QStringLiteral("mp3"), QStringLiteral("audio/mpeg"), list({u"mp3"}),
         list({u"audio/mpeg", u"audio/mp3"})},
        {QStringLiteral("aac"), QStringLiteral("audio/aac"), list({u"aac"}),
         list({u"audio/aac", u"audio/x-aac", u"audio/aacp"})},
        {QStringLiteral("flv"), QStringLiteral("video/x-flv"), list({u"flv"}),
         list({u"video/x-flv", u"video/flv"})},
    };
    return all;
}

std::optional<MediaSniffer::MediaType> MediaSniffer::identify(QByteArrayView head)
{
    const std::optional<Kind> k = identifyKind(head.first(std::min(head.size(), HeadBytes)));
    return k ? kind(*k) : std::nullopt;
}

QString MediaSniffer::mismatch(const MediaType &type, const QString &fileName,
                               const QString &contentType)
{
    QStringList problems;
    const QString extension = extensionOf(fileName);
    if (extension.isEmpty())
        problems << tr("the file name has no extension (use %1)").arg(dotted(type.extensions));
    else if (!type.extensions.contains(extension.toLower()))
        problems << tr("the file name ends in .%1 (use %2)")
                        .arg(shown(extension), dotted(type.extensions));

    const QString declared = contentType.section(u';', 0, 0).trimmed().toLower();
    const QString accepted = type.mimeTypes.join(QStringLiteral(", "));
    if (declared.isEmpty())
        problems << tr("no Content-Type was declared (declare %1)").arg(accepted);
    else if (!type.mimeTypes.contains(declared))
        problems << tr("the Content-Type is %1 (declare %2)").arg(shown(declared), accepted);

    if (problems.isEmpty())
        return {};
    return tr("the content is %1 media, but %2")
        .arg(type.name, problems.join(QStringLiteral(" and ")));
}
