#include "workerrequest.h"

#include <QCoreApplication>
#include <QJsonArray>

#include <cmath>
#include <optional>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("WorkerRequest", text); }

const QLatin1StringView VersionKey("v");
const QLatin1StringView JobKey("job");
const QLatin1StringView SpecKey("spec");
const QLatin1StringView InputFdKey("input_fd");
const QLatin1StringView OutputFdKey("output_fd");
const QLatin1StringView EncodersKey("encoders");
const QLatin1StringView LimitsKey("limits");
const QLatin1StringView AddressSpaceKey("address_space_mb");
const QLatin1StringView CpuKey("cpu_s");
const QLatin1StringView FileSizeKey("file_size_mb");
const QLatin1StringView OpenFilesKey("open_files");

// The largest integer a JSON number carries exactly.
constexpr qint64 MaxExact = 9007199254740992LL;

QString unknownField(const QJsonObject &object, std::initializer_list<QLatin1StringView> known,
                     const QString &where)
{
    for (auto it = object.constBegin(); it != object.constEnd(); ++it) {
        bool found = false;
        for (QLatin1StringView name : known)
            found = found || it.key() == name;
        if (!found)
            return where.isEmpty() ? tr("unknown field \"%1\"").arg(it.key())
                                   : tr("%1: unknown field \"%2\"").arg(where, it.key());
    }
    return {};
}

// An integer field in [min, max]; `error` set (naming `path`) otherwise.
std::optional<qint64> integer(const QJsonValue &value, const QString &path, qint64 min, qint64 max,
                              QString *error)
{
    const double d = value.toDouble();
    if (!value.isDouble() || !std::isfinite(d) || d != std::floor(d) || d < double(min) ||
        d > double(max)) {
        *error = tr("%1: must be an integer from %2 to %3").arg(path).arg(min).arg(max);
        return std::nullopt;
    }
    return qint64(d);
}
// The EncoderChoice shape, field by field: its own parser is lenient.
QString checkEncoders(const QJsonValue &value)
{
    if (!value.isObject())
        return tr("encoders: must be an object");
    const QJsonObject encoders = value.toObject();
    const QLatin1StringView candidates("candidates");
    const QLatin1StringView skipped("skipped");
    QString error = unknownField(encoders, {candidates, skipped}, EncodersKey);
    if (!error.isEmpty())
        return error;
    struct List {
        QLatin1StringView key;
        std::initializer_list<QLatin1StringView> fields;
    };
    const QLatin1StringView encoder("encoder");
    const QLatin1StringView device("device");
    const QLatin1StringView hardware("hardware");
    const QLatin1StringView reason("reason");
    for (const List &list :
         {List{candidates, {encoder, device, hardware}}, List{skipped, {encoder, reason}}}) {
        const QString where = QString(EncodersKey) + u'.' + QString(list.key);
        if (!encoders.contains(list.key))
            continue;
        if (!encoders.value(list.key).isArray())
            return tr("%1: must be an array").arg(where);
        const QJsonArray entries = encoders.value(list.key).toArray();
        for (qsizetype i = 0; i < entries.size(); ++i) {
            const QString at = QStringLiteral("%1[%2]").arg(where).arg(i);
            if (!entries.at(i).isObject())
                return tr("%1: must be an object").arg(at);
            const QJsonObject entry = entries.at(i).toObject();
            error = unknownField(entry, list.fields, at);
            if (!error.isEmpty())
                return error;
            for (QLatin1StringView field : list.fields) {
                const QJsonValue v = entry.value(field);
                const bool ok = field == hardware ? v.isBool() : v.isString();
                if (!ok)
                    return tr("%1.%2: must be %3")
                        .arg(at, QString(field),
                             field == hardware ? tr("true or false") : tr("a string"));
            }
        }
    }
    return {};
}
} // namespace

QJsonObject WorkerRequest::toJson() const
{
    return {{VersionKey, Version},
            {JobKey, job},
            {SpecKey, spec.toJson()},
            {InputFdKey, inputFd},
            {OutputFdKey, outputFd},
            {EncodersKey, encoders.toJson()},
            {LimitsKey, QJsonObject{{AddressSpaceKey, addressSpaceMb},
                                    {CpuKey, cpuSeconds},
                                    {FileSizeKey, fileSizeMb},
                                    {OpenFilesKey, openFiles}}}};
}

Expected<WorkerRequest> WorkerRequest::fromJson(const QJsonObject &json)
{
    QString error = unknownField(
        json, {VersionKey, JobKey, SpecKey, InputFdKey, OutputFdKey, EncodersKey, LimitsKey}, {});
    if (!error.isEmpty())
        return fail(error);
    for (QLatin1StringView required :
         {VersionKey, JobKey, SpecKey, InputFdKey, OutputFdKey, EncodersKey})
        if (!json.contains(required))
            return fail(tr("the field \"%1\" is missing").arg(required));

    const QJsonValue version = json.value(VersionKey);
    if (!version.isDouble() || version.toDouble() != Version)
        return fail(
            tr("v: unsupported request version (this worker speaks version %1)").arg(Version));

    WorkerRequest request;
    std::optional<qint64> value = integer(json.value(JobKey), JobKey, 1, MaxExact, &error);
    if (!value)
        return fail(error);
    request.job = *value;

    if (!json.value(SpecKey).isObject())
        return fail(tr("spec: must be an object"));
    Expected<JobSpec> spec = JobSpec::fromJson(json.value(SpecKey).toObject());
    if (!spec)
        return fail(tr("spec: %1").arg(spec.error()));
    request.spec = std::move(spec).value();

    // 0-2 are the standard streams; the descriptors come above them.
    value = integer(json.value(InputFdKey), InputFdKey, 3, 1023, &error);
    if (!value)
        return fail(error);
    request.inputFd = int(*value);
    value = integer(json.value(OutputFdKey), OutputFdKey, 3, 1023, &error);
    if (!value)
        return fail(error);
    request.outputFd = int(*value);
    if (request.inputFd == request.outputFd)
        return fail(tr("output_fd: must differ from input_fd"));

    error = checkEncoders(json.value(EncodersKey));
    if (!error.isEmpty())
        return fail(error);
    request.encoders = EncoderChoice::fromJson(json.value(EncodersKey).toObject());
    const JobSpec::VideoCodec codec = request.spec.videoCodec;
    const bool encodesVideo =
        codec != JobSpec::VideoCodec::Copy && codec != JobSpec::VideoCodec::None;
    if (encodesVideo && request.encoders.candidates.isEmpty())
        return fail(tr("encoders: no candidate encoder for the video codec \"%1\"")
                        .arg(JobSpec::videoCodecName(codec)));
    for (qsizetype i = 0; i < request.encoders.candidates.size(); ++i) {
        const EncoderChoice::Candidate &candidate = request.encoders.candidates.at(i);
        if (candidate.encoder.isEmpty())
            return fail(tr("encoders.candidates[%1]: the encoder name is empty").arg(i));
        if (candidate.hardware && candidate.device.isEmpty())
            return fail(tr("encoders.candidates[%1]: a hardware encoder needs a device").arg(i));
    }

    if (json.contains(LimitsKey)) {
        if (!json.value(LimitsKey).isObject())
            return fail(tr("limits: must be an object"));
        const QJsonObject limits = json.value(LimitsKey).toObject();
        error =
            unknownField(limits, {AddressSpaceKey, CpuKey, FileSizeKey, OpenFilesKey}, LimitsKey);
        if (!error.isEmpty())
            return fail(error);
        qint64 openFiles = request.openFiles;
        struct Limit {
            QLatin1StringView key;
            qint64 min;
            qint64 max;
            qint64 *target;
        };
        const Limit table[] = {{AddressSpaceKey, 0, qint64(1) << 30, &request.addressSpaceMb},
                               {CpuKey, 0, qint64(1) << 40, &request.cpuSeconds},
                               {FileSizeKey, 0, qint64(1) << 30, &request.fileSizeMb},
                               {OpenFilesKey, 16, 65536, &openFiles}};
        for (const Limit &limit : table) {
            if (!limits.contains(limit.key))
                continue;
            value = integer(limits.value(limit.key), QString(LimitsKey) + u'.' + QString(limit.key),
                            limit.min, limit.max, &error);
            if (!value)
                return fail(error);
            *limit.target = *value;
        }
        request.openFiles = int(openFiles);
    }
    return request;
}
