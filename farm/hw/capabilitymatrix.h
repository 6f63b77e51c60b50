#pragma once

#include <QJsonObject>
#include <QList>
#include <QString>

// What the hardware probe found: every compiled-in hardware device type and
// every hardware encoder, each opened for real, with the error when it did
// not open. Software devices (llvmpipe behind vulkan) are listed with
// hardware = false and never count as hardware. Cached per engine start.
struct CapabilityMatrix {
    struct Device {
        QString type;    // "cuda", "vaapi", "qsv", "vulkan", "drm", ...
        bool ok = false; // opened, and is real hardware
        bool hardware = false;
        QString detail; // device name when opened, else the error
    };
    struct Encoder {
        QString name;   // "h264_nvenc"
        QString codec;  // "h264", "hevc", "av1", "vp9"
        QString family; // "nvenc", "vaapi", "qsv"
        QString device; // device type it needs ("cuda", "vaapi", "qsv")
        bool ok = false;
        QString detail; // error when it did not open
    };

    QList<Device> devices;
    QList<Encoder> encoders;
    qint64 probedAt = 0; // UTC ms

    QJsonObject toJson() const;
    static CapabilityMatrix fromJson(const QJsonObject &json);
    const Encoder *encoder(const QString &name) const;
};
