#include "api/mediasniffer.h"

#include <QFile>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

using namespace Qt::StringLiterals;

namespace {
// What framehouse-worker passes FFmpeg as its format_whitelist
// (farm/worker/inputfile.cpp): every allowed type must be one of these.
const QStringList workerFormats =
    u"mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,ogg,wav,mp3,flac,aac,flv"_s.split(u',');

// One second of a test picture and a tone.
const QStringList video{u"-f"_s, u"lavfi"_s, u"-i"_s, u"testsrc=d=1:s=64x64:r=10"_s};
const QStringList audio{u"-f"_s, u"lavfi"_s, u"-i"_s, u"sine=d=1"_s};

struct RealMedia {
    const char *row;
    QString fileName;
    QStringList arguments; // for ffmpeg, before the output path
    QString expected;
};

QList<RealMedia> realMedia()
{
    const QStringList av = video + audio;
    const auto codecs = [](const QString &v, const QString &a) {
        return QStringList{u"-c:v"_s, v, u"-c:a"_s, a};
    };
    return {
        {"mp4", u"a.mp4"_s, av + codecs(u"libx264"_s, u"aac"_s), u"mp4"_s},
        {"m4a (M4A brand)", u"a.m4a"_s, audio + QStringList{u"-c:a"_s, u"aac"_s}, u"mp4"_s},
        {"mov", u"a.mov"_s, av + codecs(u"libx264"_s, u"aac"_s), u"quicktime"_s},
        {"3gp", u"a.3gp"_s, av + codecs(u"mpeg4"_s, u"aac"_s), u"3gpp"_s},
        {"3g2", u"a.3g2"_s, av + codecs(u"mpeg4"_s, u"aac"_s), u"3gpp"_s},
        {"mkv", u"a.mkv"_s, av + codecs(u"libx264"_s, u"aac"_s), u"matroska"_s},
        {"mka", u"a.mka"_s, audio + QStringList{u"-c:a"_s, u"flac"_s}, u"matroska"_s},
        {"webm", u"a.webm"_s, av + codecs(u"libvpx"_s, u"libvorbis"_s), u"webm"_s},
        {"webm audio", u"b.webm"_s, audio + QStringList{u"-c:a"_s, u"libopus"_s}, u"webm"_s},
        {"avi", u"a.avi"_s, av + codecs(u"mpeg4"_s, u"pcm_s16le"_s), u"avi"_s},
        {"wav", u"a.wav"_s, audio, u"wav"_s},
        {"wav (RF64)", u"b.wav"_s, audio + QStringList{u"-rf64"_s, u"always"_s}, u"wav"_s},
        {"mpeg-ts", u"a.ts"_s, av + codecs(u"mpeg4"_s, u"aac"_s), u"mpegts"_s},
        {"m2ts (192-byte packets)", u"a.m2ts"_s,
         av + codecs(u"mpeg4"_s, u"aac"_s) +
             QStringList{u"-f"_s, u"mpegts"_s, u"-mpegts_m2ts_mode"_s, u"1"_s},
         u"mpegts"_s},
        {"flac", u"a.flac"_s, audio, u"flac"_s},
        {"ogg vorbis", u"a.ogg"_s, audio + QStringList{u"-c:a"_s, u"libvorbis"_s}, u"ogg"_s},
        {"ogg opus", u"a.opus"_s, audio + QStringList{u"-c:a"_s, u"libopus"_s}, u"ogg"_s},
        {"mp3 with ID3", u"a.mp3"_s, audio + QStringList{u"-c:a"_s, u"libmp3lame"_s}, u"mp3"_s},
        {"mp3 bare frames", u"b.mp3"_s,
         audio + QStringList{u"-c:a"_s, u"libmp3lame"_s, u"-id3v2_version"_s, u"0"_s,
                             u"-write_xing"_s, u"0"_s},
         u"mp3"_s},
        {"mp3 MPEG-2 (22050 Hz)", u"c.mp3"_s,
         audio + QStringList{u"-c:a"_s, u"libmp3lame"_s, u"-ar"_s, u"22050"_s, u"-id3v2_version"_s,
                             u"0"_s},
         u"mp3"_s},
        {"aac (ADTS)", u"a.aac"_s, audio + QStringList{u"-c:a"_s, u"aac"_s}, u"aac"_s},
        {"flv", u"a.flv"_s,
         av + codecs(u"flv1"_s, u"libmp3lame"_s) + QStringList{u"-ar"_s, u"44100"_s}, u"flv"_s},
    };
}

void run(const QString &program, const QStringList &arguments, const QString &directory)
{
    QProcess process;
    process.setWorkingDirectory(directory);
    process.start(program, arguments);
    if (!process.waitForFinished(60'000) || process.exitStatus() != QProcess::NormalExit ||
        process.exitCode() != 0)
        qFatal("%s failed: %s", qPrintable(program), process.readAllStandardError().constData());
}
} // namespace

// The magic numbers against real files that the ffmpeg command line
// writes, and against the files a client might pass off as media.
class TestMediaSniffer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void identifiesRealMedia_data();
    void identifiesRealMedia();
    void everyAllowedTypeIsTestedWithARealFile();
    void refusesWhatIsNotAllowedMedia_data();
    void refusesWhatIsNotAllowedMedia();
    void looksOnlyAtTheHead();
    void mismatch_data();
    void mismatch();

private:
    QString make(const QString &name, const QStringList &arguments);
    QByteArray head(const QString &path);
    QString probedFormat(const QString &path);

    QTemporaryDir m_dir;
};

void TestMediaSniffer::initTestCase() { QVERIFY(m_dir.isValid()); }

// Runs ffmpeg with `arguments` then the output path; the path of the file.
QString TestMediaSniffer::make(const QString &name, const QStringList &arguments)
{
    const QString path = m_dir.filePath(name);
    run(u"ffmpeg"_s, QStringList{u"-nostdin"_s, u"-v"_s, u"error"_s, u"-y"_s} + arguments << path,
        m_dir.path());
    return path;
}

QByteArray TestMediaSniffer::head(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        qFatal("cannot read %s", qPrintable(path));
    return file.read(MediaSniffer::HeadBytes);
}

// The demuxer FFmpeg itself picks for the file.
QString TestMediaSniffer::probedFormat(const QString &path)
{
    QProcess ffprobe;
    ffprobe.start(u"ffprobe"_s, {u"-v"_s, u"error"_s, u"-show_entries"_s, u"format=format_name"_s,
                                 u"-of"_s, u"default=nw=1:nk=1"_s, path});
    if (!ffprobe.waitForFinished(60'000) || ffprobe.exitCode() != 0)
        qFatal("ffprobe failed on %s", qPrintable(path));
    return QString::fromUtf8(ffprobe.readAllStandardOutput()).trimmed();
}

void TestMediaSniffer::identifiesRealMedia_data()
{
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("expected");
    for (const RealMedia &m : realMedia())
        QTest::newRow(m.row) << m.fileName << m.arguments << m.expected;
}

void TestMediaSniffer::identifiesRealMedia()
{
    QFETCH(QString, fileName);
    QFETCH(QStringList, arguments);
    QFETCH(QString, expected);

    const QString path = make(fileName, arguments);
    const std::optional<MediaSniffer::MediaType> type = MediaSniffer::identify(head(path));
    QVERIFY(type);
    QCOMPARE(type->name, expected);
    // The name and canonical Content-Type a well-behaved client sends fit.
    QCOMPARE(MediaSniffer::mismatch(*type, fileName, type->mimeType), QString());
    // FFmpeg reads it with a demuxer the worker allows.
    const QStringList probed = probedFormat(path).split(u',');
    QVERIFY2(std::any_of(probed.cbegin(), probed.cend(),
                         [](const QString &f) { return workerFormats.contains(f); }),
             qPrintable(probed.join(u',')));
}

void TestMediaSniffer::everyAllowedTypeIsTestedWithARealFile()
{
    QSet<QString> tested;
    for (const RealMedia &m : realMedia())
        tested << m.expected;
    for (const MediaSniffer::MediaType &type : MediaSniffer::allowed())
        QVERIFY2(tested.contains(type.name), qPrintable(type.name));
    QCOMPARE(tested.size(), MediaSniffer::allowed().size());
}

void TestMediaSniffer::refusesWhatIsNotAllowedMedia_data()
{
    QTest::addColumn<QByteArray>("bytes");

    const auto file = [this](const QString &name, const QStringList &arguments) {
        return head(make(name, arguments));
    };
    const auto raw = [](const char *text) { return QByteArray(text); };
    const QByteArray ts = file(u"x.ts"_s, video + QStringList{u"-c:v"_s, u"mpeg4"_s});
    const QByteArray mp4 = file(u"x.mp4"_s, video + QStringList{u"-c:v"_s, u"libx264"_s});

    QTest::newRow("png") << file(u"x.png"_s, video + QStringList{u"-frames:v"_s, u"1"_s});
    QTest::newRow("jpeg") << file(u"x.jpg"_s, video + QStringList{u"-frames:v"_s, u"1"_s});
    QTest::newRow("elf (/bin/true)") << head(u"/bin/true"_s);
    // MPEG-PS and YUV4MPEG are real media, but the worker reads neither.
    QTest::newRow("mpeg-ps") << file(
        u"x.mpg"_s, video + QStringList{u"-c:v"_s, u"mpeg2video"_s, u"-f"_s, u"mpeg"_s});
    QTest::newRow("y4m") << file(u"x.y4m"_s, video + QStringList{u"-pix_fmt"_s, u"yuv420p"_s});

    QFile text(m_dir.filePath(u"notes.txt"_s));
    if (!text.open(QIODevice::WriteOnly) || text.write(QByteArray(5000, 'x')) != 5000)
        qFatal("cannot write notes.txt");
    text.close();
    run(u"zip"_s, {u"-q"_s, u"notes.zip"_s, u"notes.txt"_s}, m_dir.path());
    QTest::newRow("zip") << head(m_dir.filePath(u"notes.zip"_s));
    run(u"gzip"_s, {u"-k"_s, u"notes.txt"_s}, m_dir.path());
    QTest::newRow("gzip") << head(m_dir.filePath(u"notes.txt.gz"_s));

    QTest::newRow("html") << raw("<!DOCTYPE html>\n<html><head><title>clip</title></head>"
                                 "<body><video src=\"clip.mp4\"></video></body></html>\n");
    QTest::newRow("shell script") << raw("#!/bin/sh\nrm -rf \"$HOME\"\n");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("3 bytes of mp4") << mp4.first(3);
    QTest::newRow("3 bytes ID3") << raw("ID3");
    QTest::newRow("ftyp at offset 0") << QByteArray("ftypisom" + mp4.mid(8));
    QTest::newRow("ftyp at offset 8") << QByteArray(QByteArray(4, '\0') + mp4);
    QTest::newRow("ftyp in text") << raw("see ftyp isom in the spec\n");
    QTest::newRow("HEIF image brand")
        << QByteArray(QByteArray::fromHex("00000018") + QByteArray("ftypheic\0\0\0\0mif1heic", 20));
    QTest::newRow("isom with image brand")
        << QByteArray(QByteArray::fromHex("00000018") + QByteArray("ftypisom\0\0\0\0mif1isom", 20));
    QTest::newRow("ts with one sync byte only")
        << QByteArray(ts.first(188) + QByteArray(MediaSniffer::HeadBytes - 188, '\0'));
    QTest::newRow("ts cut to two packets") << ts.first(2 * 188);
    QTest::newRow("page of G") << QByteArray(MediaSniffer::HeadBytes, 'G');
    QTest::newRow("EBML of another DocType")
        << QByteArray::fromHex("1a45dfa38b4282887370726f636b6574") + QByteArray(8, '\0');
    QTest::newRow("EBML cut inside DocType") << QByteArray::fromHex("1a45dfa39f428288776562");
    QTest::newRow("ID3 then png") << QByteArray(
        QByteArray::fromHex("49443304000000000000") +
        file(u"y.png"_s, video + QStringList{u"-frames:v"_s, u"1"_s}));
    QTest::newRow("one mp3 frame header alone") << QByteArray::fromHex("fffb9064");
    QTest::newRow("RIFF of another kind") << QByteArray("RIFF\x10\0\0\0WEBPVP8 ", 16);
    QTest::newRow("OggS not at a stream start") << QByteArray("OggS\0\0\0\0", 8);
}

void TestMediaSniffer::refusesWhatIsNotAllowedMedia()
{
    QFETCH(QByteArray, bytes);
    const std::optional<MediaSniffer::MediaType> type = MediaSniffer::identify(bytes);
    QVERIFY2(!type, qPrintable(type ? type->name : QString()));
}

void TestMediaSniffer::looksOnlyAtTheHead()
{
    // An MP4 box a hundred kilobytes past the head changes nothing.
    QByteArray bytes = head(make(u"h.mkv"_s, video));
    bytes += QByteArray(100'000, '\0');
    bytes.replace(MediaSniffer::HeadBytes + 4, 4, "ftyp");
    const std::optional<MediaSniffer::MediaType> type = MediaSniffer::identify(bytes);
    QVERIFY(type);
    QCOMPARE(type->name, u"matroska"_s);
}

void TestMediaSniffer::mismatch_data()
{
    QTest::addColumn<QString>("type");
    QTest::addColumn<QString>("fileName");
    QTest::addColumn<QString>("contentType");
    QTest::addColumn<QStringList>("named"); // empty: no mismatch

    const auto row = [](const char *name, const QString &type, const QString &file,
                        const QString &contentType, const QStringList &named) {
        QTest::newRow(name) << type << file << contentType << named;
    };
    row("fits", u"mp4"_s, u"clip.mp4"_s, u"video/mp4"_s, {});
    row("upper-case extension", u"mp4"_s, u"CLIP.MP4"_s, u"video/mp4"_s, {});
    row("upper-case Content-Type", u"mp4"_s, u"clip.mp4"_s, u"Video/MP4"_s, {});
    row("parameters ignored", u"mp4"_s, u"clip.mp4"_s, u"video/mp4; codecs=\"avc1.64001f\""_s, {});
    row("spaces around", u"webm"_s, u"a.b.webm"_s, u" audio/webm ;codecs=opus"_s, {});
    row("m4a as audio/mp4", u"mp4"_s, u"song.m4a"_s, u"audio/mp4"_s, {});
    row("path in the name", u"matroska"_s, u"C:\\clips\\day.one\\clip.mkv"_s, u"video/x-matroska"_s,
        {});
    row("wrong extension", u"mp4"_s, u"clip.mkv"_s, u"video/mp4"_s, {u".mkv"_s, u".mp4"_s});
    row("webm named mkv", u"webm"_s, u"clip.mkv"_s, u"video/webm"_s, {u".mkv"_s, u".webm"_s});
    row("missing extension", u"mp4"_s, u"clip"_s, u"video/mp4"_s, {u"no extension"_s});
    row("dot only in a directory", u"mp4"_s, u"day.one/clip"_s, u"video/mp4"_s,
        {u"no extension"_s});
    row("wrong Content-Type", u"mp4"_s, u"clip.mp4"_s, u"video/webm"_s,
        {u"video/webm"_s, u"video/mp4"_s});
    row("octet-stream", u"mp4"_s, u"clip.mp4"_s, u"application/octet-stream"_s,
        {u"application/octet-stream"_s, u"video/mp4"_s});
    row("no Content-Type", u"mp4"_s, u"clip.mp4"_s, QString(), {u"no Content-Type"_s});
    row("parameters only", u"mp4"_s, u"clip.mp4"_s, u"; codecs=avc1"_s, {u"no Content-Type"_s});
    row("both wrong", u"quicktime"_s, u"clip.mp4"_s, u"video/mp4"_s,
        {u".mp4"_s, u".mov"_s, u"video/mp4"_s, u"video/quicktime"_s});
    row("control characters are not echoed", u"wav"_s, u"a.wav"_s, u"audio/x\u001b[2J"_s,
        {u"audio/x?[2j"_s});
}

void TestMediaSniffer::mismatch()
{
    QFETCH(QString, type);
    QFETCH(QString, fileName);
    QFETCH(QString, contentType);
    QFETCH(QStringList, named);

    const QList<MediaSniffer::MediaType> &all = MediaSniffer::allowed();
    const auto found = std::find_if(
        all.cbegin(), all.cend(), [&](const MediaSniffer::MediaType &t) { return t.name == type; });
    QVERIFY(found != all.cend());
    const QString problem = MediaSniffer::mismatch(*found, fileName, contentType);
    if (named.isEmpty()) {
        QCOMPARE(problem, QString());
        return;
    }
    QVERIFY(problem.startsWith(u"the content is "_s + type));
    for (const QString &word : named)
        QVERIFY2(problem.contains(word), qPrintable(problem));
    QVERIFY(!problem.contains(u'\u001b'));
}

QTEST_GUILESS_MAIN(TestMediaSniffer)
#include "tst_mediasniffer.moc"
