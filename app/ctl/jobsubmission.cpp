#include "jobsubmission.h"

#include "ctloutput.h"
#include "jobs/farmroots.h"
#include "jobs/presets.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("JobSubmission", text); }

constexpr JobSpec::Container containers[] = {JobSpec::Container::Mp4, JobSpec::Container::Mkv,
                                             JobSpec::Container::Mov, JobSpec::Container::Webm};

// The container the spec will have, so the output name can carry its
// extension before the spec exists. An unknown name falls back to mp4 and
// is reported by the spec's validation as what it is.
JobSpec::Container containerOf(const QJsonObject &preset,
                               const QList<QPair<QString, QString>> &overrides)
{
    QString name = preset.value(QLatin1StringView("container")).toString();
    for (const auto &[path, value] : overrides) {
        if (path == u"container") {
            const QJsonDocument quoted = QJsonDocument::fromJson('[' + value.toUtf8() + ']');
            name = quoted.isArray() ? quoted.array().first().toString() : value;
        }
    }
    for (const JobSpec::Container c : containers) {
        if (JobSpec::containerName(c) == name)
            return c;
    }
    return JobSpec::Container::Mp4;
}

QString canonicalOrAbsolute(const QString &path)
{
    const QFileInfo info(path);
    const QString canonical = info.canonicalFilePath();
    return canonical.isEmpty() ? info.absoluteFilePath() : canonical;
}
} // namespace

Expected<JobSubmission> JobSubmission::fromCommandLine(const QString &file,
                                                       const QCommandLineParser &parser)
{
    JobSubmission s;
    if (file.isEmpty())
        return fail(tr("jobs submit needs the input FILE"), CtlOutput::Usage);
    s.input = QDir::cleanPath(QFileInfo(file).absoluteFilePath());
    s.preset = parser.value(QStringLiteral("preset"));
    if (s.preset.isEmpty())
        return fail(tr("jobs submit needs --preset P (one of %1)")
                        .arg(Presets::names().join(QStringLiteral(", "))),
                    CtlOutput::Usage);
    for (const QString &setting : parser.values(QStringLiteral("set"))) {
        const qsizetype equals = setting.indexOf(u'=');
        if (equals <= 0)
            return fail(tr("--set takes key=value, like video.crf=20; got \"%1\"").arg(setting),
                        CtlOutput::Usage);
        s.overrides.append({setting.left(equals).trimmed(), setting.mid(equals + 1)});
    }
    if (parser.isSet(QStringLiteral("priority"))) {
        bool ok = false;
        const QString text = parser.value(QStringLiteral("priority"));
        text.toInt(&ok);
        if (!ok)
            return fail(tr("--priority takes a whole number, like 10"), CtlOutput::Usage);
        s.priority = text;
    }
    if (parser.isSet(QStringLiteral("output-dir")))
        s.outputDirectory = QDir::cleanPath(
            QFileInfo(parser.value(QStringLiteral("output-dir"))).absoluteFilePath());
    s.name = parser.value(QStringLiteral("name")).trimmed();
    return s;
}

QString JobSubmission::defaultOutputName(const QString &input, const QString &outputDirectory,
                                         const QString &preset, JobSpec::Container container)
{
    const QFileInfo in(input);
    const QString extension = u'.' + JobSpec::extension(container);
    const QString name = in.completeBaseName() + extension;
    const bool sameDirectory =
        canonicalOrAbsolute(in.absolutePath()) == canonicalOrAbsolute(outputDirectory);
    if (sameDirectory && name == in.fileName())
        return in.completeBaseName() + u'-' + preset + extension;
    return name;
}

Expected<JobSpec> JobSubmission::compose(QSqlDatabase db) const
{
    Expected<QJsonObject> found = Presets::find(preset);
    if (!found)
        return fail(found.error(), CtlOutput::Usage);
    QString directory = outputDirectory;
    if (directory.isEmpty()) {
        Expected<QStringList> roots = FarmRoots::list(db, FarmRoots::Kind::Output);
        if (!roots)
            return roots.failure();
        if (roots->isEmpty())
            return fail(tr("output.directory: no output root is configured; add one with: "
                           "framehousectl farm roots add output DIR"));
        directory = roots->first();
    }
    const QString outputName =
        defaultOutputName(input, directory, preset, containerOf(found.value(), overrides));
    QList<QPair<QString, QString>> settings = overrides;
    const QString priorityPath = QStringLiteral("priority");
    if (!priority.isEmpty())
        settings.append({priorityPath, priority});
    Expected<JobSpec> spec = Presets::compose(
        preset, settings, {{QStringLiteral("path"), input}},
        {{QStringLiteral("directory"), directory}, {QStringLiteral("name"), outputName}});
    if (!spec) {
        // Presets::compose names it as an override; it came from --priority.
        QString error = spec.error();
        const QString asOverride = QStringLiteral("--set ") + priorityPath + u':';
        if (!priority.isEmpty() && error.startsWith(asOverride))
            error = QStringLiteral("--priority:") + error.mid(asOverride.size());
        return fail(error, CtlOutput::Usage);
    }
    Expected<void> allowed = FarmRoots::check(db, spec.value());
    if (!allowed)
        return allowed.failure();
    return spec;
}

QString JobSubmission::jobName() const
{
    return name.isEmpty() ? QFileInfo(input).fileName() : name;
}
