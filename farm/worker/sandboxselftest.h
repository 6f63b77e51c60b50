#pragma once

// Test-only mode: applies the encoding sandbox, prints
// "sandbox applied landlock_abi=N" (and "sandbox warning: ..." when a layer
// is missing), then does one thing:
//   socket, execve, ptrace, unshare, clone-newuser   forbidden: end in SIGSYS
//   socket-unix                   refused with EACCES: prints "denied: ..", exit 3
//   thread                        starts a thread: "thread ok", exit 0
//   limits                        prints key=value lines: status.NoNewPrivs,
//                                 status.Seccomp, prctl.no_new_privs,
//                                 prctl.dumpable, rlimit.core, rlimit.nofile
//   read:/path, write:/path       opens the path: "read ok"/"write ok" and exit 0,
//                                 or "denied: <error>" and exit 3
// A forbidden call that was let through prints "allowed: .." and exits 0.
// Anything else: exit 2 without applying the sandbox; a sandbox that could
// not be applied: exit 1.
namespace SandboxSelfTest {
int run(const char *what);
}
