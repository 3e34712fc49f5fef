"""10,000 idle TCP connections accepted and held by 2 workers, then released."""

import errno
import select
import socket
import struct
import time

from harness import Server, check, raise_nofile, skip, socket_count, vm_rss_kib, wait_for

CONNECTIONS = 10000
BATCH = 250


def _open_batch(port, n, ep, socks):
    """Starts n non-blocking connects and waits (bounded) until all complete."""
    pending = {}
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, "connect to 127.0.0.1:%d: %s" % (port, errno.errorcode.get(rc)))
        pending[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLOUT)
    deadline = time.monotonic() + 10.0
    while pending and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.2):
            s = pending.pop(fd, None)
            if s is None:
                continue
            ep.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                s.close()
                raise OSError(err, "connect failed: %s" % errno.errorcode.get(err))
            socks.append(s)
    check(not pending, "%d connects did not complete within 10 s" % len(pending))


def test_10k_idle_connections():
    need = CONNECTIONS + 1000
    got = raise_nofile(need + 1000)
    if got < need:
        skip("RLIMIT_NOFILE is %d and cannot be raised to %d" % (got, need))

    srv = Server(workers=2,
                 main_extra="worker_connections = 8000;\nworker_rlimit_nofile = 20000;\n",
                 server_extra='            handshake_timeout = "120s";\n')
    socks = []
    with srv:
        srv.start()
        workers = srv.worker_pids()
        check(len(workers) == 2, "expected 2 workers, found %s" % workers)
        # the start-up probe's socket must be gone before the baseline is taken
        srv.wait_log("session closed: client closed the connection")
        time.sleep(0.2)  # the line is logged just before the socket is closed
        base = {p: socket_count(p) for p in workers}
        base_rss = {p: vm_rss_kib(p) for p in workers}
        ep = select.epoll()
        try:
            t0 = time.monotonic()
            while len(socks) < CONNECTIONS:
                _open_batch(srv.port, min(BATCH, CONNECTIONS - len(socks)), ep, socks)
            opened = time.monotonic() - t0

            # from here on, a client socket that turns readable was closed by the server
            for s in socks:
                ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            closed = set()

            def held():
                return {p: socket_count(p) - base[p] for p in workers}

            def all_held():
                closed.update(fd for fd, _ in ep.poll(0))
                check(not closed, "%d of %d connections were closed by the server (workers "
                      "hold %s)" % (len(closed), CONNECTIONS, held()))
                h = held()
                return sum(h.values()) >= CONNECTIONS and h

            counts = wait_for(all_held, 30.0, "the workers to hold %d connections (they hold "
                              "%s)" % (CONNECTIONS, held()))
            rss = {p: vm_rss_kib(p) for p in workers}

            # hold them for ~2 s: none may be closed by the server meanwhile
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and not closed:
                closed.update(fd for fd, _ in ep.poll(0.25))
            check(not closed, "%d idle connections were closed by the server while held"
                  % len(closed))
            counts_after = held()
            check(srv.proc.poll() is None, "the master exited")
            check(srv.worker_pids() == workers, "workers changed while holding connections: %s"
                  % srv.worker_pids())
            check(sum(counts_after.values()) >= CONNECTIONS,
                  "workers hold %s after 2 s, expected %d in all" % (counts_after, CONNECTIONS))
            check(all(c > 0 for c in counts.values()),
                  "not both workers hold connections: %s" % counts)

            a, b = workers
            grown = sum(rss.values()) - sum(base_rss.values())
            print("  %d connections opened in %.1f s; held by worker %d: %d, worker %d: %d"
                  % (CONNECTIONS, opened, a, counts[a], b, counts[b]))
            print("  rss: worker A %d KiB, worker B %d KiB, %d B per connection"
                  % (rss[a], rss[b], grown * 1024 // CONNECTIONS))
        finally:
            # half close with FIN, half reset (SO_LINGER 0): both paths, and only half as
            # many client ports left in TIME_WAIT for the next run
            for i, s in enumerate(socks):
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            ep.close()
        socks = []
        wait_for(lambda: all(socket_count(p) <= base[p] + 5 for p in workers), 10.0,
                 "the workers' fd counts to fall back (now %s, before %s)"
                 % ({p: socket_count(p) for p in workers}, base))
        check(srv.worker_pids() == workers, "workers changed: %s -> %s"
              % (workers, srv.worker_pids()))


test_10k_idle_connections.TIME_LIMIT = 60
