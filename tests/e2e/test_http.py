"""The built-in HTTP listener: files below hls_root with GET, HEAD, Range, keep-alive and
pipelining, content types and cache headers, CORS, the 4xx answers (traversal attempts,
oversize heads, timeouts, methods), and an RTMP publisher and player on the same server
that get every packet while HTTP clients are busy."""

import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import threading
import time

import harness
from harness import check, media_clip, need_tools, skip, wait_for
from http_helpers import Conn, http_server
from live_helpers import check_complete, ffmpeg_player, ffmpeg_publisher, parse_framemd5, \
    source, wait_players


def _files(srv):
    root = os.path.join(srv.dir, "hls", "live")
    os.makedirs(root)
    with open(os.path.join(root, "test.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
    big = os.urandom(3 * 1024 * 1024 + 17)
    with open(os.path.join(root, "big.ts"), "wb") as f:
        f.write(big)
    for name in ("a.m4s", "b.mp4", "c.json", "d.txt"):
        with open(os.path.join(root, name), "w") as f:
            f.write("x")
    open(os.path.join(root, "empty.ts"), "w").close()
    os.symlink(os.path.join(srv.dir, "rtmp.conf"), os.path.join(root, "link.ts"))
    os.symlink(srv.dir, os.path.join(root, "dirlink"))
    return big


def test_http_files_ranges_keepalive():
    with http_server(http_extra='cors = "*"; ') as srv:
        big = _files(srv)
        srv.start()
        port = srv.http_port
        with Conn(port) as c:
            # several requests on one connection
            st, h, body = c.get("/hls/live/test.m3u8")
            check(st == 200 and body.startswith(b"#EXTM3U"), "playlist: %d %r" % (st, body))
            check(h["content-type"] == "application/vnd.apple.mpegurl", "type %r" % h)
            check(h["cache-control"] == "no-cache", "playlist cache %r" % h)
            check(h["access-control-allow-origin"] == "*", "cors %r" % h)
            check(h["connection"] == "keep-alive" and "etag" in h and "last-modified" in h,
                  "headers %r" % h)
            st, h, body = c.get("/hls/live/big.ts")
            check(st == 200 and hashlib.sha1(body).digest() == hashlib.sha1(big).digest(),
                  "big file: %d, %d bytes" % (st, len(body)))
            check(h["content-type"] == "video/mp2t" and h["cache-control"] == "max-age=60",
                  "segment headers %r" % h)
            st, h, body = c.get("/hls/live/big.ts", "HEAD")
            check(st == 200 and h["content-length"] == str(len(big)) and body == b"",
                  "HEAD: %d %r" % (st, h))
            for name, ctype in (("a.m4s", "video/iso.segment"), ("b.mp4", "video/mp4"),
                                ("c.json", "application/json"), ("d.txt", "text/plain")):
                st, h, _ = c.get("/hls/live/" + name)
                check(st == 200 and h["content-type"].startswith(ctype), "%s: %r" % (name, h))
            st, h, body = c.get("/hls/live/empty.ts")
            check(st == 200 and h["content-length"] == "0" and body == b"", "empty: %r" % h)
            # ranges
            for spec, first, last in (("0-9", 0, 9), ("100-", 100, len(big) - 1),
                                      ("-5", len(big) - 5, len(big) - 1),
                                      ("1000-999999999", 1000, len(big) - 1)):
                st, h, body = c.get("/hls/live/big.ts", headers="Range: bytes=%s\r\n" % spec)
                check(st == 206 and body == big[first:last + 1] and
                      h["content-range"] == "bytes %d-%d/%d" % (first, last, len(big)),
                      "range %s: %d %r (%d bytes)" % (spec, st, h, len(body)))
            # conditional requests
            _, h, _ = c.get("/hls/live/test.m3u8", "HEAD")
            for cond in ("If-None-Match: %s" % h["etag"], 'If-None-Match: "x", W/%s' % h["etag"],
                         "If-None-Match: *", "If-Modified-Since: %s" % h["last-modified"]):
                st, h2, body = c.get("/hls/live/test.m3u8", headers=cond + "\r\n")
                check(st == 304 and body == b"" and h2["etag"] == h["etag"] and
                      "content-length" not in h2, "%s: %d %r" % (cond, st, h2))
            for cond in ('If-None-Match: "other"', "If-Modified-Since: Mon, 01 Jan 2001 "
                                                  "00:00:00 GMT"):
                st, _, body = c.get("/hls/live/test.m3u8", headers=cond + "\r\n")
                check(st == 200 and body.startswith(b"#EXTM3U"), "%s: %d" % (cond, st))
            st, h, _ = c.get("/hls/live/big.ts", headers="Range: bytes=%d-\r\n" % len(big))
            check(st == 416 and h["content-range"] == "bytes */%d" % len(big), "416: %r" % h)
            st, h, body = c.get("/hls/live/big.ts", headers="Range: bytes=0-1,5-6\r\n")
            check(st == 200 and len(body) == len(big), "multi-range answered %d" % st)
            # not found, symlinks, directories, methods, preflight
            for path in ("/hls/live/nope.ts", "/hls/live/link.ts", "/hls/live/dirlink/rtmp.conf",
                         "/hls/live", "/hls/live/", "/nothing", "/stat", "/metrics"):
                st, _, _ = c.get(path)
                check(st == 404, "%s answered %d" % (path, st))
            st, h, _ = c.get("/hls/live/test.m3u8", "POST", "Content-Length: 0\r\n")
            check(st == 405 and h["allow"] == "GET, HEAD, OPTIONS", "POST: %d %r" % (st, h))
            st, h, _ = c.get("/hls/live/test.m3u8", "OPTIONS",
                             "Origin: http://x\r\nAccess-Control-Request-Method: GET\r\n")
            check(st == 204 and "GET" in h["access-control-allow-methods"] and
                  h["access-control-allow-origin"] == "*", "preflight: %d %r" % (st, h))
            check(c.get("/hls/live/d.txt")[0] == 200, "the connection survived it all")

        # pipelining: three requests in one write, three responses in order
        with Conn(port) as c:
            c.send("GET /hls/live/d.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                   "HEAD /hls/live/big.ts HTTP/1.1\r\nHost: t\r\n\r\n"
                   "GET /hls/live/test.m3u8 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            r1, r2, r3 = c.response(), c.response(head_only=True), c.response()
            check(r1[0] == 200 and r1[2] == b"x", "pipelined 1: %r" % (r1,))
            check(r2[0] == 200 and r2[1]["content-length"] == str(len(big)), "pipelined 2")
            check(r3[0] == 200 and r3[2].startswith(b"#EXTM3U") and
                  r3[1]["connection"] == "close", "pipelined 3: %r" % (r3[1],))
            check(c.closed(), "Connection: close was not honoured")

        # HTTP/1.0: closes unless asked to keep alive
        with Conn(port) as c:
            c.send("GET /hls/live/d.txt HTTP/1.0\r\n\r\n")
            check(c.response()[1]["connection"] == "close" and c.closed(), "1.0 default")
        with Conn(port) as c:
            c.send("GET /hls/live/d.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            check(c.response()[1]["connection"] == "keep-alive", "1.0 keep-alive")
            check(c.get("/hls/live/d.txt")[0] == 200, "1.0 keep-alive second request")

        # python's own client agrees with all this
        hc = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for _ in range(3):
            hc.request("GET", "/hls/live/big.ts", headers={"Range": "bytes=10-19"})
            r = hc.getresponse()
            check(r.status == 206 and r.read() == big[10:20], "http.client range")
        hc.close()
        # and curl, when it is there
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                                  "http://127.0.0.1:%d/hls/live/big.ts" % port],
                                 capture_output=True, text=True, timeout=20)
            check(out.stdout == "200 %d" % len(big), "curl: %r %r" % (out.stdout, out.stderr))
        srv.wait_log('"GET /hls/live/big.ts HTTP/1.1" 206 10 ')


def test_http_traversal_and_bad_requests():
    with http_server(http_extra='client_header_timeout = "1s"; max_header_size = "2k"; ') as srv:
        _files(srv)
        with open(os.path.join(srv.dir, "secret.txt"), "w") as f:
            f.write("secret")
        srv.start()
        port = srv.http_port
        for path in ("/hls/../rtmp.conf", "/hls/%2e%2e/rtmp.conf", "/hls/%2E%2E/secret.txt",
                     "/hls/live/../../secret.txt", "/hls/..%2fsecret.txt",
                     "/hls//etc/passwd", "/hls/%2fetc/passwd", "//etc/passwd",
                     "/hls/live%5c..%5c..%5csecret.txt", "/hls/a%00.ts", "/hls/./live/d.txt",
                     "http://x//etc/passwd", "/etc/passwd", "/rtmp.conf",
                     os.path.join(srv.dir, "secret.txt")):
            with Conn(port) as c:
                st, _, body = c.get(path)
                check(st in (400, 404) and b"secret" not in body and b"rtmp" not in body,
                      "%s answered %d %r" % (path, st, body[:80]))
        cases = [
            ("GET / HTTP/1.1\r\n\r\n", 400),                                   # no Host
            ("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            ("GET /" + "a" * 3000 + " HTTP/1.1\r\nHost: t\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: t\r\nX: " + "b" * 3000 + "\r\n\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789", 413),
            ("\x03" + "\x00" * 1536, 400),                                     # an RTMP C0+C1
        ]
        for req, want in cases:
            with Conn(port) as c:
                c.send(req)
                st, h, body = c.response()
                check(st == want and h["connection"] == "close" and body.startswith(b"%d" % want),
                      "%r...: %d, expected %d" % (req[:30], st, want))
                check(c.closed(), "not closed after %d" % want)
        # a head that never ends: 408 after client_header_timeout
        with Conn(port) as c:
            t0 = time.monotonic()
            c.send("GET /hls/live/d.txt HTTP/1.1\r\nHost: t\r\n")
            st, _, _ = c.response(timeout=5)
            took = time.monotonic() - t0
            check(st == 408 and 0.8 < took < 4, "partial head: %d after %.1fs" % (st, took))
        # an idle connection before any byte goes quietly
        with Conn(port) as c:
            check(c.closed(timeout=4), "idle connection not closed after client_header_timeout")
        # still serving
        with Conn(port) as c:
            check(c.get("/hls/live/d.txt")[0] == 200, "server broken by the bad requests")


def test_http_keepalive_limits():
    with http_server(http_extra='keepalive_timeout = "1s"; keepalive_requests = 3; ') as srv:
        _files(srv)
        srv.start()
        with Conn(srv.http_port) as c:
            check(c.get("/hls/live/d.txt")[1]["connection"] == "keep-alive", "first")
            check(c.get("/hls/live/d.txt")[1]["connection"] == "keep-alive", "second")
            check(c.get("/hls/live/d.txt")[1]["connection"] == "close", "third: the last")
            check(c.closed(), "closed after keepalive_requests")
        with Conn(srv.http_port) as c:
            c.get("/hls/live/d.txt")
            t0 = time.monotonic()
            check(c.closed(timeout=4) and time.monotonic() - t0 > 0.7, "keepalive_timeout")


def test_http_ipv6_listener():
    if not harness.ipv6_loopback():
        skip("no IPv6 loopback here")
    port6 = harness.free_port()
    with http_server(also_listen=["[::1]:%d" % port6]) as srv:
        _files(srv)
        srv.start()
        hc = http.client.HTTPConnection("::1", port6, timeout=5)
        hc.request("GET", "/hls/live/test.m3u8")
        r = hc.getresponse()
        check(r.status == 200 and r.read().startswith(b"#EXTM3U"), "GET over [::1]")
        hc.close()
        srv.wait_log('client: [::1]:')


def test_http_reload():
    """HUP: the listening socket is kept (no refused connection), new workers serve with the
    new http settings, and a bad http block is refused with its line while the server runs on."""
    with http_server() as srv:
        _files(srv)
        srv.start()
        with Conn(srv.http_port) as c:
            check("access-control-allow-origin" not in c.get("/hls/live/d.txt")[1], "no CORS yet")
        text = open(srv.conf).read()
        srv.write_conf(text.replace("http = {", 'http = { cors = "https://example.com"; '))
        srv.signal(signal.SIGHUP)

        def cors():
            with Conn(srv.http_port) as c:
                return c.get("/hls/live/d.txt")[1].get("access-control-allow-origin")
        wait_for(lambda: cors() == "https://example.com", 10, "the new cors setting")
        bad = text.replace("http = {", "http = {\n keepalive_requests = 0; ")
        line = [i for i, l in enumerate(bad.splitlines(), 1) if "keepalive_requests" in l][0]
        srv.write_conf(bad)
        srv.signal(signal.SIGHUP)
        srv.wait_log('rtmp.conf:%d: "keepalive_requests" must be between' % line, timeout=5)
        srv.wait_log("reload failed; still running the previous configuration")
        check(cors() == "https://example.com", "the bad reload changed something")


def test_graceful_stop_closes_idle_keepalive():
    """QUIT: idle keep-alive connections do not hold the worker for keepalive_timeout, and a
    download in progress is finished first."""
    with http_server(http_extra='keepalive_timeout = "60s"; ') as srv:
        big = _files(srv)
        srv.start()
        with Conn(srv.http_port) as idle, Conn(srv.http_port) as busy:
            check(idle.get("/hls/live/d.txt")[0] == 200, "idle connection's request")
            busy.send("GET /hls/live/big.ts HTTP/1.1\r\nHost: t\r\n\r\n")
            busy.pending = busy.sock.recv(1000)  # the download has begun
            check(busy.pending.startswith(b"HTTP/1.1 200"), "no response began")
            t0 = time.monotonic()
            srv.signal(signal.SIGQUIT)
            check(idle.closed(timeout=5), "the idle keep-alive connection stayed open")
            st, h, body = busy.response()
            check(st == 200 and body == big, "the download was cut: %d, %d bytes" % (st, len(body)))
            check(busy.closed(timeout=5), "the busy connection stayed open after its response")
            check(srv.wait_exit(10) == 0, "master exit code")
            check(time.monotonic() - t0 < 8, "graceful stop took %.1fs"
                  % (time.monotonic() - t0))


def test_rtmp_undisturbed_by_http():
    """A publisher and an RTMP player get every packet while HTTP clients download files
    and open and close connections on the same worker."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(6)
    src = source(clip)
    with http_server(workers=1) as srv:
        big = _files(srv)
        srv.start()
        stop = threading.Event()
        errors = []
        counts = [0]

        def hammer():
            try:
                while not stop.is_set():
                    with Conn(srv.http_port) as c:
                        for _ in range(5):
                            st, _, body = c.get("/hls/live/big.ts")
                            if st != 200 or len(body) != len(big):
                                errors.append("GET answered %d, %d bytes" % (st, len(body)))
                            counts[0] += 1
                            c.get("/hls/live/test.m3u8")
            except Exception as e:  # the test fails below with what happened
                errors.append(repr(e))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        player = ffmpeg_player(srv, "live/s", "player")
        wait_players(srv, "live/s", 1)
        for t in threads:
            t.start()
        try:
            pub = ffmpeg_publisher(srv, clip, "live/s", "pub")
            code = pub.wait(20)
            check(code == 0, "publisher exited with %d: %s" % (code, pub.stderr()[-500:]))
            check(player.wait(10) == 0, "player: %s" % player.stderr()[-500:])
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        check(not errors, "HTTP clients: %s" % errors[:3])
        check(counts[0] >= 10, "only %d HTTP downloads happened" % counts[0])
        check_complete("RTMP player", parse_framemd5(player.stdout()), src)
