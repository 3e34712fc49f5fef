"""Hostile peers against 2 workers while an ffmpeg publisher and an ffmpeg player run: slowloris
in the handshake and inside a message, a declared 16 MiB message never completed, 65,000 chunk
streams, a chunk size of 2^31-1, deep AMF nesting and a command storm. Each abuser is dropped
with its log reason, the workers' RSS grows by less than RSS_BOUND (three times that in an
AddressSanitizer build), and the player still gets every packet of the source."""

import os
import socket
import struct
import threading
import time

import rtmp_client as rc
from harness import asan_build, check, fail, media_clip, need_tools, vm_rss_kib, wait_for
from live_helpers import (ffmpeg_player, ffmpeg_publisher, check_players, live_server,
                          session_lines, source, wait_players)

RSS_BOUND_KIB = 20 * 1024
CONF = ('            handshake_timeout = "2s";\n'
        '            message_timeout = "2s";\n'
        '            max_message = "16m";\n')


def _client(port):
    c = rc.RtmpClient(port, timeout=5.0)
    c.handshake()
    return c


def _connected(port):
    c = _client(port)
    v, _ = c.connect_app()
    check(v[:2] == ["_result", 1.0], "abuser's connect answered %r" % (v,))
    return c


def _trickle(c, data, every=0.1, limit=8.0):
    """Sends one byte at a time until the server closes the connection (or limit seconds)."""
    deadline = time.monotonic() + limit
    for i in range(len(data)):
        if time.monotonic() > deadline:
            return
        try:
            c.sock.sendall(data[i:i + 1])
        except OSError:
            return
        if c.wait_closed(every):
            return


def _blast(c, data):
    try:
        c.sock.sendall(data)
    except OSError:
        pass


def slowloris_handshake(port):
    c = rc.RtmpClient(port, timeout=5.0)
    _trickle(c, b"\x03" + bytes(1536))
    return c


def slowloris_message(port):
    c = _connected(port)
    _trickle(c, rc.fmt0_header(4, rc.MSG_AUDIO, 0, 0, 1000) + bytes(1000))
    return c


def huge_message(port):
    # 16 MiB - 1 declared (the most a header can say), 64 KiB sent, then nothing
    c = _connected(port)
    c.set_chunk_size(65536)
    _blast(c, rc.fmt0_header(4, rc.MSG_VIDEO, 0, 0, 0xFFFFFF) + bytes(65536))
    return c


def many_chunk_streams(port):
    c = _connected(port)
    out = bytearray()
    for csid in range(4, 65004):
        out += rc.fmt0_header(csid, rc.MSG_AUDIO, 0, 0, 1) + b"\xaf"
    _blast(c, bytes(out))
    return c


def huge_chunk_size(port):
    # the chunk size says nothing about memory: 1 MiB of an 8 MiB message in one "chunk"
    c = _connected(port)
    _blast(c, rc.chunk_message(2, rc.MSG_CHUNK_SIZE, 0, 0, struct.pack(">I", 0x7FFFFFFF), 128))
    _blast(c, rc.fmt0_header(4, rc.MSG_VIDEO, 0, 0, 8 << 20) + bytes(1 << 20))
    return c


def deep_amf(port):
    c = _client(port)
    body = rc.amf0_encode("connect", 1.0) + b"\x03" + b"\x00\x01a\x03" * 200 + \
        b"\x00\x01a\x05" + b"\x00\x00\x09" * 201
    _blast(c, rc.chunk_message(3, rc.MSG_AMF_CMD, 0, 0, body, 128))
    return c


def command_storm(port):
    c = _connected(port)
    out = bytearray()
    for i in range(3000):
        out += rc.chunk_message(3, rc.MSG_AMF_CMD, 0, 0,
                                rc.amf0_encode("_checkbw", float(i + 2), None), 128)
    _blast(c, bytes(out))
    return c


ABUSERS = [
    (slowloris_handshake, "handshake timed out"),
    (slowloris_message, "message not completed within message_timeout"),
    (huge_message, "message not completed within message_timeout"),
    (many_chunk_streams, "too many chunk streams"),
    (huge_chunk_size, "message not completed within message_timeout"),
    (deep_amf, "AMF nesting too deep"),
    (command_storm, "command storm: above max_commands_per_second"),
]


def test_hostile_peers_beside_a_live_stream():
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(6)
    src = source(clip)
    stream = "live/s"
    with live_server({"live": "live = true;"}, workers=2, server_extra=CONF) as srv:
        # A sanitizer build keeps freed memory in ASan's quarantine (256 MB), where RSS
        # counts it: a small one lets the bound see what the server itself holds.
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4").lstrip(":")
        srv.start(env={"ASAN_OPTIONS": asan})
        workers = srv.worker_pids()
        base = sum(vm_rss_kib(p) for p in workers)
        ff = ffmpeg_player(srv, stream, "player")
        wait_players(srv, stream, 1)
        pub = ffmpeg_publisher(srv, clip, stream, "pub")
        time.sleep(0.5)

        results = {}

        def run(fn):
            try:
                results[fn.__name__] = fn(srv.port)
            except BaseException as e:  # reported below
                results[fn.__name__] = e

        threads = [threading.Thread(target=run, args=(fn,), daemon=True) for fn, _ in ABUSERS]
        for t in threads:
            t.start()
        peak = base
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and any(t.is_alive() for t in threads):
            peak = max(peak, sum(vm_rss_kib(p) for p in workers))
            time.sleep(0.05)

        for fn, reason in ABUSERS:
            c = results.get(fn.__name__)
            if isinstance(c, BaseException) or c is None:
                fail("abuser %s: %r" % (fn.__name__, c))
            port = c.local_port
            check(c.wait_closed(4.0), "abuser %s was not dropped" % fn.__name__)

            def why(port=port):
                return [m for _, _, m, p in session_lines(srv)
                        if p == port and m.startswith("session closed: ")]
            lines = wait_for(why, 3.0, "the close line of abuser %s" % fn.__name__)
            check(reason in lines[0], "abuser %s dropped with %r, expected %r"
                  % (fn.__name__, lines[0], reason))
            c.close()

        check(pub.wait(15) == 0, "the publisher failed: %s" % pub.stderr()[-500:])
        check(ff.wait(10) == 0, "the player failed: %s" % ff.stderr()[-500:])
        check(srv.worker_pids() == workers, "a worker died: %s -> %s"
              % (workers, srv.worker_pids()))
        # the release build is held to the bound; a sanitizer build's RSS, to its overhead
        bound = RSS_BOUND_KIB * (3 if asan_build() else 1)
        check(peak - base < bound, "workers' RSS grew by %d KiB (bound %d KiB)"
              % (peak - base, bound))
        check_players([ff], src, from_start=True)
        print("  %d abusers dropped; workers' RSS grew by at most %d KiB"
              % (len(ABUSERS), peak - base))
