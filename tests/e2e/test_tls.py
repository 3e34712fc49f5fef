"""TLS: a listen address marked "ssl" speaks RTMP (RTMPS) or HTTP (HTTPS) over TLS with the
block's certificate.

Real clients publish and play over TLS (ffmpeg, rtmpdump, GStreamer) and get every packet; a
player that stops reading gets a stream that still decodes (records OpenSSL encrypted while the
socket was full go out as they were); wrong protocols on either port are named in the log and
cost nothing else; -t names what is wrong with the TLS settings; a reload takes a renewed
certificate while connections from before it go on. Over HTTPS: files, ranges and keep-alive,
a slow reader of a large file with Connection: close gets all of it, and ffprobe reads an HLS
segment from its https:// URL.

The certificates are made for each test with the openssl command, on 127.0.0.1 only."""

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import harness
import rtmp_client as rc
from http_helpers import Conn, http_conf
from harness import (ClientProc, Server, check, media_clip, need_tools, run_server_cmd,
                     self_signed_certificate, wait_for)
from live_helpers import (FFMPEG_QUIET, check_players, gst_decoded, have_gst, heavy_clip,
                          live_conf, live_server, media_packet, parse_framemd5, source,
                          status_code, wait_players)


def _conf(plain, tls, crt="{dir}/server.pem", key="{dir}/server.key", workers=1, app="",
          http=""):
    """live_conf's, with a second listen address marked ssl."""
    ssl = ('            ssl_certificate = "%s";\n'
           '            ssl_certificate_key = "%s";\n') % (crt, key)
    conf = live_conf(plain, {"live": "live = true; " + app}, workers, server_extra=ssl,
                     main_extra=http)
    return conf.replace('"127.0.0.1:%d" ]' % plain,
                        '"127.0.0.1:%d", "127.0.0.1:%d ssl" ]' % (plain, tls))


def _server(workers=1, app=""):
    plain, tls = harness.free_port(), harness.free_port()
    srv = Server(workers=workers, ports=[plain, tls], conf=_conf(plain, tls, workers=workers,
                                                                 app=app))
    self_signed_certificate(srv.dir)
    srv.tls_port = tls
    return srv


def _url(srv, stream, tls=True):
    return "rtmp%s://127.0.0.1:%d/%s" % ("s" if tls else "", srv.tls_port if tls else srv.port,
                                          stream)


def _tls_socket(port, rcvbuf=None, timeout=5.0):
    """A TLS connection to 127.0.0.1:port (the test's own certificates: not verified)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return ctx.wrap_socket(s)


def _exit_ok(p, timeout, what):
    code = p.wait(timeout)
    check(code == 0, "%s exited with %d: %s" % (what, code, p.stderr()[-800:]))


# ---- real clients over TLS ---------------------------------------------------------------------

def test_rtmps_real_clients_get_every_packet():
    need_tools("ffmpeg", "ffprobe", "rtmpdump", "openssl")
    gst = have_gst()
    clip = media_clip(6)
    src = source(clip)
    stream = "live/s"
    with _server(workers=2) as srv:
        srv.start()
        ff = ClientProc(FFMPEG_QUIET + ["-i", _url(srv, stream), "-c", "copy", "-f", "framemd5",
                                        "-"], srv.dir, "ffmpeg-tls")
        plain = ClientProc(FFMPEG_QUIET + ["-i", _url(srv, stream, tls=False), "-c", "copy",
                                           "-f", "framemd5", "-"], srv.dir, "ffmpeg-plain")
        dump = ClientProc(["rtmpdump", "-r", _url(srv, stream), "-v", "-o",
                           os.path.join(srv.dir, "dump.flv")], srv.dir, "rtmpdump-tls")
        dump.flv = os.path.join(srv.dir, "dump.flv")
        g = None
        if gst:
            g = ClientProc(["gst-launch-1.0", "-v", "rtmp2src", "location=" + _url(srv, stream),
                            "tls-validation-flags=0", "!", "flvdemux", "name=d",
                            "d.video", "!", "queue", "!", "h264parse", "!", "avdec_h264", "!",
                            "fakesink", "name=vs", "silent=false", "sync=false",
                            "d.audio", "!", "queue", "!", "aacparse", "!", "avdec_aac", "!",
                            "fakesink", "sync=false"], srv.dir, "gst-tls")
        wait_players(srv, stream, 4 if gst else 3)
        pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                         _url(srv, stream)], srv.dir, "publisher-tls")
        _exit_ok(pub, 20, "the publisher")
        _exit_ok(ff, 5, "ffmpeg over TLS")
        _exit_ok(plain, 5, "ffmpeg over plain RTMP")
        _exit_ok(dump, 5, "rtmpdump over TLS")
        check("ERROR" not in dump.stderr(), "rtmpdump: %s" % dump.stderr()[-800:])
        check_players([ff, plain, dump], src, from_start=True)
        if g is not None:
            code = g.wait(5)
            err = g.stderr() + "\n".join(l for l in g.stdout().splitlines() if "ERROR" in l)
            check(code == 0 and "ERROR" not in err, "GStreamer exited with %d: %s"
                  % (code, err[-1200:]))
            n = gst_decoded(g)
            check(n == len(src.packets["video"]), "GStreamer decoded %d pictures over TLS, the "
                  "clip has %d" % (n, len(src.packets["video"])))
        log = srv.log()
        tls_sessions = log.count("over TLSv1.3)")
        check(tls_sessions == (4 if gst else 3),
              "%d handshakes logged as over TLSv1.3, expected the publisher and the TLS "
              "players" % tls_sessions)
    if not gst:
        print("  (GStreamer rtmp2src/avdec not installed: GStreamer part skipped)")


test_rtmps_real_clients_get_every_packet.TIME_LIMIT = 60


# ---- a player that stops reading ---------------------------------------------------------------

def test_rtmps_stalled_player_gets_a_stream_that_decodes():
    """A TLS player with a small receive window stops reading for 3 s of a 5.5 Mbit/s stream:
    the server's writes meet a full socket again and again while the lag rules drop what it
    has queued. When it reads on, every message parses and every frame is one of the source's,
    up to the end of the stream."""
    need_tools("ffmpeg", "ffprobe", "openssl")
    clip = heavy_clip(8)
    src = source(clip)
    known = {kind: set(src.packets[kind]) for kind in ("video", "audio")}
    stream = "s"
    with _server(app='player_max_lag = "10s";') as srv:
        srv.start()
        c = rc.RtmpClient(srv.tls_port, 5.0, sock=_tls_socket(srv.tls_port, rcvbuf=16384))
        with c:
            c.handshake()
            v, _ = c.connect_app("live")
            check(v[:2] == ["_result", 1.0], "connect answered %r" % (v,))
            sid = c.create_stream()
            c.command("play", 0, None, stream, -2.0, msid=sid, csid=8)
            pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                             _url(srv, "live/" + stream)], srv.dir, "publisher")
            time.sleep(3.0)  # not reading
            got = {"video": 0, "audio": 0}
            end = None
            deadline = time.monotonic() + 25
            while end is None and time.monotonic() < deadline:
                try:
                    m = c.read_message(1.0)
                except socket.timeout:
                    continue
                p = media_packet(m)
                if p is not None:
                    check(p[1] in known[p[0]], "a %s frame of %d bytes is not one of the "
                          "source's: the stream was corrupted" % (p[0], p[1][0]))
                    got[p[0]] += 1
                code = status_code(m)
                if code in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop"):
                    end = code
            check(end is not None, "the player did not see the stream end (got %r)" % got)
            _exit_ok(pub, 10, "the publisher")
        # the frames of the last seconds at least, after whatever the lag rules dropped
        check(got["video"] >= 50 and got["audio"] >= 100,
              "the player got only %r of %d video and %d audio frames" %
              (got, len(src.packets["video"]), len(src.packets["audio"])))
        check("SSL_write() failed" not in srv.log(), "TLS write errors: %s" % srv.log()[-1500:])


test_rtmps_stalled_player_gets_a_stream_that_decodes.TIME_LIMIT = 60


# ---- wrong protocol on either port -------------------------------------------------------------

def test_rtmps_wrong_protocol_on_each_port_is_named():
    need_tools("openssl")
    with _server() as srv:
        srv.start()
        # plain RTMP on the TLS port: OpenSSL reads C0 as a record header
        with harness.connect(srv.tls_port) as s:
            s.sendall(b"\x03" + bytes(1536))
            s.settimeout(3.0)
            try:
                rest = s.recv(4096)
            except ConnectionResetError:
                rest = b""
            check(not rest.startswith(b"\x03"), "the TLS port answered a plain handshake")
        srv.wait_log("TLS handshake failed: wrong version number (a plain rtmp:// client on an "
                     "RTMPS port?)")
        # TLS on the plain port
        try:
            _tls_socket(srv.port, timeout=3.0).close()
        except (ssl.SSLError, OSError):
            pass
        srv.wait_log("unsupported RTMP version 22 (TLS: rtmps:// is served on listen addresses "
                     "marked ssl)")
        # a client that gives up in the handshake (GnuTLS clients refusing a certificate
        # send no alert) is logged as such
        with harness.connect(srv.tls_port) as s:
            s.sendall(b"\x16\x03\x01\x00\x40" + bytes(10))
        srv.wait_log("TLS handshake: the client closed the connection (does it trust the "
                     "certificate?)")
        # both ports still serve their own protocol
        with rc.RtmpClient(srv.tls_port, 5.0, sock=_tls_socket(srv.tls_port)) as c:
            c.handshake()
            v, _ = c.connect_app("live")
            check(v[:2] == ["_result", 1.0], "connect over TLS answered %r" % (v,))
        with rc.RtmpClient(srv.port, 5.0) as c:
            c.handshake()
            v, _ = c.connect_app("live")
            check(v[:2] == ["_result", 1.0], "connect over plain RTMP answered %r" % (v,))


# ---- configuration -----------------------------------------------------------------------------

def test_rtmps_configuration_errors_are_named():
    need_tools("openssl")
    with Server(workers=1) as srv:
        crt, key = self_signed_certificate(srv.dir)
        crt2, key2 = self_signed_certificate(srv.dir, "other")
        plain, tls = harness.free_port(), harness.free_port()

        def test(conf):
            srv.write_conf(conf)
            return run_server_cmd(["-t", "-c", srv.conf])

        r = test(_conf(plain, tls, crt, key))
        check(r.returncode == 0, "-t of a good TLS setup failed: %s" % r.stderr)

        r = test(_conf(plain, tls, crt, key).replace("            ssl_certificate_key", "#"))
        check(r.returncode != 0 and
              '%s:9: listen "127.0.0.1:%d ssl" needs ssl_certificate and '
              'ssl_certificate_key' % (srv.conf, tls) in r.stderr, "no key: %s" % r.stderr)

        r = test(_conf(plain, tls, srv.dir + "/missing.pem", key))
        check(r.returncode != 0 and '"%s/missing.pem": No such file or directory' % srv.dir
              in r.stderr, "missing certificate: %s" % r.stderr)

        r = test(_conf(plain, tls, crt, key2))
        check(r.returncode != 0 and "the private key does not match the certificate" in r.stderr,
              "mismatched key: %s" % r.stderr)

        r = test(_conf(plain, tls, key, key))
        check(r.returncode != 0 and "cannot use the certificate" in r.stderr,
              "a key given as the certificate: %s" % r.stderr)

        r = test(_conf(plain, tls, srv.dir, key))
        check(r.returncode != 0 and '"%s": not a file' % srv.dir in r.stderr,
              "a directory as the certificate: %s" % r.stderr)

        # a chain with the intermediate first: the key matches the server's certificate
        chain = os.path.join(srv.dir, "chain.pem")
        with open(chain, "w") as f:
            f.write(open(crt2).read() + open(crt).read())
        r = test(_conf(plain, tls, chain, key))
        check(r.returncode != 0 and "the server's own must come before any intermediates"
              in r.stderr, "a chain in the wrong order: %s" % r.stderr)

        hport = harness.free_port()
        http = 'http = { listen = "127.0.0.1:%d ssl"; };\n' % hport
        r = test(_conf(plain, tls, crt, key, http=http))
        check(r.returncode != 0 and '%s:6: listen "127.0.0.1:%d ssl" needs ssl_certificate'
              % (srv.conf, hport) in r.stderr, "https without a certificate: %s" % r.stderr)
        http = ('http = { listen = "127.0.0.1:%d ssl"; ssl_certificate = "%s/none.pem"; '
                'ssl_certificate_key = "%s"; };\n' % (hport, srv.dir, key))
        r = test(_conf(plain, tls, crt, key, http=http))
        check(r.returncode != 0 and '%s:6: TLS for listen "127.0.0.1:%d ssl": "%s/none.pem": '
              'No such file or directory' % (srv.conf, hport, srv.dir) in r.stderr,
              "https with a missing certificate: %s" % r.stderr)
        http = ('http = { listen = "127.0.0.1:%d ssl"; ssl_certificate = "%s"; '
                'ssl_certificate_key = "%s"; };\n' % (hport, crt, key))
        r = test(_conf(plain, tls, crt, key, http=http))
        check(r.returncode == 0, "-t of a good HTTPS setup failed: %s" % r.stderr)

        # out of date: served all the same (clients that do not check still connect), but
        # named by -t and at start
        for start, end, said in (("20200101000000Z", "20200102000000Z",
                                  "expired on 2020-01-02 00:00 UTC"),
                                 ("29990101000000Z", "29990102000000Z",
                                  "is not valid before 2999-01-01 00:00 UTC")):
            old_crt, old_key = harness.dated_certificate(srv.dir, "dated", start, end)
            r = test(_conf(plain, tls, old_crt, old_key))
            check(r.returncode == 0 and "[warn]" in r.stderr and
                  '%s:9: the certificate of listen "127.0.0.1:%d ssl" ("%s") %s; clients that '
                  'check certificates refuse it' % (srv.conf, tls, old_crt, said) in r.stderr,
                  "-t of a certificate out of date: %d %s" % (r.returncode, r.stderr))
        r = test(_conf(plain, tls, crt, key))
        check("[warn]" not in r.stderr, "-t warns about a good certificate: %s" % r.stderr)

        r = test(_conf(plain, tls, crt, key).replace(" ssl\"", "\""))
        check(r.returncode == 0 and "%s:9: ssl_certificate is set but no listen address is "
              'marked ssl (as in "443 ssl"): it serves nothing' % srv.conf in r.stderr,
              "a certificate without an ssl address: %d %s" % (r.returncode, r.stderr))

        r = test(_conf(plain, tls, crt, key).replace(" ssl\"", " tls\""))
        check(r.returncode != 0 and 'optionally followed by " ssl"' in r.stderr,
              "listen option: %s" % r.stderr)


# ---- reload -------------------------------------------------------------------------------------

def _peer_certificate(port):
    s = _tls_socket(port)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


def _der(path):
    r = subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"], capture_output=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "openssl x509 failed")
    return r.stdout


def test_rtmps_reload_takes_a_renewed_certificate():
    """Certificate files replaced, then HUP: new connections get the new certificate, and a
    TLS connection from before the reload completes its RTMP handshake with the old worker."""
    need_tools("openssl")
    with _server(workers=2) as srv:
        srv.start()
        first = _der(os.path.join(srv.dir, "server.pem"))
        check(_peer_certificate(srv.tls_port) == first, "the server sent another certificate")
        before = rc.RtmpClient(srv.tls_port, 5.0, sock=_tls_socket(srv.tls_port))
        with before:
            old = srv.worker_pids()
            self_signed_certificate(srv.dir)  # same paths, new key and certificate
            renewed = _der(os.path.join(srv.dir, "server.pem"))
            check(renewed != first, "openssl made the same certificate twice")
            srv.signal(signal.SIGHUP)
            srv.wait_log("reloaded", 5.0)
            wait_for(lambda: len([p for p in srv.worker_pids() if p not in old]) == 2, 5.0,
                     "2 new workers after HUP")
            check(_peer_certificate(srv.tls_port) == renewed,
                  "a connection after the reload got the old certificate")
            before.handshake()
            v, _ = before.connect_app("live")
            check(v[:2] == ["_result", 1.0], "the connection from before the reload: %r" % (v,))


# ---- HTTPS -------------------------------------------------------------------------------------

def _https_server(app_extra="live = true; "):
    rtmp_port, http_port, https_port = (harness.free_port() for _ in range(3))
    tls = ('ssl_certificate = "{dir}/server.pem"; ssl_certificate_key = "{dir}/server.key"; '
           'metrics = true; ')
    srv = Server(workers=1, ports=[rtmp_port],
                 conf=http_conf(rtmp_port, http_port, 1, tls, app_extra=app_extra,
                                also_listen=["127.0.0.1:%d ssl" % https_port]))
    self_signed_certificate(srv.dir)
    srv.http_port, srv.https_port = http_port, https_port
    return srv


def test_https_files_keepalive_and_a_slow_reader():
    with _https_server() as srv:
        root = os.path.join(srv.dir, "hls", "live")
        os.makedirs(root)
        big = os.urandom(3 * 1024 * 1024 + 17)
        with open(os.path.join(root, "big.ts"), "wb") as f:
            f.write(big)
        whole = os.urandom(2 * 1024 * 1024)
        with open(os.path.join(root, "whole.ts"), "wb") as f:
            f.write(whole)
        with open(os.path.join(root, "test.m3u8"), "w") as f:
            f.write("#EXTM3U\n")
        srv.start()
        with Conn(srv.https_port, sock=_tls_socket(srv.https_port)) as c:
            st, h, body = c.get("/hls/live/test.m3u8")
            check(st == 200 and body == b"#EXTM3U\n" and h["connection"] == "keep-alive",
                  "playlist over TLS: %d %r %r" % (st, h, body))
            st, h, body = c.get("/hls/live/big.ts")
            check(st == 200 and body == big, "big file over TLS: %d, %d bytes" % (st, len(body)))
            st, h, body = c.get("/hls/live/big.ts", headers="Range: bytes=1000-1999\r\n")
            check(st == 206 and body == big[1000:2000], "range over TLS: %d %r" % (st, h))
            st, _, _ = c.get("/hls/live/none.ts")
            check(st == 404, "a missing file over TLS: %d" % st)
        with Conn(srv.http_port) as c:
            st, _, body = c.get("/hls/live/big.ts")
            check(st == 200 and body == big, "big file over plain HTTP: %d" % st)

        # readers slower than the file: the response ends with the connection, and every
        # byte of it arrives first, a last record TLS held back too (the file is whole
        # records, so its last write meets a full socket as often as the others)
        for _ in range(3):
            body = _read_slowly(srv.https_port, "/hls/live/whole.ts")
            check(body == whole, "a slow reader got %d of %d bytes before the end"
                  % (len(body), len(whole)))


def _read_slowly(port, path):
    s = _tls_socket(port, rcvbuf=16384, timeout=10.0)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode())
        time.sleep(0.5)
        data = bytearray()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            b = s.recv(8192)
            if not b:
                break
            data += b
            time.sleep(0.005)  # most of the server's writes find the socket full
    finally:
        s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head,
          "slow reader's head: %r" % head[:300])
    return body


def _responses_4xx(http_port):
    """rtmp_http_responses_total{code="4xx"} summed over the workers, from /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=5) as r:
        text = r.read().decode()
    return sum(int(float(l.rsplit(" ", 1)[1])) for l in text.splitlines()
               if l.startswith("rtmp_http_responses_total{") and 'code="4xx"' in l)


def test_https_wrong_protocol_on_each_port():
    """Plain HTTP on the HTTPS port is answered 400 in plain text, as nginx answers it, and
    both mistakes are named in the log."""
    need_tools("curl")
    with _https_server() as srv:
        srv.start()
        before = _responses_4xx(srv.http_port)
        r = subprocess.run(["curl", "-sS", "-i", "--max-time", "5",
                            "http://127.0.0.1:%d/stat" % srv.https_port], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        check(r.stdout.startswith("HTTP/1.1 400") and "speaks HTTPS" in r.stdout,
              "plain HTTP on the HTTPS port: %r %r" % (r.stdout[:300], r.stderr[-300:]))
        srv.wait_log("TLS handshake failed: http request (a plain http:// client on an HTTPS "
                     "port?)")
        wait_for(lambda: _responses_4xx(srv.http_port) == before + 1, 3,
                 "the 400 counted in rtmp_http_responses_total (%d before)" % before)
        srv.wait_log("http: bad request: plain HTTP on an HTTPS address: 400")
        check("recv failed" not in srv.log(), "the close logged as a failure: %s" % srv.log())
        subprocess.run(["curl", "-sS", "-k", "--max-time", "5",
                        "https://127.0.0.1:%d/stat" % srv.http_port], capture_output=True,
                       timeout=10, stdin=subprocess.DEVNULL)
        srv.wait_log("not an HTTP request (TLS: https:// is served on listen addresses marked "
                     "ssl)")


def test_https_hls_read_by_ffprobe():
    need_tools("ffmpeg", "ffprobe", "openssl")
    clip = media_clip(6)
    with _https_server(app_extra="live = true; hls = true; ") as srv:
        srv.start()
        pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                         "rtmp://127.0.0.1:%d/live/s" % srv.port], srv.dir, "pub")
        with pub:
            def playlist():
                with Conn(srv.https_port, sock=_tls_socket(srv.https_port)) as c:
                    st, _, body = c.get("/hls/live/s.m3u8")
                    segs = [l for l in body.decode().splitlines() if l.endswith(".ts")]
                    return st == 200 and segs
            seg = wait_for(playlist, 15, "a segment in the playlist over HTTPS")[0]
            with Conn(srv.https_port, sock=_tls_socket(srv.https_port)) as c:
                st, _, body = c.get("/hls/live/" + seg)
            with open(os.path.join(srv.dir, "hls", "live", seg), "rb") as f:
                check(st == 200 and body == f.read(), "segment %s over TLS differs from the "
                      "file (%d, %d bytes)" % (seg, st, len(body)))
            r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                                "-of", "csv=p=0",
                                "https://127.0.0.1:%d/hls/live/s.m3u8" % srv.https_port],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            check(r.returncode == 0 and set(r.stdout.split()) == {"aac", "h264"},
                  "ffprobe of the playlist over HTTPS (exit %d): %r %s"
                  % (r.returncode, r.stdout, r.stderr[-500:]))
            _exit_ok(pub, 15, "the publisher")


# ---- relays over TLS ------------------------------------------------------------------------------

def test_rtmps_push_and_pull_check_the_certificate():
    """An rtmps:// push checks the target's certificate against relay_ssl_trusted_certificate
    (by name for localhost, by address for 127.0.0.1) and delivers the stream; a target whose
    certificate is not trusted is refused with the reason; a pull from an rtmps:// origin
    with relay_ssl_verify off plays."""
    need_tools("ffmpeg", "ffprobe", "openssl")
    clip = media_clip(6)
    src = source(clip)
    with _server() as origin:
        origin.start()
        pem = os.path.join(origin.dir, "server.pem")
        by_name = "rtmps://localhost:%d/live" % origin.tls_port
        by_addr = "rtmps://127.0.0.1:%d/live/c?token=SECRETX" % origin.tls_port
        not_tls = "rtmps://127.0.0.1:%d/live" % origin.port
        plain_to_tls = "rtmp://127.0.0.1:%d/live" % origin.tls_port
        push = 'push = ( "%s", "%s", "%s", "%s" );' % (by_name, by_addr, not_tls, plain_to_tls)
        with live_server({"live": "live = true; " + push},
                         server_extra='            relay_ssl_trusted_certificate = "%s";\n'
                         % pem) as edge, \
                live_server({"live": 'live = true; push = "%s";' % by_name},
                            server_extra='            relay_ssl_trusted_certificate = '
                            '"{dir}/other.pem";\n') as untrusting, \
                live_server({"live": 'live = true; pull = "rtmps://127.0.0.1:%d/live";'
                             % origin.tls_port},
                            server_extra="            relay_ssl_verify = false;\n") as puller:
            self_signed_certificate(untrusting.dir, "other")
            for s in (edge, untrusting, puller):
                s.start()
            players = [ClientProc(FFMPEG_QUIET + ["-i", "rtmp://127.0.0.1:%d/%s" % (srv.port, n),
                                                  "-c", "copy", "-f", "framemd5", "-"],
                                  srv.dir, name)
                       for srv, n, name in ((origin, "live/s", "origin-live"),
                                            (origin, "live/c", "origin-by-address"))]
            wait_players(origin, "live/s", 1)
            wait_players(origin, "live/c", 1)
            pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                             "rtmp://127.0.0.1:%d/live/s" % edge.port],
                             edge.dir, "publisher")
            other = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                               "rtmp://127.0.0.1:%d/live/u" % untrusting.port],
                               untrusting.dir, "publisher-u")
            pulled = ClientProc(FFMPEG_QUIET + ["-i", "rtmp://127.0.0.1:%d/live/s" % puller.port,
                                                "-t", "2", "-c", "copy", "-f", "framemd5", "-"],
                                puller.dir, "pulled")
            untrusting.wait_log("TLS handshake failed: certificate verify failed", 10)
            _exit_ok(pub, 20, "the publisher")
            _exit_ok(other, 20, "the other publisher")
            for p in players:
                _exit_ok(p, 10, p.name)
            check_players(players, src)
            _exit_ok(pulled, 10, "the player of the pull")
            got = parse_framemd5(pulled.stdout())
            known = set(src.packets["video"])
            check(len(got["video"]) >= 25 and all(v in known for v in got["video"]),
                  "the pull over TLS played %d video packets, not all the source's"
                  % len(got["video"]))
            check(edge.log().count("over TLSv1.3)") == 2,
                  "the edge's two pushes did not log a TLS handshake: %s" % edge.log()[-1500:])
            log = edge.log()
            check("SECRETX" not in log and 'asking to publish as "***" in "live"' in log and
                  "to rtmps://127.0.0.1:%d/live/***?***: connected" % origin.tls_port in log,
                  "the push's name and query were not masked in the log")
            check("TLS handshake failed: the server closed the connection (not an rtmps:// port?)"
                  in log, "a push to a plain RTMP port: %s" % log[-1500:])
            # the session's reason reaches the push's warning, not "connection closed"
            check("to %s failed: the server closed the connection; retry" % plain_to_tls in log,
                  "a plain push to a TLS port: %s" % log[-1500:])
            check('publish "live/u"' not in origin.log(),
                  "the untrusted push published on the origin")
