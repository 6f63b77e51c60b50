#include "apihandlers.h"
#include "apiservices.h"
#include "problem.h"
#include "uploadstore.h"

#include <QJsonObject>

namespace {
// Streams the body into an UploadWriter.
class UploadSink : public BodySink {
public:
    explicit UploadSink(std::unique_ptr<UploadWriter> writer)
        : m_writer(std::move(writer))
    {}

    std::optional<HttpResponse> write(QByteArrayView bytes) override
    {
        Expected<void> written = m_writer->write(bytes);
        if (written)
            return std::nullopt;
        m_writer->abort();
        if (written.failure().code == UploadWriter::NoSpace)
            return Problem::response(507, QStringLiteral("insufficient-storage"),
                                     QStringLiteral("The engine has no room for the upload."));
        return ApiHandlers::storeFailure(QStringLiteral("upload write:"), written.error());
    }

    HttpResponse finish(ApiCall &call) override
    {
        Expected<Upload> upload =
            m_writer->finish(call.db, *call.services.audit, call.key.id, call.client, call.now);
        if (!upload) {
            if (upload.failure().code == UploadWriter::UnsupportedMedia)
                return Problem::response(415, QStringLiteral("unsupported-media-type"),
                                         upload.error());
            if (upload.failure().code == UploadWriter::NoSpace)
                return Problem::response(507, QStringLiteral("insufficient-storage"),
                                         QStringLiteral("The engine has no room for the upload."));
            return ApiHandlers::storeFailure(QStringLiteral("upload:"), upload.error());
        }
        return HttpResponse::json(201, QJsonObject{
                                           {QStringLiteral("id"), upload->id},
                                           {QStringLiteral("name"), upload->name},
                                           {QStringLiteral("media_type"), upload->mediaType},
                                           {QStringLiteral("size"), upload->size},
                                           {QStringLiteral("sha256"), upload->sha256},
                                       });
    }

private:
    std::unique_ptr<UploadWriter> m_writer;
};
} // namespace

std::unique_ptr<BodySink> ApiHandlers::openUpload(ApiCall &call, HttpResponse &refusal)
{
    const QString name =
        call.request.query.queryItemValue(QStringLiteral("name"), QUrl::FullyDecoded);
    if (name.isEmpty() || name.size() > 255 || name.contains(u'/') || name.contains(u'\0')) {
        refusal = Problem::response(400, QStringLiteral("invalid-parameter"),
                                    QStringLiteral("name: give the file's name, e.g. "
                                                   "?name=clip.mp4."));
        return nullptr;
    }
    if (!call.request.contentLength || *call.request.contentLength == 0) {
        refusal = Problem::response(411, QStringLiteral("length-required"),
                                    QStringLiteral("Send the file as the body, with its "
                                                   "Content-Length."));
        return nullptr;
    }
    Expected<std::unique_ptr<UploadWriter>> writer =
        UploadWriter::begin(call.services.config.uploadsDirectory, name,
                            QString::fromLatin1(call.request.header("content-type")));
    if (!writer) {
        refusal = ApiHandlers::storeFailure(QStringLiteral("upload begin:"), writer.error());
        return nullptr;
    }
    return std::make_unique<UploadSink>(std::move(writer.value()));
}

// Reached only when openUpload refused nothing and there was no body.
HttpResponse ApiHandlers::uploadWithoutBody(ApiCall &)
{
    return Problem::response(411, QStringLiteral("length-required"),
                             QStringLiteral("Send the file as the body, with its "
                                            "Content-Length."));
}
