// framehouse-worker: one sandboxed encoding process, spawned by the engine.
//
//   framehouse-worker                      read a WorkerRequest line on stdin, encode
//   framehouse-worker --probe              print the hardware capability matrix
//   framehouse-worker --sandbox-selftest W apply the sandbox, then try W (tests)
#include "hw/hardwareprobe.h"
#include "jobrunner.h"
#include "sandboxselftest.h"

#include <cstdio>
#include <cstring>

int main(int argc, char **argv)
{
    if (argc == 1)
        return JobRunner::run();
    if (argc == 2 && std::strcmp(argv[1], "--probe") == 0)
        return HardwareProbe::runAndPrint();
    if (argc == 3 && std::strcmp(argv[1], "--sandbox-selftest") == 0)
        return SandboxSelfTest::run(argv[2]);
    std::fputs("framehouse-worker is started by the Framehouse engine, not by hand.\n"
               "usage: framehouse-worker [--probe | --sandbox-selftest WHAT]\n",
               stderr);
    return 2;
}
