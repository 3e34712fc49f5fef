"""Live streaming acceptance with one worker: ffmpeg publishes a generated H.264 + AAC clip in
real time; ffmpeg (framemd5), rtmpdump and GStreamer play it and every packet hash a player
gets is the source's, in order, without a gap from the player's first key frame to the end.
Also: 50 players with one of them stopped (SIGSTOP) while the others and the publisher go on,
a half-rate player, GOP caches that reuse their memory, start-up from the GOP cache, a
publisher that reconnects, busy names and takeover, idle streams, data messages, and the
"publish ended" / "play ended" log lines.

Cross-worker play is in test_live_workers.py."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time

import rtmp_client as rc
from harness import (BENCH, asan_build, check, fail, media_clip, minor_faults, need_tools,
                     server_tcp_option, skip, vm_rss_kib, wait_for)
from live_helpers import (PyPlayer, PyPublisher, check_complete, check_players, client_port,
                          contiguous, data_name, ended, ffmpeg_player, ffmpeg_publisher,
                          gst_decoded, gst_player, have_gst, heavy_clip, is_audio_header,
                          is_video_header, is_video_key, live_server, parse_framemd5,
                          players_of, published_messages, publishers_of, rtmpdump_packets,
                          rtmpdump_player, session_lines, source, status_code, wait_players)

LIVE = {"live": "live = true;"}


def _wait_exit(p, timeout, what):
    code = p.wait(timeout)
    check(code == 0, "%s exited with %d: %s" % (what, code, p.stderr()[-800:]))


def _check_ended_lines(srv, stream, pub_port, player_ports, min_play=0.0):
    """Every session's end is logged at info with the client address, app/name, duration."""
    pubs = ended(srv, "publish")
    check(pub_port in pubs, "no 'publish ended' line for the publisher (client port %d): %s"
          % (pub_port, pubs))
    level, name, secs, _ = pubs[pub_port]
    check(level == "info" and name == stream, "publish ended line: %r" % (pubs[pub_port],))
    plays = ended(srv, "play")
    for port in player_ports:
        check(port in plays, "no 'play ended' line for the player on client port %d (have %s)"
              % (port, sorted(plays)))
        level, name, secs, rest = plays[port]
        check(level == "info" and name == stream and secs >= min_play,
              "play ended line of client port %d: %r (expected info, %s, >= %.1fs)"
              % (port, plays[port], stream, min_play))
    return secs


# ---- 1 + 8: real players get every packet; sessions' ends are logged ---------------------------

def test_real_players_get_every_packet():
    need_tools("ffmpeg", "ffprobe", "rtmpdump")
    gst = have_gst()
    clip = media_clip(6)
    src = source(clip)
    stream = "live/s"
    with live_server(LIVE) as srv:
        srv.start()
        ff = ffmpeg_player(srv, stream, "ffplay")
        dump = rtmpdump_player(srv, stream, "dump")
        g = gst_player(srv, stream, "gst") if gst else None
        wait_players(srv, stream, 3 if gst else 2)
        t0 = time.monotonic()
        pub = ffmpeg_publisher(srv, clip, stream, "pub")
        _wait_exit(pub, 15, "the publisher")
        took = time.monotonic() - t0
        check(took < 6 + 2.5, "publishing a 6 s clip with -re took %.1fs" % took)
        _wait_exit(ff, 5, "the ffmpeg player (it ends at UnpublishNotify)")
        _wait_exit(dump, 5, "rtmpdump (it ends at UnpublishNotify)")
        check("ERROR" not in dump.stderr(), "rtmpdump: %s" % dump.stderr()[-800:])
        if g is not None:
            # rtmp2src ends with EOS at UnpublishNotify
            code = g.wait(5)
            err = g.stderr() + "\n".join(l for l in g.stdout().splitlines()
                                         if "ERROR" in l or "CRITICAL" in l)
            check(code == 0 and "ERROR" not in err and "CRITICAL" not in err,
                  "GStreamer exited with %d: %s" % (code, err[-1200:]))
            n = gst_decoded(g)
            check(n == len(src.packets["video"]), "GStreamer decoded %d pictures, the clip "
                  "has %d" % (n, len(src.packets["video"])))

        pub_port = list(publishers_of(srv, stream))[0]
        count = wait_for(lambda: published_messages(srv, pub_port), 3, "publish ended")
        # every packet, plus onMetaData, two sequence headers (and ffmpeg's AVC end of sequence)
        check(src.count() + 3 <= count <= src.count() + 4,
              "publish ended after %d messages, the clip has %d packets" % (count, src.count()))
        wait_for(lambda: len(ended(srv, "play")) >= len(players_of(srv, stream)), 5,
                 "a play ended line for every player")
        _check_ended_lines(srv, stream, pub_port, list(players_of(srv, stream)), 5.5)
        secs = ended(srv, "publish")[pub_port][2]
        check(5.5 <= secs <= 8.5, "publish ended says %.1fs for a 6 s clip" % secs)
        check_players([ff, dump], src, from_start=True)
    if not gst:
        print("  (GStreamer rtmp2src/avdec not installed: GStreamer part skipped)")


test_real_players_get_every_packet.TIME_LIMIT = 60


# ---- 2: 50 players, one of them stopped ------------------------------------------------------

def test_50_players_one_stopped():
    need_tools("ffmpeg", "ffprobe", "rtmpdump")
    clip = heavy_clip(12)
    src = source(clip)
    stream = "live/many"
    apps = {"live": 'live = true; player_queue = "256k"; player_max_lag = "1s";'}
    n_ff, n_dump = 12, 37
    # two workers of 40 connections each: one worker cannot take all 50, so both serve
    with live_server(apps, workers=2, main_extra="worker_connections = 40;\n") as srv:
        srv.start()
        players = [ffmpeg_player(srv, stream, "ff%d" % i) for i in range(n_ff)]
        players += [rtmpdump_player(srv, stream, "dump%d" % i) for i in range(n_dump)]
        slow = rtmpdump_player(srv, stream, "slow")
        wait_players(srv, stream, n_ff + n_dump + 1, 30)
        served = set(players_of(srv, stream).values())
        check(len(served) == 2, "players were served by %s only; expected both workers"
              % sorted(served))
        slow_port = client_port(slow.pid, srv.port)
        t0 = time.monotonic()
        pub = ffmpeg_publisher(srv, clip, stream, "pub")
        wait_for(lambda: os.path.exists(slow.flv) and os.path.getsize(slow.flv) > 100000, 5,
                 "the stopped player to receive data first")
        os.kill(slow.pid, signal.SIGSTOP)
        try:
            time.sleep(9)
        finally:
            os.kill(slow.pid, signal.SIGCONT)
        _wait_exit(pub, 20, "the publisher")
        took = time.monotonic() - t0
        check(took < 12 + 2.5, "the publisher was held up: a 12 s clip took %.1fs" % took)
        for p in players:
            _wait_exit(p, 10, p.name)
        slow.wait(10)

        # the stopped one, and only it, was skipped to a key frame or dropped
        slowed = {port: msg for _, _, msg, port in session_lines(srv)
                  if "skipping to the next key frame" in msg or "player too slow" in msg}
        check(slow_port in slowed, "the stopped player (client port %d) was neither skipped to "
              "a key frame nor dropped (no 'skipping to the next key frame' / 'player too "
              "slow' line)" % slow_port)
        check(list(slowed) == [slow_port], "other players were skipped or dropped too: %s"
              % slowed)
        wait_for(lambda: len(ended(srv, "play")) >= n_ff + n_dump + 1, 5,
                 "a play ended line for every player")
        plays = ended(srv, "play")
        others = [v for p, v in plays.items() if p != slow_port]
        check(all(" 0 frames skipped" in v[3] for v in others),
              "another player skipped frames: %s" % [v for v in others
                                                      if " 0 frames skipped" not in v[3]])
        if "player too slow" not in slowed[slow_port]:
            # skipped, not dropped: it resumed at a key frame, frames are missing
            m = re.search(r" (\d+) frames skipped", plays[slow_port][3])
            check(m and int(m.group(1)) > 0, "play ended of the stopped player: %r"
                  % (plays[slow_port],))
            got = rtmpdump_packets(slow)
            check(len(got["video"]) < len(src.packets["video"]),
                  "the stopped player lost nothing")
        # the publisher was not held up: everything it sent was taken
        pub_port = list(publishers_of(srv, stream))[0]
        count = wait_for(lambda: published_messages(srv, pub_port), 3, "publish ended")
        check(count >= src.count() + 3, "publish ended after %d messages, the clip has %d "
              "packets" % (count, src.count()))
        check_players(players, src, from_start=True)


test_50_players_one_stopped.TIME_LIMIT = 90


def _need_bench():
    need_tools("ffmpeg")
    if not os.access(BENCH, os.X_OK):
        skip("RTMP_BENCH=%s is not an executable (build it with make)" % BENCH)


@contextlib.contextmanager
def _bench(srv, clip, *args):
    """Starts rtmp_bench against srv with clip as its source; yields the process and the
    path of its JSON report, and kills the process on the way out if it still runs."""
    report = os.path.join(srv.dir, "bench.json")
    p = subprocess.Popen([BENCH, "--port", str(srv.port), "--flv", clip, "--json", report]
                         + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, stdin=subprocess.DEVNULL)
    try:
        yield p, report
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _bench_result(p, report, timeout):
    """Waits for rtmp_bench; returns its JSON report and what it printed."""
    out = p.communicate(timeout=timeout)[0]
    check(os.path.exists(report), "no JSON report; rtmp_bench said:\n%s" % out)
    with open(report) as f:
        return json.load(f), out


def test_half_rate_player_stays_on_key_frames():
    """A player reading at half the stream's rate loses inter frames, those it had queued
    too, and stays connected. Left queued, that backlog drained at the player's rate while
    its oldest frame aged past player_max_lag, and the player was disconnected instead."""
    _need_bench()
    clip = heavy_clip(4)
    apps = {"live": 'live = true; player_max_lag = "2s";'}
    with live_server(apps) as srv:
        srv.start()
        with _bench(srv, clip, "--players", "4", "--duration", "12", "--slow-fraction", "0.5",
                    "--slow-rate", "0.5") as (bench, report):
            r, out = _bench_result(bench, report, 45)
        healthy, slow = r["healthy"], r["slow"]
        check(healthy["players"] == 2 and healthy["complete"] == 2, "healthy: %r" % healthy)
        check(slow["players"] == 2 and slow["disconnected"] == 0,
              "slow players were disconnected: %r\n%s" % (slow, out))
        check(slow["skipped"] == 2, "slow players lost no frames: %r" % slow)
        msgs = [msg for _, _, msg, _ in session_lines(srv)]
        check(any("skipping to the next key frame" in m for m in msgs),
              "no 'skipping to the next key frame' line")
        check(not any("player too slow" in m for m in msgs),
              "a player was dropped: %s" % [m for m in msgs if "player too slow" in m])


test_half_rate_player_stays_on_key_frames.TIME_LIMIT = 60


def test_gop_caches_reuse_their_memory():
    """20 streams of 5.5 Mbit/s, each freeing a GOP's frames at every key frame and allocating
    the next GOP's: the worker reuses those pages instead of purging them and faulting fresh
    ones in (it took over 1,000 page faults a second so), and hands them back to the system
    once the publishers have left."""
    _need_bench()
    if asan_build():
        skip("an AddressSanitizer build allocates with libc malloc, not jemalloc")
    clip = heavy_clip(4)
    with live_server(LIVE) as srv:
        srv.start()
        worker = srv.worker_pids()[0]
        idle = vm_rss_kib(worker)
        with _bench(srv, clip, "--streams", "20", "--players", "20",
                    "--duration", "12") as (bench, report):
            time.sleep(6)  # every GOP cache has turned over twice (2 s GOPs)
            faults, rss = minor_faults(worker), vm_rss_kib(worker)
            time.sleep(4)
            faults = minor_faults(worker) - faults
            r, out = _bench_result(bench, report, 30)
        check(r["pass"], "rtmp_bench did not pass:\n%s" % out)
        check(faults < 400, "%d page faults in 4 s of steady streaming" % faults)
        back = idle + (rss - idle) // 2
        wait_for(lambda: vm_rss_kib(worker) < back, 5.0,
                 "the worker's RSS below %d KiB once the streams ended (%d KiB idle, %d KiB "
                 "streaming)" % (back, idle, rss))
        print("  %d page faults in 4 s; RSS %d KiB streaming, %d KiB after"
              % (faults, rss, vm_rss_kib(worker)))


test_gop_caches_reuse_their_memory.TIME_LIMIT = 60


# ---- 3: start-up from the GOP cache -----------------------------------------------------------

def _startup(srv, app, name):
    """Plays app/name with the Python client; returns (ms to the first video frame, the
    media messages up to and including it, the packets of the first 0.5 s)."""
    with PyPlayer(srv.port, app, name) as p:
        p.play()
        p.wait(lambda ms: any(m.type == rc.MSG_VIDEO and not is_video_header(m) for m in ms),
               4.0, "a video frame")
        time.sleep(0.5)
        media = p.media()
        t_first = [t for t, m in p.events if m.type == rc.MSG_VIDEO and not is_video_header(m)][0]
        first = [i for i, m in enumerate(media) if m.type == rc.MSG_VIDEO and
                 not is_video_header(m)][0]
        return (t_first - p.t_play) * 1000.0, media[:first + 1], p.packets()


def test_startup_from_gop_cache():
    need_tools("ffmpeg")
    clip = media_clip(6)
    src = source(clip)
    # the cached headers are older than player_max_lag when players join: that is no lag
    apps = {"live": 'live = true; player_max_lag = "1s";',
            "nogop": "live = true; gop_cache = false;"}
    with live_server(apps) as srv:
        srv.start()
        pubs = [ffmpeg_publisher(srv, clip, "live/s", "pub"),
                ffmpeg_publisher(srv, clip, "nogop/s", "pub_nogop")]
        wait_for(lambda: len(publishers_of(srv, "live/s")) and
                 len(publishers_of(srv, "nogop/s")), 5, "both publishers")
        time.sleep(2.6)  # past the second key frame (at 2 s): mid-GOP
        for app in ("live", "nogop"):
            ms, media, got = _startup(srv, app, "s")
            first = media[-1]
            check(is_video_key(first), "%s: the first video frame is not a key frame: %r"
                  % (app, first))
            # the cached GOP and what follows it: the source's frames without a gap
            v = contiguous(app + " video", got["video"], src.packets["video"], to_end=False)
            check(src.packets["video"][v] in src.keys, "%s: starts at video packet %d, not "
                  "at a key frame" % (app, v))
            if app == "live":
                check(v == src.key_index[1], "the GOP cache started at video packet %d, the "
                      "last key frame before play is packet %d" % (v, src.key_index[1]))
            if app == "live":
                check(ms < 100, "first video frame %.0f ms after play (GOP cache)" % ms)
                check(data_name(media[0]) == "onMetaData",
                      "the first media message is %r, expected onMetaData" % media[0])
                hdr_v = [i for i, m in enumerate(media) if is_video_header(m)]
                hdr_a = [i for i, m in enumerate(media) if is_audio_header(m)]
                check(hdr_v and hdr_v[0] < len(media) - 1,
                      "no AVC sequence header before the key frame: %r" % media)
                check(hdr_a and hdr_a[0] < len(media) - 1,
                      "no AAC sequence header before the key frame: %r" % media)
            else:
                check(ms < 2600, "gop_cache off: first video frame %.0f ms after play "
                      "(a GOP is 2 s)" % ms)
                check(any(is_video_header(m) for m in media[:-1]),
                      "gop_cache off: no AVC sequence header before the key frame: %r" % media)
        for p in pubs:
            _wait_exit(p, 10, p.name)


test_startup_from_gop_cache.TIME_LIMIT = 40


def test_audio_only_join_starts_near_live():
    """A stream of audio alone has no key frame to cache from: a late joiner gets the last
    second of it at once, then live audio, not everything since the publish began."""
    with live_server(LIVE) as srv:
        srv.start()
        with PyPublisher(srv.port, "live", "a") as pub:
            pub.audio(0, AAC_HEADER, header=True)
            for ts in range(0, 5000, 23):  # 5 s of AAC frames, sent at once
                pub.audio(ts, bytes(200))
            time.sleep(0.5)  # read by the server: a few ms on loopback
            with PyPlayer(srv.port, "live", "a") as p:
                p.play().wait(lambda ms: any(m.type == rc.MSG_AUDIO and m.timestamp >= 4991
                                             for m in ms), 3, "the last cached frame")
                audio = [m.timestamp for m in p.media()
                         if m.type == rc.MSG_AUDIO and not is_audio_header(m)]
        check(audio and audio[0] >= 4991 - 1000 - 23,
              "a late joiner of audio alone was sent audio from %d ms, the stream is at 4991 ms"
              % (audio[0] if audio else -1))


def test_stop_commands_are_answered():
    """closeStream from a player is answered with NetStream.Play.Stop (librtmp players wait
    for it), and a deleteStream that names its stream instead of giving its id (GStreamer's
    rtmp2sink) unpublishes that publisher's stream, its connection kept."""
    with live_server(LIVE) as srv:
        srv.start()
        with PyPublisher(srv.port, "live", "s") as pub, PyPlayer(srv.port, "live", "s") as p:
            p.play().wait_status("NetStream.Play.Start")
            p.c.command("closeStream", 0, None, msid=p.sid, csid=8)
            p.wait_status("NetStream.Play.Stop")

            pub.c.command("deleteStream", 0, None, "s", csid=3)
            m, _ = pub.c.read_until(lambda x: x.is_command("onStatus") and x.msid == pub.sid,
                                    5.0, "onStatus for deleteStream")
            check(status_code(m) == "NetStream.Unpublish.Success",
                  "deleteStream by name answered %s" % status_code(m))
            wait_for(lambda: pub.port in ended(srv, "publish"), 3, "the stream unpublished")
            pub.c.command("createStream", 2, None, csid=3)
            pub.c.read_until(lambda x: x.is_command("_result"), 5.0,
                             "the publisher's connection to stay open")


def test_setup_without_nagle_media_with_it():
    """Sessions are accepted with TCP_NODELAY, so Nagle never holds a reply to connect or
    play back, and 16 KB of TCP_NOTSENT_LOWAT; a player goes back to Nagle with its first
    live frame after its join burst, so the kernel merges its frames while an
    acknowledgement is outstanding, and to 64 KB. Read from the worker's own sockets."""
    with live_server(LIVE) as srv:
        srv.start()
        (worker,) = srv.worker_pids()

        def nodelay(client):
            return server_tcp_option(worker, srv.port, client.port, socket.TCP_NODELAY) != 0

        def lowat(client):
            return server_tcp_option(worker, srv.port, client.port, socket.TCP_NOTSENT_LOWAT)

        with PyPublisher(srv.port, "live", "n") as pub, PyPlayer(srv.port, "live", "n") as p:
            check(nodelay(p) and nodelay(pub), "a new session has Nagle on")
            check(lowat(p) == 16384, "a new session's TCP_NOTSENT_LOWAT is %d" % lowat(p))
            pub.video(0, AVC_HEADER, header=True)
            pub.video(0, b"key" + bytes(500), key=True)
            with PyPlayer(srv.port, "live", "n") as probe:  # the server has the key frame
                probe.play().wait(lambda ms: any(is_video_key(m) for m in ms), 3, "a key frame")
            p.play()
            p.wait(lambda ms: any(is_video_key(m) for m in ms), 3, "the cached key frame")
            check(nodelay(p), "Nagle came back before any live frame")
            for i in range(1, 6):
                pub.video(40 * i, b"inter%d" % i + bytes(300))
            p.wait(lambda ms: sum(1 for m in ms if m.type == rc.MSG_VIDEO) >= 7, 3,
                   "the live frames")
            check(not nodelay(p), "a playing player still has TCP_NODELAY")
            check(lowat(p) == 65536, "a playing player's TCP_NOTSENT_LOWAT is %d" % lowat(p))
            check(nodelay(pub), "the publisher lost TCP_NODELAY")


def _unread(server_port, client_port):
    """Bytes the server has not read yet on its end of server_port <-> client_port
    (rx_queue in /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == server_port and \
                    int(parts[2].rsplit(":", 1)[1], 16) == client_port:
                return int(parts[4].split(":")[1], 16)
    fail("no connection %d <-> %d" % (server_port, client_port))


def test_publisher_read_once_per_flush_interval():
    """Under a flush_interval the publisher's input waits the interval in its socket and is
    read at its end, one read (and one acknowledgement) per interval instead of per message;
    players still get every frame, the last one too with nothing after it. With
    flush_interval 0 each message is read as it arrives."""
    apps = {"paced": 'live = true; flush_interval = "30ms";',
            "now": "live = true; flush_interval = 0;"}
    count, spacing = 100, 0.01
    with live_server(apps) as srv:
        srv.start()
        waiting, lags = {}, {}
        for app in apps:
            with PyPublisher(srv.port, app, "s") as pub, PyPlayer(srv.port, app, "s") as p:
                pub.video(0, AVC_HEADER, header=True)
                pub.video(0, b"key" + bytes(500), key=True)
                p.play().wait(lambda ms: any(is_video_key(m) for m in ms), 3, "the key frame")
                sent, unread = {}, []
                for i in range(1, count + 1):
                    sent[10 * i] = time.monotonic()
                    pub.video(10 * i, b"inter%d" % i + bytes(2000))
                    time.sleep(spacing)
                    unread.append(_unread(srv.port, pub.port))
                p.wait(lambda ms: any(m.type == rc.MSG_VIDEO and m.timestamp == 10 * count
                                      for m in ms), 5, "the last frame")
                got = [(t, m.timestamp) for t, m in p.events
                       if m.type == rc.MSG_VIDEO and m.timestamp in sent]
                check([ts for _, ts in got] == sorted(sent),
                      "%s: the player got %d of %d frames, or out of order" % (app, len(got), count))
                waiting[app] = sum(1 for n in unread if n > 0) / count
                lags[app] = max(t - sent[ts] for t, ts in got)
        # sampled 10ms after each message, read every 30ms: paced, most find input waiting
        # (at 20ms, about half did); at 0, few do
        check(waiting["paced"] > 0.5 and waiting["now"] < 0.3,
              "input found waiting in the server's socket: %.0f%% of the time at 30ms, "
              "%.0f%% at 0" % (100 * waiting["paced"], 100 * waiting["now"]))
        # held an interval, not until more input came: generous for a loaded machine
        check(lags["paced"] < 1.0, "a paced frame reached its player %.3fs late" % lags["paced"])


def test_publisher_not_held_before_a_frame_to_start_on():
    """Input is not held until a frame players can start on (a video key frame) went out:
    players waiting for one, such as those behind another worker's pull whose first read is
    the origin's GOP, would wait an interval more. From the key frame on it is held."""
    apps = {"paced": 'live = true; flush_interval = "30ms";'}
    count, spacing = 30, 0.01
    with live_server(apps) as srv:
        srv.start()
        with PyPublisher(srv.port, "paced", "s") as pub, PyPlayer(srv.port, "paced", "s") as p:
            p.play()
            pub.video(0, AVC_HEADER, header=True)

            def waiting(first_ts, key_first):
                unread = []
                for i in range(count):
                    ts = first_ts + 10 * i
                    pub.video(ts, b"frame%d" % ts + bytes(2000), key=key_first and i == 0)
                    time.sleep(spacing)
                    unread.append(_unread(srv.port, pub.port))
                return sum(1 for n in unread if n > 0) / count

            before = waiting(10, False)
            after = waiting(10 * (count + 1), True)
            p.wait(lambda ms: any(m.type == rc.MSG_VIDEO and m.timestamp == 10 * (2 * count)
                                  for m in ms), 5, "the last frame")
        check(before < 0.3 and after > 0.5,
              "input found waiting in the server's socket: %.0f%% of the time before the key "
              "frame, %.0f%% after it" % (100 * before, 100 * after))


# ---- 4: a publisher reconnects -----------------------------------------------------------------

def _monotonic(what, msgs):
    last = {}
    prev = -1
    for m in msgs:
        if m.type not in (rc.MSG_AUDIO, rc.MSG_VIDEO):
            continue
        if m.timestamp < last.get(m.type, -1):
            fail("%s: type %d timestamp goes back from %d to %d" % (what, m.type, last[m.type],
                                                                    m.timestamp))
        last[m.type] = m.timestamp
        prev = max(prev, m.timestamp)
    return prev


def test_publisher_reconnects():
    need_tools("ffmpeg")
    clip = media_clip(4)
    src = source(clip)
    with live_server(LIVE) as srv:
        srv.start()
        with PyPlayer(srv.port, "live", "re") as p:
            p.play()
            p.wait_status("NetStream.Play.Start", 3)
            pub1 = ffmpeg_publisher(srv, clip, "live/re", "pub1")
            _wait_exit(pub1, 10, "the first publisher")
            p.wait_status("NetStream.Play.UnpublishNotify", 3)
            pub2 = ffmpeg_publisher(srv, clip, "live/re", "pub2")
            _wait_exit(pub2, 10, "the second publisher")
            p.wait(lambda ms: p.statuses().count("NetStream.Play.UnpublishNotify") >= 2, 3,
                   "the second UnpublishNotify")
            time.sleep(0.2)
            check(not p.closed, "the player was closed")
            msgs = p.messages()
            codes = [status_code(m) for m in msgs]
            u1 = codes.index("NetStream.Play.UnpublishNotify")
            check("NetStream.Play.PublishNotify" in codes[u1:],
                  "no PublishNotify when the publisher came back: %s" % p.statuses())
            n2 = codes.index("NetStream.Play.PublishNotify", u1)
            first, second = msgs[:n2], msgs[n2:]
            # both runs complete, and the timeline goes on across the reconnect
            check_complete("before the reconnect", p.packets(first), src, from_start=True)
            check_complete("after the reconnect", p.packets(second), src, from_start=True)
            # players that stop at UnpublishNotify (ffmpeg) must have had every frame
            late = [m for m in msgs[u1:n2] if m.type in (rc.MSG_AUDIO, rc.MSG_VIDEO)]
            check(not late, "media after StreamEOF/UnpublishNotify (the status overtook "
                  "queued frames): %r" % late)
            end1 = _monotonic("before the reconnect", first)
            _monotonic("across the reconnect", msgs)
            media2 = [m for m in second if m.type in (rc.MSG_AUDIO, rc.MSG_VIDEO)]
            check(media2 and media2[0].timestamp > end1,
                  "after the reconnect the timestamps restart at %d (before: up to %d)"
                  % (media2[0].timestamp, end1))
        wait_for(lambda: len(ended(srv, "publish")) == 2, 3, "two publish ended lines")


test_publisher_reconnects.TIME_LIMIT = 40


# ---- 5: busy names and takeover ----------------------------------------------------------------

def test_busy_name_and_takeover():
    need_tools("ffmpeg")
    clip = media_clip(6)
    src = source(clip)
    apps = {"live": "live = true;", "take": "live = true; publisher_takeover = true;"}
    with live_server(apps) as srv:
        srv.start()
        p_busy = PyPlayer(srv.port, "live", "s").play()
        p_take = PyPlayer(srv.port, "take", "s").play()
        try:
            p_busy.wait_status("NetStream.Play.Start", 3)
            p_take.wait_status("NetStream.Play.Start", 3)
            first = ffmpeg_publisher(srv, clip, "live/s", "first")
            old = ffmpeg_publisher(srv, clip, "take/s", "old")
            wait_for(lambda: publishers_of(srv, "live/s") and publishers_of(srv, "take/s"), 5,
                     "both publishers")
            # an ffmpeg player, which would end at an UnpublishNotify
            ff_take = ffmpeg_player(srv, "take/s", "ff_take")
            time.sleep(1.5)

            # a second publisher for the busy name is refused, the first goes on
            with PyPublisher(srv.port, "live", "s") as second:
                check(second.status == "NetStream.Publish.BadName",
                      "a second publisher of a busy name got %r" % second.status)
            srv.wait_log('publish "live/s" refused: already publishing')

            # with publisher_takeover the new one takes over
            n_before = len(p_take.messages())
            new = ffmpeg_publisher(srv, clip, "take/s", "new")
            srv.wait_log("publisher taken over", 5)
            old.wait(5)  # closed by the server: ffmpeg ends (with an error)
            old_port = [pt for pt in publishers_of(srv, "take/s")][0]
            closed = [msg for _, _, msg, pt in session_lines(srv)
                      if pt == old_port and msg.startswith("session closed:")]
            check(closed and "taken over" in closed[0],
                  "the old publisher's session ended with %s" % closed)

            _wait_exit(first, 10, "the first publisher of the busy name")
            _wait_exit(new, 12, "the publisher that took over")
            p_busy.wait_status("NetStream.Play.UnpublishNotify", 3)
            p_take.wait_status("NetStream.Play.UnpublishNotify", 3)
            check(not p_busy.closed and not p_take.closed, "a player was closed")
            check_complete("player of the busy name", p_busy.packets(), src, from_start=True)
            # the takeover is seamless: no notice between the two publishers (ffmpeg and
            # librtmp players would end at one), only at the end of the second
            check(p_take.statuses().count("NetStream.Play.UnpublishNotify") == 1 and
                  p_take.statuses().count("NetStream.Play.PublishNotify") == 1,
                  "the takeover player was told of the takeover: %s" % p_take.statuses())
            # the takeover player: the old publisher's part is a run from the start, then
            # the new publisher's stream in full, from its sequence header on
            msgs = p_take.messages()
            after = msgs[n_before:]
            cut = [i for i, m in enumerate(after) if is_video_header(m)]
            check(cut, "the takeover player got no new sequence header")
            before = msgs[:n_before + cut[0]]
            got = p_take.packets(before)
            contiguous("takeover player, old publisher video", got["video"],
                       src.packets["video"], to_end=False, from_start=True)
            check_complete("takeover player, new publisher", p_take.packets(after[cut[0]:]),
                           src, from_start=True)
            _monotonic("takeover player", msgs)
            # the ffmpeg player went through the takeover and got the new publisher in full
            _wait_exit(ff_take, 10, "the ffmpeg player of the takeover")
            got = parse_framemd5(ff_take.stdout())
            n = len(src.packets["video"])
            check(len(got["video"]) > n, "the ffmpeg player got %d video frames, one clip has %d:"
                  " it ended at the takeover" % (len(got["video"]), n))
            contiguous("ffmpeg takeover player, new publisher", got["video"][-n:],
                       src.packets["video"], to_end=True, from_start=True)
        finally:
            p_busy.stop()
            p_take.stop()


test_busy_name_and_takeover.TIME_LIMIT = 40


# ---- 6 + 7: idle streams, live off, data messages ----------------------------------------------

AVC_HEADER = bytes.fromhex("0164000affe1001967640016acd94141fb0110000003001000000303c0f16"
                           "2d96001000668ebe3cb22c0")
AAC_HEADER = bytes.fromhex("1208")


def test_idle_streams_and_data_messages():
    apps = {"live": "live = true;", "strict": "live = true; idle_streams = false;",
            "off": ""}
    with live_server(apps) as srv:
        srv.start()
        # live off: publish is refused
        with PyPublisher(srv.port, "off", "x") as pub:
            check(pub.status == "NetStream.Publish.BadName",
                  "publish in an application without live got %r" % pub.status)
        # idle_streams = false: an unpublished name is not found
        with PyPlayer(srv.port, "strict", "x") as p:
            p.play()
            p.wait(lambda ms: p.statuses(), 3, "an answer to play")
            check(p.statuses()[0] == "NetStream.Play.StreamNotFound",
                  "play of an unpublished name with idle_streams off: %s" % p.statuses())
            check(not any(m.type in (rc.MSG_AUDIO, rc.MSG_VIDEO) for m in p.messages()),
                  "media for a stream that does not exist")

        # idle_streams (default): the player waits with Play.Start
        with PyPlayer(srv.port, "live", "d") as p:
            p.play()
            p.wait_status("NetStream.Play.Start", 3)
            time.sleep(0.3)
            check(not p.closed and "NetStream.Play.StreamNotFound" not in p.statuses(),
                  "an idle player was refused: %s" % p.statuses())
            with PyPublisher(srv.port, "live", "d") as pub:
                check(pub.status == "NetStream.Publish.Start", "publish got %r" % pub.status)
                pub.data(0, "@setDataFrame", "onMetaData",
                         rc.EcmaArray(width=320.0, height=240.0, videocodecid=7.0,
                                      audiocodecid=10.0, encoder="e2e"))
                pub.video(0, AVC_HEADER, header=True)
                pub.audio(0, AAC_HEADER, header=True)
                sent = []
                ts = 0
                for i in range(12):
                    body = b"frame%d" % i + bytes(300 + i)
                    pub.video(ts, body, key=i == 0)
                    sent.append(("video", body))
                    pub.audio(ts + 5, b"aac%d" % i + bytes(40))
                    sent.append(("audio", b"aac%d" % i + bytes(40)))
                    if i == 4:
                        pub.data(ts + 6, "onTextData", {"text": "hello", "trackid": 1.0})
                        sent.append(("data", "onTextData"))
                    if i == 8:
                        pub.data(ts + 6, "onCuePoint", {"name": "cue1", "time": 0.32,
                                                        "type": "event"})
                        sent.append(("data", "onCuePoint"))
                    ts += 40
                p.wait(lambda ms: sum(1 for m in ms if m.type == rc.MSG_AUDIO) >= 13, 3,
                       "all the audio")
                check("NetStream.Play.PublishNotify" in p.statuses(),
                      "no PublishNotify for the waiting player: %s" % p.statuses())
                media = p.media()
                check(data_name(media[0]) == "onMetaData",
                      "first media message %r, expected onMetaData" % media[0])
                meta = media[0].amf()
                check(len(meta) == 2 and isinstance(meta[1], dict) and
                      meta[1].get("encoder") == "e2e" and meta[1].get("width") == 320.0,
                      "onMetaData as the player got it: %r" % meta)
                check(is_video_header(media[1]) and media[1].payload[5:] == AVC_HEADER,
                      "second message %r, expected the AVC sequence header" % media[1])
                check(is_audio_header(media[2]) and media[2].payload[2:] == AAC_HEADER,
                      "third message %r, expected the AAC sequence header" % media[2])
                got = []
                for m in media[3:]:
                    if m.type == rc.MSG_VIDEO:
                        got.append(("video", m.payload[5:]))
                    elif m.type == rc.MSG_AUDIO:
                        got.append(("audio", m.payload[2:]))
                    else:
                        got.append(("data", data_name(m)))
                check(got == sent, "the player got, in order, %s; sent %s"
                      % ([g if g[0] == "data" else (g[0], g[1][:8]) for g in got],
                         [g if g[0] == "data" else (g[0], g[1][:8]) for g in sent]))
                texts = [m.amf() for m in media if data_name(m) in ("onTextData",
                                                                      "onCuePoint")]
                check(texts[0] == ["onTextData", {"text": "hello", "trackid": 1.0}] and
                      texts[1][0] == "onCuePoint" and texts[1][1].get("name") == "cue1",
                      "data messages changed on the way: %r" % texts)
                check(not any(data_name(m) == "@setDataFrame" for m in p.messages()),
                      "the player got @setDataFrame")
                # metadata sent again mid-stream reaches players at timestamp 0 as at the
                # start: ffmpeg's FLV reader makes a data stream of one at a later time
                pub.data(ts, "@setDataFrame", "onMetaData", rc.EcmaArray(width=640.0))

                def metas():
                    return [m for m in p.media() if data_name(m) == "onMetaData"]
                wait_for(lambda: len(metas()) == 2, 3, "the second onMetaData")
                check([m.timestamp for m in metas()] == [0, 0],
                      "onMetaData timestamps %s" % [m.timestamp for m in metas()])
