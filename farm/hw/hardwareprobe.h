#pragma once

#include "capabilitymatrix.h"

// Opens every compiled-in hardware device type and every hardware encoder
// for real (a small frame encoded) and records what happened. Runs inside
// framehouse-worker (--probe) so a misbehaving driver cannot take the
// engine down.
namespace HardwareProbe {
CapabilityMatrix run();
// --probe: applies the encoding sandbox first (it admits the device nodes
// and driver libraries, so the probe sees what a job will see and a hostile
// driver environment stays confined), then prints
// {"v":1,"type":"capabilities",...matrix,"sandbox":{"landlock_abi":N,"warning":".."}}
// on stdout and exits 0. A sandbox that cannot be applied prints
// {"v":1,"type":"error","code":"sandbox_failed","message":".."} and exits 1.
int runAndPrint();
} // namespace HardwareProbe
