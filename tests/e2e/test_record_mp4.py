"""record, format mp4: ffmpeg publishes; the fragmented MP4 and its faststart copy are read by
ffprobe and ffmpeg with the source's packets, the faststart one has its moov first; both play
back over RTMP through VOD (the fragmented one also seeks to a key frame), interval files each
begin with a key frame and join back to the source, and a file cut by SIGKILL reads, and plays
through VOD, up to its last fragment."""

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import harness
from harness import ClientProc, check, media_clip, need_tools, run_server_cmd, wait_for
import rtmp_client as rc
from live_helpers import (FFMPEG_QUIET, PyPlayer, PyPublisher, ffmpeg_publisher, is_video_header,
                          is_video_key, live_server, parse_framemd5, source, status_code, url)
from test_record import _packets, _probe, _publish_typed, flv_tags


def _boxes(path):
    """The top-level boxes of an ISO BMFF file: [(type, offset, size)]."""
    out = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        at = 0
        while at + 8 <= size:
            f.seek(at)
            n, kind = struct.unpack(">I4s", f.read(8))
            if n == 1:
                n = struct.unpack(">Q", f.read(8))[0]
            elif n == 0:
                n = size - at
            check(n >= 8, "a box of %d bytes at %d in %s" % (n, at, path))
            out.append((kind.decode("latin-1"), at, n))
            at += n
    return out


def _first_video_key(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                        "packet=flags", "-of", "csv=p=0", path], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffprobe of %s failed: %s" % (path, r.stderr[-300:]))
    flags = [l.strip() for l in r.stdout.splitlines() if l.strip()]
    return bool(flags) and flags[0].startswith("K")


def _stream_pts(path):
    """Each stream's packet pts in ms as ffprobe reads them (no player's shifting):
    {"video": [...], "audio": [...]}."""
    out = {}
    for kind, sel in (("video", "v"), ("audio", "a")):
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", sel, "-show_entries",
                            "packet=pts_time", "-of", "csv=p=0", path], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "ffprobe of %s failed: %s" % (path, r.stderr[-300:]))
        out[kind] = [round(float(l.strip().rstrip(",")) * 1000)
                     for l in r.stdout.splitlines() if l.strip().rstrip(",")]
        check(out[kind], "%s: no %s packets" % (path, kind))
    return out


def test_record_mp4():
    need_tools("ffmpeg", "ffprobe")
    clip10, clip20 = media_clip(10), media_clip(20)
    src10, src20 = source(clip10), source(clip20)
    rec = ('live = true; record = ( '
           '{ name = "frag"; format = "mp4"; path = "frag/$name.mp4"; }, '
           '{ name = "fs"; format = "mp4"; path = "fs/$name.mp4"; faststart = true; }, '
           '{ name = "iv"; format = "mp4"; path = "iv/$name.mp4"; unique = true; '
           'interval = "4s"; }, '
           '{ name = "small"; format = "mp4"; path = "small/$name.mp4"; max_size = "100k"; } );')
    main = live_server({"rec": rec, "vod": 'play = [ "{dir}" ];'})
    killed = live_server({"rec": 'live = true; record = { format = "mp4"; '
                                 'path = "k/$name.mp4"; flush = "200ms"; fragment = "1s"; };'})
    procs = []
    try:
        main.start()
        killed.start()
        pub = ffmpeg_publisher(main, clip10, "rec/s", "pub10")
        pubk = ffmpeg_publisher(killed, clip20, "rec/k", "pubk")
        procs += [pub, pubk]

        # SIGKILL mid-recording: the file reads up to its last whole fragment
        kpath = os.path.join(killed.dir, "k/k.mp4")
        wait_for(lambda: os.path.exists(kpath) and os.path.getsize(kpath) > 200000, 20,
                 "the killed recording to grow")
        for pid in killed.worker_pids():
            os.kill(pid, signal.SIGKILL)
        os.kill(killed.pid, signal.SIGKILL)
        killed.proc.wait(5)
        pubk.stop()
        kinds = [b[0] for b in _boxes(kpath)]
        check(kinds[:2] == ["ftyp", "moov"] and "moof" in kinds,
              "the killed file's boxes: %s" % kinds[:6])
        _probe(kpath)
        got = parse_framemd5(_packets(kpath))
        check(len(got["video"]) > 25, "only %d video packets read" % len(got["video"]))
        for kind in ("video", "audio"):
            check(got[kind] == src20.packets[kind][:len(got[kind])],
                  "the killed file's %s is not the source's from its start" % kind)

        check(pub.wait(40) == 0, "the publisher failed: %s" % pub.stderr()[-300:])
        wait_for(lambda: main.log().count('record "fs" of "rec/s": closed') == 1 and
                 main.log().count('record "iv" of "rec/s": closed') == 3, 10,
                 "the recordings to close")
        check('"fs/s.mp4" made faststart' in main.log(), "no faststart line in the log")
        want = _probe(clip10)

        # the fragmented file and the faststart copy: the source's packets, its duration
        for f, first in (("frag/s.mp4", ["ftyp", "moov", "moof"]),
                         ("fs/s.mp4", ["ftyp", "moov", "mdat"])):
            path = os.path.join(main.dir, f)
            kinds = [b[0] for b in _boxes(path)]
            check(kinds[:3] == first, "%s boxes: %s" % (f, kinds[:6]))
            if f.startswith("fs"):
                check(kinds == first, "%s is not one moov and one mdat: %s" % (f, kinds))
            d = _probe(path)
            check(abs(d - want) <= 0.5, "%s lasts %.3fs, the source %.3fs" % (f, d, want))
            got = parse_framemd5(_packets(path))
            for kind in ("video", "audio"):
                check(got[kind] == src10.packets[kind],
                      "%s: %d %s packets, not the source's %d" % (f, len(got[kind]), kind,
                                                                 len(src10.packets[kind])))
        check(not os.path.exists(os.path.join(main.dir, "fs/s.mp4.tmp")), "a .tmp was left")

        # both tracks of the faststart copy start where the fragmented file starts them (its
        # edit list delays the later one), every packet at the same time, the audio as far
        # from the video as in the source (the clip's video is 23 ms after its audio)
        pts = {f: _stream_pts(os.path.join(main.dir, f)) for f in ("frag/s.mp4", "fs/s.mp4")}
        pts["source"] = _stream_pts(clip10)
        for kind in ("video", "audio"):
            check(pts["fs/s.mp4"][kind] == pts["frag/s.mp4"][kind],
                  "fs/s.mp4 %s pts %s..., the fragmented file's %s..."
                  % (kind, pts["fs/s.mp4"][kind][:3], pts["frag/s.mp4"][kind][:3]))
        offsets = {k: p["audio"][0] - p["video"][0] for k, p in pts.items()}
        check(abs(offsets["fs/s.mp4"] - offsets["source"]) <= 1 and
              abs(offsets["frag/s.mp4"] - offsets["source"]) <= 1,
              "audio starts %s ms from video (the source: %d)" % (offsets, offsets["source"]))

        # interval files: each begins with a key frame, together they are the source
        parts = ["iv/s.mp4", "iv/s-1.mp4", "iv/s-2.mp4"]
        video = []
        for f in parts:
            path = os.path.join(main.dir, f)
            check(_first_video_key(path), "%s does not begin with a key frame" % f)
            video += parse_framemd5(_packets(path))["video"]
        check(video == src10.packets["video"],
              "the interval files hold %d video packets, not the source's %d in order"
              % (len(video), len(src10.packets["video"])))

        # max_size holds with the fragment being gathered counted: the file stops under it
        path = os.path.join(main.dir, "small/s.mp4")
        check('closed "small/s.mp4" (max_size)' in main.log(), "small/s.mp4 did not hit max_size")
        check(os.path.getsize(path) <= 100 * 1024, "small/s.mp4 has %d bytes" % os.path.getsize(path))
        got = parse_framemd5(_packets(path))
        check(len(got["video"]) > 10 and got["video"] == src10.packets["video"][:len(got["video"])],
              "small/s.mp4: %d video packets, not the source's first ones" % len(got["video"]))

        # the faststart file, the fragmented one and the one cut by SIGKILL play back over
        # RTMP from VOD, all at once (each at real time)
        os.makedirs(os.path.join(main.dir, "cut"))
        shutil.copyfile(kpath, os.path.join(main.dir, "cut/k.mp4"))
        plays = {}
        for f in ("fs/s.mp4", "frag/s.mp4", "cut/k.mp4"):
            plays[f] = ClientProc(FFMPEG_QUIET + ["-i", url(main, "vod/mp4:" + f), "-c", "copy",
                                                  "-f", "framemd5", "-"], main.dir, f)
            procs.append(plays[f])
        _seek_fragmented(main, src10)
        for f, p in plays.items():
            code = p.wait(40)
            check(code == 0, "ffmpeg could not play vod/%s: %s" % (f, p.stderr()[-300:]))
        for f in ("fs/s.mp4", "frag/s.mp4"):
            check(parse_framemd5(plays[f].stdout())["video"] == src10.packets["video"],
                  "VOD play of %s is not the source's video" % f)
        # the cut file: its whole fragments (one a second), the source's from its start
        vod = parse_framemd5(plays["cut/k.mp4"].stdout())["video"]
        read = len(parse_framemd5(_packets(kpath))["video"])
        check(read - 30 <= len(vod) <= read and vod == src20.packets["video"][:len(vod)],
              "VOD play of the killed file: %d video packets (ffmpeg reads %d), or not the "
              "source's from its start" % (len(vod), read))
        main.wait_log('file "frag/s.mp4" (mp4, ')
    finally:
        for p in procs:
            p.stop()
        for s in (main, killed):
            s.stop()


def _seek_fragmented(srv, src):
    """A seek in the fragmented recording lands on the key frame at or before the time (the
    clip has one every 2 s) and plays on from it with the source's packets."""
    with PyPlayer(srv.port, "vod", "mp4:frag/s.mp4") as p:
        p.play()
        p.wait_status("NetStream.Play.Start")
        n_before = len(p.messages())
        p.c.command("seek", 0, None, 5000.0, msid=p.sid, csid=8)

        def after_seek(ms):
            ms = ms[n_before:]
            for i, m in enumerate(ms):
                if status_code(m) == "NetStream.Seek.Notify":
                    return [m for m in ms[i + 1:] if m.type == 9 and not is_video_header(m)]
            return None
        p.wait(lambda ms: len(after_seek(ms) or []) >= 10, 10, "video after the seek")
        frames = after_seek(p.messages())
        first = frames[0]
        check(is_video_key(first) and 3000 < first.timestamp <= 5000,
              "seek to 5000 ms in the fragmented file landed at %d ms (key %s)"
              % (first.timestamp, is_video_key(first)))
        got = p.packets(frames)["video"]
        at = [i for i, h in enumerate(src.packets["video"]) if h == got[0]]
        check(at and src.packets["video"][at[0]:at[0] + len(got)] == got,
              "after the seek: not the source's video packets in order")
    srv.wait_log("seek to 5000ms lands at ")


def _publish_tags(port, app, name, clips):
    """Publishes the audio and video tags of each FLV file in turn (sequence headers
    included, timestamps running on), as fast as the socket takes them."""
    import rtmp_client as rc
    from live_helpers import _connected, status_code
    c = _connected(port, app)
    try:
        sid = c.create_stream()
        c.command("publish", 0, None, name, "live", msid=sid, csid=8)
        m, _ = c.read_until(lambda x: x.is_command("onStatus") and x.msid == sid, 5.0,
                            "onStatus for publish")
        check(status_code(m) == "NetStream.Publish.Start", "publish: %r" % m)
        base = 0
        for clip in clips:
            last = 0
            for _, kind, ts, body in flv_tags(clip)[0]:
                if kind in (8, 9):
                    c.send_message(kind, body, msid=sid, csid=6 if kind == 9 else 7,
                                   timestamp=base + ts)
                    last = max(last, ts)
            base += last + 40
        c.command("deleteStream", 0, None, float(sid), csid=3)
        time.sleep(0.3)
    finally:
        c.close()


def test_record_mp4_codec_change():
    """A new video configuration mid-stream (another resolution) ends the file and begins
    the next with it: each file holds one clip's packets."""
    need_tools("ffmpeg", "ffprobe")
    clip_a = media_clip(4)
    tmp = tempfile.mkdtemp(prefix="rtmp_mp4_e2e_")
    clip_b = os.path.join(tmp, "small.flv")
    try:
        r = subprocess.run(FFMPEG_QUIET + ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
                                           "-f", "lavfi", "-i",
                                           "sine=frequency=440:sample_rate=44100", "-t", "3",
                                           "-c:v", "libx264", "-preset", "ultrafast",
                                           "-pix_fmt", "yuv420p", "-g", "50", "-c:a", "aac",
                                           "-b:a", "64k", "-f", "flv", clip_b],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "ffmpeg could not make the second clip: %s" % r.stderr[-300:])
        src_a, src_b = source(clip_a), source(clip_b)
        apps = {"rec": 'live = true; record = { format = "mp4"; path = "c/$name.mp4"; };',
                "m": 'live = true; record = { name = "man"; what = "manual"; format = "mp4"; '
                     'path = "m/$name.mp4"; };'}
        with live_server(apps) as srv:
            srv.start()
            _publish_tags(srv.port, "rec", "c", [clip_a, clip_b])
            wait_for(lambda: srv.log().count('record "rec1" of "rec/c": closed') == 2, 10,
                     "two files to close")
            check('closed "c/c.mp4" (codec change)' in srv.log(),
                  "the first file did not close for the codec change")
            for f, src in (("c/c.mp4", src_a), ("c/c-1.mp4", src_b)):
                got = parse_framemd5(_packets(os.path.join(srv.dir, f)))
                for kind in ("video", "audio"):
                    check(got[kind] == src.packets[kind],
                          "%s: %d %s packets, not its clip's %d" % (f, len(got[kind]), kind,
                                                                   len(src.packets[kind])))

            # the publish type "append" cannot continue an MP4: the second file goes beside
            frames = [bytes([0, 0, 0, 4, 0x65 if i % 5 == 0 else 0x41, i, i, i])
                      for i in range(12)]
            for k in range(2):
                _publish_typed(srv.port, "t", "append", frames)
                wait_for(lambda: srv.log().count('record "man" of "m/t": closed') > k, 5,
                         "the manual recording to close")
            check('format mp4 cannot be appended to; recording beside "m/t.mp4"' in srv.log(),
                  "no line about appending to an MP4")
            for f in ("m/t.mp4", "m/t-1.mp4"):
                got = parse_framemd5(_packets(os.path.join(srv.dir, f)))
                check(len(got["video"]) == 12, "%s: %d video packets" % (f, len(got["video"])))
    finally:
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)


def test_record_mp4_config():
    """append cannot go with mp4 (file:line); faststart is only for mp4."""
    for bad, says in (('format = "mp4"; path = "a.mp4"; append = true;', "cannot be appended"),
                      ('path = "a.flv"; faststart = true;', "\"faststart\" is for format")):
        srv = live_server({"rec": "live = true;\n record = { %s };" % bad})
        try:
            r = run_server_cmd(["-t", "-c", srv.conf])
            out = r.stdout + r.stderr
            check(r.returncode != 0, "-t accepted %r" % bad)
            check(says in out and "rtmp.conf:" in out, "-t said: %s" % out.strip()[-300:])
        finally:
            srv.stop()


def test_record_mp4_of_nothing_it_holds_reports_no_file():
    """A stream of MP3 alone leaves no MP4: the empty file is removed, and no on_record_done
    or exec_record_done is told of a file that is not there."""
    apps = {"a": 'live = true; record = { format = "mp4"; path = "a/$name.mp4"; }; '
                 'exec_record_done = [ "touch", "{dir}/done-$name" ];'}
    with live_server(apps) as srv:
        srv.start()
        with PyPublisher(srv.port, "a", "x") as pub:
            for i in range(20):  # MP3, 44.1 kHz stereo: a codec MP4 recording leaves out
                pub.c.send_message(rc.MSG_AUDIO, b"\x2f" + bytes(200), msid=pub.sid, csid=4,
                                   timestamp=26 * i)
            srv.wait_log('record "rec1" of "a/x": recording to', 5)
        srv.wait_log('record "rec1" of "a/x": nothing an mp4 file can hold came; "a/x.mp4" '
                     'removed', 5)
        time.sleep(0.5)
        check(not os.path.exists(os.path.join(srv.dir, "a/x.mp4")), "the empty file is left")
        check('closed "a/x.mp4"' not in srv.log(), "a removed file is logged as closed")
        check(not os.path.exists(os.path.join(srv.dir, "done-x")),
              "exec_record_done ran for a file that is not there")
