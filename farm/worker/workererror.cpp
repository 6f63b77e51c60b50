#include "workererror.h"

#include "workermessage.h"

QLatin1StringView WorkerError::protocolCode(int code)
{
    switch (code) {
    case InputInvalid:
        return WorkerMessage::InputInvalid;
    case Unsupported:
        return WorkerMessage::Unsupported;
    case HardwareFailed:
        return WorkerMessage::HardwareFailed;
    case EncoderFailed:
        return WorkerMessage::EncoderFailed;
    case OutputFailed:
        return WorkerMessage::OutputFailed;
    case LimitExceeded:
        return WorkerMessage::LimitExceeded;
    }
    // A failure without a code is a fault in the pipeline itself.
    return WorkerMessage::EncoderFailed;
}
