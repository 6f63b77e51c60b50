#include "sandbox.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QScopeGuard>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FH_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FH_ADDRESS_SANITIZER 1
#endif
#endif

#ifdef FH_ADDRESS_SANITIZER
#include <sanitizer/lsan_interface.h>

// LeakSanitizer's end-of-process check stops the world from a helper that
// attaches with ptrace; the seccomp filter kills the helper and the worker
// then spins at exit for ever. An ASAN_OPTIONS in the environment (the
// test presets set detect_leaks=1) overrides this default, so apply() also
// runs the check early, which cancels the one at exit.
extern "C" __attribute__((visibility("default"))) const char *__asan_default_options()
{
    return "detect_leaks=0";
}
#endif

namespace {
QString tr(const char *text) { return QCoreApplication::translate("Sandbox", text); }

// struct landlock_ruleset_attr as of ABI 6; Debian 12's header stops at
// ABI 2. A kernel that knows fewer fields accepts the larger struct as long
// as the fields it does not know are zero.
struct RulesetAttr {
    quint64 handledAccessFs = 0;
    quint64 handledAccessNet = 0;
    quint64 scoped = 0;
};

constexpr quint64 FsAbi1 =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
    LANDLOCK_ACCESS_FS_MAKE_SYM;
constexpr quint64 FsRefer = 1ULL << 13;    // ABI 2
constexpr quint64 FsTruncate = 1ULL << 14; // ABI 3
constexpr quint64 FsIoctlDev = 1ULL << 15; // ABI 5
constexpr quint64 NetBindTcp = 1ULL << 0;  // ABI 4
constexpr quint64 NetConnectTcp = 1ULL << 1;
constexpr quint64 ScopeAbstractUnixSocket = 1ULL << 0; // ABI 6
constexpr quint64 ScopeSignal = 1ULL << 1;

// The rights that apply to a file itself; the kernel refuses the others on
// a rule for anything but a directory.
constexpr quint64 FileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                               LANDLOCK_ACCESS_FS_READ_FILE | FsTruncate | FsIoctlDev;
constexpr quint64 ReadRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// GPU device nodes need ioctl; creating, removing or renaming entries is
// never needed.
constexpr quint64 WriteRights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
                                LANDLOCK_ACCESS_FS_WRITE_FILE | FsTruncate | FsIoctlDev;

// Every file system right the kernel's ABI knows: a right left unhandled
// would stay allowed everywhere.
quint64 handledFsRights(int abi)
{
    quint64 rights = FsAbi1;
    if (abi >= 2)
        rights |= FsRefer;
    if (abi >= 3)
        rights |= FsTruncate;
    if (abi >= 5)
        rights |= FsIoctlDev;
    return rights;
}

QString errnoText(int error) { return qt_error_string(error); }

// Landlock confines only the calling thread and seccomp's thread sync
// cannot cover it, so a second thread would stay unconfined.
Expected<void> requireSingleThread()
{
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks)
        return {}; // no /proc: nothing can have started threads we could see
    int count = 0;
    while (const dirent *entry = readdir(tasks)) {
        if (entry->d_name[0] != '.')
            ++count;
    }
    closedir(tasks);
    if (count > 1)
        return fail(tr("the sandbox must be applied before any thread starts (%1 threads "
                       "are running)")
                        .arg(count));
    return {};
}

Expected<void> setLimit(int resource, const char *name, rlim_t soft, rlim_t hard)
{
    rlimit current{};
    if (getrlimit(resource, &current) != 0)
        return fail(
            tr("cannot read the %1 limit: %2").arg(QLatin1StringView(name), errnoText(errno)));
    // A limit can only go down: never ask for more than the hard limit.
    if (current.rlim_max != RLIM_INFINITY) {
        hard = std::min(hard, current.rlim_max);
        soft = std::min(soft, hard);
    }
    const rlimit wanted{soft, hard};
    if (setrlimit(resource, &wanted) != 0)
        return fail(
            tr("cannot set the %1 limit: %2").arg(QLatin1StringView(name), errnoText(errno)));
    return {};
}

Expected<void> applyLimits(const SandboxPolicy &policy, QStringList &warnings)
{
    if (auto r = setLimit(RLIMIT_CORE, "core size", 0, 0); !r)
        return r;
    if (policy.openFiles > 0) {
        const auto files = rlim_t(policy.openFiles);
        if (auto r = setLimit(RLIMIT_NOFILE, "open files", files, files); !r)
            return r;
    }
    if (policy.addressSpaceBytes > 0) {
#ifdef FH_ADDRESS_SANITIZER
        // AddressSanitizer reserves terabytes of shadow memory up front.
        warnings << tr("address-space limit not applied (AddressSanitizer build)");
#else
        const auto bytes = rlim_t(policy.addressSpaceBytes);
        if (auto r = setLimit(RLIMIT_AS, "address space", bytes, bytes); !r)
            return r;
#endif
    }
    if (policy.cpuSeconds > 0) {
        // SIGXCPU at the soft limit names the cause; the hard limit's
        // SIGKILL is only for a process that ignores it.
        const auto seconds = rlim_t(policy.cpuSeconds);
        if (auto r = setLimit(RLIMIT_CPU, "CPU time", seconds, seconds + 5); !r)
            return r;
    }
    if (policy.fileSizeBytes > 0) {
        // Without this the kernel kills the writer with SIGXFSZ; ignored,
        // the write fails with EFBIG and the pipeline can report it.
        std::signal(SIGXFSZ, SIG_IGN);
        const auto bytes = rlim_t(policy.fileSizeBytes);
        if (auto r = setLimit(RLIMIT_FSIZE, "file size", bytes, bytes); !r)
            return r;
    }
    Q_UNUSED(warnings);
    return {};
}

Expected<void> addPathRule(int ruleset, const QString &path, quint64 rights)
{
    const QByteArray native = QFile::encodeName(path);
    const int fd = open(native.constData(), O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return {}; // a driver directory this machine does not have
        return fail(tr("Landlock: cannot open %1: %2").arg(path, errnoText(errno)));
    }
    struct stat info {};
    if (fstat(fd, &info) == 0 && !S_ISDIR(info.st_mode))
        rights &= FileRights;
    landlock_path_beneath_attr rule{};
    rule.allowed_access = rights;
    rule.parent_fd = fd;
    const long result =
        syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    const int error = errno;
    close(fd);
    if (result != 0)
        return fail(tr("Landlock: cannot allow %1: %2").arg(path, errnoText(error)));
    return {};
}

// Returns the ABI applied; 0 with a warning when the kernel has none.
Expected<int> applyLandlock(const SandboxPolicy &policy, QStringList &warnings)
{
    const long version =
        syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (version <= 0) {
        const int error = errno;
        const QString why = error == EOPNOTSUPP ? tr("disabled in this kernel")
                            : error == ENOSYS   ? tr("not built into this kernel")
                                                : errnoText(error);
        warnings << tr("Landlock unavailable (%1): file system access is not restricted").arg(why);
        return 0;
    }
    const int abi = int(version);

    RulesetAttr attr;
    attr.handledAccessFs = handledFsRights(abi);
    if (abi >= 4)
        attr.handledAccessNet = NetBindTcp | NetConnectTcp;
    if (abi >= 6)
        attr.scoped = ScopeAbstractUnixSocket | ScopeSignal;
    const int ruleset = int(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
    if (ruleset < 0)
        return fail(tr("Landlock: cannot create the ruleset: %1").arg(errnoText(errno)));
    const auto closeRuleset = qScopeGuard([ruleset] { close(ruleset); });

    for (const QString &path : policy.readPaths) {
        if (auto r = addPathRule(ruleset, path, ReadRights & attr.handledAccessFs); !r)
            return r.failure();
    }
    for (const QString &path : policy.writePaths) {
        if (auto r = addPathRule(ruleset, path, WriteRights & attr.handledAccessFs); !r)
            return r.failure();
    }
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
        return fail(tr("Landlock: cannot restrict the process: %1").arg(errnoText(errno)));
    return abi;
}

// Calls that create or bind network endpoints, run other programs, inspect
// or change other processes, or reach into the kernel's administration: an
// encoder never needs any of them, and a parser exploit needs most.
// clang-format off
const char *const KilledCalls[] = {
    "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "execve", "execveat",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
    "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
    "personality", "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm",
    "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "acct", "quotactl",
    "lookup_dcookie",
    // io_uring runs operations (socket, connect) that the filter never sees.
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};
// clang-format on

// Namespace flags clone() must not carry; clone3() cannot be filtered by
// its flags (they sit in memory), so it fails with ENOSYS and glibc falls
// back to clone() for threads.
constexpr quint64 NamespaceFlags[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                      CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

Expected<void> addRule(scmp_filter_ctx ctx, uint32_t action, int call, const char *name,
                       std::initializer_list<scmp_arg_cmp> args = {})
{
    const int rc = seccomp_rule_add_array(ctx, action, call, unsigned(args.size()), args.begin());
    if (rc < 0)
        return fail(tr("seccomp: cannot add the rule for %1: %2")
                        .arg(QLatin1StringView(name), errnoText(-rc)));
    return {};
}

Expected<void> applySeccomp()
{
    const std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ALLOW),
                                                               &seccomp_release);
    if (!ctx)
        return fail(tr("seccomp: cannot create a filter"));
    // 32-bit and x32 system calls would dodge rules written for this
    // architecture's numbers.
    if (const int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        rc < 0)
        return fail(tr("seccomp: cannot refuse foreign architectures: %1").arg(errnoText(-rc)));
    if (const int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc < 0)
        return fail(tr("seccomp: cannot synchronise threads: %1").arg(errnoText(-rc)));

    for (const char *name : KilledCalls) {
        const int call = seccomp_syscall_resolve_name(name);
        if (call < 0)
            continue; // not a system call on this architecture
        if (auto r = addRule(ctx.get(), SCMP_ACT_KILL_PROCESS, call, name); !r)
            return r;
    }

    // Local sockets fail softly: glibc's NSS asks nscd over one, and a
    // library looking for a display server should get an error, not kill
    // the encode. Every other family kills.
    const scmp_arg_cmp unixDomain{0, SCMP_CMP_EQ, AF_UNIX, 0};
    const scmp_arg_cmp otherDomain{0, SCMP_CMP_NE, AF_UNIX, 0};
    if (auto r =
            addRule(ctx.get(), SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), "socket", {unixDomain});
        !r)
        return r;
    if (auto r =
            addRule(ctx.get(), SCMP_ACT_KILL_PROCESS, SCMP_SYS(socket), "socket", {otherDomain});
        !r)
        return r;

    for (const quint64 flag : NamespaceFlags) {
        const scmp_arg_cmp hasFlag{0, SCMP_CMP_MASKED_EQ, flag, flag};
        if (auto r = addRule(ctx.get(), SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), "clone", {hasFlag});
            !r)
            return r;
    }
    if (auto r = addRule(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3"); !r)
        return r;

    if (const int rc = seccomp_load(ctx.get()); rc < 0)
        return fail(tr("seccomp: cannot load the filter: %1").arg(errnoText(-rc)));
    return {};
}

QStringList existing(std::initializer_list<const char *> paths)
{
    QStringList found;
    for (const char *path : paths) {
        const QString name = QString::fromLatin1(path);
        if (QFileInfo::exists(name))
            found << name;
    }
    return found;
}
} // namespace

SandboxPolicy SandboxPolicy::forEncoding()
{
    SandboxPolicy policy;
    // Drivers are loaded late (libva, libcuda, Vulkan ICDs are dlopen'ed
    // when a device opens), so the library directories, the loader cache
    // and the drivers' data files stay readable. /sys/devices and /sys/dev
    // are how libdrm and the drivers identify a GPU; /proc/self is the
    // worker's own process only (glibc, drivers and sanitizers read its
    // maps and status; no other process is visible), and /proc/cpuinfo sizes
    // encoder thread pools. /dev/urandom seeds muxers' random identifiers.
    policy.readPaths = existing({
        "/usr/lib",
        "/lib",
        "/lib64",
        "/usr/lib64",
        "/usr/lib/x86_64-linux-gnu/dri",
        "/usr/local/lib",
        "/usr/local/nvidia",
        "/etc/ld.so.cache",
        "/usr/share/libdrm",
        "/usr/share/drirc.d",
        "/etc/drirc",
        "/usr/share/vulkan",
        "/etc/vulkan",
        "/usr/share/glvnd",
        "/etc/OpenCL/vendors",
        "/sys/devices",
        "/sys/dev",
        "/sys/class/drm",
        "/sys/bus/pci",
        "/proc/self",
        "/proc/cpuinfo",
        "/proc/driver/nvidia",
        "/dev/urandom",
    });
    policy.writePaths = existing({"/dev/dri", "/dev/null"});
    const QDir dev(QStringLiteral("/dev"));
    const QStringList nvidia = dev.entryList(
        {QStringLiteral("nvidia*")}, QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot);
    for (const QString &name : nvidia)
        policy.writePaths << dev.filePath(name);
    policy.openFiles = 64;
    return policy;
}

Expected<SandboxReport> Sandbox::apply(const SandboxPolicy &policy)
{
    if (auto single = requireSingleThread(); !single)
        return single.failure();
#ifdef FH_ADDRESS_SANITIZER
    // Runs LeakSanitizer's check now, while ptrace still works; it then
    // skips the end-of-process check that seccomp would kill.
    __lsan_do_leak_check();
#endif
    // No socket can reach a display server in here; without these, libva,
    // VDPAU and Vulkan drivers would try and meet the filter.
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");

    // Required before Landlock and seccomp without privileges, and keeps a
    // set-uid program from ever running with the worker's descriptors.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(tr("cannot set no_new_privs: %1").arg(errnoText(errno)));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return fail(tr("cannot make the process non-dumpable: %1").arg(errnoText(errno)));

    QStringList warnings;
    if (auto limits = applyLimits(policy, warnings); !limits)
        return limits.failure();

    SandboxReport report;
    auto landlock = applyLandlock(policy, warnings);
    if (!landlock)
        return landlock.failure();
    report.landlockAbi = landlock.value();

    if (auto seccomp = applySeccomp(); !seccomp)
        return seccomp.failure();
    report.warning = warnings.join(QStringLiteral("; "));
    return report;
}
