// Spreading new connections over the workers: per-worker figures in shared memory.
#include "event/rtmp_balance.h"
#include "core/rtmp_shm.h"
#include "os/rtmp_process.h"

#include <atomic>

// A worker steps aside when it holds more than this many connections above another
// accepting worker: enough that a burst's last few do not make workers take turns at every
// wake-up, few enough that a handful of streams spreads.
static constexpr uint32_t RTMP_BALANCE_SLACK = 2;

// One cache line per worker: each writes only its own, at every connection it opens or closes.
struct alignas(RTMP_CACHE_LINE) rtmp_balance_slot_t {
    std::atomic<uint32_t> state;
    std::atomic<uint32_t> load;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared figures must be lock-free");

static constexpr size_t RTMP_BALANCE_SIZE = sizeof(rtmp_balance_slot_t) * RTMP_BALANCE_SLOTS;
static rtmp_balance_slot_t *rtmp_balance_slots;

rtmp_int_t rtmp_balance_init(rtmp_log_t *log)
{
    if (rtmp_balance_slots) {
        return RTMP_OK;
    }
    // zero-filled: every slot gone, with no connections
    void *p = rtmp_shm_alloc(RTMP_BALANCE_SIZE, log);
    if (p == nullptr) {
        return RTMP_ERROR;
    }
    rtmp_balance_slots = static_cast<rtmp_balance_slot_t *>(p);
    return RTMP_OK;
}

void rtmp_balance_done()
{
    rtmp_shm_free(rtmp_balance_slots, RTMP_BALANCE_SIZE);
    rtmp_balance_slots = nullptr;
}

void rtmp_balance_reset_slot(int slot)
{
    if (rtmp_balance_slots && slot >= 0 && slot < RTMP_BALANCE_SLOTS) {
        rtmp_balance_slots[slot].state.store((uint32_t)rtmp_balance_state::gone);
        rtmp_balance_slots[slot].load.store(0);
    }
}

// This worker's slot; nullptr outside a worker or without rtmp_balance_init.
static rtmp_balance_slot_t *rtmp_balance_own()
{
    return rtmp_balance_slots && rtmp_worker_slot >= 0 && rtmp_worker_slot < RTMP_BALANCE_SLOTS
               ? &rtmp_balance_slots[rtmp_worker_slot]
               : nullptr;
}

void rtmp_balance_set_state(rtmp_balance_state state)
{
    if (rtmp_balance_slot_t *own = rtmp_balance_own()) {
        own->state.store((uint32_t)state);
    }
}

void rtmp_balance_set_load(size_t connections)
{
    if (rtmp_balance_slot_t *own = rtmp_balance_own()) {
        own->load.store((uint32_t)connections, std::memory_order_relaxed);
    }
}

bool rtmp_balance_should_step_aside()
{
    rtmp_balance_slot_t *own = rtmp_balance_own();
    if (own == nullptr) {
        return false;
    }
    uint32_t mine = own->load.load(std::memory_order_relaxed);
    for (int s = 0; s < RTMP_BALANCE_SLOTS; s++) {
        const rtmp_balance_slot_t *other = &rtmp_balance_slots[s];
        if (other != own && other->state.load() == (uint32_t)rtmp_balance_state::accepting &&
            mine > other->load.load(std::memory_order_relaxed) + RTMP_BALANCE_SLACK) {
            return true;
        }
    }
    return false;
}
