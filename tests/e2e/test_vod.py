"""VOD: files played from an application's play directories by real players (ffmpeg,
rtmpdump) and by the Python client for seek and pause; names that could leave the
directories are refused.

The media: one 10 s clip (H.264 with a key frame every 2 s, AAC) as an FLV with a keyframe
index (ffmpeg -flvflags add_keyframe_index) and one without in the first play directory,
and as an MP4 (moov after the mdat, ffmpeg's default) in the second, so the directory
order, both readers and both ways of seeking in an FLV are used.
"""

import os
import shutil
import signal
import subprocess
import time

import harness
import rtmp_client as rc
from harness import ClientProc, check, need_tools, run_server_cmd, wait_for
from live_helpers import (FFMPEG_QUIET, PyPlayer, PyPublisher, check_complete, contiguous,
                          data_name, is_video_header, is_video_key, live_server, media_packet,
                          parse_framemd5, rtmpdump_packets, source, status_code, url)

CLIP_SECONDS = 10
GOP_MS = 2000


def _vod_server():
    srv = live_server({"vod": 'play = [ "{dir}/media", "{dir}/vod2" ];'})
    media = os.path.join(srv.dir, "media")
    vod2 = os.path.join(srv.dir, "vod2")
    os.makedirs(media)
    os.makedirs(vod2)
    clip = harness.media_clip(CLIP_SECONDS)
    flv = os.path.join(media, "clip.flv")
    mp4 = os.path.join(vod2, "clip.mp4")
    for args in (["-i", clip, "-c", "copy", "-flvflags", "add_keyframe_index", "-f", "flv", flv],
                 ["-i", clip, "-c", "copy", "-f", "mp4", mp4]):
        r = subprocess.run(FFMPEG_QUIET + ["-y"] + args, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "ffmpeg could not make %s: %s" % (args[-1], r.stderr[-500:]))
    # without an index, seeking scans the tags
    shutil.copyfile(clip, os.path.join(media, "noindex.flv"))
    # a file outside the play directories, and links to it from inside
    outside = os.path.join(srv.dir, "secret.flv")
    shutil.copyfile(flv, outside)
    os.symlink(outside, os.path.join(media, "abs_link.flv"))
    os.symlink("../secret.flv", os.path.join(media, "rel_link.flv"))
    return srv, flv, mp4


def test_players_get_every_packet_at_real_time():
    need_tools("ffmpeg", "ffprobe", "rtmpdump")
    srv, flv, mp4 = _vod_server()
    with srv:
        srv.start()
        src_flv = source(flv)
        src_mp4 = source(mp4)
        t0 = time.monotonic()
        # ffmpeg strips ".flv" and sends "clip"; for ".mp4" it sends "mp4:clip.mp4"
        ff_flv = ClientProc(FFMPEG_QUIET + ["-i", url(srv, "vod/clip.flv"), "-c", "copy",
                                            "-f", "framemd5", "-"], srv.dir, "ff_flv")
        ff_mp4 = ClientProc(FFMPEG_QUIET + ["-i", url(srv, "vod/clip.mp4"), "-c", "copy",
                                            "-f", "framemd5", "-"], srv.dir, "ff_mp4")
        dump = ClientProc(["rtmpdump", "-r", url(srv, "vod/clip.flv"), "-V", "-o",
                           os.path.join(srv.dir, "dump.flv")], srv.dir, "dump")
        dump.flv = os.path.join(srv.dir, "dump.flv")
        for p in (ff_flv, ff_mp4):
            code = p.wait(CLIP_SECONDS + 15)
            check(code == 0, "%s exited with %d: %s" % (p.name, code, p.stderr()[-800:]))
        took = time.monotonic() - t0
        check(took >= CLIP_SECONDS - 1.5,
              "a %d s clip played in %.1fs: not paced at real time" % (CLIP_SECONDS, took))
        # rtmpdump exits 2 ("may be incomplete") when the last timestamp is under 99.9% of
        # the duration, which a file whose duration counts its last frame always is; it must
        # have taken Play.Stop as the end and saved every packet
        code = dump.wait(10)
        check(code in (0, 2), "rtmpdump exited with %d: %s" % (code, dump.stderr()[-800:]))
        check("Got Play.Complete or Play.Stop from server" in dump.stderr(),
              "rtmpdump did not see the end of the stream: %s" % dump.stderr()[-800:])
        for name, got, src in (("ffmpeg flv", parse_framemd5(ff_flv.stdout()), src_flv),
                               ("ffmpeg mp4", parse_framemd5(ff_mp4.stdout()), src_mp4),
                               ("rtmpdump flv", rtmpdump_packets(dump), src_flv)):
            check_complete(name, got, src, from_start=True)
            check(len(got["video"]) == len(src.packets["video"]),
                  "%s: %d video packets, the file has %d" % (name, len(got["video"]),
                                                             len(src.packets["video"])))
        srv.wait_log('file "clip.flv" (flv, 10.0s)')
        srv.wait_log('file "clip.mp4" (mp4, 10.0s)')


test_players_get_every_packet_at_real_time.TIME_LIMIT = 40


def _after(msgs, code):
    """Messages after the first onStatus `code`."""
    for i, m in enumerate(msgs):
        if status_code(m) == code:
            return msgs[i + 1:]
    return None


def _first_frame(msgs):
    for m in msgs:
        if m.type == 9 and not is_video_header(m):
            return m
    return None


def test_seek_lands_on_a_key_frame():
    need_tools("ffmpeg", "ffprobe")
    srv, flv, mp4 = _vod_server()
    with srv:
        srv.start()
        noindex = os.path.join(os.path.dirname(flv), "noindex.flv")
        for name, path in (("clip.flv", flv), ("mp4:clip.mp4", mp4), ("noindex", noindex)):
            src = source(path)
            with PyPlayer(srv.port, "vod", name) as p:
                p.play()
                p.wait_status("NetStream.Play.Start")
                p.wait(lambda ms: _first_frame(ms) is not None, 5, "a first video frame")
                for target in (5000.0, 7000.0, 2000.0):
                    n_before = len(p.messages())
                    p.c.command("seek", 0, None, target, msid=p.sid, csid=8)
                    # the Seek.Notify of this seek: after the messages seen before it
                    after = p.wait(lambda ms: _after(ms[n_before:], "NetStream.Seek.Notify"),
                                   5, "Seek.Notify for %d" % target)
                    check(status_code(after[0]) == "NetStream.Play.Start" if after else False,
                          "%s: Seek.Notify is not followed by Play.Start" % name)
                    first = p.wait(lambda ms: _first_frame(
                        _after(ms[n_before:], "NetStream.Seek.Notify") or []), 5,
                        "a video frame after seeking to %d" % target)
                    check(is_video_key(first), "%s: the first frame after seeking to %d ms is "
                          "not a key frame" % (name, target))
                    check(target - GOP_MS < first.timestamp <= target,
                          "%s: seek to %d ms landed at %d ms, not at the key frame at or "
                          "before it" % (name, target, first.timestamp))
                    # and from there on, the file's own packets in order
                    time.sleep(1.0)
                    got = p.packets(_after(p.messages()[n_before:], "NetStream.Seek.Notify"))
                    at = contiguous("%s after seek to %d" % (name, target), got["video"],
                                    src.packets["video"], to_end=False)
                    check(src.packets["video"][at] in src.keys,
                          "%s: packets after the seek start at a non-key frame" % name)
                # near the end: the rest plays out, then the end is told three ways
                n_before = len(p.messages())
                p.c.command("seek", 0, None, 9500.0, msid=p.sid, csid=8)
                p.wait(lambda ms: "NetStream.Play.Stop" in [status_code(m)
                                                            for m in ms[n_before:]],
                       5, "%s: Play.Stop at the end of the file" % name)
                tail = p.messages()[n_before:]
                check([m for m in tail if data_name(m) == "onPlayStatus" and
                       m.amf()[1].get("code") == "NetStream.Play.Complete"],
                      "%s: no onPlayStatus NetStream.Play.Complete" % name)
                check([m for m in tail if m.user_event() and
                       m.user_event()[0] == rc.USER_STREAM_EOF],
                      "%s: no StreamEOF" % name)
                got = p.packets(_after(tail, "NetStream.Seek.Notify"))
                contiguous("%s after the last seek" % name, got["video"],
                           src.packets["video"], to_end=True)
        srv.wait_log("seek to 2000ms lands at ")


def test_pause_and_unpause():
    need_tools("ffmpeg")
    srv, flv, mp4 = _vod_server()
    with srv:
        srv.start()
        for name in ("clip.flv", "mp4:clip.mp4"):
            with PyPlayer(srv.port, "vod", name) as p:
                p.play()
                p.wait_status("NetStream.Play.Start")
                time.sleep(1.5)
                p.c.command("pause", 0, None, True, 1500.0, msid=p.sid, csid=8)
                p.wait_status("NetStream.Pause.Notify")
                t_paused = time.monotonic()
                time.sleep(2.0)
                msgs = p.messages()
                after = _after(msgs, "NetStream.Pause.Notify")
                check(not [m for m in after if media_packet(m)],
                      "%s: %d media messages after Pause.Notify" % (name, len(after)))
                last = max(m.timestamp for m in msgs if media_packet(m))
                check(last < 1500 + 1500, "%s: %d ms of media sent within 1.5 s of playing"
                      % (name, last))
                # pauseRaw, as Flash Player sends, unpauses just as well
                n_before = len(msgs)
                t_unpause = time.monotonic()
                p.c.command("pauseRaw", 0, None, False, 1500.0, msid=p.sid, csid=8)
                p.wait_status("NetStream.Unpause.Notify")
                time.sleep(1.0)
                events = p.events[n_before:]
                resumed = [(t, m) for t, m in events if media_packet(m)]
                check(resumed, "%s: no media after unpausing" % name)
                # no burst: in the first second after unpausing, about a second of media plus
                # the lead, not the rest of the file
                first_ts = resumed[0][1].timestamp
                in_first = [m.timestamp for t, m in resumed if t - t_unpause <= 1.0]
                check(max(in_first) - first_ts <= 2200, "%s: %d ms of media within a second "
                      "of unpausing" % (name, max(in_first) - first_ts))
                check(first_ts <= last + 100, "%s: after unpausing media resumed at %d ms, "
                      "paused at %d ms" % (name, first_ts, last))
                check(t_unpause - t_paused >= 1.9, "timing")


def test_names_that_leave_the_directory_are_refused():
    srv, flv, mp4 = _vod_server()
    with srv:
        srv.start()
        bad = ["../secret.flv", "mp4:../vod2/clip.mp4", "/etc/passwd", "a/../clip.flv",
               "./clip.flv", "sub//clip.flv", "..\\secret.flv"]
        not_files = ["%2e%2e/secret.flv", "abs_link.flv", "rel_link.flv", "nothing.flv"]
        for name in bad + not_files:
            with PyPlayer(srv.port, "vod", name) as p:
                p.play()
                p.wait_status("NetStream.Play.StreamNotFound")
                check(not [m for m in p.messages() if media_packet(m)],
                      "%r: media was sent" % name)
        # refused by name before any lookup, with a log line saying why
        for name in bad:
            srv.wait_log('play "vod/%s" refused: the name could leave the play directories'
                         % name)
        # the links point outside: the kernel refuses to resolve them (RESOLVE_BENEATH)
        check("secret" not in "".join(l for l in srv.log().splitlines() if "file \"" in l),
              "a file outside the play directories was opened")
        for name in ("abs_link.flv", "rel_link.flv"):
            srv.wait_log('play: "%s" in "%s" refused: a link leads out of the directory'
                         % (name, srv.dir + "/media"))
        # a file that is neither FLV nor MP4 is called that, whatever its name
        with open(os.path.join(srv.dir, "media", "garbage.flv"), "wb") as f:
            f.write(b"this is not a video file at all\n" * 20)
        with PyPlayer(srv.port, "vod", "garbage.flv") as p:
            p.play()
            p.wait_status("NetStream.Play.StreamNotFound")
        srv.wait_log('"garbage.flv": neither an FLV nor an MP4 file')
        # names a player may use for the same files: bare, prefixed, with the extension
        for name in ("clip", "flv:clip", "clip.flv", "mp4:clip", "mp4:clip.mp4", "clip.mp4"):
            with PyPlayer(srv.port, "vod", name) as p:
                p.play()
                p.wait_status("NetStream.Play.Start")
                p.wait(lambda ms: _first_frame(ms) is not None, 5, "%s: a video frame" % name)
                meta = [m.amf() for m in p.messages() if data_name(m) == "onMetaData"]
                check(meta and abs(meta[0][1].get("duration", 0) - CLIP_SECONDS) < 0.2,
                      "%s: onMetaData without the duration: %r" % (name, meta[:1]))


def test_a_play_directory_that_is_not_there_is_named():
    """-t (and the start) warn about a play directory that is missing or not a directory,
    with its line, but accept it: a disk may be mounted later."""
    srv, _, _ = _vod_server()
    with srv:
        r = run_server_cmd(["-t", "-c", srv.conf])
        check(r.returncode == 0 and "play directory" not in r.stderr,
              "-t with both directories there: %d %s" % (r.returncode, r.stderr))
        shutil.rmtree(os.path.join(srv.dir, "vod2"))
        with open(os.path.join(srv.dir, "vod2"), "w") as f:
            f.write("a file\n")
        shutil.rmtree(os.path.join(srv.dir, "media"))
        r = run_server_cmd(["-t", "-c", srv.conf])
        line = next(i + 1 for i, l in enumerate(open(srv.conf)) if "play = " in l)
        for d, why in (("media", "No such file or directory"), ("vod2", "not a directory")):
            check(r.returncode == 0 and '[warn]' in r.stderr and
                  '%s:%d: play directory "%s/%s": %s' % (srv.conf, line, srv.dir, d, why)
                  in r.stderr, "-t with %s gone: %d %s" % (d, r.returncode, r.stderr))
        # in the error_log too, at the start and at each reload
        said = '[warn] %d: %s:%d: play directory "%s/media"' % (0, srv.conf, line, srv.dir)
        srv.start()
        said = said.replace(" 0: ", " %d: " % srv.proc.pid)
        wait_for(lambda: srv.log().count(said) == 1, 5, "the warning in the error_log")
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded", 5.0)
        wait_for(lambda: srv.log().count(said) == 2, 5, "the warning in the error_log again")
        # plays: logged when the directory fails and when it is back, not at every play
        missing = ('play directory "%s/media": No such file or directory (logged again once it '
                   'is back)' % srv.dir)
        for _ in range(3):
            with PyPlayer(srv.port, "vod", "clip") as p:
                p.play()
                p.wait_status("NetStream.Play.StreamNotFound")
        check(srv.log().count(missing) == 1, "the missing directory logged %d times for 3 plays:"
              " %s" % (srv.log().count(missing), srv.log()[-1500:]))
        os.makedirs(os.path.join(srv.dir, "media"))
        with PyPlayer(srv.port, "vod", "clip") as p:
            p.play()
            p.wait_status("NetStream.Play.StreamNotFound")
        srv.wait_log('play directory "%s/media" is back' % srv.dir)


def test_play_start_and_live_in_the_same_application():
    need_tools("ffmpeg")
    srv = live_server({"both": 'play = "{dir}/media"; live = true;'})
    os.makedirs(os.path.join(srv.dir, "media"))
    shutil.copyfile(harness.media_clip(CLIP_SECONDS), os.path.join(srv.dir, "media", "clip.flv"))
    with srv:
        srv.start()
        # play's start argument (ms) is a seek before the first frame
        with PyPlayer(srv.port, "both", "clip") as p:
            p.play(start=5000.0)
            first = p.wait(lambda ms: _first_frame(ms), 5, "a first video frame")
            check(is_video_key(first) and 5000 - GOP_MS < first.timestamp <= 5000,
                  "play from 5000 ms started with %s at %d ms"
                  % ("a key frame" if is_video_key(first) else "an inter frame", first.timestamp))
        # a name that is no file goes on to live: a player waits, a publisher reaches it
        with PyPlayer(srv.port, "both", "cam") as p:
            p.play()
            p.wait_status("NetStream.Play.Start")
            with PyPublisher(srv.port, "both", "cam") as pub:
                check(pub.status == "NetStream.Publish.Start", "publish: %s" % pub.status)
                pub.video(0, b"\x01\x64\x00\x1f\xff\xe1\x00\x00\x01\x00\x00", header=True)
                pub.video(0, b"\x00\x00\x00\x01\x65", key=True)
                p.wait(lambda ms: [m for m in ms if is_video_key(m)], 5,
                       "the live key frame")
        srv.wait_log('play "both/cam" (waiting for a publisher)')


def _first_pts(args):
    """ffprobe's first packet pts (ms) per media type of a file or stream."""
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time",
                        "-of", "csv=p=0"] + args, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffprobe %s failed: %s" % (args, r.stderr[-300:]))
    first = {}
    for line in r.stdout.splitlines():
        kind, _, t = line.strip().partition(",")
        t = t.strip(",")
        if kind in ("video", "audio") and t and kind not in first:
            first[kind] = round(float(t) * 1000)
    check(len(first) == 2, "ffprobe %s: first pts %s" % (args, first))
    return first


def test_faststart_recording_plays_with_the_source_audio_offset():
    """A recording made faststart keeps the later track's start in an edit list, and VOD
    follows it: played over RTMP, the audio starts as far from the video as in the source
    (tiny.flv: video pts from 200 ms with B-frames, audio from 154 ms), and as in the
    fragmented recording of the same stream."""
    need_tools("ffmpeg", "ffprobe")
    src = os.path.join(harness.REPO, "tests/data/vod/tiny.flv")
    rec = ('live = true; record = ( '
           '{ name = "fs"; format = "mp4"; path = "fs/$name.mp4"; faststart = true; }, '
           '{ name = "frag"; format = "mp4"; path = "frag/$name.mp4"; } );')
    srv = live_server({"rec": rec, "vod": 'play = [ "{dir}" ];'})
    want = _first_pts([src])
    want = want["audio"] - want["video"]
    with srv:
        srv.start()
        pub = ClientProc(FFMPEG_QUIET + ["-re", "-i", src, "-c", "copy", "-f", "flv",
                                         url(srv, "rec/t")], srv.dir, "pub")
        try:
            check(pub.wait(30) == 0, "the publisher failed: %s" % pub.stderr()[-300:])
        finally:
            pub.stop()
        srv.wait_log('"fs/t.mp4" made faststart', 10)
        for f in ("fs/t.mp4", "frag/t.mp4"):
            got = _first_pts([os.path.join(srv.dir, f)])
            check(abs(got["audio"] - got["video"] - want) <= 1,
                  "%s: audio starts %d ms from video, the source %d ms"
                  % (f, got["audio"] - got["video"], want))
            got = _first_pts([url(srv, "vod/mp4:" + f)])
            check(abs(got["audio"] - got["video"] - want) <= 1,
                  "%s played over RTMP: audio starts %d ms from video, the source %d ms"
                  % (f, got["audio"] - got["video"], want))
