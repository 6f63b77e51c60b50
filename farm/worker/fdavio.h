#pragma once

#include <QtGlobal>

#include <memory>

struct AVIOContext;

// An AVIOContext over a descriptor the supervisor passed. Regular files are
// read and written with pread/pwrite at a position of its own, so two
// contexts on the same descriptor (the muxer's and the verifier's) never
// move each other's offset; anything else is read as a stream.
class FdAvio {
public:
    enum class Mode { Read, ReadWrite };

    // nullptr only when out of memory.
    static std::unique_ptr<FdAvio> open(int fd, Mode mode);
    ~FdAvio();
    FdAvio(const FdAvio &) = delete;
    FdAvio &operator=(const FdAvio &) = delete;

    AVIOContext *context() const { return m_context; }
    bool seekable() const { return m_positional; }
    // The errno of the last failed read or write (EFBIG: the size limit).
    int lastErrno() const { return m_errno; }
    qint64 bytesWritten() const { return m_written; }

private:
    FdAvio(int fd, bool positional);

    static int readPacket(void *opaque, uint8_t *buffer, int size);
    static int writePacket(void *opaque, uint8_t *buffer, int size);
    static int64_t seek(void *opaque, int64_t offset, int whence);

    int m_fd;
    bool m_positional;
    qint64 m_position = 0;
    qint64 m_written = 0;
    int m_errno = 0;
    AVIOContext *m_context = nullptr;
};
