#include "sandboxselftest.h"

#include "sandbox.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {
// What a forbidden call that was let through prints: the test then sees a
// normal exit where it expected SIGSYS or a denial.
int allowed(const char *what)
{
    std::printf("allowed: %s\n", what);
    return 0;
}

// A call the sandbox answers with an error rather than a kill.
int denied(int error)
{
    std::printf("denied: %s\n", std::strerror(error));
    return 3;
}

int openPath(const char *path, int flags, const char *success)
{
    const int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd < 0)
        return denied(errno);
    close(fd);
    std::printf("%s\n", success);
    return 0;
}

void printLimit(const char *name, int resource)
{
    rlimit limit{};
    if (getrlimit(resource, &limit) != 0) {
        std::printf("rlimit.%s=error %s\n", name, std::strerror(errno));
        return;
    }
    const auto text = [](rlim_t v) {
        return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
    };
    std::printf("rlimit.%s=%s/%s\n", name, text(limit.rlim_cur).c_str(),
                text(limit.rlim_max).c_str());
}

// The kernel's own view, read after the sandbox is in place (which also
// shows that /proc/self stays readable), plus the limits.
int printLimits()
{
    if (FILE *status = std::fopen("/proc/self/status", "re")) {
        char line[256];
        while (std::fgets(line, sizeof line, status)) {
            std::string_view text(line);
            for (const std::string_view key : {"NoNewPrivs:", "Seccomp:"}) {
                if (text.starts_with(key)) {
                    std::string value(text.substr(key.size()));
                    value.erase(0, value.find_first_not_of(" \t"));
                    value.erase(value.find_last_not_of(" \t\n") + 1);
                    std::printf("status.%.*s=%s\n", int(key.size() - 1), key.data(), value.c_str());
                }
            }
        }
        std::fclose(status);
    } else {
        std::printf("status.error=%s\n", std::strerror(errno));
    }
    std::printf("prctl.no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    std::printf("prctl.dumpable=%d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    printLimit("core", RLIMIT_CORE);
    printLimit("nofile", RLIMIT_NOFILE);
    return 0;
}

int tryThread()
{
    bool ran = false;
    std::thread thread([&ran] { ran = true; });
    thread.join();
    std::puts(ran ? "thread ok" : "thread did not run");
    return ran ? 0 : 1;
}

int tryCloneNewUser()
{
    const long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return denied(errno);
    return allowed("clone(CLONE_NEWUSER)");
}

int tryForbidden(std::string_view what)
{
    if (what == "socket") {
        if (socket(AF_INET, SOCK_STREAM, 0) < 0)
            return denied(errno);
        return allowed("socket(AF_INET)");
    }
    if (what == "socket-unix") {
        if (socket(AF_UNIX, SOCK_STREAM, 0) < 0)
            return denied(errno);
        return allowed("socket(AF_UNIX)");
    }
    if (what == "execve") {
        char program[] = "/bin/true";
        char *const argv[] = {program, nullptr};
        char *const envp[] = {nullptr};
        execve(program, argv, envp);
        return denied(errno);
    }
    if (what == "ptrace") {
        if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0)
            return denied(errno);
        return allowed("ptrace(PTRACE_TRACEME)");
    }
    if (what == "unshare") {
        if (unshare(CLONE_NEWUSER) != 0)
            return denied(errno);
        return allowed("unshare(CLONE_NEWUSER)");
    }
    if (what == "clone-newuser")
        return tryCloneNewUser();
    if (what == "thread")
        return tryThread();
    if (what == "limits")
        return printLimits();
    if (what.starts_with("read:"))
        return openPath(std::string(what.substr(5)).c_str(), O_RDONLY, "read ok");
    if (what.starts_with("write:"))
        return openPath(std::string(what.substr(6)).c_str(), O_WRONLY | O_CREAT, "write ok");
    return 2;
}

bool known(std::string_view what)
{
    for (const std::string_view name : {"socket", "socket-unix", "execve", "ptrace", "unshare",
                                        "clone-newuser", "thread", "limits"}) {
        if (what == name)
            return true;
    }
    return (what.starts_with("read:") && what.size() > 5) ||
           (what.starts_with("write:") && what.size() > 6);
}
} // namespace

int SandboxSelfTest::run(const char *what)
{
    if (!known(what)) {
        std::fprintf(stderr, "unknown self-test: %s\n", what);
        return 2;
    }
    const auto report = Sandbox::apply(SandboxPolicy::forEncoding());
    if (!report) {
        std::printf("sandbox failed: %s\n", report.error().toLocal8Bit().constData());
        return 1;
    }
    std::printf("sandbox applied landlock_abi=%d\n", report->landlockAbi);
    if (!report->warning.isEmpty())
        std::printf("sandbox warning: %s\n", report->warning.toLocal8Bit().constData());
    // A call killed by seccomp takes unflushed output with it.
    std::fflush(stdout);
    const int status = tryForbidden(what);
    std::fflush(stdout);
    return status;
}
