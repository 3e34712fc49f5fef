// Connections: slots from a per-worker free list, their I/O functions and accepting.
#pragma once

#include "core/rtmp_buf.h"
#include "core/rtmp_core.h"
#include "core/rtmp_log.h"
#include "core/rtmp_queue.h"
#include "event/rtmp_event.h"

#include <sys/socket.h>
#include <sys/uio.h>

// What the kernel may hold not yet sent for a socket (TCP_NOTSENT_LOWAT), the rest waiting
// in our queue where the lag rules see it. Accepted sockets start with the setup value,
// so a player that leaves right after joining costs little of its GOP burst; once live
// (rtmp_connection_live), the live value, which Nagle needs to merge frames without
// short writes.
static constexpr int RTMP_NOTSENT_LOWAT_SETUP = 16 * 1024;
static constexpr int RTMP_NOTSENT_LOWAT_LIVE = 64 * 1024;

struct rtmp_ssl_conn_t;

// I/O goes through these, so TLS can replace plain sockets without touching callers.
// recv returns bytes read, 0 at EOF, RTMP_AGAIN or RTMP_ERROR.
typedef ssize_t (*rtmp_recv_pt)(rtmp_connection_t *c, u_char *buf, size_t size);
// writev-style send of up to iovcnt buffers; bytes sent, RTMP_AGAIN or RTMP_ERROR.
typedef ssize_t (*rtmp_send_iov_pt)(rtmp_connection_t *c, const struct iovec *iov, int iovcnt);

struct alignas(RTMP_CACHE_LINE) rtmp_connection_s {
    // What each send and receive touches, in the first 64 bytes (see rtmp_session_s)
    void *data; // the session, or the listening socket for accept slots
    rtmp_event_t *read;
    rtmp_event_t *write;
    int fd;
    unsigned close : 1; // the owner asked for the connection to be closed at a safe point
    unsigned destroyed : 1;
    unsigned nodelay : 1; // TCP_NODELAY is on: still in the setup exchange
    unsigned tls : 1;     // I/O goes through `ssl` (rtmp_ssl.h)
    rtmp_recv_pt recv;
    rtmp_send_iov_pt send_iov;
    uint64_t received;
    uint64_t sent;

    rtmp_listening_t *listening;
    rtmp_ssl_conn_t *ssl;
    struct sockaddr_storage sockaddr;
    socklen_t socklen;
    char addr_text[80];

    rtmp_pool_t *pool;
    rtmp_log_t log;  // the worker's log plus this connection's context
    uint64_t number; // for log lines: "*17"

    rtmp_queue_t queue; // in the worker's list of active connections
};

// Reserves worker_connections slots; nothing is allocated per accept but the pool.
[[nodiscard]] rtmp_int_t rtmp_connections_init(size_t n, rtmp_log_t *log);
void rtmp_connections_done();

// A free slot with fd set, or nullptr when every slot is taken.
[[nodiscard]] rtmp_connection_t *rtmp_connection_get(int fd);
// The connection whose read or write event this is; nullptr for any other event.
[[nodiscard]] rtmp_connection_t *rtmp_connection_of(const rtmp_event_t *ev);
// Closes the socket, drops timers and posted events, returns the slot.
void rtmp_connection_close(rtmp_connection_t *c);
// Closes once the peer has seen our end: the write side is shut, and what the peer still
// sends is read and dropped until its end or RTMP_CONNECTION_LINGER, then rtmp_connection_close.
// Closing with input unread sends a reset, not a FIN: the peer may lose replies it has not
// read yet, and logs the reset. The pool goes at once (its cleanups run), so the owner must
// be done with the connection as at rtmp_connection_close.
void rtmp_connection_linger(rtmp_connection_t *c);
static constexpr rtmp_msec_t RTMP_CONNECTION_LINGER = 2000;
// Puts socket `fd` in the slot in place of the connection's own, which is closed, and watches
// it as rtmp_event_add_connection does; timers and posted events are dropped. An owner that
// holds the connection (a relay trying a host's next address) keeps holding it.
[[nodiscard]] rtmp_int_t rtmp_connection_replace_fd(rtmp_connection_t *c, int fd);
// Counts the connection among the clients a graceful shutdown waits for.
void rtmp_connection_activate(rtmp_connection_t *c);
size_t rtmp_connection_active_count();
// Fewer than an eighth of the slots are free: time to leave new clients to other workers.
bool rtmp_connection_nearly_full();
// Every active client connection (not accept slots or channels).
rtmp_queue_t *rtmp_connection_active();
// A connection accepted for its setup exchange starts streaming media: Nagle back on and
// the live TCP_NOTSENT_LOWAT (once; no-op otherwise).
void rtmp_connection_live(rtmp_connection_t *c);
// Everything send_iov counted as sent is in the socket (TLS may hold a record back until
// EPOLLOUT): a response may be considered done, and the write side shut.
[[nodiscard]] bool rtmp_connection_flushed(const rtmp_connection_t *c);
// Shuts the write side (after TLS's close_notify): the peer reads to the end, then EOF.
void rtmp_connection_shutdown_write(rtmp_connection_t *c);
// Bytes received and sent by every connection of this worker, closed ones included.
void rtmp_connection_totals(uint64_t *received, uint64_t *sent);

void rtmp_sockaddr_text(const struct sockaddr_storage *sa, char *buf, size_t len);

ssize_t rtmp_unix_recv(rtmp_connection_t *c, u_char *buf, size_t size);
ssize_t rtmp_unix_send_iov(rtmp_connection_t *c, const struct iovec *iov, int iovcnt);

// The read handler of a listening socket: accepts until EAGAIN.
void rtmp_event_accept(rtmp_event_t *ev);
// Starts (or stops, for a graceful shutdown) accepting on every listening socket.
[[nodiscard]] rtmp_int_t rtmp_event_listen(rtmp_cycle_t *cycle);
void rtmp_event_stop_listening(rtmp_cycle_t *cycle);
