#include "filterpump.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
}

Expected<void> FilterPump::push(AVFilterContext *source, AVFilterContext *sink, AVFrame *frame,
                                bool &done, const QString &failure, int code,
                                const std::function<Expected<void>(AVFrame *)> &take)
{
    if (done)
        return {};
    int ret = av_buffersrc_add_frame_flags(source, frame, frame ? AV_BUFFERSRC_FLAG_KEEP_REF : 0);
    for (;;) {
        if (ret == AVERROR_EOF) {
            done = true;
            return {};
        }
        if (ret < 0)
            return fail(failure.arg(AvHandles::errorText(ret)), code);
        FramePtr out = makeFrame();
        ret = av_buffersink_get_frame(sink, out.get());
        if (ret == AVERROR(EAGAIN))
            return {};
        if (ret >= 0) {
            Expected<void> taken = take(out.get());
            if (!taken)
                return taken;
        }
    }
}
