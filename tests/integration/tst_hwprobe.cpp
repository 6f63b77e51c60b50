// `framehouse-worker --probe` on whatever machine runs the tests. Nothing
// here assumes there is no GPU: where an encoder opened, the checks turn
// into "it comes first in the choice"; where none did (CI, most developer
// machines), into "each is skipped with its reason and software is left".
#include "hw/capabilitymatrix.h"
#include "hw/encoderchoice.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSet>
#include <QTest>

#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
}

namespace {
const char *const HardwareSuffixes[] = {"_nvenc", "_vaapi", "_qsv"};

// The hardware encoders this FFmpeg has, found the way the probe is meant
// to: encoders for h264/hevc/av1/vp9 whose name ends in a family suffix.
QSet<QString> compiledHardwareEncoders()
{
    QSet<QString> names;
    void *iterator = nullptr;
    while (const AVCodec *codec = av_codec_iterate(&iterator)) {
        if (!av_codec_is_encoder(codec))
            continue;
        if (codec->id != AV_CODEC_ID_H264 && codec->id != AV_CODEC_ID_HEVC &&
            codec->id != AV_CODEC_ID_AV1 && codec->id != AV_CODEC_ID_VP9)
            continue;
        const QString name = QString::fromUtf8(codec->name);
        for (const char *suffix : HardwareSuffixes) {
            if (name.endsWith(QLatin1StringView(suffix)))
                names.insert(name);
        }
    }
    return names;
}

QSet<QString> compiledDeviceTypes()
{
    QSet<QString> types;
    for (AVHWDeviceType t = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE);
         t != AV_HWDEVICE_TYPE_NONE; t = av_hwdevice_iterate_types(t))
        types.insert(QString::fromUtf8(av_hwdevice_get_type_name(t)));
    return types;
}

int kernelLandlockAbi()
{
    const long abi =
        syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? int(abi) : 0;
}

bool namesSoftwareRasteriser(const QString &text)
{
    for (const char *name : {"llvmpipe", "lavapipe", "SwiftShader"}) {
        if (text.contains(QLatin1StringView(name), Qt::CaseInsensitive))
            return true;
    }
    return false;
}
} // namespace

class TestHwProbe : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void lineIsACapabilitiesMessage();
    void probeRanInTheSandbox();
    void everyCompiledHardwareEncoderIsListed();
    void devicesNeverCountSoftware();
    void autoChoiceFollowsTheProbe_data();
    void autoChoiceFollowsTheProbe();
    void matrixRoundTrips();

private:
    QJsonObject m_line;
    CapabilityMatrix m_matrix;
    QString m_stderr;
};

void TestHwProbe::initTestCase()
{
    QProcess worker;
    worker.setProgram(QStringLiteral(FRAMEHOUSE_WORKER_PATH));
    worker.setArguments({QStringLiteral("--probe")});
    worker.start();
    QVERIFY2(worker.waitForStarted(), qPrintable(worker.errorString()));
    worker.closeWriteChannel();
    QVERIFY(worker.waitForFinished(-1));
    const QByteArray out = worker.readAllStandardOutput();
    m_stderr = QString::fromLocal8Bit(worker.readAllStandardError());
    QVERIFY2(worker.exitStatus() == QProcess::NormalExit, qPrintable(m_stderr));
    QVERIFY2(worker.exitCode() == 0, out.constData());

    // Exactly one line: FFmpeg's own messages go to stderr.
    QVERIFY2(out.endsWith('\n') && out.count('\n') == 1, out.constData());
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(out, &error);
    QVERIFY2(error.error == QJsonParseError::NoError && doc.isObject(), out.constData());
    m_line = doc.object();
    m_matrix = CapabilityMatrix::fromJson(m_line);
    qInfo("probe: %lld devices, %lld encoders", qint64(m_matrix.devices.size()),
          qint64(m_matrix.encoders.size()));
}

void TestHwProbe::lineIsACapabilitiesMessage()
{
    QCOMPARE(m_line.value(QStringLiteral("v")).toInt(), 1);
    QCOMPARE(m_line.value(QStringLiteral("type")).toString(), QStringLiteral("capabilities"));
    QVERIFY(m_line.value(QStringLiteral("devices")).isArray());
    QVERIFY(m_line.value(QStringLiteral("encoders")).isArray());
    QVERIFY(m_matrix.probedAt > 1600000000000); // a UTC time in milliseconds
}

// The probe opens drivers inside the same sandbox as a job.
void TestHwProbe::probeRanInTheSandbox()
{
    const QJsonObject sandbox = m_line.value(QStringLiteral("sandbox")).toObject();
    QVERIFY(sandbox.contains(QStringLiteral("landlock_abi")));
    const int abi = kernelLandlockAbi();
    QCOMPARE(sandbox.value(QStringLiteral("landlock_abi")).toInt(-1), abi);
    const QString warning = sandbox.value(QStringLiteral("warning")).toString();
    if (abi > 0)
        QVERIFY2(warning.isEmpty(), qPrintable(warning));
    else
        QVERIFY2(warning.contains(QStringLiteral("Landlock")), qPrintable(warning));
}

void TestHwProbe::everyCompiledHardwareEncoderIsListed()
{
    const QSet<QString> expected = compiledHardwareEncoders();
    // Debian's FFmpeg has NVENC, VA-API and Quick Sync encoders.
    QVERIFY2(!expected.isEmpty(), "this FFmpeg has no hardware encoders to probe");
    QSet<QString> listed;
    for (const CapabilityMatrix::Encoder &e : std::as_const(m_matrix.encoders)) {
        QVERIFY2(!listed.contains(e.name), qPrintable(e.name));
        listed.insert(e.name);
        // The name says codec and family; the family says the device.
        QCOMPARE(e.codec + u'_' + e.family, e.name);
        const QString device =
            e.family == QLatin1StringView("nvenc") ? QStringLiteral("cuda") : e.family;
        QCOMPARE(e.device, device);
        if (e.ok)
            qInfo("%s opened and encoded a frame", qPrintable(e.name));
        else
            QVERIFY2(!e.detail.trimmed().isEmpty(), qPrintable(e.name + u" has no detail"));
    }
    QCOMPARE(listed, expected);
}

void TestHwProbe::devicesNeverCountSoftware()
{
    QSet<QString> types;
    for (const CapabilityMatrix::Device &d : std::as_const(m_matrix.devices))
        types.insert(d.type);
    QCOMPARE(types, compiledDeviceTypes());
    for (const CapabilityMatrix::Device &d : std::as_const(m_matrix.devices)) {
        QVERIFY2(!d.detail.trimmed().isEmpty(), qPrintable(d.type));
        if (d.ok)
            QVERIFY2(d.hardware, qPrintable(d.type));
        if (namesSoftwareRasteriser(d.detail)) {
            qInfo("%s opened on a software rasteriser: %s", qPrintable(d.type),
                  qPrintable(d.detail));
            QVERIFY2(!d.hardware && !d.ok, qPrintable(d.type + u": " + d.detail));
        }
    }
    // The raw JSON too: a software device must not claim ok there either.
    const QJsonArray devices = m_line.value(QStringLiteral("devices")).toArray();
    for (const QJsonValue &v : devices) {
        const QJsonObject d = v.toObject();
        if (d.value(QStringLiteral("ok")).toBool())
            QVERIFY(d.value(QStringLiteral("hardware")).toBool());
    }
}

void TestHwProbe::autoChoiceFollowsTheProbe_data()
{
    QTest::addColumn<int>("codec");
    QTest::addColumn<QString>("codecName");
    QTest::newRow("h264") << int(JobSpec::VideoCodec::H264) << QStringLiteral("h264");
    QTest::newRow("hevc") << int(JobSpec::VideoCodec::Hevc) << QStringLiteral("hevc");
    QTest::newRow("av1") << int(JobSpec::VideoCodec::Av1) << QStringLiteral("av1");
    QTest::newRow("vp9") << int(JobSpec::VideoCodec::Vp9) << QStringLiteral("vp9");
}

// On a machine without a GPU this is "the software encoder only, a reason
// for each hardware encoder"; with one, the encoders that opened come first
// in family order.
void TestHwProbe::autoChoiceFollowsTheProbe()
{
    QFETCH(int, codec);
    QFETCH(QString, codecName);
    const auto videoCodec = JobSpec::VideoCodec(codec);
    const EncoderChoice choice =
        EncoderChoice::choose(videoCodec, JobSpec::Hardware::Auto, m_matrix);

    QStringList expectedHardware;
    QStringList expectedSkipped;
    for (const char *family : {"nvenc", "qsv", "vaapi"}) {
        const QString name = codecName + u'_' + QLatin1StringView(family);
        const CapabilityMatrix::Encoder *entry = m_matrix.encoder(name);
        if (!entry)
            continue;
        (entry->ok ? expectedHardware : expectedSkipped) << name;
    }

    QStringList hardware;
    for (const auto &c : choice.candidates) {
        if (c.hardware)
            hardware << c.encoder;
    }
    QCOMPARE(hardware, expectedHardware);
    if (!expectedHardware.isEmpty())
        QCOMPARE(choice.candidates.first().encoder, expectedHardware.first());
    QCOMPARE(choice.candidates.size(), expectedHardware.size() + 1);
    QCOMPARE(choice.candidates.last().encoder, EncoderChoice::softwareEncoder(videoCodec));
    QVERIFY(!choice.candidates.last().hardware);

    QStringList skipped;
    for (const auto &s : choice.skipped) {
        skipped << s.encoder;
        QVERIFY2(!s.reason.trimmed().isEmpty(), qPrintable(s.encoder));
        QCOMPARE(s.reason, m_matrix.encoder(s.encoder)->detail);
    }
    QCOMPARE(skipped, expectedSkipped);
    if (expectedHardware.isEmpty())
        qInfo("%s: %s only; skipped %s", qPrintable(codecName),
              qPrintable(choice.candidates.last().encoder), qPrintable(skipped.join(u',')));
}

void TestHwProbe::matrixRoundTrips()
{
    const QJsonObject json = m_matrix.toJson();
    QCOMPARE(CapabilityMatrix::fromJson(json).toJson(), json);
    for (const char *key : {"probed_at", "devices", "encoders"})
        QCOMPARE(json.value(QLatin1StringView(key)), m_line.value(QLatin1StringView(key)));
}

QTEST_GUILESS_MAIN(TestHwProbe)
#include "tst_hwprobe.moc"
