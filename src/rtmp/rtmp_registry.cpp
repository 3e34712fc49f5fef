// The stream registry: a hash of stream keys to the worker slot that publishes them.
#include "rtmp/rtmp_registry.h"

static constexpr size_t RTMP_REGISTRY_HASH = 4096;

struct rtmp_registry_entry_t {
    rtmp_registry_entry_t *next;
    int slot;
    size_t len;
    char key[]; // NUL-terminated
};

static rtmp_registry_entry_t *rtmp_registry[RTMP_REGISTRY_HASH];
static size_t rtmp_registry_n;

static rtmp_registry_entry_t **rtmp_registry_find(std::string_view key)
{
    size_t h = 5381;
    for (char ch : key) {
        h = h * 33 + (u_char)ch;
    }
    rtmp_registry_entry_t **pp = &rtmp_registry[h % RTMP_REGISTRY_HASH];
    while (*pp && std::string_view((*pp)->key, (*pp)->len) != key) {
        pp = &(*pp)->next;
    }
    return pp;
}

rtmp_int_t rtmp_registry_set(std::string_view key, int slot)
{
    rtmp_registry_entry_t **pp = rtmp_registry_find(key);
    if (*pp) {
        return (*pp)->slot == slot ? RTMP_OK : RTMP_DECLINED;
    }
    auto *e = static_cast<rtmp_registry_entry_t *>(
        rtmp_alloc(sizeof(rtmp_registry_entry_t) + key.size() + 1));
    e->next = nullptr;
    e->slot = slot;
    e->len = key.size();
    memcpy(e->key, key.data(), key.size());
    e->key[key.size()] = '\0';
    *pp = e;
    rtmp_registry_n++;
    return RTMP_OK;
}

bool rtmp_registry_del(std::string_view key, int slot)
{
    rtmp_registry_entry_t **pp = rtmp_registry_find(key);
    if (*pp == nullptr || (*pp)->slot != slot) {
        return false;
    }
    rtmp_registry_entry_t *e = *pp;
    *pp = e->next;
    rtmp_free(e);
    rtmp_registry_n--;
    return true;
}

int rtmp_registry_owner(std::string_view key)
{
    rtmp_registry_entry_t *e = *rtmp_registry_find(key);
    return e ? e->slot : -1;
}

void rtmp_registry_each(rtmp_registry_visit_pt visit, void *data)
{
    for (rtmp_registry_entry_t *head : rtmp_registry) {
        for (rtmp_registry_entry_t *e = head; e; e = e->next) {
            visit(e->key, e->slot, data);
        }
    }
}

void rtmp_registry_drop_slot(int slot, rtmp_registry_visit_pt visit, void *data)
{
    for (rtmp_registry_entry_t *&head : rtmp_registry) {
        rtmp_registry_entry_t **pp = &head;
        while (*pp) {
            rtmp_registry_entry_t *e = *pp;
            if (e->slot != slot) {
                pp = &e->next;
                continue;
            }
            visit(e->key, e->slot, data);
            *pp = e->next;
            rtmp_free(e);
            rtmp_registry_n--;
        }
    }
}

size_t rtmp_registry_count()
{
    return rtmp_registry_n;
}
