#pragma once

#include "avhandles.h"
#include "expected.h"
#include "hwdevices.h"
#include "workermessage.h"
#include "workerrequest.h"

#include <QElapsedTimer>
#include <QJsonObject>

#include <deque>
#include <functional>
#include <memory>
#include <optional>

class AudioChain;
class FdAvio;
class InputFile;
class StreamCopy;
class VideoChain;

// One job from open input to verified output: demux, the video and audio
// paths (transcoded or copied), mux into the output descriptor, and the
// "started" and "progress" reports on the way. Every time is placed on one
// clock whose 0 is the job's origin (the trim start on the input's video,
// or its audio when there is no video), so audio and video stay in sync.
class Transcoder {
public:
    using Report = std::function<void(WorkerMessage::Type type, const QJsonObject &fields)>;

    Transcoder(const WorkerRequest &request, Report report);
    ~Transcoder();
    Transcoder(const Transcoder &) = delete;
    Transcoder &operator=(const Transcoder &) = delete;

    // The "finished" body, or a failure with a WorkerError code.
    Expected<QJsonObject> run();

private:
    enum class AudioPlan { None, Copy, Aac, Opus };

    Expected<void> plan();
    Expected<void> prime();
    Expected<void> stash(AVPacket *packet);
    Expected<void> openPaths();
    Expected<void> openOutput();
    Expected<void> dispatch(AVPacket *packet);
    Expected<void> write(AVPacket *packet, int outputStream, AVRational timeBase);
    Expected<void> finishOutput();
    Expected<QJsonObject> verify();
    Failure writeFailure(int ret, const QString &what) const;
    void reportStarted();
    void reportProgress();
    bool allDone() const;

    const WorkerRequest &m_request;
    const JobSpec &m_spec;
    Report m_report;

    std::unique_ptr<InputFile> m_input;
    AVStream *m_videoIn = nullptr;
    AVStream *m_audioIn = nullptr;
    AudioPlan m_audioPlan = AudioPlan::None;
    const AVOutputFormat *m_outputFormat = nullptr;

    qint64 m_requestedOriginUs = 0; // trim start on the input's clock
    qint64 m_originUs = 0;          // where the output's 0 is (a key frame for video copy)
    std::optional<qint64> m_endUs;  // trim end on the input's clock
    qint64 m_inputEndUs = 0;        // 0: unknown
    qint64 m_expectedUs = 0;
    qint64 m_lastReadUs = 0; // how far the demuxer got

    HwDevices m_devices;
    std::unique_ptr<VideoChain> m_video;
    std::unique_ptr<StreamCopy> m_videoCopy;
    std::unique_ptr<AudioChain> m_audio;
    std::unique_ptr<StreamCopy> m_audioCopy;
    QList<EncoderChoice::Skipped> m_fallbacks;

    std::deque<PacketPtr> m_stash; // read while the video path found its start
    qint64 m_stashBytes = 0;
    bool m_inputEnded = false;

    std::unique_ptr<FdAvio> m_outputIo;
    AVFormatContext *m_output = nullptr;
    int m_videoOut = -1;
    int m_audioOut = -1;
    int m_outWidth = 0;
    int m_outHeight = 0;

    qint64 m_primaryPackets = 0;
    qint64 m_videoPackets = 0;
    qint64 m_outTimeUs = 0;
    QElapsedTimer m_clock;
    qint64 m_lastProgressMs = -1;
};
