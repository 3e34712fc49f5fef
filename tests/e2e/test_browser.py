"""A browser plays a live stream from rtmp_server's HTTP listener: headless Chromium (Debian's
chromium, driven by playwright-core from npm) loads a page and hls.js (from npm) served by the
server itself, plays /hls/live/test.m3u8 in a <video>, and currentTime advances by several
seconds while a frame drawn to a canvas is a picture, not a uniform colour. Over plain HTTP,
and over HTTPS (a listen address marked ssl, with a self-signed certificate).

The stream is published over RTMP by ffmpeg and segmented by the server's HLS module."""

import json
import os
import shutil
import subprocess

from harness import (REPO, ClientProc, check, fail, free_port, need_tools, self_signed_certificate,
                     skip, wait_for)
from http_helpers import http_server
from live_helpers import FFMPEG_QUIET

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
PLAY_SECONDS = 4


def _browser_tools():
    """node and the npm packages; skips only when chromium itself is not installed."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        skip("chromium is not installed (scripts/install-deps.sh installs it)")
    node = shutil.which("node")
    check(node, "node is not installed (scripts/install-deps.sh installs nodejs)")
    modules = os.path.join(BROWSER_DIR, "node_modules")
    if not os.path.isdir(os.path.join(modules, "playwright-core")) or \
            not os.path.isdir(os.path.join(modules, "hls.js")):
        npm = shutil.which("npm")
        check(npm, "tests/browser/node_modules is missing and there is no npm to install it")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "npm ci in tests/browser failed: %s" % r.stderr[-800:])
    return chromium, node


def hls_source(srv, app, name, seconds=60):
    """Publishes a live stream into srv over RTMP (ffmpeg, 1 s GOP); the server's own
    segmenter makes /hls/APP/NAME.m3u8 of it. Returns the publishing process."""
    return ClientProc(FFMPEG_QUIET + [
        "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "flv", "rtmp://127.0.0.1:%d/%s/%s" % (srv.port, app, name)], srv.dir, "publisher")


def _segments(path):
    try:
        with open(path) as f:
            return [l for l in f.read().splitlines() if l and not l.startswith("#")]
    except OSError:
        return []


def test_browser_plays_live_hls():
    _play_live_hls(tls=False)


test_browser_plays_live_hls.TIME_LIMIT = 90


def test_browser_plays_live_hls_over_https():
    _play_live_hls(tls=True)


test_browser_plays_live_hls_over_https.TIME_LIMIT = 90


def _play_live_hls(tls):
    chromium, node = _browser_tools()
    need_tools("ffmpeg")
    https_port = free_port()
    extra = ('cors = "*"; ssl_certificate = "{dir}/server.pem"; '
             'ssl_certificate_key = "{dir}/server.key"; ')
    with http_server(http_extra=extra, also_listen=["127.0.0.1:%d ssl" % https_port],
                     app_extra='live = true; hls = true; hls_fragment = "1s"; ') as srv:
        self_signed_certificate(srv.dir)
        srv.start()
        root = os.path.join(srv.dir, "hls")
        os.makedirs(root, exist_ok=True)
        # the page and hls.js are files the server serves like any other
        shutil.copy(os.path.join(BROWSER_DIR, "player.html"), root)
        shutil.copy(os.path.join(BROWSER_DIR, "node_modules", "hls.js", "dist", "hls.min.js"),
                    root)
        src = hls_source(srv, "live", "test")
        playlist = os.path.join(root, "live", "test.m3u8")
        wait_for(lambda: len(_segments(playlist)) >= 2 or not src.running(), 20,
                 "two segments in the playlist")
        check(src.running(), "the publisher stopped: %s" % src.stderr()[-500:])

        url = "%s://127.0.0.1:%d/hls/player.html?src=/hls/live/test.m3u8" % (
            ("https", https_port) if tls else ("http", srv.http_port))
        env = dict(os.environ, CHROMIUM=chromium)
        r = subprocess.run([node, os.path.join(BROWSER_DIR, "play.mjs"), url,
                            str(PLAY_SECONDS)], cwd=BROWSER_DIR, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL, env=env)
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode != 0 or not lines:
            fail("the browser script failed (exit %d): %s %s" % (r.returncode, r.stdout[-800:],
                                                                r.stderr[-800:]))
        res = json.loads(lines[-1])
        what = json.dumps({k: res.get(k) for k in ("error", "started", "currentTime",
                                                   "variance", "width", "height", "errors",
                                                   "log")})[:1500]
        check(res["ok"], "playback did not advance %ds: %s" % (PLAY_SECONDS, what))
        check(res["currentTime"] - res["started"] >= PLAY_SECONDS,
              "currentTime went from %s to %s" % (res["started"], res["currentTime"]))
        check(res["width"] == 320 and res["height"] == 240, "video size: %s" % what)
        # testsrc2's bars and gradients: far from one colour (a black or grey frame is ~0)
        check(res["variance"] > 200, "the frame drawn to a canvas is uniform: %s" % what)
        check(src.running(), "the publisher ended early")
        # and it all came through our listener
        log = srv.log()
        for needle in ('"GET /hls/hls.min.js HTTP/1.1" 200', '"GET /hls/live/test.m3u8',
                       '.ts HTTP/1.1" 200'):
            check(needle in log, "no %r in the access log" % needle)
        src.stop()
