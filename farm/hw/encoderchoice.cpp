#include "encoderchoice.h"

#include <QCoreApplication>
#include <QJsonArray>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("EncoderChoice", text); }

struct Family {
    JobSpec::Hardware hardware;
    const char *name;   // encoder name suffix
    const char *device; // hardware device type it opens
};

// Best first: NVENC is the fastest where present, Quick Sync beats plain
// VA-API on the same Intel GPU.
constexpr Family Families[] = {
    {JobSpec::Hardware::Nvenc, "nvenc", "cuda"},
    {JobSpec::Hardware::Qsv, "qsv", "qsv"},
    {JobSpec::Hardware::Vaapi, "vaapi", "vaapi"},
};

// Adds the family's encoder for `codec` as a candidate, or says why not.
// `listMissing`: a named family reports an encoder this FFmpeg lacks;
// "auto" only looks at what the probe found.
void consider(EncoderChoice &choice, const Family &family, const QString &codec,
              const CapabilityMatrix &matrix, bool nvencAvailable, bool listMissing)
{
    const QString name = codec + u'_' + QLatin1StringView(family.name);
    const CapabilityMatrix::Encoder *entry = matrix.encoder(name);
    if (!entry) {
        if (listMissing) {
            const bool probed = matrix.probedAt != 0 || !matrix.encoders.isEmpty();
            choice.skipped.append({name, probed ? tr("this FFmpeg build has no such encoder")
                                                : tr("the hardware probe has not run")});
        }
        return;
    }
    if (!entry->ok) {
        choice.skipped.append({name, entry->detail.isEmpty()
                                         ? tr("did not open in the hardware probe")
                                         : entry->detail});
        return;
    }
    if (family.hardware == JobSpec::Hardware::Nvenc && !nvencAvailable) {
        choice.skipped.append(
            {name, tr("every NVENC session on this GPU is in use (limit reached)")});
        return;
    }
    const QString device =
        entry->device.isEmpty() ? QString::fromLatin1(family.device) : entry->device;
    choice.candidates.append({name, device, true});
}
} // namespace

EncoderChoice EncoderChoice::choose(JobSpec::VideoCodec codec, JobSpec::Hardware preference,
                                    const CapabilityMatrix &matrix, bool nvencAvailable)
{
    EncoderChoice choice;
    if (codec == JobSpec::VideoCodec::Copy || codec == JobSpec::VideoCodec::None)
        return choice; // nothing encodes
    // The spec's codec names are FFmpeg's, as the probe records them.
    const QString codecText = JobSpec::videoCodecName(codec);

    for (const Family &family : Families) {
        if (preference == JobSpec::Hardware::Auto)
            consider(choice, family, codecText, matrix, nvencAvailable, false);
        else if (preference == family.hardware)
            consider(choice, family, codecText, matrix, nvencAvailable, true);
    }
    choice.candidates.append({softwareEncoder(codec), QString(), false});
    return choice;
}

QString EncoderChoice::softwareEncoder(JobSpec::VideoCodec codec)
{
    switch (codec) {
    case JobSpec::VideoCodec::H264:
        return QStringLiteral("libx264");
    case JobSpec::VideoCodec::Hevc:
        return QStringLiteral("libx265");
    case JobSpec::VideoCodec::Av1:
        return QStringLiteral("libsvtav1");
    case JobSpec::VideoCodec::Vp9:
        return QStringLiteral("libvpx-vp9");
    case JobSpec::VideoCodec::Copy:
    case JobSpec::VideoCodec::None:
        break;
    }
    return {};
}

QJsonObject EncoderChoice::toJson() const
{
    QJsonArray candidateArray;
    for (const Candidate &c : candidates) {
        candidateArray.append(QJsonObject{{QStringLiteral("encoder"), c.encoder},
                                          {QStringLiteral("device"), c.device},
                                          {QStringLiteral("hardware"), c.hardware}});
    }
    QJsonArray skippedArray;
    for (const Skipped &s : skipped) {
        skippedArray.append(QJsonObject{{QStringLiteral("encoder"), s.encoder},
                                        {QStringLiteral("reason"), s.reason}});
    }
    return QJsonObject{{QStringLiteral("candidates"), candidateArray},
                       {QStringLiteral("skipped"), skippedArray}};
}

// Lenient like CapabilityMatrix::fromJson: an entry without an encoder name
// is dropped; the worker confirms every candidate by opening it anyway.
EncoderChoice EncoderChoice::fromJson(const QJsonObject &json)
{
    EncoderChoice choice;
    const QJsonArray candidateArray = json.value(QLatin1StringView("candidates")).toArray();
    for (const QJsonValue &value : candidateArray) {
        const QJsonObject o = value.toObject();
        Candidate c;
        c.encoder = o.value(QLatin1StringView("encoder")).toString();
        if (c.encoder.isEmpty())
            continue;
        c.device = o.value(QLatin1StringView("device")).toString();
        c.hardware = o.value(QLatin1StringView("hardware")).toBool();
        choice.candidates.append(c);
    }
    const QJsonArray skippedArray = json.value(QLatin1StringView("skipped")).toArray();
    for (const QJsonValue &value : skippedArray) {
        const QJsonObject o = value.toObject();
        Skipped s;
        s.encoder = o.value(QLatin1StringView("encoder")).toString();
        if (s.encoder.isEmpty())
            continue;
        s.reason = o.value(QLatin1StringView("reason")).toString();
        choice.skipped.append(s);
    }
    return choice;
}
