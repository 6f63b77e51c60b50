#include "jobs/jobspec.h"
#include "jobs/presets.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace Qt::StringLiterals;

namespace {
// The shape every table row starts from: valid as it is.
QJsonObject baseSpec()
{
    return QJsonDocument::fromJson(R"({
        "input": {"path": "/media/in/clip.mov"},
        "output": {"directory": "/media/out", "name": "clip.mp4"},
        "container": "mp4",
        "video": {"codec": "h264", "crf": 23},
        "audio": {"codec": "aac", "bitrate_kbps": 128}
    })")
        .object();
}

// JSON text for one value; "[...]" so that scalars parse too.
QJsonValue parseJson(const QString &text)
{
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson("[" + text.toUtf8() + "]", &error);
    if (error.error != QJsonParseError::NoError || doc.array().size() != 1)
        qFatal("bad JSON in a test table: %s", qPrintable(text));
    return doc.array().first();
}

// A string as JSON text, for table rows built from computed strings.
QString quoted(const QString &text)
{
    const QByteArray array = QJsonDocument(QJsonArray{text}).toJson(QJsonDocument::Compact);
    return QString::fromUtf8(array.mid(1, array.size() - 2));
}

void setAt(QJsonObject &object, const QString &path, const std::optional<QJsonValue> &value)
{
    const qsizetype dot = path.indexOf(u'.');
    if (dot < 0) {
        if (value)
            object.insert(path, *value);
        else
            object.remove(path);
        return;
    }
    QJsonObject inner = object.value(path.left(dot)).toObject();
    setAt(inner, path.mid(dot + 1), value);
    object.insert(path.left(dot), inner);
}

std::optional<QJsonValue> valueAt(const QJsonObject &object, const QString &path)
{
    const qsizetype dot = path.indexOf(u'.');
    if (dot < 0)
        return object.contains(path) ? std::optional(object.value(path)) : std::nullopt;
    return valueAt(object.value(path.left(dot)).toObject(), path.mid(dot + 1));
}

// Each change is "path=<JSON>" to set a field or "path" alone to remove it.
QJsonObject patched(QJsonObject object, const QStringList &changes)
{
    for (const QString &change : changes) {
        const qsizetype eq = change.indexOf(u'=');
        if (eq < 0)
            setAt(object, change, std::nullopt);
        else
            setAt(object, change.left(eq), parseJson(change.mid(eq + 1)));
    }
    return object;
}

QList<QPair<QString, QString>> overridesOf(const QStringList &settings)
{
    QList<QPair<QString, QString>> overrides;
    for (const QString &setting : settings) {
        const qsizetype eq = setting.indexOf(u'=');
        overrides.append({setting.left(eq), setting.mid(eq + 1)});
    }
    return overrides;
}

// Each check is "path=<JSON>" on the canonical form, or "path=absent".
void verifyFields(const QJsonObject &canonical, const QStringList &checks)
{
    for (const QString &check : checks) {
        const qsizetype eq = check.indexOf(u'=');
        const QString path = check.left(eq);
        const QString expected = check.mid(eq + 1);
        const std::optional<QJsonValue> actual = valueAt(canonical, path);
        if (expected == u"absent") {
            QVERIFY2(!actual, qPrintable(path));
        } else {
            QVERIFY2(actual, qPrintable(path));
            QCOMPARE(*actual, parseJson(expected));
        }
    }
}

QString errorOf(const Expected<JobSpec> &result)
{
    return result.ok() ? QString() : result.error();
}

const QStringList shippedPresets{u"archive-hevc"_s,   u"audio-only-opus"_s, u"proxy-540p-h264"_s,
                                 u"web-1080p-h264"_s, u"web-720p-h264"_s,   u"web-av1"_s};
} // namespace

class TestJobSpec : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void refusesBadSpecs_data();
    void refusesBadSpecs();
    void messagesAreExact_data();
    void messagesAreExact();
    void goodSpecsRoundTrip_data();
    void goodSpecsRoundTrip();
    void parsesEveryField();
    void canonicalFormWritesTheDefaults();
    void fieldPathsCoverTheCanonicalForm();
    void refusesDangerousOutputNames_data();
    void refusesDangerousOutputNames();
    void acceptsOutputNames_data();
    void acceptsOutputNames();
    void shipsThePresets();
    void everyPresetComposes_data();
    void everyPresetComposes();
    void presetSettings_data();
    void presetSettings();
    void unknownPresetNamesTheKnownOnes();
    void overridesApply_data();
    void overridesApply();
    void overridesRefused_data();
    void overridesRefused();
};

void TestJobSpec::refusesBadSpecs_data()
{
    QTest::addColumn<QStringList>("changes");
    QTest::addColumn<QString>("path");

    const QStringList webm{u"container=\"webm\""_s, u"output.name=\"clip.webm\""_s,
                           u"audio.codec=\"opus\""_s, u"video.codec=\"vp9\""_s};
    const QStringList mov{u"container=\"mov\""_s, u"output.name=\"clip.mov\""_s};
    const QStringList copy{u"video.codec=\"copy\""_s, u"video.crf"_s};
    const QString longPath = u"/"_s + QString(4096, u'a');

    QTest::newRow("unknown top-level field") << QStringList{u"color=\"red\""_s} << u"color"_s;
    QTest::newRow("unknown video field") << QStringList{u"video.colour=1"_s} << u"video.colour"_s;
    QTest::newRow("unknown input field") << QStringList{u"input.url=\"x\""_s} << u"input.url"_s;
    QTest::newRow("unknown output field") << QStringList{u"output.mode=1"_s} << u"output.mode"_s;
    QTest::newRow("unknown audio field")
        << QStringList{u"audio.channels=2"_s} << u"audio.channels"_s;
    QTest::newRow("unknown trim field") << QStringList{u"trim.end_s=2"_s} << u"trim.end_s"_s;
    QTest::newRow("field of a scalar") << QStringList{u"priority={\"x\":1}"_s} << u"priority"_s;
    QTest::newRow("input missing") << QStringList{u"input"_s} << u"input"_s;
    QTest::newRow("input not an object") << QStringList{u"input=\"/x\""_s} << u"input"_s;
    QTest::newRow("input empty") << QStringList{u"input={}"_s} << u"input"_s;
    QTest::newRow("input path and upload")
        << QStringList{u"input.upload=\"upl_0123456789abcdefghijABCD\""_s} << u"input"_s;
    QTest::newRow("input path relative")
        << QStringList{u"input.path=\"media/clip.mov\""_s} << u"input.path"_s;
    QTest::newRow("input path empty") << QStringList{u"input.path=\"\""_s} << u"input.path"_s;
    QTest::newRow("input path with ..")
        << QStringList{u"input.path=\"/media/../etc/passwd\""_s} << u"input.path"_s;
    QTest::newRow("input path with //")
        << QStringList{u"input.path=\"/media//clip.mov\""_s} << u"input.path"_s;
    QTest::newRow("input path ending /.")
        << QStringList{u"input.path=\"/media/clip.mov/.\""_s} << u"input.path"_s;
    QTest::newRow("input path ending /")
        << QStringList{u"input.path=\"/media/in/\""_s} << u"input.path"_s;
    QTest::newRow("input path with a control character")
        << QStringList{u"input.path=\"/media/cl\\u0001ip.mov\""_s} << u"input.path"_s;
    QTest::newRow("input path of 4097 bytes")
        << QStringList{u"input.path="_s + quoted(longPath)} << u"input.path"_s;
    QTest::newRow("input path a number") << QStringList{u"input.path=7"_s} << u"input.path"_s;
    QTest::newRow("upload with a wrong prefix")
        << QStringList{u"input.path"_s, u"input.upload=\"upk_0123456789abcdefghijABCD\""_s}
        << u"input.upload"_s;
    QTest::newRow("upload one short")
        << QStringList{u"input.path"_s, u"input.upload=\"upl_0123456789abcdefghijABC\""_s}
        << u"input.upload"_s;
    QTest::newRow("upload with a non-base62 character")
        << QStringList{u"input.path"_s, u"input.upload=\"upl_0123456789abcdefghij-BCD\""_s}
        << u"input.upload"_s;
    QTest::newRow("output missing") << QStringList{u"output"_s} << u"output"_s;
    QTest::newRow("output directory missing")
        << QStringList{u"output.directory"_s} << u"output.directory"_s;
    QTest::newRow("output directory relative")
        << QStringList{u"output.directory=\"out\""_s} << u"output.directory"_s;
    QTest::newRow("output directory with ..")
        << QStringList{u"output.directory=\"/media/out/..\""_s} << u"output.directory"_s;
    QTest::newRow("output name missing") << QStringList{u"output.name"_s} << u"output.name"_s;
    QTest::newRow("output name of another container")
        << QStringList{u"output.name=\"clip.mkv\""_s} << u"output.name"_s;
    QTest::newRow("container unknown") << QStringList{u"container=\"avi\""_s} << u"container"_s;
    QTest::newRow("container a number") << QStringList{u"container=4"_s} << u"container"_s;
    QTest::newRow("video not an object") << QStringList{u"video=\"h264\""_s} << u"video"_s;
    QTest::newRow("video codec unknown")
        << QStringList{u"video.codec=\"mpeg2\""_s} << u"video.codec"_s;
    QTest::newRow("video codec upper case")
        << QStringList{u"video.codec=\"H264\""_s} << u"video.codec"_s;
    QTest::newRow("h264 in webm") << webm + QStringList{u"video.codec=\"h264\""_s}
                                  << u"video.codec"_s;
    QTest::newRow("hevc in webm") << webm + QStringList{u"video.codec=\"hevc\""_s}
                                  << u"video.codec"_s;
    QTest::newRow("av1 in mov") << mov + QStringList{u"video.codec=\"av1\""_s} << u"video.codec"_s;
    QTest::newRow("vp9 in mov") << mov + QStringList{u"video.codec=\"vp9\""_s} << u"video.codec"_s;
    QTest::newRow("aac in webm") << webm + QStringList{u"audio.codec=\"aac\""_s}
                                 << u"audio.codec"_s;
    QTest::newRow("opus in mov") << mov + QStringList{u"audio.codec=\"opus\""_s}
                                 << u"audio.codec"_s;
    QTest::newRow("h264 crf 52") << QStringList{u"video.crf=52"_s} << u"video.crf"_s;
    QTest::newRow("crf -1") << QStringList{u"video.crf=-1"_s} << u"video.crf"_s;
    QTest::newRow("hevc crf 52") << QStringList{u"video.codec=\"hevc\""_s, u"video.crf=52"_s}
                                 << u"video.crf"_s;
    QTest::newRow("vp9 crf 64") << QStringList{u"video.codec=\"vp9\""_s, u"video.crf=64"_s}
                                << u"video.crf"_s;
    QTest::newRow("av1 crf 64") << QStringList{u"video.codec=\"av1\""_s, u"video.crf=64"_s}
                                << u"video.crf"_s;
    QTest::newRow("crf not integral") << QStringList{u"video.crf=23.5"_s} << u"video.crf"_s;
    QTest::newRow("crf a string") << QStringList{u"video.crf=\"23\""_s} << u"video.crf"_s;
    QTest::newRow("crf a bool") << QStringList{u"video.crf=true"_s} << u"video.crf"_s;
    QTest::newRow("crf null") << QStringList{u"video.crf=null"_s} << u"video.crf"_s;
    QTest::newRow("crf and bitrate") << QStringList{u"video.bitrate_kbps=3000"_s} << u"video"_s;
    QTest::newRow("video bitrate 49")
        << QStringList{u"video.crf"_s, u"video.bitrate_kbps=49"_s} << u"video.bitrate_kbps"_s;
    QTest::newRow("video bitrate 500001")
        << QStringList{u"video.crf"_s, u"video.bitrate_kbps=500001"_s} << u"video.bitrate_kbps"_s;
    QTest::newRow("copy with crf") << QStringList{u"video.codec=\"copy\""_s} << u"video.crf"_s;
    QTest::newRow("copy with bitrate")
        << copy + QStringList{u"video.bitrate_kbps=3000"_s} << u"video.bitrate_kbps"_s;
    QTest::newRow("copy with max_width")
        << copy + QStringList{u"video.max_width=1280"_s} << u"video.max_width"_s;
    QTest::newRow("copy with max_height")
        << copy + QStringList{u"video.max_height=720"_s} << u"video.max_height"_s;
    QTest::newRow("copy with fps") << copy + QStringList{u"video.fps=30"_s} << u"video.fps"_s;
    QTest::newRow("copy with a speed")
        << copy + QStringList{u"video.speed=\"slow\""_s} << u"video.speed"_s;
    QTest::newRow("copy with 10-bit")
        << copy + QStringList{u"video.pixel_format=\"yuv420p10le\""_s} << u"video.pixel_format"_s;
    QTest::newRow("none with crf") << QStringList{u"video.codec=\"none\""_s} << u"video.crf"_s;
    QTest::newRow("speed unknown") << QStringList{u"video.speed=\"insane\""_s} << u"video.speed"_s;
    QTest::newRow("pixel format unknown")
        << QStringList{u"video.pixel_format=\"yuv444p\""_s} << u"video.pixel_format"_s;
    QTest::newRow("10-bit h264") << QStringList{u"video.pixel_format=\"yuv420p10le\""_s}
                                 << u"video.pixel_format"_s;
    QTest::newRow("odd max_width")
        << QStringList{u"video.max_width=1281"_s} << u"video.max_width"_s;
    QTest::newRow("max_width 14") << QStringList{u"video.max_width=14"_s} << u"video.max_width"_s;
    QTest::newRow("max_height 8194")
        << QStringList{u"video.max_height=8194"_s} << u"video.max_height"_s;
    QTest::newRow("max_height fractional")
        << QStringList{u"video.max_height=720.5"_s} << u"video.max_height"_s;
    QTest::newRow("fps 0") << QStringList{u"video.fps=0"_s} << u"video.fps"_s;
    QTest::newRow("fps 241") << QStringList{u"video.fps=241"_s} << u"video.fps"_s;
    QTest::newRow("fps a string") << QStringList{u"video.fps=\"30\""_s} << u"video.fps"_s;
    QTest::newRow("no stream at all")
        << QStringList{u"video={\"codec\":\"none\"}"_s, u"audio={\"codec\":\"none\"}"_s}
        << u"audio.codec"_s;
    QTest::newRow("audio not an object") << QStringList{u"audio=[]"_s} << u"audio"_s;
    QTest::newRow("audio codec unknown")
        << QStringList{u"audio.codec=\"mp3\""_s} << u"audio.codec"_s;
    QTest::newRow("audio bitrate 15")
        << QStringList{u"audio.bitrate_kbps=15"_s} << u"audio.bitrate_kbps"_s;
    QTest::newRow("audio bitrate 513")
        << QStringList{u"audio.bitrate_kbps=513"_s} << u"audio.bitrate_kbps"_s;
    QTest::newRow("audio bitrate fractional")
        << QStringList{u"audio.bitrate_kbps=128.5"_s} << u"audio.bitrate_kbps"_s;
    QTest::newRow("audio bitrate with copy")
        << QStringList{u"audio.codec=\"copy\""_s} << u"audio.bitrate_kbps"_s;
    QTest::newRow("audio bitrate with none")
        << QStringList{u"audio.codec=\"none\""_s} << u"audio.bitrate_kbps"_s;
    QTest::newRow("trim not an object") << QStringList{u"trim=5"_s} << u"trim"_s;
    QTest::newRow("trim start negative") << QStringList{u"trim.start_s=-1"_s} << u"trim.start_s"_s;
    QTest::newRow("trim start past ten days")
        << QStringList{u"trim.start_s=864001"_s} << u"trim.start_s"_s;
    QTest::newRow("trim duration 0") << QStringList{u"trim.duration_s=0"_s} << u"trim.duration_s"_s;
    QTest::newRow("trim duration negative")
        << QStringList{u"trim.duration_s=-5"_s} << u"trim.duration_s"_s;
    QTest::newRow("trim duration past ten days")
        << QStringList{u"trim.duration_s=864000.5"_s} << u"trim.duration_s"_s;
    QTest::newRow("priority 101") << QStringList{u"priority=101"_s} << u"priority"_s;
    QTest::newRow("priority -101") << QStringList{u"priority=-101"_s} << u"priority"_s;
    QTest::newRow("priority fractional") << QStringList{u"priority=1.5"_s} << u"priority"_s;
    QTest::newRow("priority a string") << QStringList{u"priority=\"5\""_s} << u"priority"_s;
    QTest::newRow("priority huge") << QStringList{u"priority=1e300"_s} << u"priority"_s;
    QTest::newRow("hardware unknown") << QStringList{u"hardware=\"cuda\""_s} << u"hardware"_s;
    QTest::newRow("hardware a bool") << QStringList{u"hardware=true"_s} << u"hardware"_s;
}

void TestJobSpec::refusesBadSpecs()
{
    QFETCH(QStringList, changes);
    QFETCH(QString, path);
    const QJsonObject json = patched(baseSpec(), changes);
    const Expected<JobSpec> spec = JobSpec::fromJson(json);
    QVERIFY2(!spec, QJsonDocument(json).toJson(QJsonDocument::Compact).constData());
    const QString prefix = path + u": "_s;
    QVERIFY2(spec.error().startsWith(prefix), qPrintable(spec.error()));
    QVERIFY2(spec.error().size() > prefix.size() + 3, qPrintable(spec.error()));
}

void TestJobSpec::messagesAreExact_data()
{
    QTest::addColumn<QStringList>("changes");
    QTest::addColumn<QString>("message");
    QTest::newRow("slash in the name")
        << QStringList{u"output.name=\"a/b.mp4\""_s} << u"output.name: must not contain '/'"_s;
    QTest::newRow("crf range") << QStringList{u"video.crf=52"_s}
                               << u"video.crf: must be an integer from 0 to 51 for h264"_s;
    QTest::newRow("vp9 crf range") << QStringList{u"video.codec=\"vp9\""_s, u"video.crf=70"_s}
                                   << u"video.crf: must be an integer from 0 to 63 for vp9"_s;
    QTest::newRow("unknown field") << QStringList{u"color=1"_s} << u"color: unknown field"_s;
    QTest::newRow("two inputs") << QStringList{u"input.upload=\"upl_0123456789abcdefghijABCD\""_s}
                                << u"input: give exactly one of path or upload"_s;
    QTest::newRow("codec in container")
        << QStringList{u"container=\"webm\""_s, u"output.name=\"clip.webm\""_s,
                       u"audio.codec=\"opus\""_s}
        << u"video.codec: h264 cannot be stored in webm (use vp9, av1, copy, none)"_s;
    QTest::newRow("extension") << QStringList{u"output.name=\"clip.mov\""_s}
                               << u"output.name: must end with .mp4 for container mp4"_s;
    QTest::newRow("copy") << QStringList{u"video.codec=\"copy\""_s}
                          << u"video.crf: does not apply to video codec copy"_s;
    QTest::newRow("first field at fault")
        << QStringList{u"priority=500"_s, u"video.crf=99"_s}
        << u"video.crf: must be an integer from 0 to 51 for h264"_s;
}

void TestJobSpec::messagesAreExact()
{
    QFETCH(QStringList, changes);
    QFETCH(QString, message);
    QCOMPARE(errorOf(JobSpec::fromJson(patched(baseSpec(), changes))), message);
}

void TestJobSpec::goodSpecsRoundTrip_data()
{
    QTest::addColumn<QStringList>("changes");
    QTest::newRow("base") << QStringList{};
    QTest::newRow("only input and output") << QStringList{u"container"_s, u"video"_s, u"audio"_s};
    QTest::newRow("upload input") << QStringList{
        u"input={\"upload\":\"upl_0123456789abcdefghijABCD\"}"_s};
    QTest::newRow("every video setting")
        << QStringList{u"container=\"mkv\""_s,
                       u"output.name=\"clip.mkv\""_s,
                       u"video.codec=\"hevc\""_s,
                       u"video.crf=18"_s,
                       u"video.speed=\"veryslow\""_s,
                       u"video.max_width=3840"_s,
                       u"video.max_height=2160"_s,
                       u"video.fps=29.97"_s,
                       u"video.pixel_format=\"yuv420p10le\""_s,
                       u"audio.codec=\"opus\""_s,
                       u"audio.bitrate_kbps=512"_s,
                       u"trim={\"start_s\":1.5,\"duration_s\":60}"_s,
                       u"priority=-100"_s,
                       u"hardware=\"vaapi\""_s};
    QTest::newRow("bitrate instead of crf")
        << QStringList{u"video.crf"_s, u"video.bitrate_kbps=500000"_s};
    QTest::newRow("webm vp9 opus") << QStringList{
        u"container=\"webm\""_s, u"output.name=\"clip.webm\""_s, u"video.codec=\"vp9\""_s,
        u"video.crf=63"_s,       u"audio.codec=\"opus\""_s,      u"audio.bitrate_kbps=16"_s};
    QTest::newRow("mp4 av1 opus") << QStringList{u"video.codec=\"av1\""_s, u"video.crf=0"_s,
                                                 u"audio.codec=\"opus\""_s};
    QTest::newRow("mov hevc") << QStringList{u"container=\"mov\""_s, u"output.name=\"clip.mov\""_s,
                                             u"video.codec=\"hevc\""_s, u"video.crf=51"_s};
    QTest::newRow("copy with trim")
        << QStringList{u"video={\"codec\":\"copy\"}"_s, u"audio={\"codec\":\"copy\"}"_s,
                       u"trim={\"start_s\":864000,\"duration_s\":864000}"_s};
    QTest::newRow("copy with the default speed and pixel format")
        << QStringList{u"video={\"codec\":\"copy\",\"speed\":\"medium\","
                       "\"pixel_format\":\"yuv420p\"}"_s};
    QTest::newRow("audio only") << QStringList{u"video={\"codec\":\"none\"}"_s};
    QTest::newRow("video only") << QStringList{u"audio={\"codec\":\"none\"}"_s};
    QTest::newRow("smallest sizes and rates")
        << QStringList{u"video.max_width=16"_s, u"video.max_height=8192"_s, u"video.fps=1"_s,
                       u"video.speed=\"ultrafast\""_s, u"priority=100"_s};
    QTest::newRow("fps 240") << QStringList{u"video.fps=240"_s, u"hardware=\"software\""_s};
    QTest::newRow("integral doubles") << QStringList{u"video.crf=23.0"_s, u"priority=5e1"_s};
    QTest::newRow("upper-case extension") << QStringList{u"output.name=\"CLIP.MP4\""_s};
    QTest::newRow("root output directory") << QStringList{u"output.directory=\"/\""_s};
    QTest::newRow("non-ASCII path and name") << QStringList{
        u"input.path=\"/médias/entrée/clip.mov\""_s, u"output.name=\"très bien 日本.mp4\""_s};
}

void TestJobSpec::goodSpecsRoundTrip()
{
    QFETCH(QStringList, changes);
    const Expected<JobSpec> spec = JobSpec::fromJson(patched(baseSpec(), changes));
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    const QJsonObject canonical = spec->toJson();
    const Expected<JobSpec> again = JobSpec::fromJson(canonical);
    QVERIFY2(again, qPrintable(errorOf(again)));
    QVERIFY(again.value() == spec.value());
    QCOMPARE(again->toJson(), canonical);

    // The worker gets the spec as text: it must survive serialisation too.
    const QByteArray text = QJsonDocument(canonical).toJson(QJsonDocument::Compact);
    const Expected<JobSpec> fromText = JobSpec::fromJson(QJsonDocument::fromJson(text).object());
    QVERIFY2(fromText, qPrintable(errorOf(fromText)));
    QVERIFY(fromText.value() == spec.value());
}

void TestJobSpec::parsesEveryField()
{
    const Expected<JobSpec> spec = JobSpec::fromJson(QJsonDocument::fromJson(R"({
        "input": {"upload": "upl_AAAAAAAAAAAAAAAAAAAAzzzz"},
        "output": {"directory": "/srv/out", "name": "x.webm"},
        "container": "webm",
        "video": {"codec": "vp9", "bitrate_kbps": 2500, "speed": "slow", "max_width": 1920,
                  "max_height": 1080, "fps": 23.976, "pixel_format": "yuv420p10le"},
        "audio": {"codec": "opus", "bitrate_kbps": 64},
        "trim": {"start_s": 12.25, "duration_s": 30},
        "priority": -7,
        "hardware": "qsv"
    })")
                                                         .object());
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    QCOMPARE(spec->inputPath, QString());
    QCOMPARE(spec->inputUpload, u"upl_AAAAAAAAAAAAAAAAAAAAzzzz"_s);
    QCOMPARE(spec->outputDirectory, u"/srv/out"_s);
    QCOMPARE(spec->outputName, u"x.webm"_s);
    QCOMPARE(spec->container, JobSpec::Container::Webm);
    QCOMPARE(spec->videoCodec, JobSpec::VideoCodec::Vp9);
    QCOMPARE(spec->crf, std::nullopt);
    QCOMPARE(spec->bitrateKbps, std::optional(2500));
    QCOMPARE(spec->speed, u"slow"_s);
    QCOMPARE(spec->maxWidth, std::optional(1920));
    QCOMPARE(spec->maxHeight, std::optional(1080));
    QCOMPARE(spec->fps, std::optional(23.976));
    QCOMPARE(spec->pixelFormat, u"yuv420p10le"_s);
    QCOMPARE(spec->audioCodec, JobSpec::AudioCodec::Opus);
    QCOMPARE(spec->audioBitrateKbps, 64);
    QCOMPARE(spec->trimStartS, 12.25);
    QCOMPARE(spec->trimDurationS, std::optional(30.0));
    QCOMPARE(spec->priority, -7);
    QCOMPARE(spec->hardware, JobSpec::Hardware::Qsv);
}

void TestJobSpec::canonicalFormWritesTheDefaults()
{
    const QJsonObject minimal = patched(baseSpec(), {u"container"_s, u"video"_s, u"audio"_s});
    const Expected<JobSpec> spec = JobSpec::fromJson(minimal);
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    QCOMPARE(spec->toJson(), QJsonDocument::fromJson(R"({
        "input": {"path": "/media/in/clip.mov"},
        "output": {"directory": "/media/out", "name": "clip.mp4"},
        "container": "mp4",
        "video": {"codec": "h264", "speed": "medium", "pixel_format": "yuv420p"},
        "audio": {"codec": "aac", "bitrate_kbps": 128},
        "trim": {"start_s": 0},
        "priority": 0,
        "hardware": "auto"
    })")
                                 .object());

    // Settings that do not apply to pass-through streams are left out, so
    // the canonical form is itself valid.
    const Expected<JobSpec> copy = JobSpec::fromJson(
        patched(baseSpec(), {u"video={\"codec\":\"copy\"}"_s, u"audio={\"codec\":\"none\"}"_s}));
    QVERIFY2(copy, qPrintable(errorOf(copy)));
    QCOMPARE(copy->toJson().value(u"video"_s).toObject(), (QJsonObject{{u"codec"_s, u"copy"_s}}));
    QCOMPARE(copy->toJson().value(u"audio"_s).toObject(), (QJsonObject{{u"codec"_s, u"none"_s}}));
}

void TestJobSpec::fieldPathsCoverTheCanonicalForm()
{
    const Expected<JobSpec> spec =
        JobSpec::fromJson(patched(baseSpec(), {u"video.max_width=640"_s, u"video.max_height=360"_s,
                                               u"video.fps=25"_s, u"trim.duration_s=3"_s}));
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    QStringList written;
    const QJsonObject canonical = spec->toJson();
    for (auto it = canonical.begin(); it != canonical.end(); ++it) {
        if (!it.value().isObject()) {
            written.append(it.key());
            continue;
        }
        const QJsonObject inner = it.value().toObject();
        for (auto field = inner.begin(); field != inner.end(); ++field)
            written.append(it.key() + u'.' + field.key());
    }
    // Everything but the other input kind and the bitrate that crf excludes.
    QStringList expected = JobSpec::fieldPaths();
    expected.removeAll(u"input.upload"_s);
    expected.removeAll(u"video.bitrate_kbps"_s);
    written.sort();
    expected.sort();
    QCOMPARE(written, expected);
}

void TestJobSpec::refusesDangerousOutputNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("reason");
    const QString control = u"control characters"_s;
    const QString layout = u"line separators or bidirectional controls"_s;
    const QString extension = u"must end with .mp4"_s;
    QTest::newRow("empty") << QString() << u"must not be empty"_s;
    QTest::newRow("parent directory") << u"../x.mp4"_s << u"'/'"_s;
    QTest::newRow("subdirectory") << u"a/b.mp4"_s << u"'/'"_s;
    QTest::newRow("absolute") << u"/etc/x.mp4"_s << u"'/'"_s;
    QTest::newRow("backslash") << u"..\\x.mp4"_s << u"'\\'"_s;
    QTest::newRow("dot") << u"."_s << u"'.' or '..'"_s;
    QTest::newRow("dot dot") << u".."_s << u"'.' or '..'"_s;
    QTest::newRow("hidden") << u".hidden.mp4"_s << u"start with '.'"_s;
    QTest::newRow("extension only") << u".mp4"_s << u"start with '.'"_s;
    QTest::newRow("trailing newline") << u"x.mp4\n"_s << control;
    QTest::newRow("newline inside") << u"x\n.mp4"_s << control;
    QTest::newRow("carriage return") << u"x\r.mp4"_s << control;
    QTest::newRow("tab") << u"\tx.mp4"_s << control;
    QTest::newRow("NUL") << u"x"_s + QChar(0) + u".mp4"_s << control;
    QTest::newRow("escape") << u"\x1b[31mx.mp4"_s << control;
    QTest::newRow("DEL") << u"x\x7f.mp4"_s << control;
    QTest::newRow("C1 next line") << u"x\u0085.mp4"_s << control;
    QTest::newRow("C1 CSI") << u"x\u009b.mp4"_s << control;
    QTest::newRow("line separator") << u"x\u2028.mp4"_s << layout;
    QTest::newRow("paragraph separator") << u"x\u2029.mp4"_s << layout;
    QTest::newRow("right-to-left override") << u"clip\u202Egnp.mp4"_s << layout;
    QTest::newRow("left-to-right embedding") << u"\u202Aclip.mp4"_s << layout;
    QTest::newRow("pop directional formatting") << u"clip\u202C.mp4"_s << layout;
    QTest::newRow("right-to-left isolate") << u"clip\u2067.mp4"_s << layout;
    QTest::newRow("pop directional isolate") << u"clip\u2069.mp4"_s << layout;
    QTest::newRow("right-to-left mark") << u"clip\u200F.mp4"_s << layout;
    QTest::newRow("lone surrogate") << u"x"_s + QChar(0xd800) + u".mp4"_s << u"valid Unicode"_s;
    QTest::newRow("201 ASCII bytes") << QString(197, u'a') + u".mp4"_s << u"200 bytes"_s;
    // 98 two-byte characters: 103 characters but 201 bytes.
    QTest::newRow("201 bytes of UTF-8") << QString(98, QChar(0xe9)) + u"x.mp4"_s << u"200 bytes"_s;
    QTest::newRow("wrong extension") << u"x.mkv"_s << extension;
    QTest::newRow("no extension") << u"x"_s << extension;
    QTest::newRow("extension then another") << u"x.mp4.exe"_s << extension;
    QTest::newRow("trailing space") << u"x.mp4 "_s << extension;
    QTest::newRow("extension without a dot") << u"xmp4"_s << extension;
}

void TestJobSpec::refusesDangerousOutputNames()
{
    QFETCH(QString, name);
    QFETCH(QString, reason);
    QJsonObject json = baseSpec();
    setAt(json, u"output.name"_s, QJsonValue(name));
    const Expected<JobSpec> spec = JobSpec::fromJson(json);
    QVERIFY(!spec);
    QVERIFY2(spec.error().startsWith(u"output.name: "_s), qPrintable(spec.error()));
    QVERIFY2(spec.error().contains(reason), qPrintable(spec.error()));
}

void TestJobSpec::acceptsOutputNames_data()
{
    QTest::addColumn<QString>("name");
    QTest::newRow("plain") << u"clip.mp4"_s;
    QTest::newRow("upper case") << u"CLIP.MP4"_s;
    QTest::newRow("mixed case") << u"clip.Mp4"_s;
    QTest::newRow("spaces and brackets") << u"my clip (final) [v2].mp4"_s;
    QTest::newRow("dots inside") << u"a..b.mp4"_s;
    QTest::newRow("other extension first") << u"x.mkv.mp4"_s;
    QTest::newRow("leading dash") << u"-x.mp4"_s;
    QTest::newRow("accents") << u"café été.mp4"_s;
    QTest::newRow("CJK") << u"日本語の動画.mp4"_s;
    QTest::newRow("emoji") << u"clip \U0001F3AC.mp4"_s;
    QTest::newRow("Hebrew text") << u"\u05E1\u05E8\u05D8.mp4"_s;
    QTest::newRow("200 ASCII bytes") << QString(196, u'a') + u".mp4"_s;
    QTest::newRow("200 bytes of UTF-8") << QString(97, QChar(0xe9)) + u"xx.mp4"_s;
}

void TestJobSpec::acceptsOutputNames()
{
    QFETCH(QString, name);
    QJsonObject json = baseSpec();
    setAt(json, u"output.name"_s, QJsonValue(name));
    const Expected<JobSpec> spec = JobSpec::fromJson(json);
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    QCOMPARE(spec->outputName, name);
}

void TestJobSpec::shipsThePresets()
{
    QCOMPARE(Presets::names(), shippedPresets);
    for (const QString &name : shippedPresets) {
        const Expected<QJsonObject> preset = Presets::find(name);
        QVERIFY2(preset, qPrintable(name));
        QVERIFY2(!preset->value(u"description"_s).toString().isEmpty(), qPrintable(name));
        QVERIFY2(!preset->contains(u"input"_s) && !preset->contains(u"output"_s), qPrintable(name));
    }
}

void TestJobSpec::everyPresetComposes_data()
{
    QTest::addColumn<QString>("preset");
    for (const QString &name : shippedPresets)
        QTest::newRow(qPrintable(name)) << name;
}

void TestJobSpec::everyPresetComposes()
{
    QFETCH(QString, preset);
    const QString container = Presets::find(preset)->value(u"container"_s).toString();
    QVERIFY(!container.isEmpty());
    const QJsonObject output{{u"directory"_s, u"/media/out"_s},
                             {u"name"_s, QString(u"clip."_s + container)}};
    for (const QJsonObject &input :
         {QJsonObject{{u"path"_s, u"/media/in/clip.mov"_s}},
          QJsonObject{{u"upload"_s, u"upl_0123456789abcdefghijABCD"_s}}}) {
        const Expected<JobSpec> spec = Presets::compose(preset, {}, input, output);
        QVERIFY2(spec, qPrintable(errorOf(spec)));
        QCOMPARE(JobSpec::containerName(spec->container), container);
        QCOMPARE(spec->toJson().value(u"input"_s).toObject(), input);
        QCOMPARE(spec->toJson().value(u"output"_s).toObject(), output);
        const Expected<JobSpec> again = JobSpec::fromJson(spec->toJson());
        QVERIFY2(again, qPrintable(errorOf(again)));
        QVERIFY(again.value() == spec.value());
    }
}

void TestJobSpec::presetSettings_data()
{
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QStringList>("checks");
    QTest::newRow("web-720p-h264")
        << u"web-720p-h264"_s
        << QStringList{u"container=\"mp4\""_s,    u"video.codec=\"h264\""_s,
                       u"video.crf=23"_s,         u"video.speed=\"veryfast\""_s,
                       u"video.max_width=1280"_s, u"video.max_height=720"_s,
                       u"audio.codec=\"aac\""_s,  u"audio.bitrate_kbps=128"_s};
    QTest::newRow("web-1080p-h264")
        << u"web-1080p-h264"_s
        << QStringList{u"container=\"mp4\""_s,     u"video.crf=22"_s,
                       u"video.speed=\"fast\""_s,  u"video.max_width=1920"_s,
                       u"video.max_height=1080"_s, u"audio.bitrate_kbps=160"_s};
    QTest::newRow("archive-hevc") << u"archive-hevc"_s
                                  << QStringList{u"container=\"mkv\""_s,
                                                 u"video.codec=\"hevc\""_s,
                                                 u"video.crf=20"_s,
                                                 u"video.pixel_format=\"yuv420p10le\""_s,
                                                 u"video.max_width=absent"_s,
                                                 u"audio.codec=\"copy\""_s,
                                                 u"audio.bitrate_kbps=absent"_s};
    QTest::newRow("proxy-540p-h264")
        << u"proxy-540p-h264"_s
        << QStringList{u"container=\"mov\""_s,         u"video.crf=28"_s,
                       u"video.speed=\"ultrafast\""_s, u"video.max_width=960"_s,
                       u"video.max_height=540"_s,      u"video.fps=absent"_s,
                       u"audio.bitrate_kbps=96"_s};
    QTest::newRow("web-av1") << u"web-av1"_s
                             << QStringList{u"container=\"webm\""_s, u"video.codec=\"av1\""_s,
                                            u"video.crf=35"_s, u"audio.codec=\"opus\""_s,
                                            u"audio.bitrate_kbps=96"_s};
    QTest::newRow("audio-only-opus")
        << u"audio-only-opus"_s
        << QStringList{u"container=\"webm\""_s, u"video={\"codec\":\"none\"}"_s,
                       u"audio={\"codec\":\"opus\",\"bitrate_kbps\":128}"_s};
}

void TestJobSpec::presetSettings()
{
    QFETCH(QString, preset);
    QFETCH(QStringList, checks);
    const QString container = Presets::find(preset)->value(u"container"_s).toString();
    const Expected<JobSpec> spec = Presets::compose(
        preset, {}, {{u"path"_s, u"/media/in/clip.mov"_s}},
        {{u"directory"_s, u"/media/out"_s}, {u"name"_s, QString(u"clip."_s + container)}});
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    verifyFields(spec->toJson(), checks);
}

void TestJobSpec::unknownPresetNamesTheKnownOnes()
{
    for (const QString &name : {u"web-4k"_s, u"../web-720p-h264"_s, u"web-720p-h264.json"_s,
                                u"WEB-720P-H264"_s, QString()}) {
        const Expected<QJsonObject> preset = Presets::find(name);
        QVERIFY2(!preset, qPrintable(name));
        for (const QString &known : shippedPresets)
            QVERIFY2(preset.error().contains(known), qPrintable(preset.error()));
        const Expected<JobSpec> spec =
            Presets::compose(name, {}, {{u"path"_s, u"/media/in/clip.mov"_s}},
                             {{u"directory"_s, u"/media/out"_s}, {u"name"_s, u"clip.mp4"_s}});
        QVERIFY(!spec);
        QCOMPARE(spec.error(), preset.error());
    }
}

void TestJobSpec::overridesApply_data()
{
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QStringList>("overrides");
    QTest::addColumn<QString>("outputName");
    QTest::addColumn<QStringList>("checks");
    const QString web = u"web-720p-h264"_s;
    QTest::newRow("crf") << web << QStringList{u"video.crf=20"_s} << u"clip.mp4"_s
                         << QStringList{u"video.crf=20"_s, u"video.speed=\"veryfast\""_s};
    QTest::newRow("bitrate drops the preset's crf")
        << web << QStringList{u"video.bitrate_kbps=3000"_s} << u"clip.mp4"_s
        << QStringList{u"video.bitrate_kbps=3000"_s, u"video.crf=absent"_s,
                       u"video.max_width=1280"_s};
    QTest::newRow("audio codec as a bare string")
        << web << QStringList{u"audio.codec=opus"_s} << u"clip.mp4"_s
        << QStringList{u"audio.codec=\"opus\""_s, u"audio.bitrate_kbps=128"_s};
    QTest::newRow("quoted string") << web << QStringList{u"video.speed=\"slow\""_s} << u"clip.mp4"_s
                                   << QStringList{u"video.speed=\"slow\""_s};
    QTest::newRow("priority") << web << QStringList{u"priority=5"_s} << u"clip.mp4"_s
                              << QStringList{u"priority=5"_s};
    QTest::newRow("negative priority")
        << web << QStringList{u"priority=-20"_s} << u"clip.mp4"_s << QStringList{u"priority=-20"_s};
    QTest::newRow("copy drops the encoding settings")
        << web << QStringList{u"video.codec=copy"_s} << u"clip.mp4"_s
        << QStringList{u"video={\"codec\":\"copy\"}"_s, u"audio.codec=\"aac\""_s};
    QTest::newRow("copy with trim")
        << u"archive-hevc"_s
        << QStringList{u"video.codec=copy"_s, u"trim.start_s=10"_s, u"trim.duration_s=5.5"_s}
        << u"clip.mkv"_s
        << QStringList{u"video={\"codec\":\"copy\"}"_s,
                       u"trim={\"start_s\":10,\"duration_s\":5.5}"_s};
    QTest::newRow("no video drops the encoding settings")
        << web << QStringList{u"video.codec=none"_s} << u"clip.mp4"_s
        << QStringList{u"video={\"codec\":\"none\"}"_s};
    QTest::newRow("audio copy drops the bitrate")
        << web << QStringList{u"audio.codec=copy"_s} << u"clip.mp4"_s
        << QStringList{u"audio={\"codec\":\"copy\"}"_s};
    QTest::newRow("no audio") << web << QStringList{u"audio.codec=none"_s} << u"clip.mp4"_s
                              << QStringList{u"audio={\"codec\":\"none\"}"_s};
    QTest::newRow("null takes a preset setting out")
        << web << QStringList{u"video.max_width=null"_s, u"video.max_height=null"_s}
        << u"clip.mp4"_s << QStringList{u"video.max_width=absent"_s, u"video.max_height=absent"_s};
    QTest::newRow("another container")
        << web << QStringList{u"container=mkv"_s, u"hardware=software"_s} << u"clip.mkv"_s
        << QStringList{u"container=\"mkv\""_s, u"hardware=\"software\""_s};
    QTest::newRow("fractional fps") << u"proxy-540p-h264"_s << QStringList{u"video.fps=29.97"_s}
                                    << u"clip.mov"_s << QStringList{u"video.fps=29.97"_s};
    QTest::newRow("last one wins") << web << QStringList{u"video.crf=20"_s, u"video.crf=24"_s}
                                   << u"clip.mp4"_s << QStringList{u"video.crf=24"_s};
    QTest::newRow("codec change keeps the rest")
        << u"web-av1"_s << QStringList{u"video.codec=vp9"_s} << u"clip.webm"_s
        << QStringList{u"video.codec=\"vp9\""_s, u"video.crf=35"_s, u"video.max_width=1920"_s};
    QTest::newRow("audio-only preset with video")
        << u"audio-only-opus"_s << QStringList{u"video.codec=vp9"_s, u"video.crf=31"_s}
        << u"clip.webm"_s << QStringList{u"video.codec=\"vp9\""_s, u"video.crf=31"_s};
}

void TestJobSpec::overridesApply()
{
    QFETCH(QString, preset);
    QFETCH(QStringList, overrides);
    QFETCH(QString, outputName);
    QFETCH(QStringList, checks);
    const Expected<JobSpec> spec =
        Presets::compose(preset, overridesOf(overrides), {{u"path"_s, u"/media/in/clip.mov"_s}},
                         {{u"directory"_s, u"/media/out"_s}, {u"name"_s, outputName}});
    QVERIFY2(spec, qPrintable(errorOf(spec)));
    verifyFields(spec->toJson(), checks);
}

void TestJobSpec::overridesRefused_data()
{
    QTest::addColumn<QString>("preset");
    QTest::addColumn<QStringList>("overrides");
    QTest::addColumn<QString>("outputName");
    QTest::addColumn<QString>("error");
    const QString web = u"web-720p-h264"_s;
    QTest::newRow("unknown field") << web << QStringList{u"video.colour=red"_s} << u"clip.mp4"_s
                                   << u"--set video.colour: unknown field"_s;
    QTest::newRow("unknown top-level field")
        << web << QStringList{u"colour=red"_s} << u"clip.mp4"_s << u"--set colour: unknown field"_s;
    QTest::newRow("unknown field set to null")
        << web << QStringList{u"video.colour=null"_s} << u"clip.mp4"_s
        << u"--set video.colour: unknown field"_s;
    QTest::newRow("a whole section") << web << QStringList{u"video={\"codec\":\"copy\"}"_s}
                                     << u"clip.mp4"_s << u"--set video: unknown field"_s;
    QTest::newRow("the input") << web << QStringList{u"input.path=/etc/passwd"_s} << u"clip.mp4"_s
                               << u"--set input.path: "_s;
    QTest::newRow("the output name")
        << web << QStringList{u"output.name=x.mp4"_s} << u"clip.mp4"_s << u"--set output.name: "_s;
    QTest::newRow("crf out of range")
        << web << QStringList{u"video.crf=99"_s} << u"clip.mp4"_s
        << u"--set video.crf: must be an integer from 0 to 51 for h264"_s;
    QTest::newRow("crf not a number")
        << web << QStringList{u"video.crf=high"_s} << u"clip.mp4"_s << u"--set video.crf: "_s;
    QTest::newRow("priority too high")
        << web << QStringList{u"priority=1000"_s} << u"clip.mp4"_s << u"--set priority: "_s;
    QTest::newRow("priority a word")
        << web << QStringList{u"priority=high"_s} << u"clip.mp4"_s << u"--set priority: "_s;
    QTest::newRow("audio codec unknown")
        << web << QStringList{u"audio.codec=mp3"_s} << u"clip.mp4"_s << u"--set audio.codec: "_s;
    QTest::newRow("bool for a codec")
        << web << QStringList{u"video.codec=true"_s} << u"clip.mp4"_s << u"--set video.codec: "_s;
    QTest::newRow("crf and bitrate both given")
        << web << QStringList{u"video.crf=20"_s, u"video.bitrate_kbps=3000"_s} << u"clip.mp4"_s
        << u"video: give either crf or bitrate_kbps, not both"_s;
    QTest::newRow("copy and a crf")
        << web << QStringList{u"video.crf=20"_s, u"video.codec=copy"_s} << u"clip.mp4"_s
        << u"--set video.crf: does not apply to video codec copy"_s;
    QTest::newRow("audio copy and a bitrate")
        << web << QStringList{u"audio.codec=copy"_s, u"audio.bitrate_kbps=64"_s} << u"clip.mp4"_s
        << u"--set audio.bitrate_kbps: does not apply to audio codec copy"_s;
    QTest::newRow("codec the container cannot hold")
        << u"proxy-540p-h264"_s << QStringList{u"video.codec=vp9"_s} << u"clip.mov"_s
        << u"--set video.codec: vp9 cannot be stored in mov"_s;
    QTest::newRow("10-bit preset to h264")
        << u"archive-hevc"_s << QStringList{u"video.codec=h264"_s} << u"clip.mkv"_s
        << u"video.pixel_format: "_s;
    QTest::newRow("container without the output name")
        << web << QStringList{u"container=mkv"_s} << u"clip.mp4"_s << u"output.name: "_s;
    QTest::newRow("no stream left") << u"audio-only-opus"_s << QStringList{u"audio.codec=none"_s}
                                    << u"clip.webm"_s << u"--set audio.codec: "_s;
    QTest::newRow("empty key") << web << QStringList{u"=5"_s} << u"clip.mp4"_s << u"--set : "_s;
}

void TestJobSpec::overridesRefused()
{
    QFETCH(QString, preset);
    QFETCH(QStringList, overrides);
    QFETCH(QString, outputName);
    QFETCH(QString, error);
    const Expected<JobSpec> spec =
        Presets::compose(preset, overridesOf(overrides), {{u"path"_s, u"/media/in/clip.mov"_s}},
                         {{u"directory"_s, u"/media/out"_s}, {u"name"_s, outputName}});
    QVERIFY(!spec);
    QVERIFY2(spec.error().startsWith(error), qPrintable(spec.error()));
}

QTEST_GUILESS_MAIN(TestJobSpec)
#include "tst_jobspec.moc"
