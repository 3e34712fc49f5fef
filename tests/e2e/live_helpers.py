"""Helpers for the live-streaming e2e tests (test_live.py, test_live_workers.py): a config with
live applications, test clips, packet hashes (ffmpeg framemd5) of a source and of what a player
got, the "contiguous run of the source" check, real players (ffmpeg, rtmpdump, GStreamer) and
a Python player / publisher built on rtmp_client.

Packets are compared per media type (video, audio) as (size, md5 of the codec payload): what
ffmpeg's framemd5 hashes is the FLV tag body without its codec header (5 bytes for AVC, 2 for
AAC), so a Python player's messages hash the same way.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import harness
import rtmp_client as rc
from harness import ClientProc, check, fail, wait_for

FFMPEG_QUIET = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]


# ---- configuration ----------------------------------------------------------------------------

def live_conf(port, apps, workers=1, server_extra="", main_extra=""):
    """A complete config listening on 127.0.0.1:port; apps maps an application name to the
    settings inside its block (e.g. {"live": "live = true;"})."""
    blocks = ",\n".join('                { name = "%s"; %s }' % (n, s) for n, s in apps.items())
    return (
        "worker_processes = %d;\n"
        "error_log = \"{dir}/error.log\";\n"
        "pid = \"{dir}/rtmp_server.pid\";\n"
        "log_level = \"info\";\n"
        "shutdown_timeout = \"30s\";\n"
        "%s"
        "rtmp = {\n"
        "    server = (\n"
        "        {\n"
        "            listen = [ \"127.0.0.1:%d\" ];\n"
        "%s"
        "            application = (\n%s\n            );\n"
        "        }\n"
        "    );\n"
        "};\n"
    ) % (workers, main_extra, port, server_extra, blocks)


def live_server(apps, workers=1, **kw):
    port = harness.free_port()
    return harness.Server(workers=workers, ports=[port],
                          conf=live_conf(port, apps, workers, **kw))


def url(srv, stream):
    return "rtmp://127.0.0.1:%d/%s" % (srv.port, stream)


# ---- clips -------------------------------------------------------------------------------------

_heavy_dir = None
_heavy = {}


def heavy_clip(seconds):
    """Like harness.media_clip but about 5.5 Mbit/s (480x270 test picture with noise), so a
    stopped player overflows the kernel's socket buffers (several MB on loopback) in a few
    seconds. Same GOP (2 s), same AAC audio."""
    global _heavy_dir
    harness.need_tools("ffmpeg")
    path = _heavy.get(seconds)
    if path and os.path.exists(path):
        return path
    if _heavy_dir is None:
        _heavy_dir = os.environ.get("E2E_CACHE_DIR")
        if _heavy_dir:
            os.makedirs(_heavy_dir, exist_ok=True)
        else:
            import atexit
            _heavy_dir = tempfile.mkdtemp(prefix="rtmp_e2e_heavy_")
            atexit.register(shutil.rmtree, _heavy_dir, True)
    path = os.path.join(_heavy_dir, "heavy_%ds.flv" % seconds)
    if not (os.path.exists(path) and os.path.getsize(path) > 0):
        tmp = path + ".tmp.flv"
        r = subprocess.run(
            FFMPEG_QUIET + ["-y", "-f", "lavfi",
                            "-i", "testsrc=size=480x270:rate=25,noise=alls=40:allf=t",
                            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                            "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac", "-b:a", "64k",
                            "-f", "flv", tmp],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "ffmpeg could not make the heavy clip: %s" % r.stderr[-500:])
        os.replace(tmp, path)
    _heavy[seconds] = path
    return path


# ---- packet hashes -----------------------------------------------------------------------------

def parse_framemd5(text):
    """{"video": [(size, md5), ...], "audio": [...]} from ffmpeg's framemd5 output; streams
    are mapped by their media type, since a player may number them differently."""
    kinds = {}
    out = {"video": [], "audio": []}
    for line in text.splitlines():
        m = re.match(r"#media_type (\d+): (\w+)", line)
        if m:
            kinds[int(m.group(1))] = m.group(2)
            continue
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6:
            continue
        kind = kinds.get(int(parts[0]))
        if kind in out:
            out[kind].append((int(parts[4]), parts[5]))
    return out


def file_packets(path, timeout=60):
    """Packet hashes of a media file (ffmpeg -c copy -f framemd5)."""
    r = subprocess.run(FFMPEG_QUIET + ["-i", path, "-c", "copy", "-f", "framemd5", "-"],
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffmpeg framemd5 of %s failed: %s" % (path, r.stderr[-500:]))
    return parse_framemd5(r.stdout)


class Source:
    """A clip's packets and which video packets are key frames."""

    def __init__(self, path):
        self.path = path
        self.packets = file_packets(path)
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v",
                            "-show_entries", "packet=flags", "-of", "csv=p=0", path],
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "ffprobe of %s failed: %s" % (path, r.stderr[-500:]))
        flags = [l.strip() for l in r.stdout.splitlines() if l.strip()]
        video = self.packets["video"]
        check(len(flags) == len(video), "ffprobe sees %d video packets, framemd5 %d"
              % (len(flags), len(video)))
        self.keys = {video[i] for i, f in enumerate(flags) if f.startswith("K")}
        self.key_index = [i for i, f in enumerate(flags) if f.startswith("K")]
        check(len(self.packets["audio"]) > 0 and len(self.key_index) > 1,
              "the clip has no audio or a single key frame")

    def count(self):
        return len(self.packets["video"]) + len(self.packets["audio"])


_sources = {}


def source(path):
    if path not in _sources:
        _sources[path] = Source(path)
    return _sources[path]


def contiguous(what, got, src, to_end=True, from_start=False):
    """Checks that `got` (one media type's packets as a player received them) is a run of
    `src` without a gap: it starts somewhere in src (at its start with from_start), every
    next packet is the next one of src, and (with to_end) it runs to src's last packet.
    Returns the index in src where it starts."""
    check(got, "%s: no packets received" % what)
    starts = [i for i, p in enumerate(src) if p == got[0]]
    check(starts, "%s: first packet %r is not in the source" % (what, got[0]))
    best = None
    for i in starts:
        n = 0
        while n < len(got) and i + n < len(src) and src[i + n] == got[n]:
            n += 1
        if n == len(got) and (not to_end or i + n == len(src)) and (not from_start or i == 0):
            return i
        if best is None or n > best[1]:
            best = (i, n)
    i, n = best
    if from_start and i != 0:
        fail("%s: starts at source packet %d, expected the first one" % (what, i))
    if n < len(got):
        nxt = [j for j, p in enumerate(src) if p == got[n]]
        fail("%s: %d packets match the source from its packet %d, then packet %d of %d "
             "received is source packet %s instead of %d (gap or reordering)"
             % (what, n, i, n, len(got), nxt[:3] or "none", i + n))
    fail("%s: the run stops at source packet %d of %d (the last %d missing)"
         % (what, i + n, len(src), len(src) - i - n))


def check_complete(what, got, src, from_start=False):
    """A player's packets (parse_framemd5 shape) against a Source: video from a key frame to
    the end, audio from its first packet to the end, both without gaps."""
    v = contiguous(what + " video", got["video"], src.packets["video"], True, from_start)
    check(src.packets["video"][v] in src.keys,
          "%s: the first video packet (source packet %d) is not a key frame" % (what, v))
    contiguous(what + " audio", got["audio"], src.packets["audio"], True, from_start)


def check_players(players, src, from_start=False):
    """check_complete for each real player (ffmpeg's framemd5 on its stdout, rtmpdump's saved
    file); all are checked, then one failure lists every player that failed."""
    bad = []
    for p in players:
        try:
            got = rtmpdump_packets(p) if hasattr(p, "flv") else parse_framemd5(p.stdout())
            check_complete(p.name, got, src, from_start)
        except harness.TestFailure as e:
            bad.append(str(e))
    if bad:
        fail("%d of %d players did not get the whole stream: %s"
             % (len(bad), len(players), "; ".join(bad[:4]) + (" ..." if len(bad) > 4 else "")))


# ---- real players ------------------------------------------------------------------------------

def ffmpeg_player(srv, stream, name):
    """ffmpeg copying the stream into framemd5 on its stdout."""
    return ClientProc(FFMPEG_QUIET + ["-i", url(srv, stream), "-c", "copy", "-f", "framemd5",
                                      "-"], srv.dir, name)


def rtmpdump_player(srv, stream, name):
    """rtmpdump saving the live stream to <dir>/<name>.flv."""
    p = ClientProc(["rtmpdump", "-r", url(srv, stream), "-v", "-o",
                    os.path.join(srv.dir, name + ".flv")], srv.dir, name)
    p.flv = os.path.join(srv.dir, name + ".flv")
    return p


def rtmpdump_packets(p):
    """ffprobe must read rtmpdump's file without error; its packet hashes."""
    check(os.path.exists(p.flv) and os.path.getsize(p.flv) > 0, "%s saved nothing" % p.name)
    r = subprocess.run(["ffprobe", "-v", "error", "-show_streams", p.flv], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0 and r.stderr.strip() == "" and "codec_name=h264" in r.stdout and
          "codec_name=aac" in r.stdout,
          "ffprobe of %s's file (exit %d): %s %s" % (p.name, r.returncode, r.stderr[-500:],
                                                     r.stdout[-300:]))
    return file_packets(p.flv)


def gst_player(srv, stream, name):
    """GStreamer decoding video and audio into fakesinks; -v with a non-silent video sink
    logs every decoded picture (gst_decoded counts them)."""
    return ClientProc(["gst-launch-1.0", "-v", "rtmp2src", "location=" + url(srv, stream),
                       "!", "flvdemux", "name=d",
                       "d.video", "!", "queue", "!", "h264parse", "!", "avdec_h264", "!",
                       "fakesink", "name=vs", "silent=false", "sync=false",
                       "d.audio", "!", "queue", "!", "aacparse", "!", "avdec_aac", "!",
                       "fakesink", "sync=false"], srv.dir, name)


def gst_decoded(p):
    """Pictures the video fakesink of gst_player received."""
    return p.stdout().count("GstFakeSink:vs: last-message = chain")


def have_gst():
    if shutil.which("gst-launch-1.0") is None or shutil.which("gst-inspect-1.0") is None:
        return False
    for e in ("rtmp2src", "flvdemux", "h264parse", "avdec_h264", "aacparse", "avdec_aac"):
        r = subprocess.run(["gst-inspect-1.0", e], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            return False
    return True


def ffmpeg_publisher(srv, clip, stream, name, extra=()):
    return ClientProc(FFMPEG_QUIET + ["-re"] + list(extra) + ["-i", clip, "-c", "copy",
                                                               "-f", "flv", url(srv, stream)],
                      srv.dir, name)


def client_port(pid, server_port, timeout=5.0):
    """The local port of client process pid's TCP connection to 127.0.0.1:server_port."""
    def find():
        inodes = harness.socket_inodes(pid)
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) > 9 and int(parts[9]) in inodes and \
                        int(parts[2].rsplit(":", 1)[1], 16) == server_port:
                    return int(parts[1].rsplit(":", 1)[1], 16)
        return None
    return wait_for(find, timeout, "the connection of pid %d" % pid)


# ---- the log -----------------------------------------------------------------------------------

LINE = re.compile(r"^\S+ \S+ \[(\w+)\] (\d+)#(\d+): (.*), client: 127\.0\.0\.1:(\d+), "
                  r"connection: \d+$")


def session_lines(srv):
    """(level, "pid#slot", message, client port) of every session log line."""
    out = []
    for line in srv.log().splitlines():
        m = LINE.match(line)
        if m:
            out.append((m.group(1), "%s#%s" % (m.group(2), m.group(3)), m.group(4),
                        int(m.group(5))))
    return out


def players_of(srv, stream):
    """{client port: "pid#slot"} of the sessions that logged play "<stream>"."""
    return {port: w for _, w, msg, port in session_lines(srv)
            if msg.startswith('play "%s"' % stream)}


def wait_players(srv, stream, n, timeout=20.0):
    # counted by line: two clients of two listeners may have the same port
    def played():
        return sum(1 for _, _, msg, _ in session_lines(srv)
                   if msg.startswith('play "%s"' % stream))
    return wait_for(lambda: played() >= n and players_of(srv, stream), timeout,
                    "%d players of %s in the log" % (n, stream))


def publishers_of(srv, stream):
    return {port: w for _, w, msg, port in session_lines(srv)
            if msg.startswith('publish "%s"' % stream)}


ENDED = re.compile(r'(publish|play) ended "([^"]+)": (\d+\.\d)s, (.*)')


def ended(srv, kind):
    """{client port: (level, stream, seconds, rest)} of "publish ended"/"play ended" lines."""
    out = {}
    for level, _, msg, port in session_lines(srv):
        m = ENDED.match(msg)
        if m and m.group(1) == kind:
            out[port] = (level, m.group(2), float(m.group(3)), m.group(4))
    return out


def published_messages(srv, port):
    e = ended(srv, "publish").get(port)
    if e is None:
        return None
    m = re.match(r"(\d+) messages", e[3])
    return int(m.group(1)) if m else None


# ---- the Python client as player and publisher -------------------------------------------------

def media_packet(m):
    """(kind, (size, md5)) of an audio/video message carrying a frame (not a sequence header
    or end of sequence), as ffmpeg's framemd5 would hash it; None otherwise."""
    p = m.payload
    if m.type == rc.MSG_VIDEO and len(p) >= 5 and p[0] & 0x0f == 7 and p[1] == 1:
        return "video", (len(p) - 5, hashlib.md5(p[5:]).hexdigest())
    if m.type == rc.MSG_AUDIO and len(p) >= 2 and p[0] >> 4 == 10 and p[1] == 1:
        return "audio", (len(p) - 2, hashlib.md5(p[2:]).hexdigest())
    return None


def is_video_key(m):
    return m.type == rc.MSG_VIDEO and len(m.payload) >= 2 and m.payload[0] >> 4 == 1 and \
        m.payload[1] == 1


def is_video_header(m):
    return m.type == rc.MSG_VIDEO and len(m.payload) >= 2 and m.payload[1] == 0


def is_audio_header(m):
    return m.type == rc.MSG_AUDIO and len(m.payload) >= 2 and m.payload[0] >> 4 == 10 and \
        m.payload[1] == 0


def data_name(m):
    if m.type != rc.MSG_AMF_META:
        return None
    try:
        v = m.amf()
    except rc.AmfError:
        return "<bad AMF>"
    return v[0] if v and isinstance(v[0], str) else "<no name>"


def status_code(m):
    if not m.is_command("onStatus"):
        return None
    v = m.amf()
    return v[3].get("code") if len(v) >= 4 and isinstance(v[3], dict) else None


def _connected(port, app, timeout=5.0):
    c = rc.RtmpClient(port, timeout)
    try:
        c.handshake()
        v, _ = c.connect_app(app=app)
        check(v[:2] == ["_result", 1.0] and len(v) >= 4 and isinstance(v[3], dict) and
              v[3].get("code") == "NetConnection.Connect.Success",
              "connect to %s answered with %r" % (app, v))
    except BaseException:
        c.close()
        raise
    return c


class PyPlayer:
    """A Python player: connect, createStream, Set Buffer Length, then play() sends play and a
    thread reads every message with its arrival time (answering pings) until stop(), the
    server closing, or `limit` seconds."""

    def __init__(self, port, app, name, limit=40.0):
        self.name = name
        self.c = _connected(port, app)
        self.sid = self.c.create_stream()
        self.c.send_user(rc.USER_SET_BUFLEN, self.sid, 1000)
        self.events = []  # (monotonic time, Message)
        self.closed = False
        self.error = None
        self.t_play = None
        self.limit = limit
        self._stop = threading.Event()
        self._thread = None

    @property
    def port(self):
        return self.c.local_port

    def play(self, start=-2.0):
        self.t_play = time.monotonic()
        self.c.command("play", 0, None, self.name, start, msid=self.sid, csid=8)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        deadline = time.monotonic() + self.limit
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    m = self.c.read_message(0.2)
                except socket.timeout:
                    continue
                except rc.ConnectionClosed:
                    self.closed = True
                    return
                self.events.append((time.monotonic(), m))
                ev = m.user_event()
                if ev and ev[0] == rc.USER_PING_REQUEST:
                    self.c.send_user(rc.USER_PING_RESPONSE, ev[1])
        except BaseException as e:  # reported by the test through self.error
            self.error = e

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3.0)
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def messages(self):
        return [m for _, m in list(self.events)]

    def media(self):
        """Audio, video and data messages on the play stream, in order."""
        return [m for m in self.messages()
                if m.type in (rc.MSG_AUDIO, rc.MSG_VIDEO, rc.MSG_AMF_META)
                and data_name(m) != "|RtmpSampleAccess"]

    def statuses(self):
        return [c for c in (status_code(m) for m in self.messages()) if c]

    def packets(self, msgs=None):
        out = {"video": [], "audio": []}
        for m in self.messages() if msgs is None else msgs:
            p = media_packet(m)
            if p:
                out[p[0]].append(p[1])
        return out

    def wait(self, pred, timeout, what):
        """Waits until pred(list of messages) is truthy; returns its value."""
        def ok():
            if self.error is not None:
                fail("player %s: %s" % (self.name, self.error))
            return pred(self.messages())
        return wait_for(ok, timeout, "player %s: %s" % (self.name, what))

    def wait_status(self, code, timeout=5.0):
        return self.wait(lambda ms: code in [status_code(m) for m in ms], timeout, code)


class PyPublisher:
    """A Python publisher: connect, createStream, Set Chunk Size 4096, publish; `status` is
    the code of the onStatus that answered publish."""

    def __init__(self, port, app, name):
        self.c = _connected(port, app)
        self.sid = self.c.create_stream()
        self.c.set_chunk_size(4096)
        self.c.command("publish", 0, None, name, "live", msid=self.sid, csid=8)
        m, _ = self.c.read_until(lambda x: x.is_command("onStatus") and x.msid == self.sid,
                                 5.0, "onStatus for publish")
        self.status = status_code(m)

    @property
    def port(self):
        return self.c.local_port

    def video(self, ts, body, key=False, header=False):
        head = bytes([0x17 if key or header else 0x27, 0 if header else 1, 0, 0, 0])
        self.c.send_message(rc.MSG_VIDEO, head + body, msid=self.sid, csid=6, timestamp=ts)

    def audio(self, ts, body, header=False):
        self.c.send_message(rc.MSG_AUDIO, bytes([0xaf, 0 if header else 1]) + body,
                            msid=self.sid, csid=4, timestamp=ts)

    def data(self, ts, *values):
        self.c.send_message(rc.MSG_AMF_META, rc.amf0_encode(*values), msid=self.sid, csid=5,
                            timestamp=ts)

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
