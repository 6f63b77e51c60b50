#include "jobrunner.h"

#include "encodersettings.h"
#include "sandbox.h"
#include "transcoder.h"
#include "workererror.h"
#include "workermessage.h"
#include "workerrequest.h"

#include <QCoreApplication>
#include <QJsonDocument>
#include <QJsonParseError>

extern "C" {
#include <libavutil/log.h>
}

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {
QString tr(const char *text) { return QCoreApplication::translate("JobRunner", text); }

constexpr qsizetype MaxRequestBytes = 1 << 20;

void send(const QByteArray &line)
{
    std::fwrite(line.constData(), 1, size_t(line.size()), stdout);
    std::fflush(stdout);
}

int failWith(QLatin1StringView code, const QString &message)
{
    send(WorkerMessage::errorLine(code, message));
    return 1;
}

// One line from stdin, at most MaxRequestBytes; stdin is not read again.
Expected<QByteArray> readRequestLine()
{
    QByteArray line;
    char buffer[16384];
    for (;;) {
        const qsizetype room = MaxRequestBytes + 1 - line.size();
        const ssize_t n =
            ::read(STDIN_FILENO, buffer, size_t(std::min<qsizetype>(room, sizeof buffer)));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(tr("cannot read the request from stdin"));
        if (n == 0)
            break;
        line.append(buffer, n);
        const qsizetype newline = line.indexOf('\n');
        if (newline >= 0) {
            line.truncate(newline);
            break;
        }
        if (line.size() > MaxRequestBytes)
            return fail(tr("the request line is longer than %1 MiB").arg(MaxRequestBytes >> 20));
    }
    if (line.size() > MaxRequestBytes)
        return fail(tr("the request line is longer than %1 MiB").arg(MaxRequestBytes >> 20));
    if (line.trimmed().isEmpty())
        return fail(tr("no request on stdin"));
    return line;
}

Expected<WorkerRequest> parseRequest(const QByteArray &line)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(line, &error);
    if (error.error != QJsonParseError::NoError)
        return fail(tr("the request is not JSON: %1 at offset %2")
                        .arg(error.errorString())
                        .arg(error.offset));
    if (!document.isObject())
        return fail(tr("the request is not a JSON object"));
    Expected<WorkerRequest> request = WorkerRequest::fromJson(document.object());
    if (!request)
        return request;
    // Only encoders this worker knows, and only for the codec asked for.
    const QList<EncoderChoice::Candidate> &candidates = request->encoders.candidates;
    for (qsizetype i = 0; i < candidates.size(); ++i) {
        const EncoderSettings::Encoder *known = EncoderSettings::find(candidates.at(i).encoder);
        if (!known)
            return fail(tr("encoders.candidates[%1]: \"%2\" is not an encoder this worker drives")
                            .arg(i)
                            .arg(candidates.at(i).encoder.left(64)));
        if (known->codec != request->spec.videoCodec)
            return fail(tr("encoders.candidates[%1]: %2 does not encode %3")
                            .arg(i)
                            .arg(candidates.at(i).encoder,
                                 JobSpec::videoCodecName(request->spec.videoCodec)));
        if (candidates.at(i).hardware != (known->device != nullptr))
            return fail(tr("encoders.candidates[%1]: %2 is %3")
                            .arg(i)
                            .arg(candidates.at(i).encoder, known->device
                                                               ? tr("a hardware encoder")
                                                               : tr("a software encoder")));
    }
    return request;
}

// What the supervisor promised: an open input and a new, empty regular
// file opened read-write for the output.
QString checkDescriptors(const WorkerRequest &request)
{
    struct stat st = {};
    if (::fcntl(request.inputFd, F_GETFD) < 0 || ::fstat(request.inputFd, &st) != 0)
        return tr("the input descriptor %1 is not open").arg(request.inputFd);
    const int flags = ::fcntl(request.outputFd, F_GETFL);
    if (flags < 0 || ::fstat(request.outputFd, &st) != 0)
        return tr("the output descriptor %1 is not open").arg(request.outputFd);
    if (!S_ISREG(st.st_mode) || (flags & O_ACCMODE) != O_RDWR || (flags & O_APPEND))
        return tr("the output descriptor %1 is not a regular file opened read-write")
            .arg(request.outputFd);
    if (st.st_size != 0)
        return tr("the output descriptor %1 is not empty").arg(request.outputFd);
    return {};
}
} // namespace

int JobRunner::run()
{
    // Reaching the file size limit becomes an error we report (EFBIG), not
    // a silent death; a supervisor that went away is noticed on write.
    std::signal(SIGXFSZ, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
    av_log_set_level(AV_LOG_WARNING);
    // SVT-AV1 logs through its own channel; keep it to warnings like FFmpeg.
    ::setenv("SVT_LOG", "2", 0);

    Expected<QByteArray> line = readRequestLine();
    if (!line)
        return failWith(WorkerMessage::RequestInvalid, line.error());
    Expected<WorkerRequest> parsed = parseRequest(line.value());
    if (!parsed)
        return failWith(WorkerMessage::RequestInvalid, parsed.error());
    const WorkerRequest request = std::move(parsed).value();

    SandboxPolicy policy = SandboxPolicy::forEncoding();
    policy.addressSpaceBytes = request.addressSpaceMb * 1024 * 1024;
    policy.cpuSeconds = request.cpuSeconds;
    policy.fileSizeBytes = request.fileSizeMb * 1024 * 1024;
    policy.openFiles = request.openFiles;
    Expected<SandboxReport> sandbox = Sandbox::apply(policy);
    if (!sandbox)
        return failWith(WorkerMessage::SandboxFailed,
                        tr("cannot confine the worker: %1").arg(sandbox.error()));
    if (!sandbox->warning.isEmpty())
        std::fprintf(stderr, "warning: %s\n", qPrintable(sandbox->warning));

    const QString descriptors = checkDescriptors(request);
    if (!descriptors.isEmpty())
        return failWith(WorkerMessage::RequestInvalid, descriptors);

    Transcoder transcoder(request, [](WorkerMessage::Type type, const QJsonObject &fields) {
        send(WorkerMessage::line(type, fields));
    });
    Expected<QJsonObject> finished = transcoder.run();
    if (!finished)
        return failWith(WorkerError::protocolCode(finished.code()), finished.error());
    send(WorkerMessage::line(WorkerMessage::Type::Finished, finished.value()));
    return 0;
}
