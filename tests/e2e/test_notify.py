"""HTTP callbacks (notify): an auth service written here (python http.server on 127.0.0.1, in a
thread) gets on_publish / on_play / *_done / on_connect / on_update with nginx-rtmp's form
arguments; 2xx allows, 403 refuses with the right onStatus, 302 renames, a service that is
down or too slow refuses - and while one client waits for its callback, streams already
running keep flowing."""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
import rtmp_client as rc
from harness import ClientProc, check, media_clip, need_tools, wait_for
from live_helpers import (FFMPEG_QUIET, PyPlayer, PyPublisher, is_video_key, live_server,
                          status_code, url)

AVC_HEADER = bytes.fromhex("0164000affe1001967640016acd94141fb0110000003001000000303c0f16"
                           "2d96001000668ebe3cb22c0")


class AuthService:
    """Answers by path: /ok 200, /deny 403, /redirect 302 to a bare name, /redirect-url 302 to
    a URL whose last segment names the stream, /sleep after 5 s. Keeps every call."""

    def __init__(self):
        self.calls = []  # (path, {field: value})
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n).decode()
                if self.headers.get("Content-Type") == "application/json":
                    fields = json.loads(body)
                    fields.update(fields.pop("args", {}))
                    fields["_json"] = True
                else:
                    fields = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                svc.calls.append((self.path, fields))
                if self.path == "/sleep":
                    time.sleep(5)
                if self.path == "/deny":
                    self.send_response(403)
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "renamed")
                elif self.path == "/redirect-url":
                    self.send_response(302)
                    self.send_header("Location", "http://example.invalid/streams/target")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def find(self, call, name=None):
        return [f for _, f in list(self.calls)
                if f.get("call") == call and (name is None or f.get("name") == name)]

    def wait(self, call, name=None, timeout=5.0):
        return wait_for(lambda: self.find(call, name), timeout,
                        "the service to get call=%s name=%s" % (call, name))[0]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ask(port, app, verb, name, wait=2.0):
    """publish or play `name`; (code, description, closed, seconds until the answer)."""
    c = rc.RtmpClient(port, 8.0)
    try:
        c.handshake()
        v, _ = c.connect_app(app=app)
        check(len(v) >= 4 and isinstance(v[3], dict) and
              v[3].get("code") == "NetConnection.Connect.Success", "connect answered %r" % (v,))
        sid = c.create_stream()
        args = [name, "live"] if verb == "publish" else [name, -2.0]
        t0 = time.monotonic()
        c.command(verb, 0, None, *args, msid=sid, csid=8)
        m, _ = c.read_until(lambda x: x.is_command("onStatus") and x.msid == sid and
                            status_code(x) != "NetStream.Play.Reset", 8.0, "onStatus for " + verb)
        took = time.monotonic() - t0
        info = m.amf()[3]
        return status_code(m), info.get("description", ""), c.wait_closed(wait), took
    finally:
        c.close()


def conf_for(svc, closed_port):
    common = 'live = true; notify_timeout = "1s"; '
    return {
        "live": common + 'on_publish = "%s"; on_play = "%s"; on_publish_done = "%s"; '
                         'on_play_done = "%s"; on_done = "%s";'
                % (svc.url("/ok"), svc.url("/ok"), svc.url("/ok"), svc.url("/ok"),
                   svc.url("/ok")),
        "deny": common + 'on_publish = "%s"; on_play = "%s";' % (svc.url("/deny"),
                                                                  svc.url("/deny")),
        "redir": common + 'on_publish = "%s";' % svc.url("/redirect"),
        "moved": common + 'on_play = "%s";' % svc.url("/redirect-url"),
        "down": common + 'on_publish = "http://127.0.0.1:%d/auth";' % closed_port,
        "gone": common + 'on_publish_done = "http://127.0.0.1:%d/done";' % closed_port,
        "slow": common + 'on_publish = "%s";' % svc.url("/sleep"),
        "gate": common + 'on_connect = "%s";' % svc.url("/deny"),
        "upd": common + 'on_update = "%s"; notify_update_interval = "1s";' % svc.url("/deny"),
        "json": common + 'on_publish = "%s"; notify_json = true;' % svc.url("/ok"),
    }


def test_notify():
    need_tools("ffmpeg")
    clip = media_clip(2)
    svc = AuthService()
    closed_port = harness.free_port()
    try:
        with live_server(conf_for(svc, closed_port)) as srv:
            srv.start()
            port = srv.port

            # allowed: ffmpeg publishes live/s?token=x and a player of live/s gets it
            with PyPlayer(port, "live", "s") as player:
                player.play()
                player.wait_status("NetStream.Play.Start")
                play_call = svc.wait("play", "s")
                check(play_call.get("app") == "live", "on_play: %r" % play_call)
                pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f", "flv",
                                                 url(srv, "live/s?token=x")], srv.dir, "pub")
                f = svc.wait("publish", "s")
                want = {"call": "publish", "app": "live", "name": "s", "addr": "127.0.0.1",
                        "tcurl": "rtmp://127.0.0.1:%d/live" % port, "type": "live",
                        "token": "x"}
                for k, v in want.items():
                    check(f.get(k) == v, "on_publish %s=%r, want %r (%r)" % (k, f.get(k), v, f))
                check(f.get("flashver", "").startswith("FMLE/3.0"), "flashver %r" % f)
                check(f.get("clientid", "").isdigit(), "clientid %r" % f)
                player.wait(lambda ms: any(is_video_key(m) for m in ms), 10,
                            "a key frame from the allowed publisher")
                code = pub.wait(20)
                check(code == 0, "ffmpeg allowed exited %d: %s" % (code, pub.stderr()[-400:]))
                done = svc.wait("publish_done", "s")
                check(done.get("token") == "x", "on_publish_done: %r" % done)
                svc.wait("done", "s")
            svc.wait("play_done", "s")
            dones = wait_for(lambda: svc.find("done", "s") if len(svc.find("done", "s")) == 2
                             else None, 5, "on_done after the publish and after the play")
            check(sorted(d.get("type", "") for d in dones) == ["", "live"],
                  "on_done carries type after a publish only: %r" % dones)

            # denied by a 403: the exact onStatus, the session closed; ffmpeg fails
            code, desc, closed, _ = ask(port, "deny", "publish", "t?token=bad")
            check(code == "NetStream.Publish.BadName" and
                  desc == "Access denied: callback answered 403" and closed,
                  "403 publish: %s %r closed=%s" % (code, desc, closed))
            code, desc, closed, _ = ask(port, "deny", "play", "t")
            check(code == "NetStream.Play.StreamNotFound" and closed,
                  "403 play: %s %r closed=%s" % (code, desc, closed))
            bad = ClientProc(FFMPEG_QUIET + ["-i", clip, "-c", "copy", "-f", "flv",
                                             url(srv, "deny/s")], srv.dir, "pub_denied")
            check(bad.wait(20) != 0, "ffmpeg to a denied stream exited 0")
            srv.wait_log('publish "deny/s" refused by on_publish: callback answered 403')

            # 302 Location: the publisher is renamed; a player of the new name gets its frames;
            # a player redirected by URL plays the stream its last segment names
            with PyPublisher(port, "redir", "orig") as p:
                check(p.status == "NetStream.Publish.Start", "redirected publish: %s" % p.status)
                srv.wait_log('"redir/orig" becomes "renamed"')
                with PyPlayer(port, "redir", "renamed") as watcher:
                    watcher.play()
                    watcher.wait_status("NetStream.Play.Start")
                    p.video(0, AVC_HEADER, header=True)
                    p.video(40, b"key" + bytes(100), key=True)
                    watcher.wait(lambda ms: any(is_video_key(m) for m in ms), 5,
                                 "the renamed stream's key frame")
            with PyPublisher(port, "moved", "target") as p, \
                    PyPlayer(port, "moved", "anything") as moved:
                check(p.status == "NetStream.Publish.Start", "moved publish: %s" % p.status)
                moved.play()
                moved.wait_status("NetStream.Play.Start")
                srv.wait_log('"moved/anything" becomes "target"')
                p.video(0, AVC_HEADER, header=True)
                p.video(40, b"key" + bytes(100), key=True)
                moved.wait(lambda ms: any(is_video_key(m) for m in ms), 5,
                           "the key frame of the stream the Location names")

            # the service down: refused at once
            code, desc, closed, _ = ask(port, "down", "publish", "t")
            check(code == "NetStream.Publish.BadName" and desc.startswith(
                "Access denied: callback failed") and closed,
                "service down: %s %r closed=%s" % (code, desc, closed))
            # a report that fails names what it was about: its session is gone by then
            code, _, _, _ = ask(port, "gone", "publish", "g", wait=0.1)
            check(code == "NetStream.Publish.Start", "publish without on_publish: %s" % code)
            srv.wait_log('on_publish_done "gone/g": callback failed', 3)

            # a sleeping service: refused at notify_timeout, while a running stream flows on
            with PyPublisher(port, "json", "flow") as fp, PyPlayer(port, "json", "flow") as fl:
                check(fp.status == "NetStream.Publish.Start", "json publish: %s" % fp.status)
                fl.play()
                fl.wait_status("NetStream.Play.Start")
                stop = threading.Event()

                def feed():
                    fp.video(0, AVC_HEADER, header=True)
                    i = 0
                    while not stop.is_set():
                        fp.video(i * 20, b"f%d" % i + bytes(100), key=i % 25 == 0)
                        i += 1
                        time.sleep(0.02)

                t = threading.Thread(target=feed, daemon=True)
                t.start()
                try:
                    fl.wait(lambda ms: any(is_video_key(m) for m in ms), 5, "flowing")
                    t0 = time.monotonic()
                    code, desc, closed, took = ask(port, "slow", "publish", "t")
                    t1 = time.monotonic()
                finally:
                    stop.set()
                    t.join(2)
                check(code == "NetStream.Publish.BadName" and "timed out" in desc.lower() and
                      closed, "sleeping service: %s %r closed=%s" % (code, desc, closed))
                check(0.8 <= took <= 2.5, "refused after %.2fs, notify_timeout is 1s" % took)
                arrivals = [ts for ts, m in list(fl.events)
                            if m.type == rc.MSG_VIDEO and t0 <= ts <= t1]
                gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
                check(len(arrivals) > 20 and max(gaps) < 0.3,
                      "the running stream stalled while a callback waited: %d frames, "
                      "largest gap %.2fs" % (len(arrivals), max(gaps or [0])))
            jf = svc.wait("publish", "flow")
            check(jf.get("_json") and jf.get("app") == "json" and jf.get("addr") == "127.0.0.1",
                  "notify_json: %r" % jf)
            # a flashVer that is not UTF-8 still makes a JSON body (the service would fail to
            # read it otherwise), with U+FFFD for the bytes that are not
            with rc.RtmpClient(port, 5.0) as c:
                c.handshake()
                c.connect_app(app="json",
                              extra={"flashVer": rc.RawString(b'FMLE \xff\xfe"x\\')})
                sid = c.create_stream()
                c.command("publish", 0, None, "utf", "live", msid=sid, csid=8)
                jf = svc.wait("publish", "utf")
                check(jf.get("flashver") == 'FMLE \ufffd\ufffd"x\\',
                      "notify_json flashver: %r" % jf.get("flashver"))

            # a client that leaves while its callback is out: the answer, or the timeout,
            # later finds nothing of it (the sanitizer build would report a use after free)
            workers = srv.worker_pids()
            c = rc.RtmpClient(port, 5.0)
            try:
                c.handshake()
                c.connect_app(app="slow")
                sid = c.create_stream()
                c.command("publish", 0, None, "gone", "live", msid=sid, csid=8)
                time.sleep(0.2)
            finally:
                c.close()
            time.sleep(1.5)  # past notify_timeout
            check(srv.worker_pids() == workers,
                  "a worker died after a client left during its callback")
            code, _, _, _ = ask(port, "live", "publish", "after")
            check(code == "NetStream.Publish.Start", "served after that: %s" % code)

            # on_connect 403: connect gets _error, then the connection closes
            c = rc.RtmpClient(port, 5.0)
            try:
                c.handshake()
                v, _ = c.connect_app(app="gate")
                check(v[0] == "_error" and "callback answered 403" in str(v),
                      "on_connect 403: %r" % (v,))
                check(c.wait_closed(2.0), "refused connect not closed")
            finally:
                c.close()
            svc.wait("connect")
            srv.wait_log('connect "gate" refused by on_connect: callback answered 403', 3)

            # on_update refusing drops the session within an interval or two
            with PyPublisher(port, "upd", "u") as up:
                check(up.status == "NetStream.Publish.Start", "upd publish: %s" % up.status)
                svc.wait("update", "u", 4.0)
                check(up.c.wait_closed(4.0), "on_update 403 did not drop the publisher")
    finally:
        svc.close()


test_notify.TIME_LIMIT = 40
