// The worker's sandbox, tested on the real framehouse-worker process through
// its --sandbox-selftest mode: each run applies the encoding sandbox and
// then does one forbidden (or allowed) thing.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QMap>
#include <QTemporaryDir>
#include <QTemporaryFile>
#include <QTest>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace {
// How the worker ended, as waitpid() saw it: QProcess reports a crash but
// not which signal, and the signal is the point here.
struct WorkerRun {
    bool started = false;
    bool exited = false;
    int exitCode = -1;
    int signal = 0;
    QString out;
    QString err;

    QString describe() const
    {
        const QString end = !started ? QStringLiteral("did not start")
                            : exited ? QStringLiteral("exited with %1").arg(exitCode)
                                     : QStringLiteral("killed by signal %1 (%2)")
                                           .arg(signal)
                                           .arg(QString::fromLocal8Bit(strsignal(signal)));
        return end + QStringLiteral("\nstdout:\n") + out + QStringLiteral("stderr:\n") + err;
    }
};

WorkerRun runWorker(const QStringList &arguments)
{
    WorkerRun run;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return run;
    QTemporaryFile errFile;
    if (!errFile.open())
        return run;

    const QByteArray program = QByteArrayLiteral(FRAMEHOUSE_WORKER_PATH);
    QByteArrayList args{program};
    for (const QString &a : arguments)
        args << a.toLocal8Bit();
    QList<char *> argv;
    for (QByteArray &a : args)
        argv << a.data();
    argv << nullptr;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errFile.handle(), 2);
    pid_t pid = -1;
    const int spawned =
        posix_spawn(&pid, program.constData(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (spawned != 0) {
        close(out[0]);
        run.err = QString::fromLocal8Bit(std::strerror(spawned));
        return run;
    }
    run.started = true;

    QByteArray output;
    char buffer[4096];
    for (;;) {
        const ssize_t n = read(out[0], buffer, sizeof buffer);
        if (n > 0)
            output.append(buffer, n);
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    run.exited = WIFEXITED(status);
    run.exitCode = run.exited ? WEXITSTATUS(status) : -1;
    run.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    run.out = QString::fromLocal8Bit(output);
    QFile err(errFile.fileName());
    if (err.open(QIODevice::ReadOnly))
        run.err = QString::fromLocal8Bit(err.readAll());
    return run;
}

WorkerRun selfTest(const QString &what)
{
    return runWorker({QStringLiteral("--sandbox-selftest"), what});
}

// The kernel's Landlock ABI, asked independently of the worker.
int kernelLandlockAbi()
{
    const long abi =
        syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? int(abi) : 0;
}

// A shared library this test process itself has loaded (libc): one that
// certainly exists under the library directories.
QString libraryFile()
{
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&::getpid), &info) == 0 || !info.dli_fname)
        return {};
    return QFileInfo(QFile::decodeName(info.dli_fname)).canonicalFilePath();
}
} // namespace

class TestSandbox : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void seccompKills_data();
    void seccompKills();
    void localSocketsFailSoftly();
    void threadsStillStart();
    void files_data();
    void files();
    void limitsAndFlags();
    void unknownSelfTestIsRefused();

private:
    int m_abi = 0;
    QTemporaryDir m_dir;
};

void TestSandbox::initTestCase()
{
    QVERIFY2(QFileInfo::exists(QStringLiteral(FRAMEHOUSE_WORKER_PATH)), FRAMEHOUSE_WORKER_PATH);
    QVERIFY(m_dir.isValid());
    m_abi = kernelLandlockAbi();
    if (m_abi > 0)
        qInfo("this kernel has Landlock ABI %d: file access outside the policy must be denied",
              m_abi);
    else
        qInfo("this kernel has no Landlock: the worker must warn, and files cannot be denied");
}

void TestSandbox::seccompKills_data()
{
    QTest::addColumn<QString>("what");
    QTest::newRow("socket(AF_INET)") << QStringLiteral("socket");
    QTest::newRow("execve") << QStringLiteral("execve");
    QTest::newRow("ptrace(PTRACE_TRACEME)") << QStringLiteral("ptrace");
    QTest::newRow("unshare(CLONE_NEWUSER)") << QStringLiteral("unshare");
    QTest::newRow("clone(CLONE_NEWUSER)") << QStringLiteral("clone-newuser");
}

void TestSandbox::seccompKills()
{
    QFETCH(QString, what);
    const WorkerRun run = selfTest(what);
    QVERIFY2(run.started, qPrintable(run.describe()));
    // The sandbox was in place before the call: the kill is the filter's.
    QVERIFY2(run.out.contains(QStringLiteral("sandbox applied")), qPrintable(run.describe()));
    QVERIFY2(!run.exited, qPrintable(run.describe()));
    QCOMPARE(run.signal, SIGSYS);
    QVERIFY2(!run.out.contains(QStringLiteral("allowed:")), qPrintable(run.describe()));
}

// nscd lookups and display-server probes in libraries must not kill the
// encode: a local socket is refused with EACCES instead.
void TestSandbox::localSocketsFailSoftly()
{
    const WorkerRun run = selfTest(QStringLiteral("socket-unix"));
    QVERIFY2(run.exited, qPrintable(run.describe()));
    QCOMPARE(run.exitCode, 3);
    QVERIFY2(run.out.contains(QStringLiteral("denied: ") +
                              QString::fromLocal8Bit(std::strerror(EACCES))),
             qPrintable(run.describe()));
}

// clone3 answers ENOSYS; glibc must fall back to clone for threads, which
// FFmpeg's encoders need.
void TestSandbox::threadsStillStart()
{
    const WorkerRun run = selfTest(QStringLiteral("thread"));
    QVERIFY2(run.exited, qPrintable(run.describe()));
    QCOMPARE(run.exitCode, 0);
    QVERIFY2(run.out.contains(QStringLiteral("thread ok")), qPrintable(run.describe()));
}

void TestSandbox::files_data()
{
    QTest::addColumn<QString>("what");
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("deniedByLandlock"); // false: allowed by the policy

    QFile secret(m_dir.filePath(QStringLiteral("secret.txt")));
    QVERIFY(secret.open(QIODevice::WriteOnly));
    QVERIFY(secret.write("not for the worker\n") > 0);
    secret.close();
    const QString library = libraryFile();
    QVERIFY2(!library.isEmpty() && QFileInfo(library).isFile(), qPrintable(library));

    QTest::newRow("read a file in a temporary directory")
        << QStringLiteral("read") << secret.fileName() << true;
    QTest::newRow("read /etc/passwd")
        << QStringLiteral("read") << QStringLiteral("/etc/passwd") << true;
    QTest::newRow("list a temporary directory") << QStringLiteral("read") << m_dir.path() << true;
    QTest::newRow("write a new file in a temporary directory")
        << QStringLiteral("write") << m_dir.filePath(QStringLiteral("new.txt")) << true;
    QTest::newRow("write over an existing file")
        << QStringLiteral("write") << secret.fileName() << true;
    // /proc/self stays readable for drivers; what it links to does not.
    QTest::newRow("read a temporary file through /proc/self/root")
        << QStringLiteral("read") << QStringLiteral("/proc/self/root") + secret.fileName() << true;
    QTest::newRow("read another process's status")
        << QStringLiteral("read") << QStringLiteral("/proc/1/status") << true;
    QTest::newRow("read a library") << QStringLiteral("read") << library << false;
    QTest::newRow("write /dev/null")
        << QStringLiteral("write") << QStringLiteral("/dev/null") << false;
}

void TestSandbox::files()
{
    QFETCH(QString, what);
    QFETCH(QString, path);
    QFETCH(bool, deniedByLandlock);
    QVERIFY2(what != QLatin1StringView("read") || QFileInfo::exists(path), qPrintable(path));
    const bool existedBefore = QFileInfo::exists(path);

    const WorkerRun run = selfTest(what + u':' + path);
    QVERIFY2(run.exited, qPrintable(run.describe()));
    QVERIFY2(run.out.contains(QStringLiteral("sandbox applied landlock_abi=%1\n").arg(m_abi)),
             qPrintable(run.describe()));
    if (!deniedByLandlock) {
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains(what + QStringLiteral(" ok")), qPrintable(run.describe()));
        return;
    }
    if (m_abi > 0) {
        qInfo("Landlock ABI %d: asserting the denial", m_abi);
        QCOMPARE(run.exitCode, 3);
        QVERIFY2(run.out.contains(QStringLiteral("denied: ") +
                                  QString::fromLocal8Bit(std::strerror(EACCES))),
                 qPrintable(run.describe()));
        QCOMPARE(QFileInfo::exists(path), existedBefore);
    } else {
        // Only a kernel without Landlock gets here; then the worker must
        // say that file access is not restricted.
        qInfo("no Landlock on this kernel: asserting the worker's warning instead");
        QVERIFY2(run.out.contains(QStringLiteral("sandbox warning: Landlock unavailable")),
                 qPrintable(run.describe()));
    }
}

void TestSandbox::limitsAndFlags()
{
    const WorkerRun run = selfTest(QStringLiteral("limits"));
    QVERIFY2(run.exited, qPrintable(run.describe()));
    QCOMPARE(run.exitCode, 0);
    QMap<QString, QString> values;
    for (const QString &line : run.out.split(u'\n', Qt::SkipEmptyParts)) {
        const qsizetype eq = line.indexOf(u'=');
        if (eq > 0)
            values.insert(line.left(eq), line.mid(eq + 1));
    }
    QVERIFY2(!values.contains(QStringLiteral("status.error")), qPrintable(run.describe()));
    // The kernel's view (/proc/self/status) and the process's own.
    QCOMPARE(values.value(QStringLiteral("status.NoNewPrivs")), QStringLiteral("1"));
    QCOMPARE(values.value(QStringLiteral("status.Seccomp")), QStringLiteral("2")); // filter mode
    QCOMPARE(values.value(QStringLiteral("prctl.no_new_privs")), QStringLiteral("1"));
    QCOMPARE(values.value(QStringLiteral("prctl.dumpable")), QStringLiteral("0"));
    QCOMPARE(values.value(QStringLiteral("rlimit.core")), QStringLiteral("0/0"));
    QCOMPARE(values.value(QStringLiteral("rlimit.nofile")), QStringLiteral("64/64"));
}

void TestSandbox::unknownSelfTestIsRefused()
{
    const WorkerRun run = selfTest(QStringLiteral("format-disk"));
    QVERIFY2(run.exited, qPrintable(run.describe()));
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(!run.out.contains(QStringLiteral("sandbox applied")), qPrintable(run.describe()));
}

QTEST_GUILESS_MAIN(TestSandbox)
#include "tst_sandbox.moc"
