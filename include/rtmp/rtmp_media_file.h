// Reading media files in pieces: the byte source the FLV reader and MP4 demuxer parse from.
#pragma once

#include "core/rtmp_core.h"

// A file (or a test's memory buffer) read at any offset. The parsers ask for small pieces
// and never for the whole file; they do no I/O of their own, so tests and fuzzers feed
// them bytes directly.
typedef struct rtmp_media_file_s rtmp_media_file_t;
struct rtmp_media_file_s {
    // Reads up to n bytes at offset; returns how many (short only at the end of the
    // file), or -1 on an I/O error.
    ssize_t (*read)(const rtmp_media_file_t *f, u_char *buf, size_t n, uint64_t offset);
    void *data;
    uint64_t size;
};

// Reads exactly n bytes at offset; false when the file ends first or cannot be read.
[[nodiscard]] inline bool rtmp_media_file_read(const rtmp_media_file_t *f, u_char *buf, size_t n,
                                               uint64_t offset)
{
    if (offset > f->size || n > f->size - offset) {
        return false;
    }
    return f->read(f, buf, n, offset) == (ssize_t)n;
}

// A byte source over memory (tests, fuzzers): data points at `size` bytes.
void rtmp_media_file_memory(rtmp_media_file_t *f, const u_char *data, size_t size);

// A byte source over an open file descriptor (pread); size from fstat.
[[nodiscard]] rtmp_int_t rtmp_media_file_fd(rtmp_media_file_t *f, int fd);
