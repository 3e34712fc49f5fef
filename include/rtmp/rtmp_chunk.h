// RTMP chunk stream reader and writer (RTMP 1.0 spec, 5.3): bytes in, messages out, no I/O.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_message.h"

constexpr uint32_t RTMP_CHUNK_DEFAULT_SIZE = 128;       // spec 5.4.1: until Set Chunk Size
constexpr uint32_t RTMP_CHUNK_MAX_SIZE = 0x7fffffff;    // spec 5.4.1: the top bit must be 0
constexpr uint32_t RTMP_CHUNK_CSID_MAX = 65599;         // spec 5.3.1.1: 3-byte basic header
constexpr uint32_t RTMP_CHUNK_MESSAGE_MAX = 0xffffff;   // 3-byte message length field
constexpr uint32_t RTMP_CHUNK_EXT_TIMESTAMP = 0xffffff; // spec 5.3.1.3
constexpr size_t RTMP_CHUNK_MAX_HEADER = 3 + 11 + 4;    // basic + fmt 0 + extended timestamp
constexpr size_t RTMP_CHUNK_HASH = 64;                  // chunk stream buckets (csid % 64)

typedef struct rtmp_chunk_stream_s rtmp_chunk_stream_t;
typedef struct rtmp_chunk_reader_s rtmp_chunk_reader_t;
typedef struct rtmp_chunk_reader_conf_s rtmp_chunk_reader_conf_t;
typedef struct rtmp_chunk_out_s rtmp_chunk_out_t;
typedef struct rtmp_chunk_writer_s rtmp_chunk_writer_t;

// Limits for everything a peer controls; zeros take the defaults noted.
struct rtmp_chunk_reader_conf_s {
    uint32_t max_chunk_size; // largest Set Chunk Size accepted (0: 65536)
    uint32_t max_message;    // largest message length (0: 1 MiB; at most 16 MiB - 1)
    uint32_t max_streams;    // chunk streams per connection (0: 64)
    size_t max_buffered;     // payload memory over all chunk streams (0: 4 * max_message)
};

// Input state of one chunk stream; never freed before the reader's pool.
struct rtmp_chunk_stream_s {
    rtmp_chunk_stream_t *next; // hash bucket chain
    rtmp_header_t h;           // the message being assembled, or the last one
    uint32_t delta;            // timestamp delta a fmt 3 header repeats
    uint32_t ext;              // raw extended timestamp field of the last fmt 0-2 header
    uint32_t received;         // payload bytes of h so far; 0 between messages
    u_char *buf;               // payload assembly, grown as bytes arrive (heap)
    size_t cap;
    unsigned seen : 1;     // a fmt 0/1 header was read, so fmt 2/3 have a base
    unsigned extended : 1; // the last fmt 0-2 header carried an extended timestamp
    unsigned active : 1;   // between a message's header and its last payload byte
};

enum class rtmp_chunk_state : uint8_t {
    header,  // accumulating a chunk header in hdr
    payload, // copying the current chunk's payload
};

struct rtmp_chunk_reader_s {
    rtmp_pool_t *pool;
    rtmp_chunk_reader_conf_t conf;
    uint32_t chunk_size; // input chunk size, changed by Set Chunk Size
    uint32_t nstreams;
    uint64_t bytes_read; // every byte consumed, for Acknowledgement (spec 5.4.3)
    size_t buffered;     // sum of the streams' cap
    uint32_t partial;    // chunk streams inside a message (their active bit set)
    const char *reason;  // why the last call returned RTMP_ERROR

    rtmp_chunk_state state;
    rtmp_chunk_stream_t *cur; // stream of the chunk being read
    uint32_t chunk_left;      // payload bytes left in the current chunk
    size_t hlen;
    u_char hdr[RTMP_CHUNK_MAX_HEADER];
    // Bytes taken to peek at a possibly omitted extended timestamp that turned out to be
    // payload (and, for a short last chunk, the next header); read before new input.
    u_char back[8];
    size_t back_pos;
    size_t back_len;

    rtmp_chunk_stream_t *hash[RTMP_CHUNK_HASH];
};

// A reader with the limits in `conf` (nullptr: defaults), living in `pool` (the connection's);
// its payload memory is released when the pool is destroyed.
[[nodiscard]] rtmp_chunk_reader_t *rtmp_chunk_reader_create(rtmp_pool_t *pool,
                                                            const rtmp_chunk_reader_conf_t *conf);

// Reads from `in` until one message is complete.
//   RTMP_OK: *msg is the message, *consumed the bytes of `in` used; call again with the rest.
//            The payload is valid until the next call and while `in` is unchanged (a message
//            that arrived whole in one chunk points into `in`).
//   RTMP_AGAIN: all of `in` was consumed (*consumed == in.size()) without completing one.
//   RTMP_ERROR: the peer broke the protocol or a limit; r->reason says how. The reader is
//            then unusable; close the connection.
// Set Chunk Size (type 1) and Abort (type 2) take effect here and are still returned.
[[nodiscard]] rtmp_int_t rtmp_chunk_read(rtmp_chunk_reader_t *r, std::span<const u_char> in,
                                         size_t *consumed, rtmp_message_t *msg);

// Whether input stopped inside a message: a chunk header, or a message's chunks.
inline bool rtmp_chunk_reader_partial(const rtmp_chunk_reader_t *r)
{
    return r->state != rtmp_chunk_state::header || r->hlen || r->back_len || r->partial;
}

// Output state of one chunk stream: the last header written on it.
struct rtmp_chunk_out_s {
    rtmp_chunk_out_t *next;
    uint32_t csid;
    uint32_t timestamp;
    uint32_t delta;
    uint32_t mlen;
    uint32_t msid;
    uint8_t type;
    unsigned fmt0 : 1; // last header was fmt 0, whose delta readers disagree on
};

struct rtmp_chunk_writer_s {
    rtmp_pool_t *pool;
    uint32_t chunk_size; // output chunk size; send Set Chunk Size before changing it
    const char *reason;
    rtmp_chunk_out_t *hash[RTMP_CHUNK_HASH];
};

void rtmp_chunk_writer_init(rtmp_chunk_writer_t *w, rtmp_pool_t *pool, uint32_t chunk_size);

// Exact bytes rtmp_chunk_write() would produce for a message with header `h` now.
[[nodiscard]] size_t rtmp_chunk_write_size(rtmp_chunk_writer_t *w, const rtmp_header_t *h);

// Chunks `m` into out->last.. with the header compressed against the last message on its csid.
// RTMP_ERROR (w->reason) on a bad header or too little room; nothing is written then.
[[nodiscard]] rtmp_int_t rtmp_chunk_write(rtmp_chunk_writer_t *w, const rtmp_message_t *m,
                                          rtmp_buf_t *out);

// Bytes of `h` chunked with a fmt 0 first header at `chunk_size`.
[[nodiscard]] size_t rtmp_chunk_fmt0_size(const rtmp_header_t *h, uint32_t chunk_size);

// Chunks `m` with a fmt 0 first header and fmt 3 continuations that depend on no connection's
// state, so one encoding can be shared by every player with the same output chunk size. Each
// player then calls rtmp_chunk_writer_sent() so later compressed headers build on it.
[[nodiscard]] rtmp_int_t rtmp_chunk_write_fmt0(const rtmp_message_t *m, uint32_t chunk_size,
                                               rtmp_buf_t *out, const char **reason);

// Records that a fmt 0 encoding of `h` was sent on this connection.
void rtmp_chunk_writer_sent(rtmp_chunk_writer_t *w, const rtmp_header_t *h);
