#pragma once

#include "avhandles.h"
#include "expected.h"

#include <functional>
#include <optional>

// One stream copied packet by packet: timestamps moved so that the job's
// origin becomes 0, and trimmed at packet boundaries. For video the
// origin is the key frame at or before the trim start (a copy can only
// start on one), so the output begins up to one GOP earlier than asked;
// packets shown before that key frame (open-GOP B-frames) are dropped.
// Audio keeps the packet that straddles the origin. The end is cut at the
// first packet shown at or after it.
class StreamCopy {
public:
    using PacketSink = std::function<Expected<void>(AVPacket *packet)>;

    explicit StreamCopy(AVStream *stream)
        : m_stream(stream)
    {}

    // Both on the input's clock, in microseconds.
    void setWindow(qint64 originUs, std::optional<qint64> endUs);
    // Packets go to `sink` in the input stream's time base.
    void setSink(PacketSink sink) { m_sink = std::move(sink); }
    Expected<void> push(AVPacket *packet);
    bool done() const { return m_done; }
    AVStream *stream() const { return m_stream; }

private:
    AVStream *m_stream;
    qint64 m_origin = 0;         // in the stream's time base
    std::optional<qint64> m_end; // in the stream's time base
    bool m_done = false;
    PacketSink m_sink;
};
