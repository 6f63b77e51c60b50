#include "presets.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>

// At file scope: Q_INIT_RESOURCE declares the generated initialiser, which
// lives in the global namespace. Registering explicitly works however the
// static library is linked, and a build that lost the presets fails to link
// instead of finding none. Registering twice is harmless.
static void registerPresetResources() { Q_INIT_RESOURCE(presets); }

namespace {
QString tr(const char *text) { return QCoreApplication::translate("Presets", text); }

QString presetDirectory()
{
    static const bool registered = (registerPresetResources(), true);
    Q_UNUSED(registered);
    return QStringLiteral(":/framehouse/presets");
}

// Only a preset file may describe itself; the spec has no such field.
constexpr QLatin1StringView descriptionKey("description");

struct Override {
    QString path;
    QJsonValue value;
};

// "20" is the number 20 and "opus" the string "opus"; "null" takes the
// setting out, back to the spec's default. QJsonDocument reads only arrays
// and objects at the top, so the text is read as a one-element array.
QJsonValue parseValue(const QString &text)
{
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson('[' + text.toUtf8() + ']', &error);
    if (error.error == QJsonParseError::NoError && doc.array().size() == 1)
        return doc.array().first();
    return text;
}

// The leaves a preset may set; input and output come from the job itself.
bool isSettable(const QString &path)
{
    return JobSpec::fieldPaths().contains(path) && !path.startsWith(QLatin1StringView("input.")) &&
           !path.startsWith(QLatin1StringView("output."));
}

QStringList settablePaths()
{
    QStringList paths = JobSpec::fieldPaths();
    paths.removeIf([](const QString &path) { return !isSettable(path); });
    return paths;
}

void setAt(QJsonObject &spec, const QString &path, const QJsonValue &value)
{
    const qsizetype dot = path.indexOf(u'.');
    if (dot < 0) {
        if (value.isNull())
            spec.remove(path);
        else
            spec.insert(path, value);
        return;
    }
    const QString section = path.left(dot);
    QJsonObject object = spec.value(section).toObject();
    setAt(object, path.mid(dot + 1), value);
    spec.insert(section, object);
}

void removeAt(QJsonObject &spec, const QString &section, const QStringList &keys)
{
    if (!spec.value(section).isObject())
        return;
    QJsonObject object = spec.value(section).toObject();
    for (const QString &key : keys)
        object.remove(key);
    spec.insert(section, object);
}

// An override that replaces a preset setting takes out the preset's settings
// it excludes: "--set video.bitrate_kbps=3000" on a CRF preset needs no
// "--set video.crf=null". Settings given as overrides are never taken out,
// so two that conflict are reported.
void dropExcluded(QJsonObject &preset, const Override &o)
{
    if (o.value.isNull())
        return;
    const QStringList passThrough{QStringLiteral("copy"), QStringLiteral("none")};
    const bool passes = o.value.isString() && passThrough.contains(o.value.toString());
    const QString video = QStringLiteral("video");
    if (o.path == u"video.crf")
        removeAt(preset, video, {QStringLiteral("bitrate_kbps")});
    else if (o.path == u"video.bitrate_kbps")
        removeAt(preset, video, {QStringLiteral("crf")});
    else if (o.path == u"video.codec" && passes)
        removeAt(preset, video,
                 {QStringLiteral("crf"), QStringLiteral("bitrate_kbps"), QStringLiteral("speed"),
                  QStringLiteral("max_width"), QStringLiteral("max_height"), QStringLiteral("fps"),
                  QStringLiteral("pixel_format")});
    else if (o.path == u"audio.codec" && passes)
        removeAt(preset, QStringLiteral("audio"), {QStringLiteral("bitrate_kbps")});
}

// The spec names the field at fault; when an override set it, say so.
QString blame(const QString &error, const QList<Override> &overrides)
{
    const QString path = error.left(error.indexOf(QStringLiteral(": ")));
    for (const Override &o : overrides) {
        if (o.path == path)
            return QStringLiteral("--set ") + error;
    }
    return error;
}
} // namespace

QStringList Presets::names()
{
    QStringList names;
    const QDir dir(presetDirectory());
    for (const QString &file : dir.entryList({QStringLiteral("*.json")}, QDir::Files, QDir::Name))
        names.append(file.chopped(5));
    return names;
}

Expected<QJsonObject> Presets::find(const QString &name)
{
    const QStringList known = names();
    if (!known.contains(name))
        return fail(tr("unknown preset \"%1\" (known presets: %2)")
                        .arg(name, known.join(QStringLiteral(", "))));
    QFile file(QDir(presetDirectory()).filePath(name + QStringLiteral(".json")));
    if (!file.open(QIODevice::ReadOnly))
        return fail(tr("cannot read preset \"%1\": %2").arg(name, file.errorString()));
    QJsonParseError error{};
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    if (error.error != QJsonParseError::NoError || !doc.isObject())
        return fail(tr("preset \"%1\" is not a JSON object: %2").arg(name, error.errorString()));
    return doc.object();
}

Expected<JobSpec> Presets::compose(const QString &preset,
                                   const QList<QPair<QString, QString>> &overrides,
                                   const QJsonObject &input, const QJsonObject &output)
{
    Expected<QJsonObject> found = find(preset);
    if (!found)
        return found.failure();
    QJsonObject spec = std::move(found).value();
    spec.remove(descriptionKey);

    QList<Override> parsed;
    for (const auto &[path, text] : overrides) {
        if (!isSettable(path)) {
            const QString reason =
                JobSpec::fieldPaths().contains(path)
                    ? tr("the input and output are given with the job, not as preset settings")
                    : tr("unknown field (fields a preset can set: %1)")
                          .arg(settablePaths().join(QStringLiteral(", ")));
            return fail(QStringLiteral("--set ") + path + QStringLiteral(": ") + reason);
        }
        parsed.append({path, parseValue(text)});
    }
    for (const Override &o : parsed)
        dropExcluded(spec, o);
    for (const Override &o : parsed)
        setAt(spec, o.path, o.value);
    spec.insert(QStringLiteral("input"), input);
    spec.insert(QStringLiteral("output"), output);

    Expected<JobSpec> result = JobSpec::fromJson(spec);
    if (!result)
        return fail(blame(result.error(), parsed));
    return result;
}
