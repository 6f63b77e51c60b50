#include "fdavio.h"

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
}

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace {
constexpr int BufferSize = 64 * 1024;
}

FdAvio::FdAvio(int fd, bool positional)
    : m_fd(fd)
    , m_positional(positional)
{}

std::unique_ptr<FdAvio> FdAvio::open(int fd, Mode mode)
{
    struct stat st = {};
    const bool positional = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    std::unique_ptr<FdAvio> io(new FdAvio(fd, positional));
    auto *buffer = static_cast<unsigned char *>(av_malloc(BufferSize));
    if (!buffer)
        return nullptr;
    io->m_context = avio_alloc_context(buffer, BufferSize, mode == Mode::ReadWrite ? 1 : 0,
                                       io.get(), &FdAvio::readPacket,
                                       mode == Mode::ReadWrite ? &FdAvio::writePacket : nullptr,
                                       positional ? &FdAvio::seek : nullptr);
    if (!io->m_context) {
        av_free(buffer);
        return nullptr;
    }
    return io;
}

FdAvio::~FdAvio()
{
    if (!m_context)
        return;
    av_freep(&m_context->buffer);
    avio_context_free(&m_context);
}

int FdAvio::readPacket(void *opaque, uint8_t *buffer, int size)
{
    auto *self = static_cast<FdAvio *>(opaque);
    for (;;) {
        const ssize_t n = self->m_positional ? ::pread(self->m_fd, buffer, size, self->m_position)
                                             : ::read(self->m_fd, buffer, size);
        if (n > 0) {
            self->m_position += n;
            return int(n);
        }
        if (n == 0)
            return AVERROR_EOF;
        if (errno != EINTR) {
            self->m_errno = errno;
            return AVERROR(errno);
        }
    }
}

int FdAvio::writePacket(void *opaque, uint8_t *buffer, int size)
{
    auto *self = static_cast<FdAvio *>(opaque);
    int done = 0;
    while (done < size) {
        const ssize_t n =
            ::pwrite(self->m_fd, buffer + done, size_t(size - done), self->m_position + done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            self->m_errno = n < 0 ? errno : EIO;
            return AVERROR(self->m_errno);
        }
        done += int(n);
    }
    self->m_position += done;
    self->m_written = std::max(self->m_written, self->m_position);
    return done;
}

int64_t FdAvio::seek(void *opaque, int64_t offset, int whence)
{
    auto *self = static_cast<FdAvio *>(opaque);
    whence &= ~AVSEEK_FORCE;
    struct stat st = {};
    if (whence == AVSEEK_SIZE || whence == SEEK_END) {
        if (::fstat(self->m_fd, &st) != 0)
            return AVERROR(errno);
    }
    qint64 target = 0;
    switch (whence) {
    case AVSEEK_SIZE:
        return st.st_size;
    case SEEK_SET:
        target = offset;
        break;
    case SEEK_CUR:
        target = self->m_position + offset;
        break;
    case SEEK_END:
        target = st.st_size + offset;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (target < 0)
        return AVERROR(EINVAL);
    self->m_position = target;
    return target;
}
