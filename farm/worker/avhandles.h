#pragma once

// Owning handles for the FFmpeg objects the pipeline holds, and the text of
// an FFmpeg error code.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/buffer.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
}

#include <QString>

#include <cstdlib>
#include <memory>

namespace AvHandles {
struct FrameFree {
    void operator()(AVFrame *f) const { av_frame_free(&f); }
};
struct PacketFree {
    void operator()(AVPacket *p) const { av_packet_free(&p); }
};
struct CodecFree {
    void operator()(AVCodecContext *c) const { avcodec_free_context(&c); }
};
struct GraphFree {
    void operator()(AVFilterGraph *g) const { avfilter_graph_free(&g); }
};
struct BufferUnref {
    void operator()(AVBufferRef *b) const { av_buffer_unref(&b); }
};

inline QString errorText(int code)
{
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return QString::fromUtf8(text);
}
} // namespace AvHandles

using FramePtr = std::unique_ptr<AVFrame, AvHandles::FrameFree>;
using PacketPtr = std::unique_ptr<AVPacket, AvHandles::PacketFree>;
using CodecPtr = std::unique_ptr<AVCodecContext, AvHandles::CodecFree>;
using GraphPtr = std::unique_ptr<AVFilterGraph, AvHandles::GraphFree>;
using BufferPtr = std::unique_ptr<AVBufferRef, AvHandles::BufferUnref>;

// Out of memory for a few hundred bytes: nothing sensible is left to do,
// and the supervisor treats a crash as retryable.
inline FramePtr makeFrame()
{
    FramePtr frame(av_frame_alloc());
    if (!frame)
        std::abort();
    return frame;
}
inline PacketPtr makePacket()
{
    PacketPtr packet(av_packet_alloc());
    if (!packet)
        std::abort();
    return packet;
}
