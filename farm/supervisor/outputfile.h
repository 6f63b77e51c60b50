#pragma once

#include "expected.h"

#include <QString>
#include <QStringList>

// A job's output while it is being written: a hidden temporary file in the
// output directory (".<name>.fh-<job uuid>-<attempt token>.part"), created
// exclusively and handed to the worker as a descriptor. commit() renames it
// to the final name and syncs the directory, so a reader never sees a
// half-written output; anything else removes it.
//
// The directory is opened once and checked by what the descriptor really
// is (/proc/self/fd), not by its name, so a symlink swapped into the path
// after the submission's check cannot send the write outside the output
// roots; every later step works relative to that descriptor. commit() never
// replaces a file that this job did not write (each output carries the
// job's uuid in the extended attribute user.framehouse.job): an attempt
// repeated after a crash may replace its own output, nothing else.
class OutputFile {
public:
    OutputFile() = default;
    ~OutputFile();
    OutputFile(const OutputFile &) = delete;
    OutputFile &operator=(const OutputFile &) = delete;

    // Failure::code of create() when the directory cannot be opened or is
    // not inside an output root: another attempt would fail the same way.
    static constexpr int Refused = 1;

    // Also removes leftovers of earlier attempts of the same job.
    Expected<void> create(const QString &directory, const QStringList &roots, const QString &name,
                          const QString &jobUuid, const QString &token);
    int fd() const { return m_fd; }
    // A fresh temporary file in the same directory (the attempt starts over).
    Expected<void> recreate(const QString &token);
    // fsync, rename to the final name, fsync the directory. Returns the
    // final path; Failure::code EEXIST when another file has the name.
    Expected<QString> commit();
    void discard();
    // Removes a committed output again (the job was cancelled meanwhile).
    void removeCommitted();

    // The path an open descriptor refers to ("" when unknown).
    static QString descriptorPath(int fd);
    static constexpr const char *JobAttribute = "user.framehouse.job";

private:
    void removeLeftovers();

    int m_dirFd = -1;
    int m_fd = -1;
    QString m_directory;
    QString m_name;
    QString m_jobUuid;
    QString m_temporary;
    bool m_committed = false;
};
