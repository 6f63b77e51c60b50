#pragma once

#include <QLatin1StringView>

// The pipeline's failures travel as Failure::code values; the job runner
// turns them into the WorkerMessage error codes the supervisor acts on.
namespace WorkerError {
enum Code {
    InputInvalid = 1,
    Unsupported,
    HardwareFailed,
    EncoderFailed,
    OutputFailed,
    LimitExceeded,
};
QLatin1StringView protocolCode(int code);
} // namespace WorkerError
