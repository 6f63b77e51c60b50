#include "hw/capabilitymatrix.h"
#include "hw/encoderchoice.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

namespace {
using Codec = JobSpec::VideoCodec;
using Hardware = JobSpec::Hardware;

const QString NoCuda = QStringLiteral("no CUDA driver (libcuda.so.1 not found)");
const QString NoRenderNode = QStringLiteral("no GPU render node (/dev/dri/renderD*)");
const QString SessionsFull =
    QStringLiteral("every NVENC session on this GPU is in use (limit reached)");

// One encoder entry as the probe writes it; codec, family and device
// follow from the name ("hevc_qsv": hevc, qsv, qsv).
QJsonObject encoder(const QString &name, bool ok, const QString &detail = {})
{
    const QString codec = name.section(u'_', 0, 0);
    const QString family = name.section(u'_', 1);
    const QString device = family == QLatin1StringView("nvenc") ? QStringLiteral("cuda") : family;
    return QJsonObject{{QStringLiteral("name"), name},     {QStringLiteral("codec"), codec},
                       {QStringLiteral("family"), family}, {QStringLiteral("device"), device},
                       {QStringLiteral("ok"), ok},         {QStringLiteral("detail"), detail}};
}

QJsonObject matrix(const QJsonArray &encoders, qint64 probedAt = 1700000000000)
{
    return QJsonObject{{QStringLiteral("probed_at"), probedAt},
                       {QStringLiteral("devices"), QJsonArray()},
                       {QStringLiteral("encoders"), encoders}};
}

// A GPU-less machine: every hardware encoder compiled in, none opened.
QJsonObject noGpu()
{
    return matrix({encoder(QStringLiteral("h264_nvenc"), false, NoCuda),
                   encoder(QStringLiteral("h264_qsv"), false, NoRenderNode),
                   encoder(QStringLiteral("h264_vaapi"), false, NoRenderNode),
                   encoder(QStringLiteral("hevc_nvenc"), false, NoCuda),
                   encoder(QStringLiteral("hevc_vaapi"), false, NoRenderNode),
                   encoder(QStringLiteral("vp9_vaapi"), false, NoRenderNode)});
}

// Every family works for h264 and hevc.
QJsonObject allGpus()
{
    return matrix(
        {encoder(QStringLiteral("h264_vaapi"), true), encoder(QStringLiteral("h264_nvenc"), true),
         encoder(QStringLiteral("h264_qsv"), true), encoder(QStringLiteral("hevc_nvenc"), true),
         encoder(QStringLiteral("hevc_qsv"), true), encoder(QStringLiteral("hevc_vaapi"), true)});
}

// "h264_nvenc@cuda" for a hardware candidate, "libx264" for software.
QStringList describe(const QList<EncoderChoice::Candidate> &candidates)
{
    QStringList out;
    for (const auto &c : candidates)
        out << (c.hardware ? c.encoder + u'@' + c.device : c.encoder);
    return out;
}

QStringList describe(const QList<EncoderChoice::Skipped> &skipped)
{
    QStringList out;
    for (const auto &s : skipped)
        out << s.encoder + QStringLiteral(": ") + s.reason;
    return out;
}
} // namespace

class TestEncoderChoice : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void choose_data();
    void choose();
    void softwareEncoder_data();
    void softwareEncoder();
    void choiceJsonRoundTrip_data();
    void choiceJsonRoundTrip();
    void choiceFromJsonDropsNamelessEntries();
    void matrixJsonRoundTrip();
    void matrixFromJsonNeverCountsSoftwareAsOk();
};

void TestEncoderChoice::choose_data()
{
    QTest::addColumn<int>("codec");
    QTest::addColumn<int>("preference");
    QTest::addColumn<QJsonObject>("matrix");
    QTest::addColumn<bool>("nvencAvailable");
    QTest::addColumn<QStringList>("candidates");
    QTest::addColumn<QStringList>("skipped");

    const auto row = [](const char *name, Codec codec, Hardware preference, const QJsonObject &m,
                        bool nvenc, const QStringList &candidates, const QStringList &skipped) {
        QTest::newRow(name) << int(codec) << int(preference) << m << nvenc << candidates << skipped;
    };
    const QStringList none;
    const QString x264 = QStringLiteral("libx264");

    // Nothing encodes: no candidates, nothing skipped.
    row("copy", Codec::Copy, Hardware::Auto, allGpus(), true, none, none);
    row("no video", Codec::None, Hardware::Auto, allGpus(), true, none, none);
    row("copy, nvenc named", Codec::Copy, Hardware::Nvenc, allGpus(), true, none, none);

    // auto
    row("auto, no GPU", Codec::H264, Hardware::Auto, noGpu(), true, {x264},
        {QStringLiteral("h264_nvenc: ") + NoCuda, QStringLiteral("h264_qsv: ") + NoRenderNode,
         QStringLiteral("h264_vaapi: ") + NoRenderNode});
    row("auto, every family: nvenc, qsv, vaapi, then software", Codec::H264, Hardware::Auto,
        allGpus(), true,
        {QStringLiteral("h264_nvenc@cuda"), QStringLiteral("h264_qsv@qsv"),
         QStringLiteral("h264_vaapi@vaapi"), x264},
        none);
    row("auto, NVENC sessions used up", Codec::H264, Hardware::Auto, allGpus(), false,
        {QStringLiteral("h264_qsv@qsv"), QStringLiteral("h264_vaapi@vaapi"), x264},
        {QStringLiteral("h264_nvenc: ") + SessionsFull});
    row("auto, NVENC sessions used up but NVENC broken anyway", Codec::H264, Hardware::Auto,
        noGpu(), false, {x264},
        {QStringLiteral("h264_nvenc: ") + NoCuda, QStringLiteral("h264_qsv: ") + NoRenderNode,
         QStringLiteral("h264_vaapi: ") + NoRenderNode});
    row("auto, only vaapi opened", Codec::H264, Hardware::Auto,
        matrix({encoder(QStringLiteral("h264_nvenc"), false, NoCuda),
                encoder(QStringLiteral("h264_vaapi"), true),
                encoder(QStringLiteral("h264_qsv"), false, QStringLiteral("MFX session"))}),
        true, {QStringLiteral("h264_vaapi@vaapi"), x264},
        {QStringLiteral("h264_nvenc: ") + NoCuda, QStringLiteral("h264_qsv: MFX session")});
    row("auto, other codecs' encoders are not this codec's", Codec::Vp9, Hardware::Auto,
        matrix({encoder(QStringLiteral("h264_nvenc"), true),
                encoder(QStringLiteral("vp9_qsv"), true)}),
        true, {QStringLiteral("vp9_qsv@qsv"), QStringLiteral("libvpx-vp9")}, none);
    row("auto, hevc", Codec::Hevc, Hardware::Auto, allGpus(), true,
        {QStringLiteral("hevc_nvenc@cuda"), QStringLiteral("hevc_qsv@qsv"),
         QStringLiteral("hevc_vaapi@vaapi"), QStringLiteral("libx265")},
        none);
    row("auto, av1 has no hardware encoder in this build", Codec::Av1, Hardware::Auto, allGpus(),
        true, {QStringLiteral("libsvtav1")}, none);
    row("auto, probe not run", Codec::H264, Hardware::Auto, CapabilityMatrix().toJson(), true,
        {x264}, none);
    row("auto, failure without a detail still gives a reason", Codec::H264, Hardware::Auto,
        matrix({encoder(QStringLiteral("h264_nvenc"), false)}), true, {x264},
        {QStringLiteral("h264_nvenc: did not open in the hardware probe")});

    // A named family: that family, then software; the others are not tried.
    row("nvenc named, opened", Codec::H264, Hardware::Nvenc, allGpus(), true,
        {QStringLiteral("h264_nvenc@cuda"), x264}, none);
    row("nvenc named, did not open", Codec::H264, Hardware::Nvenc, noGpu(), true, {x264},
        {QStringLiteral("h264_nvenc: ") + NoCuda});
    row("nvenc named, sessions used up", Codec::Hevc, Hardware::Nvenc, allGpus(), false,
        {QStringLiteral("libx265")}, {QStringLiteral("hevc_nvenc: ") + SessionsFull});
    row("qsv named, opened", Codec::Hevc, Hardware::Qsv, allGpus(), false,
        {QStringLiteral("hevc_qsv@qsv"), QStringLiteral("libx265")}, none);
    row("vaapi named, opened", Codec::H264, Hardware::Vaapi, allGpus(), true,
        {QStringLiteral("h264_vaapi@vaapi"), x264}, none);
    row("vaapi named, not in this build", Codec::Av1, Hardware::Vaapi, allGpus(), true,
        {QStringLiteral("libsvtav1")},
        {QStringLiteral("av1_vaapi: this FFmpeg build has no such encoder")});
    row("qsv named, probe not run", Codec::H264, Hardware::Qsv, CapabilityMatrix().toJson(), true,
        {x264}, {QStringLiteral("h264_qsv: the hardware probe has not run")});

    // software: software only, and nothing counts as skipped.
    row("software, every GPU working", Codec::H264, Hardware::Software, allGpus(), true, {x264},
        none);
    row("software, vp9", Codec::Vp9, Hardware::Software, noGpu(), true,
        {QStringLiteral("libvpx-vp9")}, none);
}

void TestEncoderChoice::choose()
{
    QFETCH(int, codec);
    QFETCH(int, preference);
    QFETCH(QJsonObject, matrix);
    QFETCH(bool, nvencAvailable);
    QFETCH(QStringList, candidates);
    QFETCH(QStringList, skipped);

    const EncoderChoice choice = EncoderChoice::choose(
        Codec(codec), Hardware(preference), CapabilityMatrix::fromJson(matrix), nvencAvailable);
    QCOMPARE(describe(choice.candidates), candidates);
    QCOMPARE(describe(choice.skipped), skipped);
    // The software encoder is always the last resort of a codec that encodes.
    if (!candidates.isEmpty()) {
        QCOMPARE(choice.candidates.last().encoder, EncoderChoice::softwareEncoder(Codec(codec)));
        QVERIFY(!choice.candidates.last().hardware);
        QVERIFY(choice.candidates.last().device.isEmpty());
    }
}

void TestEncoderChoice::softwareEncoder_data()
{
    QTest::addColumn<int>("codec");
    QTest::addColumn<QString>("encoder");
    QTest::newRow("h264") << int(Codec::H264) << QStringLiteral("libx264");
    QTest::newRow("hevc") << int(Codec::Hevc) << QStringLiteral("libx265");
    QTest::newRow("av1") << int(Codec::Av1) << QStringLiteral("libsvtav1");
    QTest::newRow("vp9") << int(Codec::Vp9) << QStringLiteral("libvpx-vp9");
    QTest::newRow("copy") << int(Codec::Copy) << QString();
    QTest::newRow("none") << int(Codec::None) << QString();
}

void TestEncoderChoice::softwareEncoder()
{
    QFETCH(int, codec);
    QFETCH(QString, encoder);
    QCOMPARE(EncoderChoice::softwareEncoder(Codec(codec)), encoder);
}

void TestEncoderChoice::choiceJsonRoundTrip_data()
{
    QTest::addColumn<int>("codec");
    QTest::addColumn<int>("preference");
    QTest::addColumn<QJsonObject>("matrix");
    QTest::addColumn<bool>("nvencAvailable");
    QTest::newRow("every family") << int(Codec::H264) << int(Hardware::Auto) << allGpus() << true;
    QTest::newRow("sessions used up")
        << int(Codec::Hevc) << int(Hardware::Auto) << allGpus() << false;
    QTest::newRow("no GPU") << int(Codec::H264) << int(Hardware::Auto) << noGpu() << true;
    QTest::newRow("copy") << int(Codec::Copy) << int(Hardware::Auto) << noGpu() << true;
}

void TestEncoderChoice::choiceJsonRoundTrip()
{
    QFETCH(int, codec);
    QFETCH(int, preference);
    QFETCH(QJsonObject, matrix);
    QFETCH(bool, nvencAvailable);
    const EncoderChoice choice = EncoderChoice::choose(
        Codec(codec), Hardware(preference), CapabilityMatrix::fromJson(matrix), nvencAvailable);
    const QJsonObject json = choice.toJson();
    QVERIFY(json.value(QStringLiteral("candidates")).isArray());
    QVERIFY(json.value(QStringLiteral("skipped")).isArray());
    const EncoderChoice back = EncoderChoice::fromJson(json);
    QCOMPARE(describe(back.candidates), describe(choice.candidates));
    QCOMPARE(describe(back.skipped), describe(choice.skipped));
    QCOMPARE(back.toJson(), json);
}

void TestEncoderChoice::choiceFromJsonDropsNamelessEntries()
{
    const QJsonObject json{
        {QStringLiteral("candidates"),
         QJsonArray{QJsonObject{{QStringLiteral("device"), QStringLiteral("cuda")},
                                {QStringLiteral("hardware"), true}},
                    QJsonObject{{QStringLiteral("encoder"), QStringLiteral("h264_vaapi")},
                                {QStringLiteral("device"), QStringLiteral("vaapi")},
                                {QStringLiteral("hardware"), true}},
                    QStringLiteral("libx264")}},
        {QStringLiteral("skipped"),
         QJsonArray{QJsonObject{{QStringLiteral("reason"), QStringLiteral("why")}}}}};
    const EncoderChoice choice = EncoderChoice::fromJson(json);
    QCOMPARE(describe(choice.candidates), QStringList{QStringLiteral("h264_vaapi@vaapi")});
    QVERIFY(choice.skipped.isEmpty());
}

void TestEncoderChoice::matrixJsonRoundTrip()
{
    QJsonObject json = noGpu();
    json.insert(
        QStringLiteral("devices"),
        QJsonArray{QJsonObject{{QStringLiteral("type"), QStringLiteral("cuda")},
                               {QStringLiteral("ok"), false},
                               {QStringLiteral("hardware"), false},
                               {QStringLiteral("detail"), NoCuda}},
                   QJsonObject{{QStringLiteral("type"), QStringLiteral("vaapi")},
                               {QStringLiteral("ok"), true},
                               {QStringLiteral("hardware"), true},
                               {QStringLiteral("detail"), QStringLiteral("/dev/dri/renderD128")}}});
    const CapabilityMatrix parsed = CapabilityMatrix::fromJson(json);
    QCOMPARE(parsed.probedAt, 1700000000000);
    QCOMPARE(parsed.devices.size(), 2);
    QCOMPARE(parsed.devices[1].type, QStringLiteral("vaapi"));
    QVERIFY(parsed.devices[1].ok);
    QCOMPARE(parsed.encoders.size(), 6);
    const CapabilityMatrix::Encoder *nvenc = parsed.encoder(QStringLiteral("hevc_nvenc"));
    QVERIFY(nvenc);
    QCOMPARE(nvenc->codec, QStringLiteral("hevc"));
    QCOMPARE(nvenc->family, QStringLiteral("nvenc"));
    QCOMPARE(nvenc->device, QStringLiteral("cuda"));
    QCOMPARE(nvenc->detail, NoCuda);
    QVERIFY(!nvenc->ok);
    QVERIFY(!parsed.encoder(QStringLiteral("av1_nvenc")));
    QCOMPARE(parsed.toJson(), json);
}

// "ok" means opened and real hardware: an entry that claims ok for a
// software device is read as not ok.
void TestEncoderChoice::matrixFromJsonNeverCountsSoftwareAsOk()
{
    QJsonObject json = matrix({});
    json.insert(QStringLiteral("devices"),
                QJsonArray{QJsonObject{{QStringLiteral("type"), QStringLiteral("vulkan")},
                                       {QStringLiteral("ok"), true},
                                       {QStringLiteral("hardware"), false},
                                       {QStringLiteral("detail"), QStringLiteral("llvmpipe")}}});
    const CapabilityMatrix parsed = CapabilityMatrix::fromJson(json);
    QCOMPARE(parsed.devices.size(), 1);
    QVERIFY(!parsed.devices[0].ok);
    QVERIFY(!parsed.devices[0].hardware);
}

QTEST_GUILESS_MAIN(TestEncoderChoice)
#include "tst_encoderchoice.moc"
