#pragma once

#include "capabilitymatrix.h"
#include "jobs/jobspec.h"

#include <QList>
#include <QString>

// The encoders a job may try, best first, and why the others were left out.
// For "auto": the hardware encoders for the codec that the probe opened
// (nvenc, then qsv, then vaapi), then the software encoder (libx264,
// libx265, libsvtav1, libvpx-vp9). A named family tries that family, then
// software; "software" tries software only. The worker confirms each by
// opening it and reports why it moved on.
struct EncoderChoice {
    struct Candidate {
        QString encoder; // "h264_nvenc", "libx264"
        QString device;  // hardware device type, empty for software
        bool hardware = false;
    };
    struct Skipped {
        QString encoder;
        QString reason;
    };

    QList<Candidate> candidates; // never empty for a codec that encodes
    QList<Skipped> skipped;

    // `nvencAvailable` is false when the pool already holds every NVENC
    // session the GPU is allowed (the session bound).
    static EncoderChoice choose(JobSpec::VideoCodec codec, JobSpec::Hardware preference,
                                const CapabilityMatrix &matrix, bool nvencAvailable = true);
    static QString softwareEncoder(JobSpec::VideoCodec codec);

    QJsonObject toJson() const;
    static EncoderChoice fromJson(const QJsonObject &json);
};
