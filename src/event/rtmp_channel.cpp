// Master <-> worker channels over SOCK_SEQPACKET, so a message never arrives in pieces.
#include "event/rtmp_channel.h"

#include <sys/socket.h>

rtmp_int_t rtmp_channel_open(int fds[2])
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0
               ? RTMP_OK
               : RTMP_ERROR;
}

rtmp_int_t rtmp_channel_write(int fd, const rtmp_channel_msg_t *msg)
{
    for (;;) {
        if (send(fd, msg, sizeof(*msg), MSG_NOSIGNAL) == (ssize_t)sizeof(*msg)) {
            return RTMP_OK;
        }
        if (errno != EINTR) {
            return errno == EAGAIN ? RTMP_AGAIN : RTMP_ERROR;
        }
    }
}

rtmp_int_t rtmp_channel_read(int fd, rtmp_channel_msg_t *msg)
{
    for (;;) {
        ssize_t n = recv(fd, msg, sizeof(*msg), 0);
        if (n == (ssize_t)sizeof(*msg)) {
            return RTMP_OK;
        }
        if (n == 0) {
            return RTMP_DONE;
        }
        if (n > 0) {
            return RTMP_ERROR; // not one of ours
        }
        if (errno != EINTR) {
            return errno == EAGAIN ? RTMP_AGAIN : RTMP_ERROR;
        }
    }
}
