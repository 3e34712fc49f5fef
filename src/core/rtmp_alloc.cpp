// Process-wide allocation wrappers; running out of memory is fatal.
#include "core/rtmp_core.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#ifdef RTMP_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

[[noreturn]] static void rtmp_alloc_fail(size_t size)
{
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "rtmp_server: out of memory allocating %zu bytes\n", size);
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0) {
        // nothing more can be done
    }
    abort();
}

void *rtmp_alloc(size_t size)
{
    void *p = malloc(size);
    if (p == nullptr && size != 0) {
        rtmp_alloc_fail(size);
    }
    return p;
}

void *rtmp_calloc(size_t size)
{
    void *p = calloc(1, size);
    if (p == nullptr && size != 0) {
        rtmp_alloc_fail(size);
    }
    return p;
}

void *rtmp_realloc(void *p, size_t size)
{
    void *n = realloc(p, size);
    if (n == nullptr && size != 0) {
        rtmp_alloc_fail(size);
    }
    return n;
}

void rtmp_free(void *p)
{
    free(p);
}

// calloc rather than aligned_alloc and memset: a large block's fresh pages stay untouched
// until used. The block's own address is kept just below the aligned one.
void *rtmp_calloc_aligned(size_t size, size_t align)
{
    auto *raw = static_cast<u_char *>(rtmp_calloc(size + align + sizeof(void *)));
    u_char *p = rtmp_align_ptr(raw + sizeof(void *), align);
    memcpy(p - sizeof(void *), &raw, sizeof(raw));
    return p;
}

void rtmp_free_aligned(void *p)
{
    if (p) {
        void *raw;
        memcpy(&raw, static_cast<u_char *>(p) - sizeof(void *), sizeof(raw));
        rtmp_free(raw);
    }
}

void rtmp_alloc_release()
{
#ifdef RTMP_JEMALLOC
    static_assert(MALLCTL_ARENAS_ALL == 4096, "the arena index below means every arena");
    (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
#endif
}
