// Shared memory: anonymous MAP_SHARED regions inherited by forked workers.
#include "core/rtmp_shm.h"

#include <sys/mman.h>

void *rtmp_shm_alloc(size_t size, rtmp_log_t *log)
{
    void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        rtmp_log_error(RTMP_LOG_EMERG, log, errno, "mmap(MAP_SHARED|MAP_ANONYMOUS, %zu) failed",
                       size);
        return nullptr;
    }
    return p;
}

void rtmp_shm_free(void *addr, size_t size)
{
    if (addr) {
        munmap(addr, size);
    }
}
