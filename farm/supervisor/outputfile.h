#pragma once

#include "expected.h"

#include <QString>

// A job's output while it is being written: a hidden temporary file in the
// output directory (".<name>.fh-<job uuid>-<attempt>.part"), created
// exclusively and handed to the worker as a descriptor. commit() renames it
// to the final name and syncs the directory, so a reader never sees a
// half-written output; anything else removes it. All names are resolved
// against the directory's descriptor, so a symlink swapped into the path
// after the root check cannot redirect the write.
class OutputFile {
public:
    OutputFile() = default;
    ~OutputFile();
    OutputFile(const OutputFile &) = delete;
    OutputFile &operator=(const OutputFile &) = delete;

    // Also removes leftovers of earlier attempts of the same job.
    Expected<void> create(const QString &directory, const QString &name, const QString &jobUuid,
                          int attempt);
    int fd() const { return m_fd; }
    // fsync, rename over the final name, fsync the directory. Returns the
    // final path.
    Expected<QString> commit();
    void discard();
    // Removes a committed output again (the job was cancelled meanwhile).
    void removeCommitted();

    // Temporary files of one job left by an engine that was killed.
    static void removeLeftovers(int directoryFd, const QString &jobUuid);

private:
    int m_dirFd = -1;
    int m_fd = -1;
    QString m_directory;
    QString m_name;
    QString m_temporary;
    bool m_committed = false;
};
