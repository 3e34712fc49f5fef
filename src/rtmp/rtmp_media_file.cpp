// Byte sources for the media file readers: memory for tests and fuzzers, pread on a file.
#include "rtmp/rtmp_media_file.h"

#include <sys/stat.h>
#include <unistd.h>

static ssize_t rtmp_media_file_memory_read(const rtmp_media_file_t *f, u_char *buf, size_t n,
                                           uint64_t offset)
{
    if (offset >= f->size) {
        return 0;
    }
    if (n > f->size - offset) {
        n = (size_t)(f->size - offset);
    }
    memcpy(buf, static_cast<const u_char *>(f->data) + offset, n);
    return (ssize_t)n;
}

void rtmp_media_file_memory(rtmp_media_file_t *f, const u_char *data, size_t size)
{
    f->read = rtmp_media_file_memory_read;
    f->data = const_cast<u_char *>(data);
    f->size = size;
}

static ssize_t rtmp_media_file_fd_read(const rtmp_media_file_t *f, u_char *buf, size_t n,
                                       uint64_t offset)
{
    int fd = (int)(intptr_t)f->data;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

rtmp_int_t rtmp_media_file_fd(rtmp_media_file_t *f, int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        return RTMP_ERROR;
    }
    f->read = rtmp_media_file_fd_read;
    f->data = (void *)(intptr_t)fd;
    f->size = (uint64_t)sb.st_size;
    return RTMP_OK;
}
