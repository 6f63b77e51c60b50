#include "streamcopy.h"

#include <algorithm>

void StreamCopy::setWindow(qint64 originUs, std::optional<qint64> endUs)
{
    m_origin = av_rescale_q(originUs, AV_TIME_BASE_Q, m_stream->time_base);
    m_end.reset();
    if (endUs)
        m_end = av_rescale_q(*endUs, AV_TIME_BASE_Q, m_stream->time_base);
}

Expected<void> StreamCopy::push(AVPacket *packet)
{
    if (m_done)
        return {};
    const qint64 shown = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    if (shown == AV_NOPTS_VALUE)
        return {}; // cannot be placed on the output's timeline
    if (m_end && shown >= *m_end) {
        // Decode order: once a packet is decoded at or after the end, every
        // later one is shown after it too.
        if (packet->dts != AV_NOPTS_VALUE && packet->dts >= *m_end)
            m_done = true;
        return {};
    }
    // Audio keeps the packet that straddles the origin, so it starts at or
    // just before the video rather than leaving a gap; a video packet shown
    // before the origin belongs to the previous GOP.
    const bool audio = m_stream->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    if (audio ? shown + std::max<int64_t>(packet->duration, 1) <= m_origin : shown < m_origin)
        return {};
    if (packet->pts != AV_NOPTS_VALUE)
        packet->pts -= m_origin;
    if (packet->dts != AV_NOPTS_VALUE)
        packet->dts -= m_origin;
    packet->pos = -1;
    return m_sink(packet);
}
