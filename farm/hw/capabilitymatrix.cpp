#include "capabilitymatrix.h"

#include <QJsonArray>

namespace {
QString text(const QJsonObject &json, const char *key)
{
    return json.value(QLatin1StringView(key)).toString();
}

bool flag(const QJsonObject &json, const char *key)
{
    return json.value(QLatin1StringView(key)).toBool();
}
} // namespace

QJsonObject CapabilityMatrix::toJson() const
{
    QJsonArray deviceArray;
    for (const Device &d : devices) {
        deviceArray.append(QJsonObject{{QStringLiteral("type"), d.type},
                                       {QStringLiteral("ok"), d.ok},
                                       {QStringLiteral("hardware"), d.hardware},
                                       {QStringLiteral("detail"), d.detail}});
    }
    QJsonArray encoderArray;
    for (const Encoder &e : encoders) {
        encoderArray.append(QJsonObject{{QStringLiteral("name"), e.name},
                                        {QStringLiteral("codec"), e.codec},
                                        {QStringLiteral("family"), e.family},
                                        {QStringLiteral("device"), e.device},
                                        {QStringLiteral("ok"), e.ok},
                                        {QStringLiteral("detail"), e.detail}});
    }
    return QJsonObject{{QStringLiteral("probed_at"), probedAt},
                       {QStringLiteral("devices"), deviceArray},
                       {QStringLiteral("encoders"), encoderArray}};
}

// Lenient: the matrix comes from our own worker, and an entry it cannot
// read is simply not offered (an encoder missing from the matrix is never
// chosen).
CapabilityMatrix CapabilityMatrix::fromJson(const QJsonObject &json)
{
    CapabilityMatrix matrix;
    matrix.probedAt = json.value(QLatin1StringView("probed_at")).toInteger();
    const QJsonArray deviceArray = json.value(QLatin1StringView("devices")).toArray();
    for (const QJsonValue &value : deviceArray) {
        const QJsonObject o = value.toObject();
        Device d;
        d.type = text(o, "type");
        if (d.type.isEmpty())
            continue;
        d.hardware = flag(o, "hardware");
        d.ok = flag(o, "ok") && d.hardware;
        d.detail = text(o, "detail");
        matrix.devices.append(d);
    }
    const QJsonArray encoderArray = json.value(QLatin1StringView("encoders")).toArray();
    for (const QJsonValue &value : encoderArray) {
        const QJsonObject o = value.toObject();
        Encoder e;
        e.name = text(o, "name");
        if (e.name.isEmpty())
            continue;
        e.codec = text(o, "codec");
        e.family = text(o, "family");
        e.device = text(o, "device");
        e.ok = flag(o, "ok");
        e.detail = text(o, "detail");
        matrix.encoders.append(e);
    }
    return matrix;
}

const CapabilityMatrix::Encoder *CapabilityMatrix::encoder(const QString &name) const
{
    for (const Encoder &e : encoders) {
        if (e.name == name)
            return &e;
    }
    return nullptr;
}
