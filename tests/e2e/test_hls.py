"""HLS from live streams, read from disk by real ffmpeg and ffprobe: every segment and the
playlist read, the video (and audio) packets the same as the source's in order, each segment
starting with a key frame, target duration >= every segment, media sequence increasing, old
segments and an ended stream's files deleted, EXT-X-DISCONTINUITY when a publisher comes back
(in the same process, and read back from disk by a new one), one writer with two workers, and
an unwritable hls_path that stops HLS but not the stream.

Video is compared as Annex B without access unit delimiters and SEI (the TS has AUDs, the FLV
has length prefixes): ffmpeg's h264_mp4toannexb on the source, filter_units on both. Audio as
raw AAC (aac_adtstoasc on the TS)."""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import harness
from harness import check, fail, media_clip, need_tools, wait_for
from live_helpers import (FFMPEG_QUIET, PyPlayer, contiguous, ffmpeg_publisher, live_server,
                          parse_framemd5, players_of, publishers_of)

FEW_SLOTS = "worker_connections = 20;\n"


def _hls(extra=""):
    return {"live": 'live = true; hls = true; hls_path = "{dir}/hls"; ' + extra}


def _run(args, timeout=60):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "%s failed (exit %d): %s" % (" ".join(args[:6]), r.returncode,
                                                         r.stderr[-600:]))
    return r.stdout


def _hashes(path, kind, bsf):
    """One media type's (size, md5) packets of a file or playlist, through a bitstream filter."""
    sel = "0:v" if kind == "video" else "0:a"
    flag = "-bsf:v" if kind == "video" else "-bsf:a"
    out = _run(FFMPEG_QUIET + ["-allowed_extensions", "ALL", "-i", path, "-map", sel,
                               "-c", "copy", flag, bsf, "-f", "framemd5", "-"]
               if path.endswith(".m3u8") else
               FFMPEG_QUIET + ["-i", path, "-map", sel, "-c", "copy", flag, bsf,
                               "-f", "framemd5", "-"])
    return parse_framemd5(out)[kind]


VIDEO_SRC_BSF = "h264_mp4toannexb,filter_units=remove_types=6|9"
VIDEO_TS_BSF = "filter_units=remove_types=6|9"


def _clip(seconds, gop):
    """A 25 fps H.264 + AAC clip with a key frame every `gop` frames (cached per run)."""
    base = media_clip(1)  # the harness's clip dir, cleaned up with it
    path = os.path.join(os.path.dirname(base), "hls_%ds_g%d.flv" % (seconds, gop))
    if not os.path.exists(path):
        tmp = path + ".tmp.flv"
        _run(FFMPEG_QUIET + ["-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                             "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                             "-pix_fmt", "yuv420p", "-g", str(gop), "-c:a", "aac", "-b:a", "64k",
                             "-f", "flv", tmp])
        os.replace(tmp, path)
    return path


class Playlist:
    def __init__(self, text):
        self.text = text
        self.sequence = None
        self.target = None
        self.ended = "#EXT-X-ENDLIST" in text
        self.segments = []  # (uri, duration, discontinuity)
        check(text.startswith("#EXTM3U\n"), "not a playlist: %r" % text[:100])
        dur, disc = None, False
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                self.sequence = int(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-TARGETDURATION:"):
                self.target = int(line.split(":", 1)[1])
            elif line == "#EXT-X-DISCONTINUITY":
                disc = True
            elif line.startswith("#EXTINF:"):
                dur = float(line[8:].split(",")[0])
            elif line and not line.startswith("#"):
                check(dur is not None, "URI %s without EXTINF" % line)
                self.segments.append((line, dur, disc))
                dur, disc = None, False
        check(self.sequence is not None and self.target is not None,
              "playlist without media sequence or target duration: %r" % text)

    def seqs(self):
        return [self.sequence + i for i in range(len(self.segments))]


def _read_playlist(path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return Playlist(text)


def _probe_segment(path):
    """ffprobe reads the segment: H.264 and AAC; its first video frame decodes as a key frame;
    returns its duration in seconds."""
    out = json.loads(_run(["ffprobe", "-v", "error", "-of", "json", "-show_streams",
                           "-show_format", path]))
    codecs = sorted(s["codec_name"] for s in out["streams"])
    check(codecs == ["aac", "h264"], "%s: streams %s" % (path, codecs))
    frames = json.loads(_run(["ffprobe", "-v", "error", "-of", "json", "-select_streams", "v:0",
                              "-read_intervals", "%+#1", "-show_entries",
                              "frame=key_frame,pict_type", path]))["frames"]
    check(frames and frames[0]["key_frame"] == 1 and frames[0]["pict_type"] == "I",
          "%s: the first video frame is not a key frame: %s" % (path, frames[:1]))
    return float(out["format"]["duration"])


def _check_rules(dirpath, pl):
    """Target duration >= every EXTINF rounded (RFC 8216 4.3.3.1) and each segment's real
    length; every segment read by ffprobe, starting with a key frame."""
    check(pl.segments, "empty playlist")
    for uri, dur, _ in pl.segments:
        check(math.floor(dur + 0.5) <= pl.target,
              "%s: EXTINF %.3f rounds above the target duration %d" % (uri, dur, pl.target))
        real = _probe_segment(os.path.join(dirpath, uri))
        check(real <= pl.target + 0.5 and abs(real - dur) < 0.3,
              "%s: %.3f s long, EXTINF %.3f, target %d" % (uri, real, dur, pl.target))


def _watch(path, until, seen):
    """Polls the playlist until until() is true: every version read goes in `seen` (media
    sequence, segment sequences); the sequence never goes back."""
    def step():
        pl = _read_playlist(path)
        if pl is not None and (not seen or seen[-1][1] != pl.seqs()):
            if seen:
                check(pl.sequence >= seen[-1][0], "media sequence went back: %d after %d"
                      % (pl.sequence, seen[-1][0]))
            seen.append((pl.sequence, pl.seqs()))
        return until()
    return step


def test_hls_stream():
    """One worker: an 8 s clip (2 s GOP) published in real time; the whole stream in the
    playlist (60 s window, EXT-X-ENDLIST at the end)."""
    need_tools("ffmpeg", "ffprobe")
    clip = _clip(8, 50)
    with live_server(_hls('hls_fragment = "2s"; hls_playlist_length = "60s"; '
                          'hls_endlist = true;')) as srv:
        srv.start()
        d = os.path.join(srv.dir, "hls", "live")
        playlist = os.path.join(d, "s.m3u8")
        pub = ffmpeg_publisher(srv, clip, "live/s", "pub")
        seen = []
        wait_for(_watch(playlist, lambda: not pub.running(), seen), 30, "the publisher's end")
        check(pub.proc.returncode == 0, "publisher: %s" % pub.stderr()[-500:])
        srv.wait_log('hls "live/s" stopped', 5)
        check(len(seen) >= 3, "the playlist was rewritten only %d times while publishing"
              % len(seen))
        pl = _read_playlist(playlist)
        check(pl.ended and pl.sequence == 0 and pl.seqs() == list(range(len(pl.segments))),
              "final playlist: %r" % pl.text)
        check(3 <= len(pl.segments) <= 5 and pl.target == 2,
              "8 s in 2 s fragments gave %d segments, target %d" % (len(pl.segments), pl.target))
        check(not any(disc for _, _, disc in pl.segments), "a discontinuity: %r" % pl.text)
        check(sorted(os.listdir(d)) == sorted(["s.m3u8"] + [u for u, _, _ in pl.segments]),
              "files: %s" % sorted(os.listdir(d)))
        _check_rules(d, pl)

        # what the playlist plays is the source, packet for packet
        src_v = _hashes(clip, "video", VIDEO_SRC_BSF)
        got_v = _hashes(playlist, "video", VIDEO_TS_BSF)
        check(len(got_v) == len(src_v), "%d video packets in the playlist, %d in the source"
              % (len(got_v), len(src_v)))
        contiguous("HLS video", got_v, src_v, to_end=True, from_start=True)
        src_a = _hashes(clip, "audio", "null")
        got_a = _hashes(playlist, "audio", "aac_adtstoasc")
        # audio before the first key frame is not written: a segment starts decodable
        check(len(got_a) >= len(src_a) - 3, "%d audio packets of %d" % (len(got_a), len(src_a)))
        contiguous("HLS audio", got_a, src_a, to_end=True)

        # writes were timed and reported
        m = re.search(r'hls "live/s" stopped: (\d+) segments, (\d+) bytes; write\(\) (\d+) calls, '
                      r'max (\d+)us, p99 (\d+)us', srv.log())
        check(m and int(m.group(1)) == len(pl.segments) and int(m.group(3)) >= len(pl.segments),
              "no write-time line: %s" % srv.log()[-800:])


test_hls_stream.TIME_LIMIT = 40


def test_hls_window_cleanup_restart():
    """A 1 s GOP in a 3 s window: segments leave the playlist and then the disk; a publisher
    that comes back continues the numbering after EXT-X-DISCONTINUITY; once the stream has
    ended, its playlist and segments go after the grace time."""
    need_tools("ffmpeg", "ffprobe")
    clip = _clip(8, 25)
    with live_server(_hls('hls_fragment = "1s"; hls_playlist_length = "3s";')) as srv:
        srv.start()
        d = os.path.join(srv.dir, "hls", "live")
        playlist = os.path.join(d, "c.m3u8")
        pub = ffmpeg_publisher(srv, clip, "live/c", "pub1")
        seen = []
        wait_for(_watch(playlist, lambda: not pub.running(), seen), 30, "the first publisher")
        srv.wait_log('hls "live/c" stopped', 5)
        pl1 = _read_playlist(playlist)
        check(not pl1.ended, "EXT-X-ENDLIST without hls_endlist: %r" % pl1.text)
        check(pl1.sequence >= 3 and 3 <= len(pl1.segments) <= 5,
              "8 s in 1 s segments, 3 s window: %r" % pl1.text)
        seqs = [s for s, _ in seen]
        check(seqs == sorted(seqs) and seqs[-1] > seqs[0],
              "media sequence did not increase: %s" % seqs)
        _check_rules(d, pl1)
        # what left the window leaves the disk once its time (duration + playlist) passed:
        # the first segments left about 4 s ago at the latest
        gone = ["c-%d.ts" % i for i in range(0, pl1.sequence - 2)]
        wait_for(lambda: not any(os.path.exists(os.path.join(d, g)) for g in gone), 8,
                 "%s deleted (left: %s)" % (gone, sorted(os.listdir(d))))
        for uri, _, _ in pl1.segments:
            check(os.path.exists(os.path.join(d, uri)), "%s is in the playlist but gone" % uri)

        # the publisher comes back within the grace time: the playlist goes on
        last = pl1.seqs()[-1]
        pub2 = ffmpeg_publisher(srv, _clip(3, 25), "live/c", "pub2")
        def continued():
            pl = _read_playlist(playlist)
            return pl if pl and pl.seqs()[-1] > last else None
        pl2 = wait_for(continued, 10, "a segment of the second publisher")
        new = [(s, disc) for s, (_, _, disc) in zip(pl2.seqs(), pl2.segments) if s > last]
        check(new[0] == (last + 1, True) and not any(disc for _, disc in new[1:]),
              "after the restart: %r" % pl2.text)
        check(pl2.sequence >= pl1.sequence, "media sequence went back: %r" % pl2.text)
        check(pub2.wait(15) == 0, "second publisher: %s" % pub2.stderr()[-500:])

        # ended: the stream's files go after its playlist's length and two targets (~5 s)
        t_end = time.monotonic()
        srv.wait_log("playlist and segments removed", 12)
        check(time.monotonic() - t_end > 2.0, "the ended stream's files went too early")
        left = [f for f in os.listdir(d) if f.startswith("c")]
        check(not left, "left on disk: %s" % left)


test_hls_window_cleanup_restart.TIME_LIMIT = 45


def test_hls_two_workers_one_writer():
    """Two workers, players on both: only the publisher's worker writes; a new server on the
    same hls_path continues the playlist from disk after a discontinuity."""
    need_tools("ffmpeg", "ffprobe")
    clip = _clip(6, 25)
    hls_dir = tempfile.mkdtemp(prefix="rtmp_e2e_hls_")
    try:
        apps = {"live": 'live = true; hls = true; hls_path = "%s"; hls_fragment = "1s"; '
                        'hls_playlist_length = "30s"; hls_endlist = true;' % hls_dir}
        d = os.path.join(hls_dir, "live")
        playlist = os.path.join(d, "w.m3u8")
        with live_server(apps, workers=2, main_extra=FEW_SLOTS) as srv:
            srv.start()
            players = []
            try:
                # players first, waiting for the stream, until both workers have some
                def both():
                    if len(set(players_of(srv, "live/w").values())) >= 2:
                        return True
                    if len(players) < 30:
                        players.append(PyPlayer(srv.port, "live", "w", 25).play())
                    return False
                wait_for(both, 15, "players on both workers", interval=0.1)
                pub = ffmpeg_publisher(srv, clip, "live/w", "pub")
                check(pub.wait(20) == 0, "publisher: %s" % pub.stderr()[-500:])
                srv.wait_log('hls "live/w" stopped', 5)
                # some player on the other worker got the stream through a pull
                pub_w = list(publishers_of(srv, "live/w").values())[0]
                others = [p for p in players if players_of(srv, "live/w").get(p.port) != pub_w]
                check(any(p.packets()["video"] for p in others),
                      "no video reached a player on the other worker")
            finally:
                for p in players:
                    p.stop()
            starts = [l for l in srv.log().splitlines() if 'hls "live/w": writing' in l]
            stops = [l for l in srv.log().splitlines() if 'hls "live/w" stopped' in l]
            check(len(starts) == 1 and len(stops) == 1,
                  "HLS writers: %d started, %d stopped:\n%s" % (len(starts), len(stops),
                                                             "\n".join(starts + stops)))
            pid_slot = pub_w.split("#")
            check(" %s#%s: " % (pid_slot[0], pid_slot[1]) in starts[0],
                  "the writer is not the publisher's worker %s: %s" % (pub_w, starts[0]))
        pl1 = _read_playlist(playlist)
        check(pl1.sequence == 0 and len(pl1.segments) >= 4, "first playlist: %r" % pl1.text)
        _check_rules(d, pl1)

        # a new server (as after a restart) continues the playlist it finds
        with live_server(apps, workers=2) as srv2:
            srv2.start()
            pub2 = ffmpeg_publisher(srv2, _clip(3, 25), "live/w", "pub2")
            check(pub2.wait(15) == 0, "publisher: %s" % pub2.stderr()[-500:])
            srv2.wait_log('hls "live/w" stopped', 5)
            check('hls "live/w": continuing "%s" at segment %d' % (playlist, len(pl1.segments))
                  in srv2.log(), "no continuation line: %s" % srv2.log()[-600:])
        pl2 = _read_playlist(playlist)
        n1 = len(pl1.segments)
        check(pl2.segments[:n1] == pl1.segments and pl2.segments[n1][2] and
              pl2.seqs()[n1] == n1 and pl2.sequence == 0,
              "continued playlist: %r" % pl2.text)
        _check_rules(d, pl2)
        # both parts play through, video and audio, with the break between them
        src_v = _hashes(clip, "video", VIDEO_SRC_BSF)
        got_v = _hashes(playlist, "video", VIDEO_TS_BSF)
        contiguous("first part", got_v[:len(src_v)], src_v, to_end=True, from_start=True)
        src2_v = _hashes(_clip(3, 25), "video", VIDEO_SRC_BSF)
        contiguous("second part", got_v[len(src_v):], src2_v, to_end=True, from_start=True)
    finally:
        shutil.rmtree(hls_dir, ignore_errors=True)


test_hls_two_workers_one_writer.TIME_LIMIT = 45


def _steer(srv, worker, held):
    """Makes the next connection land in `worker`: the other one is given three idle
    connections (held open by the caller), and so steps aside for new ones."""
    from test_process import accepted_by_worker
    for c in held:
        c.close()
    held.clear()
    time.sleep(0.3)  # the closes reach the workers' counts
    for _ in range(40):
        if len(held) == 3:
            return
        c, pid = accepted_by_worker(srv, srv.port)
        (held.append if pid != worker else lambda x: x.close())(c)
    fail("could not fill the other worker")


def test_hls_publisher_back_in_a_worker_another_continued():
    """A publisher that comes back to a worker which wrote the playlist before another worker
    went on with it continues from the other worker's playlist: every segment, numbered on.
    Before, it went on from what it remembered, so the other worker's segments were
    overwritten under the same names and sequence numbers."""
    need_tools("ffmpeg", "ffprobe")
    clip = _clip(3, 25)
    hls_dir = tempfile.mkdtemp(prefix="rtmp_e2e_hls_")
    held = []
    try:
        apps = {"live": 'live = true; hls = true; hls_path = "%s"; hls_fragment = "1s"; '
                        'hls_playlist_length = "60s"; hls_endlist = true;' % hls_dir}
        playlist = os.path.join(hls_dir, "live", "z.m3u8")
        with live_server(apps, workers=2, server_extra='handshake_timeout = "60s";') as srv:
            srv.start()
            a, b = srv.worker_pids()
            for i, worker in enumerate((a, b, a)):
                _steer(srv, worker, held)
                pub = ffmpeg_publisher(srv, clip, "live/z", "pub%d" % i)
                check(pub.wait(20) == 0, "publisher %d: %s" % (i, pub.stderr()[-500:]))
                wait_for(lambda: srv.log().count('hls "live/z" stopped') == i + 1, 5,
                         "HLS of publish %d to stop" % i)
            starts = [l for l in srv.log().splitlines() if re.search(r'hls "live/z": '
                                                                     r'(writing|continuing)', l)]
            check(len(starts) == 3 and [" %d#" % w in l for w, l in zip((a, b, a), starts)] ==
                  [True] * 3, "HLS writers are not workers %d, %d, %d:\n%s"
                  % (a, b, a, "\n".join(starts)))
        pl = _read_playlist(playlist)
        uris = [u for u, _, _ in pl.segments]
        check(len(set(uris)) == len(uris) and pl.sequence == 0 and
              [int(re.search(r"(\d+)\.ts$", u).group(1)) for u in uris] == pl.seqs(),
              "segments not numbered on: %r" % pl.text)
        check(sum(1 for _, _, d in pl.segments if d) == 2, "not two breaks: %r" % pl.text)
        # all three publishes play through, one after the other
        src_v = _hashes(clip, "video", VIDEO_SRC_BSF)
        got_v = _hashes(playlist, "video", VIDEO_TS_BSF)
        check(len(got_v) == 3 * len(src_v), "%d video frames for 3 x %d" % (len(got_v),
                                                                           len(src_v)))
        for i in range(3):
            contiguous("publish %d" % i, got_v[i * len(src_v):(i + 1) * len(src_v)], src_v,
                       to_end=True, from_start=True)
    finally:
        for c in held:
            c.close()
        shutil.rmtree(hls_dir, ignore_errors=True)


test_hls_publisher_back_in_a_worker_another_continued.TIME_LIMIT = 60


def test_hls_segments_a_killed_worker_meant_to_delete_go_later():
    """A worker killed while it publishes leaves segments that had left the playlist and
    waited for their deletion; the publisher that continues the playlist deletes them with
    those leaving it. Before, nobody ever did."""
    need_tools("ffmpeg")
    hls_dir = tempfile.mkdtemp(prefix="rtmp_e2e_hls_")
    try:
        apps = {"live": 'live = true; hls = true; hls_path = "%s"; hls_fragment = "1s"; '
                        'hls_playlist_length = "3s";' % hls_dir}
        d = os.path.join(hls_dir, "live")
        with live_server(apps, workers=1) as srv:
            srv.start()
            pub = ffmpeg_publisher(srv, _clip(20, 25), "live/k", "pub")

            def left_playlist():
                pl = _read_playlist(os.path.join(d, "k.m3u8"))
                return pl and pl.sequence >= 3
            wait_for(left_playlist, 15, "segments leaving the playlist")
            os.kill(srv.worker_pids()[0], signal.SIGKILL)
            pub.wait(10)
            wait_for(lambda: len(srv.worker_pids()) == 1, 5, "a new worker")
            strays = sorted(f for f in os.listdir(d) if f.endswith(".ts") and
                            int(f[2:-3]) < _read_playlist(os.path.join(d, "k.m3u8")).sequence)
            check(strays, "no segment was waiting for its deletion: %s" % os.listdir(d))

            pub = ffmpeg_publisher(srv, _clip(3, 25), "live/k", "pub2")
            check(pub.wait(15) == 0, "publisher: %s" % pub.stderr()[-500:])
            srv.wait_log('hls "live/k": stream ended a while ago', 20)
            left = [f for f in os.listdir(d) if f.startswith("k")]
            check(not left, "left on disk: %s" % sorted(left))
            srv.wait_log("%d segments an earlier writer left behind" % len(strays), 1)
    finally:
        shutil.rmtree(hls_dir, ignore_errors=True)


test_hls_segments_a_killed_worker_meant_to_delete_go_later.TIME_LIMIT = 60


def test_hls_unwritable_path():
    """hls_path under a regular file: HLS stops for the stream with an error line; the
    stream itself plays."""
    need_tools("ffmpeg")
    clip = _clip(3, 25)
    with live_server({"live": 'live = true; hls = true; hls_path = "{dir}/file/hls";'}) as srv:
        with open(os.path.join(srv.dir, "file"), "w") as f:
            f.write("not a directory\n")
        srv.start()
        with PyPlayer(srv.port, "live", "u", 15) as player:
            player.play()
            pub = ffmpeg_publisher(srv, clip, "live/u", "pub")
            check(pub.wait(15) == 0, "publisher: %s" % pub.stderr()[-500:])
            player.wait(lambda ms: len(player.packets()["video"]) >= 70, 5, "the stream's video")
        m = re.search(r'\[error\].*hls "live/u": mkdir\(\) "[^"]*/file/hls[^"]*" failed; HLS is off for '
                      r'this stream .*\(20: Not a directory\)', srv.log())
        check(m, "no error line for the unwritable path: %s" % srv.log()[-800:])
        check(srv.sanitizer_report() is None, srv.sanitizer_report())


def test_hls_audio_only_nested():
    """hls_nested: NAME/index.m3u8 and NAME/SEQ.ts. A publisher of AV1 (Enhanced RTMP) and AAC:
    the video is skipped with one log line, the audio is cut by time. A second publisher takes
    the stream over (publisher_takeover): the playlist goes on after a discontinuity."""
    need_tools("ffprobe")
    from live_helpers import PyPublisher
    import random
    app = ('live = true; publisher_takeover = true; hls = true; hls_path = "{dir}/hls"; '
           'hls_nested = true; hls_fragment = "1s"; hls_endlist = true;')
    rnd = random.Random(7)

    def publish(pub, seconds):
        check(pub.status == "NetStream.Publish.Start", "publish: %s" % pub.status)
        def av1(ts, first, body):
            pub.c.send_message(9, bytes([0x90 if first else 0xa1]) + b"av01" + body,
                               msid=pub.sid, csid=6, timestamp=ts)
        av1(0, True, bytes([0x81, 0x00, 0x0c, 0x00]))  # av1C: SequenceStart
        pub.audio(0, bytes([0x12, 0x10]), header=True)  # AAC LC, 44.1 kHz, stereo
        for i in range(int(seconds * 44100 / 1024)):
            ts = i * 1024 * 1000 // 44100
            pub.audio(ts, bytes(rnd.getrandbits(8) for _ in range(180)))
            if i % 2 == 0:
                av1(ts, False, bytes(rnd.getrandbits(8) for _ in range(300)))

    with live_server({"nest": app}) as srv:
        srv.start()
        d = os.path.join(srv.dir, "hls", "nest", "a")
        with PyPublisher(srv.port, "nest", "a") as pub1:
            publish(pub1, 3.05)
            wait_for(lambda: _read_playlist(os.path.join(d, "index.m3u8")), 5, "the playlist")
            with PyPublisher(srv.port, "nest", "a") as pub2:
                publish(pub2, 3.05)
                time.sleep(0.3)
        srv.wait_log('hls "nest/a" stopped', 5)
        wait_for(lambda: srv.log().count('hls "nest/a" stopped') == 2, 5, "both stop lines")
        pl = _read_playlist(os.path.join(d, "index.m3u8"))
        check(pl.ended and pl.seqs() == list(range(len(pl.segments))) and
              [u for u, _, _ in pl.segments] == ["%d.ts" % i for i in range(len(pl.segments))],
              "playlist: %r" % pl.text)
        breaks = [i for i, (_, _, disc) in enumerate(pl.segments) if disc]
        check(breaks == [3] and len(pl.segments) == 6,
              "3 s of audio in 1 s segments, twice, one break between: %r" % pl.text)
        for uri, dur, _ in pl.segments[:2] + pl.segments[3:5]:
            check(0.95 <= dur <= 1.1 and math.floor(dur + 0.5) <= pl.target,
                  "%s: %.3f s, target %d" % (uri, dur, pl.target))
        for uri, _, _ in pl.segments[:2] + pl.segments[3:5]:
            out = json.loads(_run(["ffprobe", "-v", "error", "-of", "json", "-count_packets",
                                   "-show_entries", "stream=codec_name,nb_read_packets",
                                   os.path.join(d, uri)]))
            streams = out["streams"]
            check(len(streams) == 1 and streams[0]["codec_name"] == "aac" and
                  int(streams[0]["nb_read_packets"]) >= 40,
                  "%s: %s" % (uri, streams))
        skipped = [l for l in srv.log().splitlines()
                   if 'hls "nest/a": video codec av1 is not carried' in l]
        check(len(skipped) == 2, "AV1 skip lines (one per publisher): %s" % skipped)
        check('hls "nest/a": continuing' in srv.log(), "no continuation line")


def test_hls_disk_full():
    """hls_path on a 600 KB tmpfs (skipped where mounting is not allowed): the segment write
    that finds the disk full stops HLS with an error line and the partial segment is removed;
    a player gets the whole stream."""
    need_tools("ffmpeg", "mount", "umount")
    from live_helpers import heavy_clip
    clip = heavy_clip(4)
    mnt = tempfile.mkdtemp(prefix="rtmp_e2e_full_")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        os.rmdir(mnt)
        harness.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    try:
        app = 'live = true; hls = true; hls_path = "%s"; hls_fragment = "1s";' % mnt
        with live_server({"live": app}) as srv:
            srv.start()
            with PyPlayer(srv.port, "live", "f", 20) as player:
                player.play()
                pub = ffmpeg_publisher(srv, clip, "live/f", "pub")
                check(pub.wait(15) == 0, "publisher: %s" % pub.stderr()[-500:])
                player.wait(lambda ms: len(player.packets()["video"]) >= 100, 5,
                            "the stream's video")
            srv.wait_log('hls "live/f" stopped after a write error', 5)
            check(re.search(r'\[error\] .*hls "live/f": write\(\) "%s/live/f-\d+\.ts" failed; '
                            r'HLS stopped for this stream .*\(28: No space left on device\)'
                            % re.escape(mnt), srv.log()), "no disk-full line: %s"
                  % srv.log()[-800:])
            pl = _read_playlist(os.path.join(mnt, "live", "f.m3u8"))
            files = sorted(os.listdir(os.path.join(mnt, "live")))
            listed = sorted(u for u, _, _ in pl.segments) if pl else []
            check(files == sorted(listed + (["f.m3u8"] if pl else [])),
                  "files %s, playlist %s: the partial segment was not removed" % (files, listed))
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
        os.rmdir(mnt)
