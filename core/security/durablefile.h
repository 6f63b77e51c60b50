#pragma once

#include "expected.h"

#include <QByteArray>
#include <QString>

// Crash-safe file updates: write a temporary file beside the target, fsync
// it, rename it over the target and fsync the directory, so that after a
// crash the target holds either the old or the new content, never a mix.
namespace DurableFile {
Expected<void> replace(const QString &path, const QByteArray &content, unsigned mode);
Expected<void> rename(const QString &from, const QString &to);
Expected<void> remove(const QString &path);
Expected<void> syncFile(const QString &path);
Expected<void> syncDirectory(const QString &dir);
// Creates the directory (mode 0700) if needed; an existing one that group or
// others can access is refused.
Expected<void> ensurePrivateDirectory(const QString &dir);
} // namespace DurableFile
