#pragma once

#include "expected.h"

#include <QString>
#include <QStringList>

// The worker's own confinement, applied before it reads a byte of input and
// irreversible: PR_SET_NO_NEW_PRIVS, rlimits (address space, CPU time, file
// size, open files; core dumps off), Landlock restricting the file system to
// `readPaths`/`writePaths` (the kernel's ABI detected; without Landlock a
// warning is reported and the rest still applies), and a seccomp filter
// that kills the process on socket, connect, execve, ptrace and the other
// calls an encoder never needs.
//
// Descriptors opened before apply() (stdin, stdout, the job's input and
// output) keep working: Landlock checks paths when they are opened.
struct SandboxPolicy {
    qint64 addressSpaceBytes = 0; // 0: unlimited; never applied under AddressSanitizer
    qint64 cpuSeconds = 0;        // 0: unlimited; SIGXCPU at the limit, SIGKILL 5 s later
    qint64 fileSizeBytes = 0;     // 0: unlimited; a write past it fails with EFBIG
    int openFiles = 64;
    // Read and execute, recursively for directories: libraries and driver
    // files hardware encoding needs.
    QStringList readPaths;
    // Read and write of what exists there (device nodes: /dev/dri,
    // /dev/nvidia*); nothing can be created, removed or renamed.
    QStringList writePaths;

    // Libraries, driver directories and GPU device nodes that exist here.
    // Never the user's files: /home, /root, /tmp, /etc/passwd stay closed.
    static SandboxPolicy forEncoding();
};

struct SandboxReport {
    int landlockAbi = 0; // 0: Landlock unavailable
    QString warning;     // set when a layer could not be applied (Landlock missing)
};

namespace Sandbox {
// Must run while the process has a single thread (Landlock confines only
// the calling thread); refuses otherwise.
Expected<SandboxReport> apply(const SandboxPolicy &policy);
} // namespace Sandbox
