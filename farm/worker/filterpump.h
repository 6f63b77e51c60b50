#pragma once

#include "avhandles.h"
#include "expected.h"

#include <functional>

// One step of a libavfilter graph, the same for audio and video: `frame`
// (nullptr at the end of the stream) goes into `source`, and every frame
// `sink` then has is handed to `take`. `done` becomes true once the graph
// has given its last frame; later calls do nothing. A graph error fails
// with `failure` (a message with %1 for FFmpeg's text) and `code`.
namespace FilterPump {
Expected<void> push(AVFilterContext *source, AVFilterContext *sink, AVFrame *frame, bool &done,
                    const QString &failure, int code,
                    const std::function<Expected<void>(AVFrame *)> &take);
}
