// Server-wide limits: counters in memory shared by the master and all its workers.
#include "rtmp/rtmp_limits.h"
#include "core/rtmp_shm.h"
#include "os/rtmp_process.h"

#include <atomic>
#include <netinet/in.h>

typedef std::atomic<uint32_t> rtmp_limits_counter_t;
static_assert(rtmp_limits_counter_t::is_always_lock_free, "shared counters must be lock-free");

// Totals are what admission checks; each worker also counts its own share, only it writes
// that share, and the master subtracts it from the totals when the worker dies.
struct rtmp_limits_shm_t {
    rtmp_limits_counter_t conns;
    rtmp_limits_counter_t streams;
    rtmp_limits_counter_t slot_conns[RTMP_LIMITS_SLOTS];
    rtmp_limits_counter_t slot_streams[RTMP_LIMITS_SLOTS];
    rtmp_limits_counter_t ip[RTMP_LIMITS_IP_HASH];
    // 8 MiB of address space; a worker touches only the pages of its own row
    rtmp_limits_counter_t slot_ip[RTMP_LIMITS_SLOTS][RTMP_LIMITS_IP_HASH];
};

static rtmp_limits_shm_t *rtmp_limits_shm;

rtmp_int_t rtmp_limits_init(rtmp_log_t *log)
{
    if (rtmp_limits_shm) {
        return RTMP_OK;
    }
    // zero-filled pages are valid zero counters
    void *p = rtmp_shm_alloc(sizeof(rtmp_limits_shm_t), log);
    if (p == nullptr) {
        return RTMP_ERROR;
    }
    rtmp_limits_shm = static_cast<rtmp_limits_shm_t *>(p);
    return RTMP_OK;
}

void rtmp_limits_done()
{
    rtmp_shm_free(rtmp_limits_shm, sizeof(rtmp_limits_shm_t));
    rtmp_limits_shm = nullptr;
}

static void rtmp_limits_sub(rtmp_limits_counter_t *total, rtmp_limits_counter_t *share)
{
    uint32_t n = share->exchange(0, std::memory_order_relaxed);
    if (n) {
        total->fetch_sub(n, std::memory_order_relaxed);
    }
}

void rtmp_limits_reset_slot(int slot)
{
    rtmp_limits_shm_t *sh = rtmp_limits_shm;
    if (sh == nullptr || slot < 0 || slot >= RTMP_LIMITS_SLOTS) {
        return;
    }
    rtmp_limits_sub(&sh->conns, &sh->slot_conns[slot]);
    rtmp_limits_sub(&sh->streams, &sh->slot_streams[slot]);
    for (size_t b = 0; b < RTMP_LIMITS_IP_HASH; b++) {
        rtmp_limits_sub(&sh->ip[b], &sh->slot_ip[slot][b]);
    }
}

int32_t rtmp_limits_ip_bucket(const struct sockaddr_storage *sa)
{
    const u_char *a;
    size_t len;
    static constexpr u_char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa->ss_family == AF_INET) {
        a = reinterpret_cast<const u_char *>(
            &reinterpret_cast<const struct sockaddr_in *>(sa)->sin_addr);
        len = 4;
    } else if (sa->ss_family == AF_INET6) {
        a = reinterpret_cast<const u_char *>(
            &reinterpret_cast<const struct sockaddr_in6 *>(sa)->sin6_addr);
        len = 8; // one host usually holds a whole /64: counting single addresses is no limit
        if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
            a += 12; // a dual-stack socket's IPv4 peer counts as that IPv4 address
            len = 4;
        }
    } else {
        return -1;
    }
    uint32_t h = 2166136261u; // FNV-1a
    for (size_t i = 0; i < len; i++) {
        h = (h ^ a[i]) * 16777619u;
    }
    h ^= (uint32_t)len; // v4 and v6 prefixes that happen to share bytes differ
    return (int32_t)(h % RTMP_LIMITS_IP_HASH);
}

// Takes one from a total unless that reaches max (0: no maximum). Two workers racing for
// the last place may both be refused: never more than max are admitted.
static bool rtmp_limits_take(rtmp_limits_counter_t *total, rtmp_int_t max)
{
    uint32_t n = total->fetch_add(1, std::memory_order_acq_rel);
    if (max > 0 && n >= (uint64_t)max) {
        total->fetch_sub(1, std::memory_order_acq_rel);
        return false;
    }
    return true;
}

// This worker's own share in a per-slot array; nullptr outside a worker (tests).
static rtmp_limits_counter_t *rtmp_limits_share(rtmp_limits_counter_t *by_slot)
{
    return rtmp_worker_slot >= 0 && rtmp_worker_slot < RTMP_LIMITS_SLOTS
               ? &by_slot[rtmp_worker_slot]
               : nullptr;
}

const char *rtmp_limits_conn_acquire(const struct sockaddr_storage *sa, rtmp_int_t max_connections,
                                     rtmp_int_t max_per_ip, uint32_t *ticket)
{
    rtmp_limits_shm_t *sh = rtmp_limits_shm;
    *ticket = 0;
    int32_t b = rtmp_limits_ip_bucket(sa);
    if (sh == nullptr || b < 0) {
        return nullptr;
    }
    if (!rtmp_limits_take(&sh->conns, max_connections)) {
        return "max_connections";
    }
    if (!rtmp_limits_take(&sh->ip[b], max_per_ip)) {
        sh->conns.fetch_sub(1, std::memory_order_acq_rel);
        return "max_connections_per_ip";
    }
    if (rtmp_limits_counter_t *share = rtmp_limits_share(sh->slot_conns)) {
        share->fetch_add(1, std::memory_order_relaxed);
        sh->slot_ip[rtmp_worker_slot][b].fetch_add(1, std::memory_order_relaxed);
    }
    *ticket = (uint32_t)b + 1;
    return nullptr;
}

void rtmp_limits_conn_release(uint32_t *ticket)
{
    rtmp_limits_shm_t *sh = rtmp_limits_shm;
    if (sh == nullptr || *ticket == 0) {
        return;
    }
    uint32_t b = *ticket - 1;
    *ticket = 0;
    sh->conns.fetch_sub(1, std::memory_order_acq_rel);
    sh->ip[b].fetch_sub(1, std::memory_order_acq_rel);
    if (rtmp_limits_counter_t *share = rtmp_limits_share(sh->slot_conns)) {
        share->fetch_sub(1, std::memory_order_relaxed);
        sh->slot_ip[rtmp_worker_slot][b].fetch_sub(1, std::memory_order_relaxed);
    }
}

bool rtmp_limits_stream_acquire(rtmp_int_t max_streams)
{
    rtmp_limits_shm_t *sh = rtmp_limits_shm;
    if (sh == nullptr) {
        return true;
    }
    if (!rtmp_limits_take(&sh->streams, max_streams)) {
        return false;
    }
    if (rtmp_limits_counter_t *share = rtmp_limits_share(sh->slot_streams)) {
        share->fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

void rtmp_limits_stream_release()
{
    rtmp_limits_shm_t *sh = rtmp_limits_shm;
    if (sh == nullptr) {
        return;
    }
    sh->streams.fetch_sub(1, std::memory_order_acq_rel);
    if (rtmp_limits_counter_t *share = rtmp_limits_share(sh->slot_streams)) {
        share->fetch_sub(1, std::memory_order_relaxed);
    }
}

uint32_t rtmp_limits_connections()
{
    return rtmp_limits_shm ? rtmp_limits_shm->conns.load() : 0;
}

uint32_t rtmp_limits_streams()
{
    return rtmp_limits_shm ? rtmp_limits_shm->streams.load() : 0;
}

uint32_t rtmp_limits_ip_connections(const struct sockaddr_storage *sa)
{
    int32_t b = rtmp_limits_ip_bucket(sa);
    return rtmp_limits_shm && b >= 0 ? rtmp_limits_shm->ip[b].load() : 0;
}
