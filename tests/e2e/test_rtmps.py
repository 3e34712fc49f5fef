"""RTMPS: a listen address marked "ssl" speaks RTMP over TLS with the server's certificate.

Real clients publish and play over TLS (ffmpeg, rtmpdump, GStreamer) and get every packet; a
player that stops reading gets a stream that still decodes (records OpenSSL encrypted while the
socket was full go out as they were); wrong protocols on either port are named in the log and
cost nothing else; -t names what is wrong with the TLS settings; a reload takes a renewed
certificate while connections from before it go on.

The certificates are made for each test with the openssl command, on 127.0.0.1 only."""

import os
import signal
import socket
import ssl
import subprocess
import time

import harness
import rtmp_client as rc
from harness import ClientProc, Server, check, media_clip, need_tools, run_server_cmd, wait_for
from live_helpers import (FFMPEG_QUIET, check_players, gst_decoded, have_gst, heavy_clip,
                          live_conf, media_packet, source, status_code, wait_players)


def _certificate(dir, name="server"):
    """A self-signed P-256 certificate for localhost: (certificate path, key path)."""
    need_tools("openssl")
    crt, key = os.path.join(dir, name + ".pem"), os.path.join(dir, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "2", "-subj", "/CN=localhost"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "openssl req failed: %s" % r.stderr[-500:])
    return crt, key


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
    _certificate(srv.dir)
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
        crt, key = _certificate(srv.dir)
        crt2, key2 = _certificate(srv.dir, "other")
        plain, tls = harness.free_port(), harness.free_port()

        def test(conf):
            srv.write_conf(conf)
            return run_server_cmd(["-t", "-c", srv.conf])

        r = test(_conf(plain, tls, crt, key))
        check(r.returncode == 0, "-t of a good TLS setup failed: %s" % r.stderr)

        r = test(_conf(plain, tls, crt, key).replace("            ssl_certificate_key", "#"))
        check(r.returncode != 0 and
              'listen "127.0.0.1:%d ssl" (%s:9) needs ssl_certificate and '
              'ssl_certificate_key' % (tls, srv.conf) in r.stderr, "no key: %s" % r.stderr)

        r = test(_conf(plain, tls, srv.dir + "/missing.pem", key))
        check(r.returncode != 0 and '"%s/missing.pem": No such file or directory' % srv.dir
              in r.stderr, "missing certificate: %s" % r.stderr)

        r = test(_conf(plain, tls, crt, key2))
        check(r.returncode != 0 and "the private key does not match the certificate" in r.stderr,
              "mismatched key: %s" % r.stderr)

        r = test(_conf(plain, tls, key, key))
        check(r.returncode != 0 and "cannot use the certificate" in r.stderr,
              "a key given as the certificate: %s" % r.stderr)

        http = 'http = { listen = "127.0.0.1:%d ssl"; };\n' % harness.free_port()
        r = test(_conf(plain, tls, crt, key, http=http))
        check(r.returncode != 0 and "HTTPS is not served" in r.stderr, "https: %s" % r.stderr)

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
            _certificate(srv.dir)  # same paths, new key and certificate
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
