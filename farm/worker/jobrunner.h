#pragma once

// The worker's job mode: reads the WorkerRequest line from stdin, applies
// the sandbox, runs the pipeline, reports on stdout (WorkerMessage lines).
// Exit status 0 after "finished", 1 after "error".
namespace JobRunner {
int run();
}
