#pragma once

#include "expected.h"

#include <QByteArray>
#include <QJsonArray>
#include <QJsonObject>
#include <QString>

// One line framehouse-worker writes on stdout, {"v":1,"type":...}:
//   started   {"encoder":"libx264","hardware":false,
//              "fallbacks":[{"encoder":"h264_nvenc","reason":"..."}],
//              "expected_duration_us":..,"width":..,"height":..}
//   progress  {"frame":..,"fps":..,"speed":..,"out_time_us":..}
//   finished  {"duration_us":..,"size":..,"frames":..,
//              "streams":[{"type":"video","codec":"h264","width":..,"height":..},
//                         {"type":"audio","codec":"aac","channels":..,"sample_rate":..}]}
//   error     {"code":"<ErrorCode>","message":"..."}
// Anything else, or a line that is not such an object, is a protocol error.
struct WorkerMessage {
    enum class Type { Started, Progress, Finished, Error };

    // Stable error codes: the supervisor decides retries from them.
    static constexpr QLatin1StringView RequestInvalid{"request_invalid"};
    static constexpr QLatin1StringView SandboxFailed{"sandbox_failed"};
    static constexpr QLatin1StringView InputInvalid{"input_invalid"}; // not media we accept
    static constexpr QLatin1StringView Unsupported{"unsupported"};    // codec/container combination
    static constexpr QLatin1StringView HardwareFailed{"hw_encoder_failed"}; // retry on software
    static constexpr QLatin1StringView EncoderFailed{"encoder_failed"};
    static constexpr QLatin1StringView OutputFailed{"output_failed"};   // write/verify
    static constexpr QLatin1StringView LimitExceeded{"limit_exceeded"}; // max_pixels, sizes

    Type type = Type::Progress;
    QJsonObject body; // the whole object, "v" and "type" included

    QString errorCode() const { return body.value(QLatin1StringView("code")).toString(); }
    QString errorMessage() const { return body.value(QLatin1StringView("message")).toString(); }

    static QByteArray line(Type type, QJsonObject fields); // adds v and type, ends in '\n'
    static QByteArray errorLine(QLatin1StringView code, const QString &message);
    static Expected<WorkerMessage> parse(const QByteArray &line);
    static QString typeName(Type type);
};
