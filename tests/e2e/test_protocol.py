"""RTMP protocol engine end to end: real clients (ffmpeg, rtmpdump with the digest handshake,
GStreamer) reach the publishing and playing states; a small Python client (rtmp_client.py)
checks the exact replies (connect, errors, streams, pings, AMF3); hostile and broken clients
are dropped with a reason while a publisher on the same worker carries on."""

import os
import random
import re
import signal
import struct
import time

import rtmp_client as rc
from harness import ClientProc, Server, check, fail, media_clip, need_tools, skip, wait_for

# A made-up SWF hash and size: with them, Debian's rtmpdump (librtmp) uses the digest
# handshake (and answers the server's digest in C2), as the Flash player does.
SWF_HASH = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
SWF_SIZE = "123456"

STREAM = "live/x"


def _server(workers=1, **settings):
    """A server with one worker (hostile clients and the publisher share one event loop)
    and the given server-level settings, written as `name = "value";`."""
    extra = "".join('            %s = %s;\n' % (k, v if isinstance(v, int) else '"%s"' % v)
                    for k, v in settings.items())
    # the live module refuses publishing unless `live` is on in the application; players
    # of a stream nobody publishes wait for it (idle_streams) rather than get StreamNotFound
    return Server(workers=workers, server_extra=extra,
                  app_extra="live = true; idle_streams = true; ")


def _url(srv, stream=STREAM):
    return "rtmp://127.0.0.1:%d/%s" % (srv.port, stream)


# ---- reading the log ---------------------------------------------------------------------------

def server_healthy(srv):
    """Fails at once when a worker died or a sanitizer reported something, rather than
    letting a wait for a log line run into its timeout."""
    report = srv.sanitizer_report()
    if report:
        fail("sanitizer report from the server: %s" % report)
    for line in srv.log().splitlines():
        if re.search(r"worker \d+ (exited with code [1-9]|exited on signal|died)", line):
            fail("a worker died: %s" % line.strip())


def client_lines(srv, port):
    """Log lines of the session whose client port is `port`."""
    tag = "client: 127.0.0.1:%d," % port
    return [line for line in srv.log().splitlines() if tag in line]


def close_line(srv, port):
    for line in client_lines(srv, port):
        if "session closed: " in line:
            return line
    return None


def wait_close(srv, port, timeout):
    def find():
        server_healthy(srv)
        return close_line(srv, port)
    return wait_for(find, timeout,
                    "the server to log closing the session of client port %d" % port)


def client_of(srv, pattern, timeout=5.0, what=None):
    """Waits for a log line matching the regex `pattern` and returns the client port of
    its session."""
    rx = re.compile(pattern + r".*client: 127\.0\.0\.1:(\d+),")

    def find():
        server_healthy(srv)
        for line in srv.log().splitlines():
            m = rx.search(line)
            if m:
                return int(m.group(m.lastindex))
        return None
    return wait_for(find, timeout, what or "a log line matching %r" % pattern)


# The line a publish start is logged with, and the media message count logged when it ends:
# 'publish "live/x", 0 players waiting' ... 'publish ended "live/x": 4.0s, 278 messages, ...'
# (the session-only engine before the live module said 'publish "live/x" type=live' and
# 'unpublish "live/x" after 278 messages'; both are understood)
PUBLISH_RX = r'publish "%s"(,| type=)' % re.escape(STREAM)
PLAY_RX = r'play "%s"(?!:)' % re.escape(STREAM)
_UNPUBLISH_RX = re.compile(r'(?:unpublish "%s" after|publish ended "%s": [0-9.]+s,) (\d+) '
                           r'messages' % (re.escape(STREAM), re.escape(STREAM)))


def unpublish_count(srv, port):
    for line in client_lines(srv, port):
        m = _UNPUBLISH_RX.search(line)
        if m:
            return int(m.group(1))
    return None


# ---- real clients ------------------------------------------------------------------------------

def test_ffmpeg_publish():
    clip = media_clip()
    with _server() as srv:
        srv.start()
        with ClientProc(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
                         "-i", clip, "-c", "copy", "-f", "flv", _url(srv)],
                        srv.dir, "ffmpeg_publish") as ff:
            port = client_of(srv, PUBLISH_RX, what="the publish line")
            code = ff.wait(20)
            check(code == 0, "ffmpeg exited with %d: %s" % (code, ff.stderr()[-800:]))
            check(ff.stderr().strip() == "", "ffmpeg printed errors: %s" % ff.stderr()[-800:])
        wait_for(lambda: unpublish_count(srv, port) is not None, 3.0, "the unpublish line")
        count = unpublish_count(srv, port)
        # the clip holds 100 video frames (4 s at 25 fps) and ~172 AAC frames
        check(count >= 100, "unpublish after %d media messages, expected the whole clip "
              "(>= 100)" % count)
        lines = client_lines(srv, port)
        check(any("handshake done (" in l for l in lines), "no handshake line: %s" % lines)
        check(any('connect app="live"' in l for l in lines), "no connect line: %s" % lines)
        line = wait_close(srv, port, 3.0)
        check("session closed: client closed the connection (state connected" in line,
              "publisher's session ended with: %s" % line)


def _player(srv, args, name, handshake):
    """Starts a player, waits until the server has it in the play state with the given
    handshake type, checks it is still running, then kills it; returns the ClientProc."""
    with ClientProc(args, srv.dir, name) as p:
        port = client_of(srv, PLAY_RX, 8.0, "%s to reach play" % name)
        lines = client_lines(srv, port)
        hs = [l for l in lines if "handshake done (" in l]
        check(hs and "handshake done (%s" % handshake in hs[0],
              "%s: expected a %s handshake, the log says %s" % (name, handshake, hs))
        check(any('connect app="live"' in l for l in lines), "%s: no connect line" % name)
        # nobody publishes the stream: it waits for media, still running, with no error
        time.sleep(0.5)
        check(p.running(), "%s exited (%s) after play: %s" % (name, p.proc.returncode,
                                                              p.stderr()[-800:]))
        check(close_line(srv, port) is None, "%s's session was closed: %s"
              % (name, close_line(srv, port)))
        p.stop(signal.SIGKILL)
    line = wait_close(srv, port, 3.0)
    check("client closed the connection" in line, "%s's session ended with: %s" % (name, line))
    return p


def test_rtmpdump_digest_handshake_play():
    need_tools("rtmpdump")
    with _server() as srv:
        srv.start()
        p = _player(srv, ["rtmpdump", "-r", _url(srv), "-w", SWF_HASH, "-x", SWF_SIZE, "-v",
                          "-m", "10", "-o", os.devnull], "rtmpdump_digest", "complex")
        out = p.stderr() + p.stdout()
        check("ERROR" not in out, "rtmpdump reported an error: %s" % out[-800:])
        check("Connected" in out, "rtmpdump did not say Connected: %s" % out[-800:])


def test_rtmpdump_simple_handshake_play():
    need_tools("rtmpdump")
    with _server() as srv:
        srv.start()
        p = _player(srv, ["rtmpdump", "-r", _url(srv), "-v", "-m", "10", "-o", os.devnull],
                    "rtmpdump_simple", "simple")
        out = p.stderr() + p.stdout()
        check("ERROR" not in out, "rtmpdump reported an error: %s" % out[-800:])


def test_ffmpeg_play():
    need_tools("ffmpeg")
    with _server() as srv:
        srv.start()
        p = _player(srv, ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                          "-i", _url(srv), "-f", "null", "-"], "ffmpeg_play", "complex")
        check(p.stderr().strip() == "", "ffmpeg printed errors: %s" % p.stderr()[-800:])


def test_gstreamer_play():
    need_tools("gst-launch-1.0", "gst-inspect-1.0")
    import subprocess
    r = subprocess.run(["gst-inspect-1.0", "rtmp2src"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        skip("GStreamer has no rtmp2src element")
    with _server() as srv:
        srv.start()
        # GStreamer's rtmp2 uses the simple handshake (its C2 does not echo S1 byte for byte)
        p = _player(srv, ["gst-launch-1.0", "-q", "rtmp2src", "location=" + _url(srv), "!",
                          "fakesink"], "gst_play", "simple")
        out = p.stderr() + p.stdout()
        check("ERROR" not in out, "gst-launch reported an error: %s" % out[-800:])


test_gstreamer_play.TIME_LIMIT = 90  # a first gst-inspect may rebuild the plugin registry


# ---- the Python client: exact replies ------------------------------------------------------------

def _connected(srv, **kw):
    c = rc.RtmpClient(srv.port)
    c.handshake()
    v, seen = c.connect_app(**kw)
    check(v[:2] == ["_result", 1.0] and len(v) >= 4 and
          v[3].get("code") == "NetConnection.Connect.Success",
          "connect answered with %r" % (v,))
    return c, v, seen


def test_connect_replies():
    with _server(chunk_size="1000", ack_window="2500000") as srv:
        srv.start()
        with rc.RtmpClient(srv.port) as c:
            c.handshake()
            v, seen = c.connect_app()
            types = [m.type for m in seen]
            # FMS and nginx-rtmp order: window, peer bandwidth, chunk size, then the result
            check(types[:3] == [rc.MSG_ACK_SIZE, rc.MSG_BANDWIDTH, rc.MSG_CHUNK_SIZE],
                  "before the connect result: %r" % seen)
            ack, bw, cs = seen[:3]
            check(all(m.csid == 2 and m.msid == 0 for m in seen[:3]),
                  "protocol control not on chunk stream 2, message stream 0: %r" % seen[:3])
            check(ack.payload == struct.pack(">I", 2500000),
                  "Window Ack Size %r, expected 2500000" % ack.payload.hex())
            check(len(bw.payload) == 5 and bw.u32() == 2500000 and bw.payload[4] == 2,
                  "Set Peer Bandwidth %r, expected 2500000 dynamic" % bw.payload.hex())
            check(cs.payload == struct.pack(">I", 1000),
                  "Set Chunk Size %r, expected 1000" % cs.payload.hex())
            check(c.in_chunk_size == 1000, "chunk size not applied")
            check(v[0] == "_result" and v[1] == 1.0, "reply %r, expected _result tid 1" % (v,))
            check(len(v) == 4 and isinstance(v[2], dict) and isinstance(v[3], dict),
                  "connect result is not properties + information: %r" % (v,))
            info = v[3]
            check(info.get("level") == "status" and
                  info.get("code") == "NetConnection.Connect.Success",
                  "connect information: %r" % info)
            check(info.get("objectEncoding") == 0.0, "objectEncoding not echoed: %r" % info)
            check("fmsVer" in v[2] and "capabilities" in v[2], "connect properties: %r" % v[2])
            m = [x for x in c.received if x.is_command("_result")][0]
            check(m.csid == 3 and m.msid == 0 and m.type == rc.MSG_AMF_CMD,
                  "connect result on csid %d msid %d type %d" % (m.csid, m.msid, m.type))
            # still open and usable
            check(c.create_stream() == 1, "first createStream did not return stream 1")
        srv.wait_log('connect app="live" tcUrl="rtmp://127.0.0.1:%d/live"' % srv.port)


def test_connect_unknown_app():
    with _server() as srv:
        srv.start()
        with rc.RtmpClient(srv.port) as c:
            c.handshake()
            port = c.local_port
            v, _ = c.connect_app(app="nosuchapp")
            check(v[:2] == ["_error", 1.0] and len(v) >= 4 and isinstance(v[3], dict),
                  "connect to an unknown app answered with %r" % (v,))
            check(v[3].get("level") == "error" and
                  v[3].get("code") == "NetConnection.Connect.Rejected",
                  "rejection information: %r" % v[3])
            check(c.wait_closed(3.0), "the server did not close the rejected connection")
        srv.wait_log('connect rejected: no application "nosuchapp"')
        line = wait_close(srv, port, 3.0)
        check("client closed" not in line, "closed by the client, not the server: %s" % line)


def test_unknown_call_and_create_stream():
    with _server() as srv:
        srv.start()
        c, _, _ = _connected(srv)
        port = c.local_port
        with c:
            c.command("fooBar", 5, None, "arg")
            v, m, _ = c.read_command()
            check(v[:2] == ["_error", 5.0] and len(v) >= 4 and isinstance(v[3], dict),
                  "fooBar answered with %r" % (v,))
            check(v[3].get("level") == "error" and
                  v[3].get("code") == "NetConnection.Call.Failed",
                  "error information: %r" % v[3])
            # a call without a transaction id is a notification: no answer
            c.command("fooBaz", 0, None)
            # the connection is still usable: stream ids 1, 2, then deleteStream frees 1
            c.tid = 5
            check(c.create_stream() == 1, "createStream after an unknown call")
            check(c.create_stream() == 2, "second createStream")
            c.command("deleteStream", 0, None, 1.0)
            check(c.create_stream() == 1, "createStream after deleteStream did not reuse id 1")
            extra = [x for x in c.received if x.is_command()
                     and x.amf()[:2] not in (["_result", 1.0], ["_error", 5.0])
                     and x.amf()[0] != "_result"]
            check(not extra, "unexpected commands (an answer to a notification?): %r" % extra)
            check(not c.wait_closed(0.2), "server closed the connection")
        line = wait_close(srv, port, 3.0)
        check("session closed: client closed the connection" in line,
              "the session was not kept until the client left: %s" % line)


def _stream_reply(c, what):
    """The next command on a non-zero message stream and the messages before it."""
    m, seen = c.read_until(lambda x: x.is_command() and x.msid != 0, None, what)
    return m.amf(), m, seen


def test_publish_and_play():
    clip = media_clip()
    with _server() as srv:
        srv.start()
        pub, _, _ = _connected(srv)
        ply, _, _ = _connected(srv)
        with pub, ply:
            sid = pub.create_stream()
            check(sid == 1, "createStream returned %r" % sid)
            pub.command("publish", 0, None, "x", "live", msid=sid, csid=8)
            v, m, seen = _stream_reply(pub, "onStatus for publish")
            check(v[0] == "onStatus" and len(v) >= 4 and
                  v[3].get("code") == "NetStream.Publish.Start" and
                  v[3].get("level") == "status",
                  "publish answered with %r" % (v,))
            check(m.msid == sid, "onStatus on message stream %d, not %d" % (m.msid, sid))
            client_of(srv, PUBLISH_RX, what="the publish line")

            # the clip's first tags (metadata, sequence headers, frames) as media messages;
            # each is counted, and the count is reported at unpublish
            tags = rc.flv_tags(clip, 30)
            pub.set_chunk_size(1000)  # as encoders do; a key frame then spans 7 chunks
            for ttype, ts, body in tags:
                if ttype == rc.MSG_AMF_META:
                    body = rc.amf0_encode("@setDataFrame") + body
                pub.send_message(ttype, body, msid=sid, csid=4 if ttype != rc.MSG_VIDEO else 6,
                                 timestamp=ts)
            av = sum(1 for t in tags if t[0] in (rc.MSG_AUDIO, rc.MSG_VIDEO))

            psid = ply.create_stream()
            ply.send_user(rc.USER_SET_BUFLEN, psid, 3000)
            ply.command("play", 0, None, "x", -2000.0, msid=psid, csid=8)
            begin, seen0 = ply.read_until(lambda x: x.user_event() is not None and
                                          x.user_event()[0] == rc.USER_STREAM_BEGIN,
                                          None, "StreamBegin")
            check(begin.user_event() == (rc.USER_STREAM_BEGIN, psid),
                  "StreamBegin %r, expected stream %d" % (begin.user_event(), psid))
            v1, m1, _ = _stream_reply(ply, "Play.Reset")
            v2, m2, _ = _stream_reply(ply, "Play.Start")
            check(v1[0] == "onStatus" and v1[3].get("code") == "NetStream.Play.Reset",
                  "first status after play: %r" % (v1,))
            check(v2[0] == "onStatus" and v2[3].get("code") == "NetStream.Play.Start",
                  "second status after play: %r" % (v2,))
            check(m1.msid == psid and m2.msid == psid, "play status not on stream %d" % psid)
            client_of(srv, PLAY_RX, what="the play line")

            # a player joining a running stream gets its sequence headers (live module),
            # byte for byte as published, on its own message stream
            headers = {t: body for t, _, body in tags[:4]
                       if t in (rc.MSG_AUDIO, rc.MSG_VIDEO) and body[1] == 0}
            check(len(headers) == 2, "the clip does not start with both sequence headers")
            got = {}

            def both(x):
                if x.type in headers and x.payload[1:2] == b"\x00":
                    got.setdefault(x.type, x)
                return len(got) == len(headers)
            ply.read_until(both, 3.0, "both sequence headers on the player")
            for t, body in headers.items():
                check(got[t].payload == body and got[t].msid == psid,
                      "type %d sequence header on msid %d differs from the published one"
                      % (t, got[t].msid))
            check(not ply.wait_closed(0.1), "player closed")

            pub.command("FCUnpublish", 0, None, "x")
            pub.command("deleteStream", 0, None, float(sid))
            v, _, _ = _stream_reply(pub, "Unpublish.Success")
            check(v[0] == "onStatus" and v[3].get("code") == "NetStream.Unpublish.Success",
                  "deleteStream of a publisher answered with %r" % (v,))
            count = wait_for(lambda: unpublish_count(srv, pub.local_port), 3.0,
                             "the unpublish line")
            check(count in (av, len(tags)), "unpublish after %d media messages; %d audio/video "
                  "and %d data messages were sent" % (count, av, len(tags) - av))
            check(not pub.wait_closed(0.1), "publisher closed")


def test_publish_and_play_without_a_name():
    """An empty stream name is answered with the onStatus a client shows its user, then the
    session ends (ffmpeg prints "Server error: publish without a stream name")."""
    with _server() as srv:
        srv.start()
        for verb, args, code in (("publish", ["", "live"], "NetStream.Publish.BadName"),
                                 ("play", [""], "NetStream.Play.StreamNotFound")):
            c, _, _ = _connected(srv)
            with c:
                sid = c.create_stream()
                c.command(verb, 0, None, *args, msid=sid, csid=8)
                v, m, _ = _stream_reply(c, "onStatus for " + verb)
                check(v[0] == "onStatus" and len(v) >= 4 and v[3].get("code") == code and
                      v[3].get("description") == "%s without a stream name" % verb,
                      "%s without a name answered with %r" % (verb, v))
                check(c.wait_closed(2.0), "%s without a name: the session stays open" % verb)
        server_healthy(srv)


def test_control_characters_never_reach_the_log():
    """A client's newline or escape cannot forge a log line or reach a terminal: connect with
    one in app is refused, one in flashVer is logged as ?, and a stream name holding one is
    answered with the onStatus a client shows its user, then the session ends. Bytes that are
    not UTF-8 get the same, so names stay valid in JSON, /metrics and the log."""
    forged = "2026-01-01T00:00:00 [emerg] 1: FORGED"
    with _server() as srv:
        srv.start()
        # connect with a newline, or bytes that are not UTF-8, in app: closed
        for app, why in (("live\n" + forged, "control characters in app or tcUrl"),
                         (rc.RawString(b"li\xffve"), "app or tcUrl is not UTF-8")):
            with rc.RtmpClient(srv.port) as c:
                c.handshake()
                c.command("connect", 1, {"app": app, "flashVer": "LNX",
                                         "tcUrl": "rtmp://127.0.0.1:%d/live" % srv.port})
                check(c.wait_closed(3.0), "connect with app %r: the session stays open" % app)
            srv.wait_log("connect: " + why)
        # in flashVer: shown as ?; in a stream name: refused, saying why, and closed
        control, not_utf8 = "control characters in the stream name", "the stream name is not UTF-8"
        raw = rc.RawString
        for verb, args, code, why, flashver, shown in (
                ("publish", ["a\n" + forged, "live"], "NetStream.Publish.BadName", control,
                 "LNX\n%s\x1b[2J" % forged, "LNX?%s?[2J" % forged),
                ("play", ["b\x1b[31m"], "NetStream.Play.StreamNotFound", control, "LNX", "LNX"),
                ("publish", [raw(b"pub\xc0\xaf"), "live"], "NetStream.Publish.BadName", not_utf8,
                 raw(b"LNX \xff\xfe 9"), "LNX ?? 9"),
                ("play", [raw(b"pl\xff\xfeyer")], "NetStream.Play.StreamNotFound", not_utf8,
                 "LNX", "LNX")):
            c, _, _ = _connected(srv, extra={"flashVer": flashver})
            with c:
                srv.wait_log('flashVer="%s"' % shown)
                sid = c.create_stream()
                c.command(verb, 0, None, *args, msid=sid, csid=8)
                v, _, _ = _stream_reply(c, "onStatus for " + verb)
                check(v[0] == "onStatus" and len(v) >= 4 and v[3].get("code") == code and
                      v[3].get("description") == why,
                      "%s of %r answered with %r" % (verb, args[0], v))
                check(c.wait_closed(2.0), "%s: the session stays open" % verb)
        with open(srv.log_path, "rb") as f:
            raw = f.read()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            fail("the log is not UTF-8: %s" % e)
        log = srv.log()
        check(not any(l.startswith(forged) for l in log.splitlines()),
              "a client forged a log line:\n%s" % log)
        check("\x1b" not in log, "an escape reached the log")
        server_healthy(srv)


def test_ping_request_answered():
    with _server() as srv:
        srv.start()
        c, _, _ = _connected(srv)
        with c:
            for stamp in (123456789, 0xFFFFFFFF):
                c.send_user(rc.USER_PING_REQUEST, stamp)
                m, _ = c.read_until(lambda x: x.type == rc.MSG_USER and
                                    x.user_event()[0] == rc.USER_PING_RESPONSE,
                                    None, "Ping Response")
                check(m.user_event() == (rc.USER_PING_RESPONSE, stamp) and
                      len(m.payload) == 6, "Ping Response %r for %d" % (m.payload.hex(), stamp))
                check(m.csid == 2 and m.msid == 0, "Ping Response on csid %d msid %d"
                      % (m.csid, m.msid))


def test_ping_timeout():
    with _server(ping="1s", ping_timeout="1s") as srv:
        srv.start()
        c, _, _ = _connected(srv)
        with c:
            def is_ping(x):
                return x.type == rc.MSG_USER and x.user_event()[0] == rc.USER_PING_REQUEST
            m, _ = c.read_until(is_ping, 3.0, "a Ping Request after 1 s of silence")
            check(len(m.payload) == 6, "Ping Request payload %r" % m.payload.hex())
            c.send_user(rc.USER_PING_RESPONSE, m.user_event()[1])  # answered: kept
            m2, _ = c.read_until(is_ping, 3.0, "a second Ping Request")
            t0 = time.monotonic()
            # not answered this time: dropped after ping_timeout
            closed = c.wait_closed(4.0)
            took = time.monotonic() - t0
            check(closed, "a client that does not answer pings was not dropped")
            check(took >= 0.7, "dropped %.2fs after the ping, ping_timeout is 1s" % took)
            port = c.local_port
        line = wait_close(srv, port, 2.0)
        check("session closed: ping timed out" in line, "closed with: %s" % line)


def test_amf3_connect():
    # with the smallest chunk size the connect result spans chunks (fmt 3 continuations)
    with _server(chunk_size="128") as srv:
        srv.start()
        with rc.RtmpClient(srv.port) as c:
            c.handshake()
            v, seen = c.connect_app(amf3=True)
            res = [x for x in c.received if x.is_command("_result")][0]
            check(c.in_chunk_size == 128 and len(res.payload) > 128,
                  "connect result of %d bytes at chunk size %d: not split"
                  % (len(res.payload), c.in_chunk_size))
            check(v[:2] == ["_result", 1.0] and len(v) >= 4 and
                  v[3].get("code") == "NetConnection.Connect.Success",
                  "AMF3 connect answered with %r" % (v,))
            check(v[3].get("objectEncoding") == 3.0, "objectEncoding 3 not echoed: %r" % v[3])
            # a type 17 createStream too
            c.command("createStream", 2, None, amf3=True)
            v, _, _ = c.read_command()
            check(v[:2] == ["_result", 2.0] and v[3] == 1.0,
                  "AMF3 createStream answered with %r" % (v,))
        srv.wait_log('connect app="live" tcUrl="rtmp://127.0.0.1:%d/live"' % srv.port)


# ---- hostile and broken clients ---------------------------------------------------------------

def _progress_frame(path):
    """The last frame=N that ffmpeg's -progress wrote, or -1."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return -1
    frames = re.findall(r"^frame=(\d+)$", text, re.M)
    return int(frames[-1]) if frames else -1


def test_hostile_clients_leave_publisher_alone():
    clip = media_clip()
    max_message = 65536
    with _server(handshake_timeout="1s", max_message=str(max_message)) as srv:
        srv.start()
        progress = os.path.join(srv.dir, "progress.txt")
        with ClientProc(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                         "-stream_loop", "-1", "-re", "-i", clip, "-c", "copy",
                         "-progress", progress, "-stats_period", "0.25",
                         "-f", "flv", _url(srv)], srv.dir, "ffmpeg_loop") as ff:
            pport = client_of(srv, PUBLISH_RX, what="the looping publisher to publish")
            t_pub = time.monotonic()
            wait_for(lambda: _progress_frame(progress) > 0, 5.0, "ffmpeg's progress")
            f0 = _progress_frame(progress)

            socks = []
            try:
                # kept silent / half a C1: both wait for handshake_timeout
                silent = rc.RtmpClient(srv.port)
                socks.append(silent)
                half = rc.RtmpClient(srv.port)
                socks.append(half)
                half.send(b"\x03" + random.randbytes(768))
                t_slow = time.monotonic()

                # garbage: an HTTP request on the RTMP port
                http = rc.RtmpClient(srv.port)
                socks.append(http)
                t = time.monotonic()
                http.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                check(http.wait_closed(2.0), "HTTP request: connection not closed")
                took_http = time.monotonic() - t
                check(http.rbuf == b"", "the server answered an HTTP request with %r"
                      % bytes(http.rbuf[:40]))

                # RTMPE
                enc = rc.RtmpClient(srv.port)
                socks.append(enc)
                t = time.monotonic()
                enc.send(b"\x06" + random.randbytes(1536))
                check(enc.wait_closed(2.0), "RTMPE C0: connection not closed")
                took_enc = time.monotonic() - t

                # a message header above max_message
                big = rc.RtmpClient(srv.port)
                socks.append(big)
                big.handshake()
                t = time.monotonic()
                big.send(rc.fmt0_header(3, rc.MSG_AMF_CMD, 0, 0, max_message + 1) +
                         bytes(100))
                check(big.wait_closed(2.0), "oversized message: connection not closed")
                took_big = time.monotonic() - t

                check(silent.wait_closed(4.0 - (time.monotonic() - t_slow)),
                      "silent client not dropped after handshake_timeout (1s)")
                took_silent = time.monotonic() - t_slow
                check(half.wait_closed(4.0 - (time.monotonic() - t_slow)),
                      "client stuck in C1 not dropped after handshake_timeout (1s)")
                took_half = time.monotonic() - t_slow

                reasons = {}
                for name, s in (("http", http), ("rtmpe", enc), ("big", big),
                                ("silent", silent), ("half", half)):
                    reasons[name] = wait_close(srv, s.local_port, 2.0)
            finally:
                for s in socks:
                    s.close()

            def has(name, text):
                check(text in reasons[name], "%s client: expected %r, the log says: %s"
                      % (name, text, reasons[name]))
            has("http", "session closed: unsupported RTMP version %d (an HTTP request?) (state handshake" % ord("G"))
            has("rtmpe", "session closed: encrypted handshake (RTMPE) not supported")
            has("big", "session closed: message longer than the configured maximum")
            has("silent", "session closed: handshake timed out (state handshake, in 0 B")
            has("half", "session closed: handshake timed out (state handshake, in 769 B")
            check(took_http < 0.5 and took_enc < 0.5 and took_big < 0.5,
                  "bad input not dropped at once: http %.2fs, rtmpe %.2fs, big %.2fs"
                  % (took_http, took_enc, took_big))
            check(0.8 <= took_silent and 0.8 <= took_half,
                  "dropped before handshake_timeout: silent %.2fs, half %.2fs"
                  % (took_silent, took_half))

            # the publisher carried on through all of it
            time.sleep(0.6)
            f1 = _progress_frame(progress)
            check(ff.running(), "the publisher exited (%s): %s"
                  % (ff.proc.returncode, ff.stderr()[-800:]))
            check(close_line(srv, pport) is None, "the publisher's session was closed: %s"
                  % close_line(srv, pport))
            check(f1 > f0 + 25, "the publisher did not progress (frame %d -> %d)" % (f0, f1))
            check(ff.stderr().strip() == "", "the publisher printed errors: %s"
                  % ff.stderr()[-800:])

            # stop it: ffmpeg sends deleteStream on SIGINT, so the count is logged
            wait_for(lambda: _progress_frame(progress) > f1, 2.0, "more progress")
            frames = _progress_frame(progress)
            published = time.monotonic() - t_pub
            ff.stop(signal.SIGINT, 5.0)
        count = wait_for(lambda: unpublish_count(srv, pport), 3.0,
                         "the publisher's unpublish line")
        # every video frame is one message, and so is every AAC frame (~43/s)
        check(count >= frames, "unpublish after %d messages, but ffmpeg had sent %d video "
              "frames" % (count, frames))
        check(count >= 40 * published, "unpublish after %d messages in %.1fs of publishing"
              % (count, published))
        # ffmpeg ended it: a FIN, or a reset when it closed with our last bytes unread
        # (RFC 1122 4.2.2.13) -- either way the client's doing, never a drop by us
        client_ended = ("client closed the connection", "recv failed")
        line = wait_close(srv, pport, 3.0)
        check(any("%s (state connected" % e in line for e in client_ended),
              "the publisher's session ended with: %s" % line)
        check("recv failed" not in line or "Connection reset by peer" in srv.log(),
              "the publisher's recv failed otherwise: %s" % line)
        for other in re.findall(r"session closed: (.*?) \(state",
                                "\n".join(l for l in srv.log().splitlines()
                                          if "client: 127.0.0.1:%d," % pport in l)):
            check(other in client_ended, "publisher closed with %r" % other)
