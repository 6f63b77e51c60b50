#pragma once

#include "expected.h"
#include "jobs/jobspec.h"

#include <QCommandLineParser>
#include <QList>
#include <QPair>
#include <QSqlDatabase>

// What `jobs submit FILE --preset P ...` asks for, read from the command
// line, and the job spec it makes once the store's roots are known.
struct JobSubmission {
    QString input; // absolute
    QString preset;
    QList<QPair<QString, QString>> overrides; // --set key=value
    QString priority;                         // --priority, checked by the spec
    QString outputDirectory;                  // empty: the first output root
    QString name;                             // empty: the input's file name

    // Usage errors (Failure::code CtlOutput::Usage) for what is missing or
    // malformed on the command line itself.
    static Expected<JobSubmission> fromCommandLine(const QString &file,
                                                   const QCommandLineParser &parser);
    // The preset with the overrides, the input and the output, validated;
    // then checked against the roots. A spec the preset and overrides cannot
    // make is a usage error; paths outside the roots are not.
    Expected<JobSpec> compose(QSqlDatabase db) const;
    QString jobName() const;

    // The output file's default name: the input's base name with the
    // container's extension ("clip.mov" -> "clip.mp4"), "-<preset>" added
    // when that would be the input itself.
    static QString defaultOutputName(const QString &input, const QString &outputDirectory,
                                     const QString &preset, JobSpec::Container container);
};
