#include "hwdevices.h"

#include <QCoreApplication>

extern "C" {
#include <libavutil/hwcontext.h>
}

namespace {
QString tr(const char *text) { return QCoreApplication::translate("HwDevices", text); }
} // namespace

Expected<AVBufferRef *> HwDevices::get(const QString &type)
{
    if (auto it = m_opened.find(type); it != m_opened.end())
        return it->second.get();
    if (auto it = m_failed.constFind(type); it != m_failed.constEnd())
        return fail(*it);
    const AVHWDeviceType deviceType = av_hwdevice_find_type_by_name(type.toLatin1().constData());
    if (deviceType == AV_HWDEVICE_TYPE_NONE) {
        m_failed.insert(type, tr("the %1 device type is not compiled in").arg(type));
        return fail(m_failed.value(type));
    }
    AVBufferRef *device = nullptr;
    const int ret = av_hwdevice_ctx_create(&device, deviceType, nullptr, nullptr, 0);
    if (ret < 0) {
        m_failed.insert(type,
                        tr("cannot open the %1 device: %2").arg(type, AvHandles::errorText(ret)));
        return fail(m_failed.value(type));
    }
    m_opened.emplace(type, BufferPtr(device));
    return device;
}
