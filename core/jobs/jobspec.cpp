#include "jobspec.h"

#include <QCoreApplication>

#include <array>
#include <cmath>
#include <utility>

namespace {
using Name = QLatin1StringView;

QString tr(const char *text) { return QCoreApplication::translate("JobSpec", text); }

constexpr int maxPathBytes = 4096;
constexpr int maxNameBytes = 200;
constexpr double maxTrimSeconds = 864000; // ten days: far beyond any real recording
constexpr int uploadIdLength = 24;

// One table drives the unknown-field check of every object and fieldPaths().
const std::array<Name, 19> fieldPathTable{
    Name("input.path"),         Name("input.upload"),       Name("output.directory"),
    Name("output.name"),        Name("container"),          Name("video.codec"),
    Name("video.crf"),          Name("video.bitrate_kbps"), Name("video.speed"),
    Name("video.max_width"),    Name("video.max_height"),   Name("video.fps"),
    Name("video.pixel_format"), Name("audio.codec"),        Name("audio.bitrate_kbps"),
    Name("trim.start_s"),       Name("trim.duration_s"),    Name("priority"),
    Name("hardware"),
};

const std::array<std::pair<JobSpec::Container, Name>, 4> containerNames{{
    {JobSpec::Container::Mp4, Name("mp4")},
    {JobSpec::Container::Mkv, Name("mkv")},
    {JobSpec::Container::Mov, Name("mov")},
    {JobSpec::Container::Webm, Name("webm")},
}};

const std::array<std::pair<JobSpec::VideoCodec, Name>, 6> videoCodecNames{{
    {JobSpec::VideoCodec::H264, Name("h264")},
    {JobSpec::VideoCodec::Hevc, Name("hevc")},
    {JobSpec::VideoCodec::Av1, Name("av1")},
    {JobSpec::VideoCodec::Vp9, Name("vp9")},
    {JobSpec::VideoCodec::Copy, Name("copy")},
    {JobSpec::VideoCodec::None, Name("none")},
}};

const std::array<std::pair<JobSpec::AudioCodec, Name>, 4> audioCodecNames{{
    {JobSpec::AudioCodec::Aac, Name("aac")},
    {JobSpec::AudioCodec::Opus, Name("opus")},
    {JobSpec::AudioCodec::Copy, Name("copy")},
    {JobSpec::AudioCodec::None, Name("none")},
}};

const std::array<std::pair<JobSpec::Hardware, Name>, 5> hardwareNames{{
    {JobSpec::Hardware::Auto, Name("auto")},
    {JobSpec::Hardware::Nvenc, Name("nvenc")},
    {JobSpec::Hardware::Vaapi, Name("vaapi")},
    {JobSpec::Hardware::Qsv, Name("qsv")},
    {JobSpec::Hardware::Software, Name("software")},
}};

// x264's preset names; the worker maps them onto each encoder's own scale.
const std::array<Name, 9> speedNames{
    Name("ultrafast"), Name("superfast"), Name("veryfast"), Name("faster"),   Name("fast"),
    Name("medium"),    Name("slow"),      Name("slower"),   Name("veryslow"),
};

const std::array<Name, 2> pixelFormatNames{Name("yuv420p"), Name("yuv420p10le")};

template <typename T, std::size_t N>
QString nameOf(const std::array<std::pair<T, Name>, N> &table, const T &value)
{
    for (const auto &[v, name] : table) {
        if (v == value)
            return QString(name);
    }
    return {};
}

template <typename T, std::size_t N> QString namesOf(const std::array<std::pair<T, Name>, N> &table)
{
    QStringList names;
    for (const auto &entry : table)
        names.append(QString(entry.second));
    return names.join(QStringLiteral(", "));
}

template <std::size_t N> QString namesOf(const std::array<Name, N> &table)
{
    QStringList names;
    for (Name name : table)
        names.append(QString(name));
    return names.join(QStringLiteral(", "));
}

QList<JobSpec::VideoCodec> videoCodecsFor(JobSpec::Container container)
{
    using V = JobSpec::VideoCodec;
    switch (container) {
    case JobSpec::Container::Mov:
        return {V::H264, V::Hevc, V::Copy, V::None};
    case JobSpec::Container::Webm:
        return {V::Vp9, V::Av1, V::Copy, V::None};
    case JobSpec::Container::Mp4:
    case JobSpec::Container::Mkv:
        break;
    }
    return {V::H264, V::Hevc, V::Av1, V::Vp9, V::Copy, V::None};
}

QList<JobSpec::AudioCodec> audioCodecsFor(JobSpec::Container container)
{
    using A = JobSpec::AudioCodec;
    switch (container) {
    case JobSpec::Container::Mov:
        return {A::Aac, A::Copy, A::None};
    case JobSpec::Container::Webm:
        return {A::Opus, A::Copy, A::None};
    case JobSpec::Container::Mp4:
    case JobSpec::Container::Mkv:
        break;
    }
    return {A::Aac, A::Opus, A::Copy, A::None};
}

bool encodesVideo(JobSpec::VideoCodec codec)
{
    return codec != JobSpec::VideoCodec::Copy && codec != JobSpec::VideoCodec::None;
}

bool encodesAudio(JobSpec::AudioCodec codec)
{
    return codec == JobSpec::AudioCodec::Aac || codec == JobSpec::AudioCodec::Opus;
}

bool isControl(char16_t c) { return c < 0x20 || (c >= 0x7f && c <= 0x9f); }

// Characters that make a name display differently from what it is: line
// breaks inside a line, and the Unicode bidirectional controls that can
// make "x\u202Evom.exe" show as "xexe.mov".
bool isLayoutControl(char16_t c)
{
    return c == 0x2028 || c == 0x2029 || c == 0x061c || c == 0x200e || c == 0x200f ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

QString characterProblem(QStringView text)
{
    if (!text.isValidUtf16())
        return tr("must be valid Unicode");
    for (QChar c : text) {
        if (isControl(c.unicode()))
            return tr("must not contain control characters");
    }
    return {};
}

// Absolute and already normalised, so that the string the engine checks
// against its allowed roots is the path the worker opens.
QString pathProblem(QStringView path, bool rootAllowed)
{
    if (path.toUtf8().size() > maxPathBytes)
        return tr("must be at most %1 bytes").arg(maxPathBytes);
    if (const QString problem = characterProblem(path); !problem.isEmpty())
        return problem;
    if (!path.startsWith(u'/'))
        return tr("must be an absolute path");
    if (rootAllowed && path == u"/")
        return {};
    for (QStringView part : path.mid(1).split(u'/')) {
        if (part.isEmpty() || part == u"." || part == u"..")
            return tr("must be normalised: no '//', '.' or '..' parts and no trailing '/'");
    }
    return {};
}

bool isBase62(QChar c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'A' && c <= u'Z') || (c >= u'a' && c <= u'z');
}

QString uploadProblem(QStringView id)
{
    bool wellFormed = id.size() == 4 + uploadIdLength && id.startsWith(u"upl_");
    for (QChar c : id.mid(4))
        wellFormed = wellFormed && isBase62(c);
    return wellFormed ? QString() : tr("must be upl_ followed by 24 letters or digits");
}

// The output name becomes one directory entry; temporary outputs are
// written under a name with a leading dot, so real names never have one.
QString nameProblem(QStringView name)
{
    if (name.isEmpty())
        return tr("must not be empty");
    if (name.toUtf8().size() > maxNameBytes)
        return tr("must be at most %1 bytes of UTF-8").arg(maxNameBytes);
    if (name.contains(u'/'))
        return tr("must not contain '/'");
    if (name.contains(u'\\'))
        return tr("must not contain '\\'");
    if (name == u"." || name == u"..")
        return tr("must not be '.' or '..'");
    if (name.startsWith(u'.'))
        return tr("must not start with '.'");
    if (const QString problem = characterProblem(name); !problem.isEmpty())
        return problem;
    for (QChar c : name) {
        if (isLayoutControl(c.unicode()))
            return tr("must not contain line separators or bidirectional controls");
    }
    return {};
}

// Reads the fields of one JSON object of the spec. Only the first problem
// is kept and reading goes on with defaults, so the message names the first
// field at fault and the readers need no early returns.
class FieldReader {
public:
    FieldReader(QJsonObject object, QString path, QString *error)
        : m_object(std::move(object))
        , m_path(std::move(path))
        , m_error(error)
    {}

    bool has(const char *key) const { return m_object.contains(Name(key)); }
    QJsonValue value(const char *key) const { return m_object.value(Name(key)); }

    // A null key is the object itself.
    void fail(const char *key, const QString &reason) const
    {
        record(key ? pathOf(QString::fromLatin1(key)) : m_path, reason);
    }

    void refuseUnknownFields() const
    {
        for (auto it = m_object.begin(); it != m_object.end(); ++it) {
            const QString path = pathOf(it.key());
            if (!isKnown(path))
                record(path, tr("unknown field"));
        }
    }

    // Missing and wrong-typed objects read as empty, after noting the problem.
    FieldReader object(const char *key, bool required = false) const
    {
        if (!has(key)) {
            if (required)
                fail(key, tr("required"));
        } else if (!value(key).isObject()) {
            fail(key, tr("must be an object"));
        }
        return FieldReader(value(key).toObject(), pathOf(QString::fromLatin1(key)), m_error);
    }

    std::optional<QString> string(const char *key, bool required = false) const
    {
        if (!has(key)) {
            if (required)
                fail(key, tr("required"));
            return std::nullopt;
        }
        if (!value(key).isString()) {
            fail(key, tr("must be a string"));
            return std::nullopt;
        }
        return value(key).toString();
    }

    template <typename T, std::size_t N>
    std::optional<T> choice(const char *key, const std::array<std::pair<T, Name>, N> &table) const
    {
        if (!has(key))
            return std::nullopt;
        const QJsonValue v = value(key);
        for (const auto &[result, name] : table) {
            if (v.isString() && v.toString() == name)
                return result;
        }
        fail(key, tr("must be one of %1").arg(namesOf(table)));
        return std::nullopt;
    }

    template <std::size_t N>
    std::optional<QString> choice(const char *key, const std::array<Name, N> &table) const
    {
        if (!has(key))
            return std::nullopt;
        const QJsonValue v = value(key);
        for (Name name : table) {
            if (v.isString() && v.toString() == name)
                return QString(name);
        }
        fail(key, tr("must be one of %1").arg(namesOf(table)));
        return std::nullopt;
    }

    // JSON numbers are doubles: an integer field takes only integral ones.
    std::optional<int> integer(const char *key, int min, int max, const QString &reason) const
    {
        const std::optional<double> n = number(key, min, max, reason);
        if (!n)
            return std::nullopt;
        if (std::trunc(*n) != *n) {
            fail(key, reason);
            return std::nullopt;
        }
        return static_cast<int>(*n);
    }

    std::optional<double> number(const char *key, double min, double max,
                                 const QString &reason) const
    {
        if (!has(key))
            return std::nullopt;
        const QJsonValue v = value(key);
        const double n = v.toDouble();
        if (!v.isDouble() || !std::isfinite(n) || n < min || n > max) {
            fail(key, reason);
            return std::nullopt;
        }
        return n;
    }

private:
    QString pathOf(const QString &key) const
    {
        return m_path.isEmpty() ? key : m_path + u'.' + key;
    }

    void record(const QString &path, const QString &reason) const
    {
        if (m_error->isEmpty())
            *m_error = path + QStringLiteral(": ") + reason;
    }

    // Known are the leaf paths of the table and the objects that hold them.
    static bool isKnown(const QString &path)
    {
        for (Name leaf : fieldPathTable) {
            const QString field(leaf);
            if (field == path || field.startsWith(path + u'.'))
                return true;
        }
        return false;
    }

    QJsonObject m_object;
    QString m_path;
    QString *m_error;
};

void readInput(const FieldReader &input, JobSpec &spec)
{
    input.refuseUnknownFields();
    if (input.has("path") == input.has("upload"))
        input.fail(nullptr, tr("give exactly one of path or upload"));
    if (const std::optional<QString> path = input.string("path")) {
        if (const QString problem = pathProblem(*path, false); !problem.isEmpty())
            input.fail("path", problem);
        spec.inputPath = *path;
    }
    if (const std::optional<QString> upload = input.string("upload")) {
        if (const QString problem = uploadProblem(*upload); !problem.isEmpty())
            input.fail("upload", problem);
        spec.inputUpload = *upload;
    }
}

void readOutput(const FieldReader &output, JobSpec &spec)
{
    output.refuseUnknownFields();
    if (const std::optional<QString> directory = output.string("directory", true)) {
        if (const QString problem = pathProblem(*directory, true); !problem.isEmpty())
            output.fail("directory", problem);
        spec.outputDirectory = *directory;
    }
    if (const std::optional<QString> name = output.string("name", true)) {
        if (const QString problem = nameProblem(*name); !problem.isEmpty())
            output.fail("name", problem);
        spec.outputName = *name;
    }
}

void checkExtension(const FieldReader &output, const JobSpec &spec)
{
    const QString suffix = u'.' + JobSpec::extension(spec.container);
    if (!spec.outputName.endsWith(suffix, Qt::CaseInsensitive))
        output.fail("name", tr("must end with %1 for container %2")
                                .arg(suffix, JobSpec::containerName(spec.container)));
}

// Copy and none encode nothing, so a setting only an encoder reads would be
// silently ignored: refused, except the defaults that a client writing
// every field sends.
void refuseEncoderSettings(const FieldReader &video, const JobSpec &spec)
{
    const QString reason =
        tr("does not apply to video codec %1").arg(JobSpec::videoCodecName(spec.videoCodec));
    for (const char *key : {"crf", "bitrate_kbps", "max_width", "max_height", "fps"}) {
        if (video.has(key))
            video.fail(key, reason);
    }
    const JobSpec defaults;
    if (video.has("speed") && video.value("speed") != QJsonValue(defaults.speed))
        video.fail("speed", reason);
    if (video.has("pixel_format") &&
        video.value("pixel_format") != QJsonValue(defaults.pixelFormat))
        video.fail("pixel_format", reason);
}

void readVideo(const FieldReader &video, JobSpec &spec)
{
    video.refuseUnknownFields();
    if (const auto codec = video.choice("codec", videoCodecNames))
        spec.videoCodec = *codec;
    const QString codecName = JobSpec::videoCodecName(spec.videoCodec);
    const QList<JobSpec::VideoCodec> allowed = videoCodecsFor(spec.container);
    if (!allowed.contains(spec.videoCodec)) {
        QStringList names;
        for (JobSpec::VideoCodec c : allowed)
            names.append(JobSpec::videoCodecName(c));
        video.fail("codec", tr("%1 cannot be stored in %2 (use %3)")
                                .arg(codecName, JobSpec::containerName(spec.container),
                                     names.join(QStringLiteral(", "))));
    }
    if (!encodesVideo(spec.videoCodec)) {
        refuseEncoderSettings(video, spec);
        return;
    }

    if (video.has("crf") && video.has("bitrate_kbps"))
        video.fail(nullptr, tr("give either crf or bitrate_kbps, not both"));
    const bool x26x = spec.videoCodec == JobSpec::VideoCodec::H264 ||
                      spec.videoCodec == JobSpec::VideoCodec::Hevc;
    const int maxCrf = x26x ? 51 : 63;
    spec.crf = video.integer(
        "crf", 0, maxCrf,
        tr("must be an integer from 0 to %1 for %2").arg(QString::number(maxCrf), codecName));
    spec.bitrateKbps =
        video.integer("bitrate_kbps", 50, 500000, tr("must be an integer from 50 to 500000"));
    if (const auto speed = video.choice("speed", speedNames))
        spec.speed = *speed;

    // 4:2:0 chroma subsampling needs even dimensions.
    const auto readSize = [&video](const char *key) -> std::optional<int> {
        const QString reason = tr("must be an even integer from 16 to 8192");
        const std::optional<int> size = video.integer(key, 16, 8192, reason);
        if (size && *size % 2 != 0) {
            video.fail(key, reason);
            return std::nullopt;
        }
        return size;
    };
    spec.maxWidth = readSize("max_width");
    spec.maxHeight = readSize("max_height");
    spec.fps = video.number("fps", 1, 240, tr("must be a number from 1 to 240"));
    if (const auto format = video.choice("pixel_format", pixelFormatNames))
        spec.pixelFormat = *format;
    if (spec.videoCodec == JobSpec::VideoCodec::H264 && spec.pixelFormat != pixelFormatNames[0])
        video.fail("pixel_format",
                   tr("%1 is not available for h264 (use hevc, av1 or vp9)").arg(spec.pixelFormat));
}

void readAudio(const FieldReader &audio, JobSpec &spec)
{
    audio.refuseUnknownFields();
    if (const auto codec = audio.choice("codec", audioCodecNames))
        spec.audioCodec = *codec;
    const QString codecName = JobSpec::audioCodecName(spec.audioCodec);
    const QList<JobSpec::AudioCodec> allowed = audioCodecsFor(spec.container);
    if (!allowed.contains(spec.audioCodec)) {
        QStringList names;
        for (JobSpec::AudioCodec c : allowed)
            names.append(JobSpec::audioCodecName(c));
        audio.fail("codec", tr("%1 cannot be stored in %2 (use %3)")
                                .arg(codecName, JobSpec::containerName(spec.container),
                                     names.join(QStringLiteral(", "))));
    }
    if (spec.videoCodec == JobSpec::VideoCodec::None &&
        spec.audioCodec == JobSpec::AudioCodec::None)
        audio.fail("codec", tr("must not be none when video.codec is none: a job needs a stream"));
    if (!audio.has("bitrate_kbps"))
        return;
    if (!encodesAudio(spec.audioCodec)) {
        audio.fail("bitrate_kbps", tr("does not apply to audio codec %1").arg(codecName));
        return;
    }
    if (const auto bitrate =
            audio.integer("bitrate_kbps", 16, 512, tr("must be an integer from 16 to 512")))
        spec.audioBitrateKbps = *bitrate;
}

void readTrim(const FieldReader &trim, JobSpec &spec)
{
    trim.refuseUnknownFields();
    const QString limit = QString::number(maxTrimSeconds);
    if (const auto start = trim.number("start_s", 0, maxTrimSeconds,
                                       tr("must be a number from 0 to %1").arg(limit)))
        spec.trimStartS = *start;
    const QString durationReason = tr("must be a number above 0 and at most %1").arg(limit);
    spec.trimDurationS = trim.number("duration_s", 0, maxTrimSeconds, durationReason);
    if (spec.trimDurationS == 0.0) {
        trim.fail("duration_s", durationReason);
        spec.trimDurationS.reset();
    }
}
} // namespace

Expected<JobSpec> JobSpec::fromJson(const QJsonObject &json)
{
    QString error;
    const FieldReader top(json, QString(), &error);
    top.refuseUnknownFields();
    JobSpec spec;
    readInput(top.object("input", true), spec);
    const FieldReader output = top.object("output", true);
    readOutput(output, spec);
    if (const auto container = top.choice("container", containerNames))
        spec.container = *container;
    checkExtension(output, spec);
    readVideo(top.object("video"), spec);
    readAudio(top.object("audio"), spec);
    readTrim(top.object("trim"), spec);
    if (const auto priority =
            top.integer("priority", -100, 100, tr("must be an integer from -100 to 100")))
        spec.priority = *priority;
    if (const auto hardware = top.choice("hardware", hardwareNames))
        spec.hardware = *hardware;
    if (!error.isEmpty())
        return fail(error);
    return spec;
}

QJsonObject JobSpec::toJson() const
{
    QJsonObject input;
    if (inputUpload.isEmpty())
        input.insert(QStringLiteral("path"), inputPath);
    else
        input.insert(QStringLiteral("upload"), inputUpload);

    QJsonObject video{{QStringLiteral("codec"), videoCodecName(videoCodec)}};
    if (encodesVideo(videoCodec)) {
        if (crf)
            video.insert(QStringLiteral("crf"), *crf);
        if (bitrateKbps)
            video.insert(QStringLiteral("bitrate_kbps"), *bitrateKbps);
        video.insert(QStringLiteral("speed"), speed);
        if (maxWidth)
            video.insert(QStringLiteral("max_width"), *maxWidth);
        if (maxHeight)
            video.insert(QStringLiteral("max_height"), *maxHeight);
        if (fps)
            video.insert(QStringLiteral("fps"), *fps);
        video.insert(QStringLiteral("pixel_format"), pixelFormat);
    }

    QJsonObject audio{{QStringLiteral("codec"), audioCodecName(audioCodec)}};
    if (encodesAudio(audioCodec))
        audio.insert(QStringLiteral("bitrate_kbps"), audioBitrateKbps);

    QJsonObject trim{{QStringLiteral("start_s"), trimStartS}};
    if (trimDurationS)
        trim.insert(QStringLiteral("duration_s"), *trimDurationS);

    return QJsonObject{
        {QStringLiteral("input"), input},
        {QStringLiteral("output"), QJsonObject{{QStringLiteral("directory"), outputDirectory},
                                               {QStringLiteral("name"), outputName}}},
        {QStringLiteral("container"), containerName(container)},
        {QStringLiteral("video"), video},
        {QStringLiteral("audio"), audio},
        {QStringLiteral("trim"), trim},
        {QStringLiteral("priority"), priority},
        {QStringLiteral("hardware"), hardwareName(hardware)},
    };
}

QStringList JobSpec::fieldPaths()
{
    QStringList paths;
    for (Name path : fieldPathTable)
        paths.append(QString(path));
    return paths;
}

QString JobSpec::containerName(Container c) { return nameOf(containerNames, c); }
QString JobSpec::videoCodecName(VideoCodec c) { return nameOf(videoCodecNames, c); }
QString JobSpec::audioCodecName(AudioCodec c) { return nameOf(audioCodecNames, c); }
QString JobSpec::hardwareName(Hardware h) { return nameOf(hardwareNames, h); }
QString JobSpec::extension(Container c) { return containerName(c); }
