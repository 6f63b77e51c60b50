#include "hw/encoderchoice.h"
#include "jobs/presets.h"
#include "mediagen.h"
#include "testsupport.h"
#include "worker/workermessage.h"
#include "worker/workerrequest.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <fcntl.h>
#include <unistd.h>

namespace {
// A finished worker: every stdout line parsed as a WorkerMessage.
struct WorkerRun {
    int exitCode = -1;
    bool normalExit = false;
    QList<WorkerMessage> messages;
    QStringList badLines; // lines that are not protocol messages, with the reason
    QString err;

    QList<WorkerMessage> ofType(WorkerMessage::Type type) const
    {
        QList<WorkerMessage> found;
        for (const WorkerMessage &m : messages)
            if (m.type == type)
                found << m;
        return found;
    }
    QString describe() const
    {
        QStringList lines;
        for (const WorkerMessage &m : messages)
            lines << QString::fromUtf8(QJsonDocument(m.body).toJson(QJsonDocument::Compact));
        return QStringLiteral("exit %1\nstdout:\n%2\nbad lines:\n%3\nstderr:\n%4")
            .arg(exitCode)
            .arg(lines.join(u'\n'), badLines.join(u'\n'), err);
    }
};

// Starts the real framehouse-worker the way the supervisor does: the
// request on stdin, the input as fd 3 (read-only) and a new output file as
// fd 4 (read-write).
WorkerRun runWorker(const QByteArray &requestLine, const QString &inputPath,
                    const QString &outputPath)
{
    WorkerRun run;
    const int input = ::open(QFile::encodeName(inputPath).constData(), O_RDONLY | O_CLOEXEC);
    const int output = ::open(QFile::encodeName(outputPath).constData(),
                              O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (input < 0 || output < 0) {
        run.err = QStringLiteral("cannot open the test files");
        if (input >= 0)
            ::close(input);
        if (output >= 0)
            ::close(output);
        return run;
    }
    QProcess process;
    process.setProgram(QStringLiteral(FRAMEHOUSE_WORKER_PATH));
    process.setChildProcessModifier([input, output] {
        // Moved above the target numbers first, so that placing one cannot
        // overwrite the other; dup2 leaves 3 and 4 open across exec.
        const int in = ::fcntl(input, F_DUPFD_CLOEXEC, 16);
        const int out = ::fcntl(output, F_DUPFD_CLOEXEC, 16);
        if (in < 0 || out < 0 || ::dup2(in, 3) != 3 || ::dup2(out, 4) != 4)
            ::_exit(126);
    });
    process.start(QIODevice::ReadWrite);
    if (!process.waitForStarted(10'000)) {
        run.err = process.errorString();
        ::close(input);
        ::close(output);
        return run;
    }
    process.write(requestLine);
    process.closeWriteChannel();
    if (!process.waitForFinished(300'000))
        process.kill();
    process.waitForFinished(5'000);
    ::close(input);
    ::close(output);
    run.normalExit = process.exitStatus() == QProcess::NormalExit;
    run.exitCode = run.normalExit ? process.exitCode() : -1;
    const QByteArray out = process.readAllStandardOutput();
    run.err = QString::fromUtf8(process.readAllStandardError());
    TestSupport::recordOutput(QStringLiteral("framehouse-worker stdout"), QString::fromUtf8(out));
    TestSupport::recordOutput(QStringLiteral("framehouse-worker stderr"), run.err);
    for (const QByteArray &line : out.split('\n')) {
        if (line.isEmpty())
            continue;
        Expected<WorkerMessage> message = WorkerMessage::parse(line);
        if (message)
            run.messages << message.value();
        else
            run.badLines << QString::fromUtf8(line.left(200)) + QStringLiteral(" -- ") +
                                message.error();
    }
    return run;
}

QByteArray requestLine(const QJsonObject &request)
{
    return QJsonDocument(request).toJson(QJsonDocument::Compact) + '\n';
}

constexpr qint64 ClipUs = 3'000'000;
constexpr qint64 FrameUs = 1'000'000 / 30;
// One frame, and the rounding of a container's millisecond clock.
constexpr qint64 ToleranceUs = FrameUs + 1'000;
} // namespace

// framehouse-worker's job mode, end to end: real processes, real media,
// every output read back with FFmpeg.
class TestWorker : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanup();

    void messagesRoundTrip_data();
    void messagesRoundTrip();
    void malformedMessagesAreRefused_data();
    void malformedMessagesAreRefused();
    void requestRoundTripsAndIsStrict();

    void presetsEncode_data();
    void presetsEncode();
    void trimKeepsTheAskedPart_data();
    void trimKeepsTheAskedPart();
    void videoCopy_data();
    void videoCopy();
    void audioCopy_data();
    void audioCopy();
    void hardwareCandidatesFallBackToSoftware();
    void acceptedInputs_data();
    void acceptedInputs();

    void badMediaEndsInAClearError_data();
    void badMediaEndsInAClearError();
    void malformedRequestsAreRefused_data();
    void malformedRequestsAreRefused();

private:
    QString media(const QString &name) const { return m_media.filePath(name); }
    QString outputPath(const QString &extension) const
    {
        return m_out.filePath(QStringLiteral("out.") + extension);
    }
    JobSpec spec(const QJsonObject &fields, const QString &input, const QString &extension);
    WorkerRequest request(const JobSpec &spec) const;
    WorkerRun encode(const WorkerRequest &request, const QString &input);
    void checkSuccess(const WorkerRun &run);

    QTemporaryDir m_media;
    QDir m_out;
    std::unique_ptr<QTemporaryDir> m_outDir;
};

void TestWorker::initTestCase()
{
    QVERIFY(m_media.isValid());
    QVERIFY(QFile::exists(QStringLiteral(FRAMEHOUSE_WORKER_PATH)));

    QCOMPARE(MediaGen::writeClip(media(QStringLiteral("clip.mp4"))), QString());
    MediaGen::ClipOptions flac;
    flac.container = QStringLiteral("mkv");
    flac.audioCodec = QStringLiteral("flac");
    QCOMPARE(MediaGen::writeClip(media(QStringLiteral("flac.mkv")), flac), QString());
    MediaGen::ClipOptions ac3;
    ac3.container = QStringLiteral("mkv");
    ac3.audioCodec = QStringLiteral("ac3");
    ac3.sampleRate = 48000;
    QCOMPARE(MediaGen::writeClip(media(QStringLiteral("ac3.mkv")), ac3), QString());

    // The input itself is what we think it is.
    const MediaGen::Probe clip = MediaGen::probe(media(QStringLiteral("clip.mp4")));
    QCOMPARE(clip.error, QString());
    QCOMPARE(clip.streams.size(), 2);
    QVERIFY(std::llabs(clip.durationUs - ClipUs) <= ToleranceUs);
    QList<int> numbers;
    QCOMPARE(MediaGen::readFrameNumbers(media(QStringLiteral("clip.mp4")), &numbers), QString());
    QCOMPARE(numbers.size(), 90);
    QCOMPARE(numbers.first(), 0);
    QCOMPARE(numbers.last(), 89);

    // Bad media.
    QFile empty(media(QStringLiteral("empty.mp4")));
    QVERIFY(empty.open(QIODevice::WriteOnly));
    empty.close();
    QFile random(media(QStringLiteral("random.mp4")));
    QVERIFY(random.open(QIODevice::WriteOnly));
    QRandomGenerator generator(20240501);
    QByteArray noise(256 * 1024, Qt::Uninitialized);
    generator.fillRange(reinterpret_cast<quint32 *>(noise.data()), noise.size() / 4);
    random.write(noise);
    random.close();
    QVERIFY(QFile::copy(media(QStringLiteral("clip.mp4")), media(QStringLiteral("half.mp4"))));
    QCOMPARE(MediaGen::truncate(media(QStringLiteral("half.mp4")), 0.5), QString());
    QFile playlist(media(QStringLiteral("playlist.m3u8")));
    QVERIFY(playlist.open(QIODevice::WriteOnly));
    playlist.write("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n"
                   "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n/etc/passwd\n"
                   "#EXTINF:10.0,\nhttp://127.0.0.1:1/x.ts\n#EXT-X-ENDLIST\n");
    playlist.close();
    QFile concat(media(QStringLiteral("list.ffconcat")));
    QVERIFY(concat.open(QIODevice::WriteOnly));
    concat.write("ffconcat version 1.0\nfile '/etc/passwd'\nfile 'http://127.0.0.1:1/x.ts'\n");
    concat.close();
    QCOMPARE(MediaGen::writeHugeDimensionClip(media(QStringLiteral("huge.mkv"))), QString());
    const MediaGen::Probe huge = MediaGen::probe(media(QStringLiteral("huge.mkv")));
    QCOMPARE(huge.streams.size(), 1);
    QCOMPARE(huge.format, QStringLiteral("matroska,webm"));
}

void TestWorker::cleanup() { m_outDir.reset(); }

JobSpec TestWorker::spec(const QJsonObject &fields, const QString &input, const QString &extension)
{
    QJsonObject json = fields;
    json.insert(QStringLiteral("input"), QJsonObject{{QStringLiteral("path"), input}});
    json.insert(QStringLiteral("output"),
                QJsonObject{{QStringLiteral("directory"), m_out.absolutePath()},
                            {QStringLiteral("name"), QString(QStringLiteral("out.") + extension)}});
    Expected<JobSpec> parsed = JobSpec::fromJson(json);
    if (!parsed)
        qFatal("test spec refused: %s", qPrintable(parsed.error()));
    return parsed.value();
}

WorkerRequest TestWorker::request(const JobSpec &jobSpec) const
{
    WorkerRequest r;
    r.job = 7;
    r.spec = jobSpec;
    r.encoders =
        EncoderChoice::choose(jobSpec.videoCodec, JobSpec::Hardware::Software, CapabilityMatrix());
    r.addressSpaceMb = 0;
    r.cpuSeconds = 600;
    r.fileSizeMb = 256;
    return r;
}

WorkerRun TestWorker::encode(const WorkerRequest &workerRequest, const QString &input)
{
    m_outDir = std::make_unique<QTemporaryDir>();
    m_out = QDir(m_outDir->path());
    const QString extension = JobSpec::extension(workerRequest.spec.container);
    WorkerRequest r = workerRequest;
    r.spec.outputDirectory = m_out.absolutePath();
    r.spec.outputName = QStringLiteral("out.") + extension;
    return runWorker(requestLine(r.toJson()), input, outputPath(extension));
}

// Exit 0, started first, progress, finished last, nothing else on stdout.
void TestWorker::checkSuccess(const WorkerRun &run)
{
    QVERIFY2(run.normalExit && run.exitCode == 0, qPrintable(run.describe()));
    QVERIFY2(run.badLines.isEmpty(), qPrintable(run.describe()));
    QVERIFY(run.messages.size() >= 3);
    QCOMPARE(run.messages.first().type, WorkerMessage::Type::Started);
    QCOMPARE(run.messages.last().type, WorkerMessage::Type::Finished);
    QCOMPARE(run.messages.at(1).type, WorkerMessage::Type::Progress);
    QVERIFY(run.ofType(WorkerMessage::Type::Error).isEmpty());
    QCOMPARE(run.ofType(WorkerMessage::Type::Finished).size(), 1);
    // The output descriptor is the only thing written: nothing else appears.
    QCOMPARE(m_out.entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot).size(), 1);
}

void TestWorker::messagesRoundTrip_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QJsonObject>("fields");
    QTest::newRow("started") << int(WorkerMessage::Type::Started)
                             << QJsonObject{
                                    {QStringLiteral("encoder"), QStringLiteral("libx264")},
                                    {QStringLiteral("hardware"), false},
                                    {QStringLiteral("fallbacks"),
                                     QJsonArray{QJsonObject{
                                         {QStringLiteral("encoder"), QStringLiteral("h264_nvenc")},
                                         {QStringLiteral("reason"), QStringLiteral("no device")}}}},
                                    {QStringLiteral("expected_duration_us"), 3000000},
                                    {QStringLiteral("width"), 320},
                                    {QStringLiteral("height"), 240}};
    QTest::newRow("progress") << int(WorkerMessage::Type::Progress)
                              << QJsonObject{{QStringLiteral("frame"), 12},
                                             {QStringLiteral("fps"), 41.5},
                                             {QStringLiteral("speed"), 1.25},
                                             {QStringLiteral("out_time_us"), 400000}};
    QTest::newRow("finished")
        << int(WorkerMessage::Type::Finished)
        << QJsonObject{{QStringLiteral("duration_us"), 3000000},
                       {QStringLiteral("size"), 65536},
                       {QStringLiteral("frames"), 90},
                       {QStringLiteral("streams"),
                        QJsonArray{QJsonObject{{QStringLiteral("type"), QStringLiteral("video")},
                                               {QStringLiteral("codec"), QStringLiteral("h264")},
                                               {QStringLiteral("width"), 320},
                                               {QStringLiteral("height"), 240}},
                                   QJsonObject{{QStringLiteral("type"), QStringLiteral("audio")},
                                               {QStringLiteral("codec"), QStringLiteral("aac")},
                                               {QStringLiteral("channels"), 2},
                                               {QStringLiteral("sample_rate"), 44100}}}}};
    QTest::newRow("error") << int(WorkerMessage::Type::Error)
                           << QJsonObject{{QStringLiteral("code"), QStringLiteral("input_invalid")},
                                          {QStringLiteral("message"), QStringLiteral("bad\nline")}};
}

void TestWorker::messagesRoundTrip()
{
    QFETCH(int, type);
    QFETCH(QJsonObject, fields);
    const QByteArray line = WorkerMessage::line(WorkerMessage::Type(type), fields);
    QVERIFY(line.endsWith('\n'));
    QCOMPARE(line.count('\n'), 1);
    Expected<WorkerMessage> parsed = WorkerMessage::parse(line);
    QVERIFY2(parsed, qPrintable(parsed ? QString() : parsed.error()));
    QCOMPARE(int(parsed->type), type);
    QCOMPARE(parsed->body.value(QStringLiteral("v")).toInt(), 1);
    QCOMPARE(parsed->body.value(QStringLiteral("type")).toString(),
             WorkerMessage::typeName(WorkerMessage::Type(type)));
    for (auto it = fields.constBegin(); it != fields.constEnd(); ++it)
        QCOMPARE(parsed->body.value(it.key()), it.value());
}

void TestWorker::malformedMessagesAreRefused_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("complaint");
    QTest::newRow("not json") << QByteArray("progress 50%") << QStringLiteral("not JSON");
    QTest::newRow("array") << QByteArray("[1,2]") << QStringLiteral("not a JSON object");
    QTest::newRow("no version") << QByteArray(R"({"type":"progress"})") << QStringLiteral("\"v\"");
    QTest::newRow("version 2") << QByteArray(R"({"v":2,"type":"progress"})")
                               << QStringLiteral("version");
    QTest::newRow("unknown type") << QByteArray(R"({"v":1,"type":"hello"})")
                                  << QStringLiteral("unknown message type \"hello\"");
    QTest::newRow("missing field")
        << QByteArray(R"({"v":1,"type":"progress","frame":1,"fps":2,"speed":1})")
        << QStringLiteral("\"out_time_us\" is missing");
    QTest::newRow("wrong kind")
        << QByteArray(R"({"v":1,"type":"progress","frame":"1","fps":2,"speed":1,"out_time_us":0})")
        << QStringLiteral("\"frame\" must be an integer");
    QTest::newRow("unknown field")
        << QByteArray(
               R"({"v":1,"type":"progress","frame":1,"fps":2,"speed":1,"out_time_us":0,"x":1})")
        << QStringLiteral("unknown field \"x\"");
    QTest::newRow("error without code")
        << QByteArray(R"({"v":1,"type":"error","message":"m"})") << QStringLiteral("\"code\"");
    QTest::newRow("bad fallback")
        << QByteArray(R"({"v":1,"type":"started","encoder":"libx264","hardware":false,)"
                      R"("fallbacks":[{"encoder":"x"}],"expected_duration_us":1,"width":2,)"
                      R"("height":2})")
        << QStringLiteral("fallbacks[0]");
    QTest::newRow("bad stream")
        << QByteArray(R"({"v":1,"type":"finished","duration_us":1,"size":1,"frames":1,)"
                      R"("streams":[{"type":"subtitle","codec":"srt"}]})")
        << QStringLiteral("streams[0]");
    QTest::newRow("two lines") << QByteArray("{}\n{}") << QStringLiteral("more than one line");
}

void TestWorker::malformedMessagesAreRefused()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, complaint);
    Expected<WorkerMessage> parsed = WorkerMessage::parse(line);
    QVERIFY(!parsed);
    QVERIFY2(parsed.error().contains(complaint), qPrintable(parsed.error()));
}

void TestWorker::requestRoundTripsAndIsStrict()
{
    m_out = QDir(m_media.path());
    WorkerRequest original =
        request(spec({}, media(QStringLiteral("clip.mp4")), QStringLiteral("mp4")));
    original.encoders.skipped.append({QStringLiteral("h264_nvenc"), QStringLiteral("no GPU")});
    original.addressSpaceMb = 4096;
    original.openFiles = 128;
    const QJsonObject json = original.toJson();
    Expected<WorkerRequest> parsed = WorkerRequest::fromJson(json);
    QVERIFY2(parsed, qPrintable(parsed ? QString() : parsed.error()));
    QCOMPARE(parsed->toJson(), json);
    QCOMPARE(parsed->job, 7);
    QCOMPARE(parsed->addressSpaceMb, 4096);
    QCOMPARE(parsed->openFiles, 128);
    QCOMPARE(parsed->encoders.candidates.size(), 1);
    QCOMPARE(parsed->encoders.skipped.size(), 1);

    QJsonObject extra = json;
    extra.insert(QStringLiteral("shell"), QStringLiteral("rm -rf /"));
    QVERIFY(!WorkerRequest::fromJson(extra));
    QVERIFY(WorkerRequest::fromJson(extra).error().contains(QStringLiteral("shell")));

    QJsonObject limits = json;
    QJsonObject l = json.value(QStringLiteral("limits")).toObject();
    l.insert(QStringLiteral("nice"), 5);
    limits.insert(QStringLiteral("limits"), l);
    QVERIFY(WorkerRequest::fromJson(limits).error().contains(QStringLiteral("limits")));

    QJsonObject sameFd = json;
    sameFd.insert(QStringLiteral("output_fd"), 3);
    QVERIFY(WorkerRequest::fromJson(sameFd).error().contains(QStringLiteral("output_fd")));

    QJsonObject stdinFd = json;
    stdinFd.insert(QStringLiteral("input_fd"), 0);
    QVERIFY(WorkerRequest::fromJson(stdinFd).error().contains(QStringLiteral("input_fd")));

    QJsonObject encoders = json;
    QJsonObject e = json.value(QStringLiteral("encoders")).toObject();
    e.insert(QStringLiteral("candidates"),
             QJsonArray{QJsonObject{{QStringLiteral("encoder"), QStringLiteral("libx264")},
                                    {QStringLiteral("device"), QString()},
                                    {QStringLiteral("hardware"), QStringLiteral("no")}}});
    encoders.insert(QStringLiteral("encoders"), e);
    QVERIFY(WorkerRequest::fromJson(encoders).error().contains(QStringLiteral("hardware")));

    QJsonObject noCandidates = json;
    noCandidates.insert(QStringLiteral("encoders"), QJsonObject{});
    QVERIFY(WorkerRequest::fromJson(noCandidates).error().contains(QStringLiteral("encoders")));
}

void TestWorker::presetsEncode_data()
{
    QTest::addColumn<QString>("preset");
    const QStringList names = Presets::names();
    QVERIFY(!names.isEmpty());
    for (const QString &name : names)
        QTest::newRow(qPrintable(name)) << name;
}

void TestWorker::presetsEncode()
{
    QFETCH(QString, preset);
    const QString input = media(QStringLiteral("clip.mp4"));
    Expected<QJsonObject> partial = Presets::find(preset);
    QVERIFY(partial);
    // The output's name must carry the preset's container as extension;
    // the container names are the extensions.
    const QString container =
        partial->value(QStringLiteral("container")).toString(QStringLiteral("mp4"));
    Expected<JobSpec> composed = Presets::compose(
        preset, {}, QJsonObject{{QStringLiteral("path"), input}},
        QJsonObject{{QStringLiteral("directory"), QDir::tempPath()},
                    {QStringLiteral("name"), QString(QStringLiteral("out.") + container)}});
    QVERIFY2(composed, qPrintable(composed ? QString() : composed.error()));
    const JobSpec &jobSpec = composed.value();
    const WorkerRun run = encode(request(jobSpec), input);
    checkSuccess(run);

    const bool hasVideo = jobSpec.videoCodec != JobSpec::VideoCodec::None;
    const bool hasAudio = jobSpec.audioCodec != JobSpec::AudioCodec::None;
    const QJsonObject started = run.messages.first().body;
    QCOMPARE(started.value(QStringLiteral("encoder")).toString(),
             hasVideo ? EncoderChoice::softwareEncoder(jobSpec.videoCodec)
                      : QStringLiteral("none"));
    QCOMPARE(started.value(QStringLiteral("hardware")).toBool(), false);
    QVERIFY(std::llabs(started.value(QStringLiteral("expected_duration_us")).toInteger() -
                       ClipUs) <= ToleranceUs);

    const MediaGen::Probe out = MediaGen::probe(outputPath(JobSpec::extension(jobSpec.container)));
    QCOMPARE(out.error, QString());
    QCOMPARE(out.streams.size(), int(hasVideo) + int(hasAudio));
    QVERIFY2(std::llabs(out.durationUs - ClipUs) <= ToleranceUs,
             qPrintable(QString::number(out.durationUs)));
    const QJsonObject finished = run.messages.last().body;
    QCOMPARE(finished.value(QStringLiteral("duration_us")).toInteger(), out.durationUs);
    QCOMPARE(finished.value(QStringLiteral("size")).toInteger(),
             QFileInfo(outputPath(JobSpec::extension(jobSpec.container))).size());
    QCOMPARE(finished.value(QStringLiteral("streams")).toArray().size(), out.streams.size());

    const MediaGen::Stream *video = out.first(QStringLiteral("video"));
    QCOMPARE(video != nullptr, hasVideo);
    if (video) {
        QCOMPARE(video->codec, JobSpec::videoCodecName(jobSpec.videoCodec));
        // Fits the preset's bounds, keeps 4:3, even, never upscaled.
        const int maxW = jobSpec.maxWidth.value_or(320);
        const int maxH = jobSpec.maxHeight.value_or(240);
        QVERIFY(video->width <= std::min(320, maxW) && video->height <= std::min(240, maxH));
        QCOMPARE(video->width % 2, 0);
        QCOMPARE(video->height % 2, 0);
        QVERIFY(std::abs(video->width * 3 - video->height * 4) <= 8);
        QCOMPARE(video->width, started.value(QStringLiteral("width")).toInt());
        QCOMPARE(video->height, started.value(QStringLiteral("height")).toInt());
        QCOMPARE(video->pixelFormat, jobSpec.pixelFormat);
        QCOMPARE(video->packets, 90);
        QCOMPARE(finished.value(QStringLiteral("frames")).toInteger(), 90);
        QVERIFY(std::llabs(video->durationUs - ClipUs) <= ToleranceUs);
        QList<int> numbers;
        QCOMPARE(
            MediaGen::readFrameNumbers(outputPath(JobSpec::extension(jobSpec.container)), &numbers),
            QString());
        QCOMPARE(numbers.size(), 90);
        QCOMPARE(numbers.first(), 0);
        QCOMPARE(numbers.last(), 89);
    }
    const MediaGen::Stream *audio = out.first(QStringLiteral("audio"));
    QCOMPARE(audio != nullptr, hasAudio);
    if (audio) {
        const QString codec = jobSpec.audioCodec == JobSpec::AudioCodec::Opus
                                  ? QStringLiteral("opus")
                                  : QStringLiteral("aac");
        QCOMPARE(audio->codec, codec); // "copy" of the clip's AAC stays AAC
        QCOMPARE(audio->channels, 2);
        QVERIFY(std::llabs(audio->durationUs - ClipUs) <= ToleranceUs);
    }
    if (video && audio) {
        // In sync: both start together (an encoder's priming may put the
        // first audio packet up to one audio frame early).
        QVERIFY2(std::llabs(video->startUs) <= 1'000, qPrintable(QString::number(video->startUs)));
        QVERIFY2(std::llabs(audio->startUs - video->startUs) <= 25'000,
                 qPrintable(QString::number(audio->startUs)));
    }
}

void TestWorker::trimKeepsTheAskedPart_data()
{
    QTest::addColumn<double>("start");
    QTest::addColumn<double>("duration");
    QTest::addColumn<int>("firstFrame");
    QTest::addColumn<int>("frames");
    QTest::newRow("second second") << 1.0 << 1.0 << 30 << 30;
    QTest::newRow("from the start") << 0.0 << 1.5 << 0 << 45;
    QTest::newRow("past the end") << 2.5 << 2.0 << 75 << 15;
    QTest::newRow("between key frames") << 1.5 << 1.0 << 45 << 30;
}

void TestWorker::trimKeepsTheAskedPart()
{
    QFETCH(double, start);
    QFETCH(double, duration);
    QFETCH(int, firstFrame);
    QFETCH(int, frames);
    const QString input = media(QStringLiteral("clip.mp4"));
    const JobSpec jobSpec =
        spec({{QStringLiteral("video"),
               QJsonObject{{QStringLiteral("codec"), QStringLiteral("h264")},
                           {QStringLiteral("speed"), QStringLiteral("ultrafast")}}},
              {QStringLiteral("trim"), QJsonObject{{QStringLiteral("start_s"), start},
                                                   {QStringLiteral("duration_s"), duration}}}},
             input, QStringLiteral("mp4"));
    const WorkerRun run = encode(request(jobSpec), input);
    checkSuccess(run);
    const qint64 expectedUs = qint64(frames) * FrameUs;
    QVERIFY(
        std::llabs(
            run.messages.first().body.value(QStringLiteral("expected_duration_us")).toInteger() -
            expectedUs) <= ToleranceUs);
    const MediaGen::Probe out = MediaGen::probe(outputPath(QStringLiteral("mp4")));
    QCOMPARE(out.error, QString());
    QVERIFY2(std::llabs(out.durationUs - expectedUs) <= ToleranceUs,
             qPrintable(QString::number(out.durationUs)));
    const MediaGen::Stream *video = out.first(QStringLiteral("video"));
    const MediaGen::Stream *audio = out.first(QStringLiteral("audio"));
    QVERIFY(video && audio);
    QCOMPARE(video->packets, frames);
    QVERIFY(std::llabs(audio->durationUs - expectedUs) <= ToleranceUs);
    QVERIFY(std::llabs(video->startUs) <= 1'000);
    QVERIFY(std::llabs(audio->startUs - video->startUs) <= 25'000);
    QList<int> numbers;
    QCOMPARE(MediaGen::readFrameNumbers(outputPath(QStringLiteral("mp4")), &numbers), QString());
    QCOMPARE(numbers.size(), frames);
    QCOMPARE(numbers.first(), firstFrame);
    QCOMPARE(numbers.last(), firstFrame + frames - 1);
}

void TestWorker::videoCopy_data()
{
    QTest::addColumn<double>("start");
    QTest::addColumn<double>("duration");
    QTest::addColumn<int>("firstFrame");
    QTest::addColumn<int>("frames");
    QTest::newRow("whole") << 0.0 << 0.0 << 0 << 90;
    QTest::newRow("trim on a key frame") << 1.0 << 1.0 << 30 << 30;
    // A copy starts at the key frame before the trim start (frame 30).
    QTest::newRow("trim between key frames") << 1.5 << 1.0 << 30 << 45;
}

void TestWorker::videoCopy()
{
    QFETCH(double, start);
    QFETCH(double, duration);
    QFETCH(int, firstFrame);
    QFETCH(int, frames);
    const QString input = media(QStringLiteral("clip.mp4"));
    QJsonObject fields{
        {QStringLiteral("video"), QJsonObject{{QStringLiteral("codec"), QStringLiteral("copy")}}}};
    if (duration > 0)
        fields.insert(QStringLiteral("trim"),
                      QJsonObject{{QStringLiteral("start_s"), start},
                                  {QStringLiteral("duration_s"), duration}});
    const JobSpec jobSpec = spec(fields, input, QStringLiteral("mp4"));
    const WorkerRun run = encode(request(jobSpec), input);
    checkSuccess(run);
    QCOMPARE(run.messages.first().body.value(QStringLiteral("encoder")).toString(),
             QStringLiteral("copy"));
    const MediaGen::Probe out = MediaGen::probe(outputPath(QStringLiteral("mp4")));
    QCOMPARE(out.error, QString());
    const MediaGen::Stream *video = out.first(QStringLiteral("video"));
    QVERIFY(video);
    QCOMPARE(video->codec, QStringLiteral("h264"));
    QCOMPARE(video->width, 320);
    QCOMPARE(video->height, 240);
    QCOMPARE(video->packets, frames);
    QVERIFY2(std::llabs(out.durationUs - frames * FrameUs) <= ToleranceUs,
             qPrintable(QString::number(out.durationUs)));
    QList<int> numbers;
    QCOMPARE(MediaGen::readFrameNumbers(outputPath(QStringLiteral("mp4")), &numbers), QString());
    QCOMPARE(numbers.size(), frames);
    QCOMPARE(numbers.first(), firstFrame);
    QCOMPARE(numbers.last(), firstFrame + frames - 1);
}

void TestWorker::audioCopy_data()
{
    QTest::addColumn<QString>("input");
    QTest::addColumn<QString>("container");
    QTest::addColumn<QString>("codec");
    QTest::addColumn<int>("sampleRate");
    QTest::addColumn<bool>("substituted");
    QTest::newRow("aac into mkv") << "clip.mp4"
                                  << "mkv"
                                  << "aac" << 44100 << false;
    QTest::newRow("flac into mkv") << "flac.mkv"
                                   << "mkv"
                                   << "flac" << 44100 << false;
    QTest::newRow("ac3 into mp4") << "ac3.mkv"
                                  << "mp4"
                                  << "ac3" << 48000 << false;
    QTest::newRow("flac into mp4 becomes aac") << "flac.mkv"
                                               << "mp4"
                                               << "aac" << 44100 << true;
}

void TestWorker::audioCopy()
{
    QFETCH(QString, input);
    QFETCH(QString, container);
    QFETCH(QString, codec);
    QFETCH(int, sampleRate);
    QFETCH(bool, substituted);
    const QString path = media(input);
    const JobSpec jobSpec = spec(
        {{QStringLiteral("container"), container},
         {QStringLiteral("video"),
          QJsonObject{{QStringLiteral("codec"), QStringLiteral("h264")},
                      {QStringLiteral("speed"), QStringLiteral("ultrafast")}}},
         {QStringLiteral("audio"), QJsonObject{{QStringLiteral("codec"), QStringLiteral("copy")}}}},
        path, container);
    const WorkerRun run = encode(request(jobSpec), path);
    checkSuccess(run);
    QCOMPARE(run.err.contains(QStringLiteral("cannot be copied")), substituted);
    const MediaGen::Probe out = MediaGen::probe(outputPath(container));
    QCOMPARE(out.error, QString());
    QCOMPARE(out.streams.size(), 2);
    const MediaGen::Stream *audio = out.first(QStringLiteral("audio"));
    QVERIFY(audio);
    QCOMPARE(audio->codec, codec);
    QCOMPARE(audio->sampleRate, sampleRate);
    QCOMPARE(audio->channels, 2);
    QVERIFY2(std::llabs(out.durationUs - ClipUs) <= ToleranceUs,
             qPrintable(QString::number(out.durationUs)));
    const MediaGen::Stream *video = out.first(QStringLiteral("video"));
    QVERIFY(video);
    QVERIFY(std::llabs(audio->startUs - video->startUs) <= 25'000);
}

void TestWorker::hardwareCandidatesFallBackToSoftware()
{
    const QString input = media(QStringLiteral("clip.mp4"));
    WorkerRequest r = request(spec({}, input, QStringLiteral("mp4")));
    r.encoders.candidates = {{QStringLiteral("h264_nvenc"), QStringLiteral("cuda"), true},
                             {QStringLiteral("h264_vaapi"), QStringLiteral("vaapi"), true},
                             {QStringLiteral("libx264"), QString(), false}};
    r.encoders.skipped = {
        {QStringLiteral("h264_qsv"), QStringLiteral("did not open in the probe")}};
    const WorkerRun run = encode(r, input);
    checkSuccess(run);
    const QJsonObject started = run.messages.first().body;
    QHash<QString, QString> reasons;
    for (const QJsonValue &v : started.value(QStringLiteral("fallbacks")).toArray())
        reasons.insert(v[QStringLiteral("encoder")].toString(),
                       v[QStringLiteral("reason")].toString());
    QCOMPARE(reasons.value(QStringLiteral("h264_qsv")),
             QStringLiteral("did not open in the probe"));
    if (started.value(QStringLiteral("hardware")).toBool()) {
        // A GPU here: the first hardware encoder that opened is used.
        const QString encoder = started.value(QStringLiteral("encoder")).toString();
        QVERIFY(encoder == QStringLiteral("h264_nvenc") || encoder == QStringLiteral("h264_vaapi"));
    } else {
        // No GPU: both hardware candidates are listed with the reason they
        // did not open, and libx264 does the job.
        QCOMPARE(started.value(QStringLiteral("encoder")).toString(), QStringLiteral("libx264"));
        QVERIFY2(!reasons.value(QStringLiteral("h264_nvenc")).isEmpty(),
                 qPrintable(run.describe()));
        QVERIFY2(!reasons.value(QStringLiteral("h264_vaapi")).isEmpty(),
                 qPrintable(run.describe()));
        QCOMPARE(reasons.size(), 3);
    }
    const MediaGen::Probe out = MediaGen::probe(outputPath(QStringLiteral("mp4")));
    QCOMPARE(out.error, QString());
    QVERIFY(out.first(QStringLiteral("video")));
    QCOMPARE(out.first(QStringLiteral("video"))->codec, QStringLiteral("h264"));
}

void TestWorker::acceptedInputs_data()
{
    QTest::addColumn<QString>("container");
    QTest::addColumn<QString>("videoCodec"); // empty: no video
    QTest::addColumn<QString>("audioCodec");
    QTest::addColumn<QString>("errorCode"); // empty: the job succeeds
    QTest::newRow("mpeg-ts, starts late") << "mpegts"
                                          << "libx264"
                                          << "aac" << QString();
    QTest::newRow("webm vp9 opus") << "webm"
                                   << "libvpx-vp9"
                                   << "libopus" << QString();
    QTest::newRow("mkv av1 flac") << "mkv"
                                  << "libsvtav1"
                                  << "flac" << QString();
    QTest::newRow("mov hevc pcm") << "mov"
                                  << "libx265"
                                  << "pcm_s16le" << QString();
    QTest::newRow("avi mpeg4 ac3") << "avi"
                                   << "mpeg4"
                                   << "ac3" << QString();
    QTest::newRow("wav, no video")
        << "wav" << QString() << "pcm_s16le" << QString(WorkerMessage::InputInvalid);
    QTest::newRow("mpeg-1 video is not decoded") << "mkv"
                                                 << "mpeg1video"
                                                 << "aac" << QString(WorkerMessage::Unsupported);
}

void TestWorker::acceptedInputs()
{
    QFETCH(QString, container);
    QFETCH(QString, videoCodec);
    QFETCH(QString, audioCodec);
    QFETCH(QString, errorCode);
    MediaGen::ClipOptions options;
    options.container = container;
    options.video = !videoCodec.isEmpty();
    if (options.video)
        options.videoCodec = videoCodec;
    options.audioCodec = audioCodec;
    options.sampleRate =
        audioCodec == QLatin1StringView("libopus") || audioCodec == QLatin1StringView("ac3")
            ? 48000
            : 44100;
    QTemporaryDir inputDir;
    const QString input = inputDir.filePath(QStringLiteral("input.") + container);
    QCOMPARE(MediaGen::writeClip(input, options), QString());

    const JobSpec jobSpec =
        spec({{QStringLiteral("video"),
               QJsonObject{{QStringLiteral("codec"), QStringLiteral("h264")},
                           {QStringLiteral("speed"), QStringLiteral("ultrafast")}}}},
             input, QStringLiteral("mp4"));
    const WorkerRun run = encode(request(jobSpec), input);
    if (!errorCode.isEmpty()) {
        QVERIFY2(run.normalExit && run.exitCode == 1, qPrintable(run.describe()));
        QCOMPARE(run.messages.size(), 1);
        QCOMPARE(run.messages.first().errorCode(), errorCode);
        QVERIFY(!run.messages.first().errorMessage().isEmpty());
        return;
    }
    checkSuccess(run);
    const MediaGen::Probe out = MediaGen::probe(outputPath(QStringLiteral("mp4")));
    QCOMPARE(out.error, QString());
    QVERIFY2(std::llabs(out.durationUs - ClipUs) <= ToleranceUs,
             qPrintable(QString::number(out.durationUs)));
    const MediaGen::Stream *video = out.first(QStringLiteral("video"));
    const MediaGen::Stream *audio = out.first(QStringLiteral("audio"));
    QVERIFY(video && audio);
    QCOMPARE(audio->codec, QStringLiteral("aac"));
    QVERIFY(std::llabs(video->startUs) <= 1'000);
    QVERIFY(std::llabs(audio->startUs - video->startUs) <= 25'000);
    QList<int> numbers;
    QCOMPARE(MediaGen::readFrameNumbers(outputPath(QStringLiteral("mp4")), &numbers), QString());
    QCOMPARE(numbers.size(), 90);
    QCOMPARE(numbers.first(), 0);
    QCOMPARE(numbers.last(), 89);
}

void TestWorker::badMediaEndsInAClearError_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("message");
    QTest::newRow("empty") << "empty.mp4" << QString(WorkerMessage::InputInvalid)
                           << "the input file is empty";
    QTest::newRow("random bytes") << "random.mp4" << QString(WorkerMessage::InputInvalid)
                                  << "input is not a media file we accept (detected: none)";
    QTest::newRow("truncated mp4")
        << "half.mp4" << QString(WorkerMessage::InputInvalid) << "damaged or truncated";
    QTest::newRow("hls playlist") << "playlist.m3u8" << QString(WorkerMessage::InputInvalid)
                                  << "input is not a media file we accept";
    QTest::newRow("concat list") << "list.ffconcat" << QString(WorkerMessage::InputInvalid)
                                 << "input is not a media file we accept (detected: concat)";
    QTest::newRow("100000x100000") << "huge.mkv" << QString(WorkerMessage::LimitExceeded)
                                   << "the input claims 100000x100000 pixels; the limit is "
                                      "8192x8192 (67 Mpixel)";
}

void TestWorker::badMediaEndsInAClearError()
{
    QFETCH(QString, file);
    QFETCH(QString, code);
    QFETCH(QString, message);
    const QString input = media(file);
    const WorkerRun run = encode(request(spec({}, input, QStringLiteral("mp4"))), input);
    QVERIFY2(run.normalExit && run.exitCode == 1, qPrintable(run.describe()));
    QVERIFY2(run.badLines.isEmpty(), qPrintable(run.describe()));
    QCOMPARE(run.messages.size(), 1);
    const WorkerMessage &error = run.messages.first();
    QCOMPARE(error.type, WorkerMessage::Type::Error);
    QCOMPARE(error.errorCode(), code);
    QVERIFY2(error.errorMessage().contains(message), qPrintable(error.errorMessage()));
    QVERIFY(!error.errorMessage().contains(u'\n'));
    // Nothing was written, and nothing besides the given output exists.
    QCOMPARE(QFileInfo(outputPath(QStringLiteral("mp4"))).size(), 0);
    QCOMPARE(m_out.entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot),
             QStringList{QStringLiteral("out.mp4")});
    // The log never names the input.
    QVERIFY(!run.err.contains(input));
    QVERIFY(!run.err.contains(QStringLiteral("/etc/passwd")));
}

void TestWorker::malformedRequestsAreRefused_data()
{
    m_out = QDir(m_media.path());
    const QJsonObject valid =
        request(spec({}, media(QStringLiteral("clip.mp4")), QStringLiteral("mp4"))).toJson();
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("complaint");
    QTest::newRow("not json") << QByteArray("{\"v\":1,\n") << QStringLiteral("not JSON");
    QTest::newRow("empty") << QByteArray("\n") << QStringLiteral("no request");
    QJsonObject unknown = valid;
    unknown.insert(QStringLiteral("priority_boost"), 1);
    QTest::newRow("unknown field") << requestLine(unknown) << QStringLiteral("priority_boost");
    QJsonObject version = valid;
    version.insert(QStringLiteral("v"), 2);
    QTest::newRow("wrong version") << requestLine(version) << QStringLiteral("version");
    QJsonObject badSpec = valid;
    QJsonObject specJson = valid.value(QStringLiteral("spec")).toObject();
    specJson.insert(QStringLiteral("container"), QStringLiteral("exe"));
    badSpec.insert(QStringLiteral("spec"), specJson);
    QTest::newRow("invalid spec") << requestLine(badSpec) << QStringLiteral("spec: container");
    QJsonObject foreign = valid;
    foreign.insert(
        QStringLiteral("encoders"),
        QJsonObject{{QStringLiteral("candidates"),
                     QJsonArray{QJsonObject{{QStringLiteral("encoder"), QStringLiteral("libfoo")},
                                            {QStringLiteral("device"), QString()},
                                            {QStringLiteral("hardware"), false}}}}});
    QTest::newRow("unknown encoder") << requestLine(foreign) << QStringLiteral("libfoo");
    QJsonObject mismatch = valid;
    mismatch.insert(
        QStringLiteral("encoders"),
        QJsonObject{{QStringLiteral("candidates"),
                     QJsonArray{QJsonObject{{QStringLiteral("encoder"), QStringLiteral("libx265")},
                                            {QStringLiteral("device"), QString()},
                                            {QStringLiteral("hardware"), false}}}}});
    QTest::newRow("encoder for another codec")
        << requestLine(mismatch) << QStringLiteral("does not encode h264");
    QByteArray oversize = requestLine(valid);
    oversize.chop(1);
    oversize.append(QByteArray(1024 * 1024, ' '));
    oversize.append('\n');
    QTest::newRow("oversize line") << oversize << QStringLiteral("longer than 1 MiB");
}

void TestWorker::malformedRequestsAreRefused()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, complaint);
    m_outDir = std::make_unique<QTemporaryDir>();
    m_out = QDir(m_outDir->path());
    const WorkerRun run =
        runWorker(line, media(QStringLiteral("clip.mp4")), outputPath(QStringLiteral("mp4")));
    QVERIFY2(run.normalExit && run.exitCode == 1, qPrintable(run.describe()));
    QVERIFY2(run.badLines.isEmpty(), qPrintable(run.describe()));
    QCOMPARE(run.messages.size(), 1);
    QCOMPARE(run.messages.first().errorCode(), QString(WorkerMessage::RequestInvalid));
    QVERIFY2(run.messages.first().errorMessage().contains(complaint),
             qPrintable(run.messages.first().errorMessage()));
    QCOMPARE(QFileInfo(outputPath(QStringLiteral("mp4"))).size(), 0);
}

QTEST_GUILESS_MAIN(TestWorker)
#include "tst_worker.moc"
