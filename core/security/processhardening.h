#pragma once

// Applied first thing in every executable: no core dumps (they would hold
// keys), not ptrace-attachable by other users' processes, and files created
// private by default (umask 077).
namespace ProcessHardening {
void apply();
}
