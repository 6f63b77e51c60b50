#pragma once

#include "jobs/jobspec.h"

#include <QString>

extern "C" {
#include <libavutil/pixfmt.h>
}

struct AVCodec;
struct AVCodecContext;
struct AVDictionary;

// The encoders this worker drives and how a job spec's quality and speed
// become each one's own options. A candidate the request names that is not
// listed here is refused, so the supervisor cannot make the worker open
// an arbitrary codec.
class EncoderSettings {
public:
    enum class Family { Software, Nvenc, Qsv, Vaapi };

    struct Encoder {
        const char *name;
        JobSpec::VideoCodec codec;
        Family family;
        const char *device; // hardware device type; nullptr for software
    };

    static const Encoder *find(const QString &name);

    // Frames go to vaapi and qsv encoders as hardware surfaces, uploaded
    // in the filter graph; the others take software frames.
    static bool uploadsFrames(const Encoder &encoder)
    {
        return encoder.family == Family::Vaapi || encoder.family == Family::Qsv;
    }

    // The software pixel format the filter graph produces for `encoder`
    // (what is uploaded, for vaapi and qsv), or AV_PIX_FMT_NONE with
    // `error` set when it cannot take the spec's bit depth.
    static AVPixelFormat softwareFormat(const Encoder &encoder, const AVCodec *codec,
                                        const QString &specFormat, QString *error);

    // Rate control and speed, on a context not yet opened; the rest goes
    // into `options` for avcodec_open2.
    static void apply(const Encoder &encoder, const JobSpec &spec, AVCodecContext *context,
                      AVDictionary **options);
};
