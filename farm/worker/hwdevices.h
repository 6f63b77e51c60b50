#pragma once

#include "avhandles.h"
#include "expected.h"

#include <QHash>
#include <QString>

#include <map>

// Hardware devices opened on demand, one per type, kept for the job. A
// device that failed to open is not tried again: its error is remembered.
class HwDevices {
public:
    // The device, or the reason it is not available.
    Expected<AVBufferRef *> get(const QString &type);

private:
    std::map<QString, BufferPtr> m_opened;
    QHash<QString, QString> m_failed;
};
