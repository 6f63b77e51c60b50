#include "processhardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

void ProcessHardening::apply()
{
    const rlimit noCore{0, 0};
    setrlimit(RLIMIT_CORE, &noCore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);
}
