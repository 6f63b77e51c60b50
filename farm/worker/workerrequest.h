#pragma once

#include "expected.h"
#include "hw/encoderchoice.h"
#include "jobs/jobspec.h"

#include <QJsonObject>

// What the supervisor sends framehouse-worker as one JSON line on stdin:
//   {"v":1, "job":<id>, "spec":{JobSpec}, "input_fd":3, "output_fd":4,
//    "encoders":{EncoderChoice}, "limits":{"address_space_mb":..,
//    "cpu_s":.., "file_size_mb":.., "open_files":..}}
// The worker opens nothing by path: input and output are the descriptors.
// The output descriptor is a new, empty regular file opened read-write (the
// worker reads it back to verify what it wrote).
struct WorkerRequest {
    static constexpr int Version = 1;

    qint64 job = 0;
    JobSpec spec;
    int inputFd = 3;
    int outputFd = 4;
    EncoderChoice encoders;
    qint64 addressSpaceMb = 0; // 0: no limit (sanitizer builds, GPU drivers)
    qint64 cpuSeconds = 0;     // 0: no limit
    qint64 fileSizeMb = 0;     // 0: no limit
    int openFiles = 64;

    QJsonObject toJson() const;
    static Expected<WorkerRequest> fromJson(const QJsonObject &json);
};
