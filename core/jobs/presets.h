#pragma once

#include "expected.h"
#include "jobspec.h"

#include <QJsonObject>
#include <QStringList>

// Shipped presets (resources/presets/<name>.json, compiled in): partial job
// specs. A preset plus overrides plus input/output makes a full spec.
namespace Presets {
QStringList names();
// The preset's JSON (partial spec); a failure names the known presets.
Expected<QJsonObject> find(const QString &name);
// Merges `overrides` (dotted paths from --set key=value, e.g.
// {"video.crf": "20", "audio.codec": "opus"}; values parsed as JSON where
// they parse, else taken as strings) into the preset, then adds
// input/output, and validates the result with JobSpec::fromJson.
// Errors name the override or field at fault.
Expected<JobSpec> compose(const QString &preset, const QList<QPair<QString, QString>> &overrides,
                          const QJsonObject &input, const QJsonObject &output);
} // namespace Presets
