"""Server-wide limits with 2 workers: max_connections, max_connections_per_ip and max_streams
are counted across workers in shared memory; the one connection or publish over a limit is
refused with a log line naming it, the sessions within the limit keep being served, a freed
place is usable again, and a worker that dies gives its places back."""

import os
import re
import signal
import socket
import time

import harness
import rtmp_client as rc
from harness import check, wait_for
from live_helpers import PyPlayer, PyPublisher, live_server, status_code

LIVE = {"live": "live = true;"}


def _served(port, source="127.0.0.1"):
    """A client whose handshake was answered: the server counted it."""
    if source == "127.0.0.1":
        c = rc.RtmpClient(port)
        c.handshake()
        return c
    # RtmpClient connects from 127.0.0.1: the same client over a socket bound elsewhere
    c = rc.RtmpClient.__new__(rc.RtmpClient)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    c.port, c.timeout, c.sock = port, 3.0, s
    c.in_chunk_size = c.out_chunk_size = rc.DEFAULT_CHUNK_SIZE
    c.streams, c.rbuf, c.received, c.tid = {}, bytearray(), [], 1
    c.handshake()
    return c


def _refused(port, source="127.0.0.1"):
    """A connection the server closes without answering C0+C1; its local port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    local = s.getsockname()[1]
    try:
        s.sendall(b"\x03" + bytes(1536))
        data = s.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    finally:
        s.close()
    check(data == b"", "a connection over the limit got %d bytes of handshake" % len(data))
    return local


def _still_served(c):
    v, _ = c.connect_app()
    check(v[:2] == ["_result", 1.0], "a session within the limit was not served: %r" % (v,))


def _workers_of(srv):
    return {w.split("#")[0] for w in
            (line.split(" ")[3] for line in srv.log().splitlines() if "handshake done" in line)}


def test_max_connections():
    with live_server(LIVE, workers=2, main_extra="max_connections = 4;\n") as srv:
        srv.start()
        # the start-up probe's connection must have given its place back first
        srv.wait_log("session closed: client closed the connection")
        held = [_served(srv.port) for _ in range(4)]
        _refused(srv.port)
        srv.wait_log("connection refused: max_connections (4) reached")
        for c in held:
            _still_served(c)
        held.pop().close()
        # the closed session gives its place back once the worker has seen the close
        c = wait_for(lambda: _try_served(srv.port), 3.0, "a place freed by a close")
        held.append(c)
        _refused(srv.port)
        print("  4 sessions over %d worker(s), the 5th refused" % len(_workers_of(srv)))
        for c in held:
            c.close()


def _try_served(port):
    try:
        return _served(port)
    except (harness.TestFailure, OSError):
        return None


def test_max_connections_per_ip():
    with live_server(LIVE, workers=2, main_extra="max_connections_per_ip = 3;\n") as srv:
        srv.start()
        # the start-up probe's connection must have given its place back first
        srv.wait_log("session closed: client closed the connection")
        held = [_served(srv.port) for _ in range(3)]
        _refused(srv.port)
        srv.wait_log("connection refused: max_connections_per_ip (3) reached")
        # another address has its own count (127.0.0.2 is loopback too on Linux)
        other = _served(srv.port, "127.0.0.2")
        _still_served(other)
        for c in held:
            _still_served(c)
            c.close()
        c = wait_for(lambda: _try_served(srv.port), 3.0, "places freed by closes")
        c.close()
        other.close()


def test_max_streams():
    with live_server(LIVE, workers=2, main_extra="max_streams = 2;\n") as srv:
        srv.start()
        a = PyPublisher(srv.port, "live", "a")
        b = PyPublisher(srv.port, "live", "b")
        check(a.status == b.status == "NetStream.Publish.Start",
              "publishes within the limit: %s, %s" % (a.status, b.status))
        with PyPlayer(srv.port, "live", "a") as p:
            p.play()
            p.wait_status("NetStream.Play.Start")
            c = PyPublisher(srv.port, "live", "c")
            check(c.status == "NetStream.Publish.BadName", "3rd publish answered %s" % c.status)
            desc = [m.amf()[3].get("description") for m in c.c.received
                    if status_code(m) == "NetStream.Publish.BadName"]
            check(desc and "max_streams" in desc[0], "BadName description: %r" % desc)
            srv.wait_log('publish "live/c" refused: max_streams (2) reached')
            # a second encoder on a name already published hears that, not the limit
            a2 = PyPublisher(srv.port, "live", "a")
            desc = [m.amf()[3].get("description") for m in a2.c.received
                    if status_code(m) == "NetStream.Publish.BadName"]
            check(desc == ["Already publishing"], "a busy name at the limit: %r" % desc)
            a2.close()
            # the published stream is still served to its player
            a.video(0, b"\x00" * 10, header=True)
            a.video(40, b"k" * 100, key=True)
            p.wait(lambda ms: any(m.type == rc.MSG_VIDEO for m in ms), 3.0, "video of a")
            c.close()
        b.close()
        d = wait_for(lambda: _publish_started(srv.port, "d"), 3.0, "a place freed by unpublish")
        d.close()
        a.close()


def _publish_started(port, name):
    p = PyPublisher(port, "live", name)
    if p.status == "NetStream.Publish.Start":
        return p
    p.close()
    return None


def test_dead_worker_gives_places_back():
    with live_server(LIVE, workers=2, main_extra="max_connections = 3;\nmax_streams = 1;\n") \
            as srv:
        srv.start()
        pub = PyPublisher(srv.port, "live", "x")
        check(pub.status == "NetStream.Publish.Start", "publish x: %s" % pub.status)
        held = [_served(srv.port) for _ in range(2)] + [pub.c]
        _refused(srv.port)
        old = srv.worker_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        for c in held:
            c.close()
        wait_for(lambda: len(set(srv.worker_pids()) - set(old)) == 2, 10.0, "2 new workers")
        # without the master forgetting the dead workers' counts, all of these would be refused
        again = [wait_for(lambda: _try_served(srv.port), 3.0, "a place") for _ in range(2)]
        pub = wait_for(lambda: _publish_started(srv.port, "y"), 3.0, "a stream place")
        _refused(srv.port)
        for c in again + [pub.c]:
            c.close()


def test_refusal_lines_are_rate_limited():
    """A client reconnecting in a loop cannot fill the log: at most 10 refusal lines a second,
    and the next line says how many were left out, so every refusal is accounted for."""
    with live_server(LIVE, workers=1, main_extra="max_connections_per_ip = 1;\n") as srv:
        srv.start()
        srv.wait_log("session closed: client closed the connection")
        held = _served(srv.port)
        pattern = re.compile(r"connection refused: max_connections_per_ip \(1\) reached"
                             r"(?: \((\d+) more refused since the last line\))?,")
        refusals = 40
        for _ in range(refusals):
            _refused(srv.port)
        time.sleep(1.1)
        _refused(srv.port)
        refusals += 1
        lines = wait_for(lambda: _refusal_lines(srv, pattern, refusals), 5,
                         "every refusal accounted for in the log")
        check(len(lines) < refusals, "%d refusal lines for %d refusals" % (len(lines), refusals))
        check(lines[0].group(1) is None, "the first line claims some left out: %s"
              % lines[0].group(0))
        check(int(lines[-1].group(1) or 0) > 0, "the last line counts none left out: %s"
              % lines[-1].group(0))
        held.close()


def _refusal_lines(srv, pattern, refusals):
    lines = [m for m in map(pattern.search, srv.log().splitlines()) if m]
    return lines if len(lines) + sum(int(m.group(1) or 0) for m in lines) == refusals else None
