#include "jobpurge.h"

#include "farmroots.h"

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("JobPurge", text); }

enum class Entry { Missing, RegularFile, Link, Other };

// lstat: a link is never followed to what it points at.
Entry entryAt(const QString &path)
{
    struct stat st {};
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0)
        return Entry::Missing;
    if (S_ISLNK(st.st_mode))
        return Entry::Link;
    return S_ISREG(st.st_mode) ? Entry::RegularFile : Entry::Other;
}

Expected<void> unlinkFile(const QString &path)
{
    if (::unlink(QFile::encodeName(path).constData()) == 0 || errno == ENOENT)
        return {};
    return fail(tr("cannot remove %1: %2; the job was not purged")
                    .arg(path, QString::fromLocal8Bit(std::strerror(errno))));
}

// The output file to remove, or why it stays.
Expected<QString> removableOutput(QSqlDatabase db, const Job &job)
{
    if (job.outputRemovedAt)
        return fail(tr("removed by retention already; a file there now is not the job's"));
    switch (entryAt(job.outputPath)) {
    case Entry::Missing:
        return fail(tr("no longer there"));
    case Entry::Link:
        return fail(tr("a symbolic link now, not the file the job wrote"));
    case Entry::Other:
        return fail(tr("not a regular file"));
    case Entry::RegularFile:
        break;
    }
    Expected<QStringList> roots = FarmRoots::list(db, FarmRoots::Kind::Output);
    if (!roots)
        return roots.failure();
    Expected<QString> inside =
        FarmRoots::resolveInside(job.outputPath, roots.value(), FarmRoots::Kind::Output);
    // A directory on the way replaced by a link leads somewhere else.
    if (inside && inside.value() != job.outputPath)
        return fail(
            tr("the path now leads to %1, not to the file the job wrote").arg(inside.value()));
    return inside;
}

// <store dir>/uploads/<id> for a job whose input was uploaded to the engine.
QString uploadOf(const QString &uploadsDirectory, const Job &job)
{
    static const QRegularExpression shape(QStringLiteral("^upl_[0-9A-Za-z]{24}$"));
    const QString upload = job.spec.value(QLatin1StringView("input"))
                               .toObject()
                               .value(QLatin1StringView("upload"))
                               .toString();
    if (!shape.match(upload).hasMatch())
        return {};
    return uploadsDirectory + u'/' + upload;
}
} // namespace

Expected<JobPurge::Result> JobPurge::run(QSqlDatabase db, const QString &uploadsDirectory,
                                         const JobQueue &queue, qint64 id, const QString &actor,
                                         qint64 now)
{
    Expected<Job> job = queue.find(db, id);
    if (!job)
        return job.failure();
    // Checked here as well as in the queue: the files go first.
    if (!job->isFinal())
        return fail(tr("job %1 is %2; only a finished job can be purged (cancel it first)")
                        .arg(id)
                        .arg(Job::stateName(job->state)),
                    JobQueue::WrongState);
    Result result;
    if (!job->outputPath.isEmpty()) {
        Expected<QString> output = removableOutput(db, job.value());
        if (!output) {
            result.kept << job->outputPath + QStringLiteral(": ") + output.error();
        } else {
            Expected<void> removed = unlinkFile(output.value());
            if (!removed)
                return removed.failure();
            result.removed << output.value();
        }
    }
    const QString upload = uploadOf(uploadsDirectory, job.value());
    if (!upload.isEmpty() && entryAt(upload) == Entry::RegularFile) {
        Expected<void> removed = unlinkFile(upload);
        if (!removed)
            return removed.failure();
        result.removed << upload;
    }
    Expected<void> purged = queue.purge(db, id, actor, now, result.removed);
    if (!purged)
        return purged.failure();
    return result;
}
