"""record: ffmpeg publishes; the recorded FLV files are read by ffprobe and ffmpeg with the
source's packets, seek through the onMetaData keyframe index, split at key frames without losing
or repeating a packet, survive a SIGKILL up to their last tag; a recorder that cannot write stops
with a log line and on_record_done while the stream and its players go on."""

import glob
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time

import harness
from harness import check, fail, media_clip, need_tools, wait_for
from live_helpers import (FFMPEG_QUIET, check_complete, contiguous, ffmpeg_player,
                          ffmpeg_publisher, live_server, parse_framemd5, source, url,
                          wait_players)
from test_notify import AuthService


def _packets(path, extra_in=(), extra_out=()):
    r = subprocess.run(FFMPEG_QUIET + list(extra_in) + ["-i", path, "-c", "copy"] +
                       list(extra_out) + ["-f", "framemd5", "-"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffmpeg could not read %s: %s" % (path, r.stderr[-400:]))
    return r.stdout


def _probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "csv=p=0", path], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffprobe could not read %s: %s" % (path, r.stderr[-400:]))
    return float(r.stdout.strip())


# ---- a small FLV reader: tags and the AMF0 of onMetaData, enough to check what we write ------

def _amf(b, i):
    t = b[i]
    i += 1
    if t == 0:
        return struct.unpack(">d", b[i:i + 8])[0], i + 8
    if t == 1:
        return b[i] != 0, i + 1
    if t == 2:
        n = struct.unpack(">H", b[i:i + 2])[0]
        return b[i + 2:i + 2 + n].decode(), i + 2 + n
    if t in (3, 8):
        if t == 8:
            i += 4
        obj = {}
        while True:
            n = struct.unpack(">H", b[i:i + 2])[0]
            if n == 0 and b[i + 2] == 9:
                return obj, i + 3
            key = b[i + 2:i + 2 + n].decode()
            obj[key], i = _amf(b, i + 2 + n)
    if t == 5:
        return None, i
    if t == 10:
        n = struct.unpack(">I", b[i:i + 4])[0]
        i += 4
        out = []
        for _ in range(n):
            v, i = _amf(b, i)
            out.append(v)
        return out, i
    fail("AMF0 marker %d not expected in onMetaData" % t)


def flv_tags(path):
    """(offset, type, timestamp, body) of every complete tag, and the onMetaData object."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:3] == b"FLV", "%s does not start with an FLV header" % path)
    i = struct.unpack(">I", data[5:9])[0] + 4
    tags, meta = [], None
    while i + 11 <= len(data):
        size = int.from_bytes(data[i + 1:i + 4], "big")
        ts = int.from_bytes(data[i + 4:i + 7], "big") | data[i + 7] << 24
        if i + 11 + size + 4 > len(data):
            break
        body = data[i + 11:i + 11 + size]
        check(struct.unpack(">I", data[i + 11 + size:i + 15 + size])[0] == size + 11,
              "%s: bad PreviousTagSize after the tag at %d" % (path, i))
        if data[i] == 18 and meta is None:
            name, j = _amf(body, 0)
            if name == "onMetaData":
                meta, end = _amf(body, j)
                check(end == len(body), "onMetaData does not fill its tag exactly")
        tags.append((i, data[i], ts, body))
        i += 15 + size
    return tags, meta


def check_index(path, final=True):
    """The onMetaData keyframe index names every key frame: its tag offset and its time (a
    file cut short: the key frames up to some point)."""
    tags, meta = flv_tags(path)
    check(meta is not None, "%s: no onMetaData" % path)
    kf = meta.get("keyframes")
    check(isinstance(kf, dict) and list(kf)[:2] == ["times", "filepositions"],
          "%s: onMetaData has no keyframes {times, filepositions}: %r" % (path, kf))
    keys = [(off, ts) for off, t, ts, body in tags
            if t == 9 and body[0] >> 4 == 1 and body[1] == 1]
    got = list(zip([int(p) for p in kf["filepositions"]], [round(t * 1000) for t in kf["times"]]))
    if not final:
        check(len(got) >= 2 and got == keys[:len(got)],
              "%s: keyframe index %r, key frames in the file %r" % (path, got[:6], keys[:6]))
        return meta, keys
    check(got == keys, "%s: keyframe index %r, key frames in the file %r" % (path, got[:6], keys[:6]))
    check(int(meta["filesize"]) == os.path.getsize(path), "%s: filesize %r, file %d bytes"
          % (path, meta["filesize"], os.path.getsize(path)))
    check(tags[0][1] == 18 and tags[0][2] == 0, "%s: the first tag is not onMetaData at 0" % path)
    check(tags[1][1] in (8, 9) and tags[1][2] == 0, "%s: no sequence header at 0" % path)
    return meta, keys


def _record_lines(srv, recorder, stream):
    pat = re.compile(r'record "%s" of "%s": (?:recording to|appending to) "([^"]+)"'
                     % (re.escape(recorder), re.escape(stream)))
    return pat.findall(srv.log())


def _unwritable_dir(tmp):
    """A directory recording cannot create files in: mode 0555, or for root (who ignores
    modes) a path in sysfs, which refuses new files."""
    if os.geteuid() != 0:
        d = os.path.join(tmp, "readonly")
        os.mkdir(d, 0o555)
        return d
    d = "/sys/rtmp_record_e2e_%d" % os.getpid()
    try:
        os.makedirs(d)
    except OSError:
        return d
    os.rmdir(d)
    harness.skip("no unwritable directory for root here")


def test_record():
    need_tools("ffmpeg", "ffprobe")
    clip20, clip30, clip4 = media_clip(20), media_clip(30), media_clip(4)
    src20, src30 = source(clip20), source(clip30)
    svc = AuthService()
    tmp = tempfile.mkdtemp(prefix="rtmp_record_e2e_")
    ro = _unwritable_dir(tmp)
    apps = {
        "rec": 'live = true; on_record_done = "%s"; record = ( '
               '{ name = "all"; path = "rec/$app/$name-%%Y%%m%%d.flv"; }, '
               '{ name = "ro"; path = "%s/$name.flv"; }, '
               '{ name = "full"; path = "/dev/full"; flush = "200ms"; buffer = "4k"; }, '
               '{ name = "man"; what = "manual"; path = "manual/$name.flv"; }, '
               '{ name = "kf"; what = "keyframes"; path = "kf/$name.flv"; }, '
               '{ name = "small"; path = "small/$name.flv"; max_size = "100k"; } );'
               % (svc.url("/ok"), ro),
        "again": 'live = true; record = ( { name = "ap"; path = "again/ap-$name.flv"; '
                 'append = true; }, { name = "un"; path = "again/un-$name.flv"; unique = true; } );',
        "split": 'live = true; record = { name = "iv"; path = "split/$name-%H%M%S.flv"; '
                 'unique = true; interval = "10s"; };',
        "vod": 'play = "{dir}/again";',
    }
    procs = []
    try:
        with live_server(apps) as srv:
            srv.start()
            p20 = ffmpeg_publisher(srv, clip20, "rec/s1", "pub20")
            p30 = ffmpeg_publisher(srv, clip30, "split/s2", "pub30")
            pm = ffmpeg_publisher(srv, clip4, "rec/m1?record=man", "pubm")
            procs += [p20, p30, pm]
            wait_for(lambda: _record_lines(srv, "all", "rec/s1"), 10, "recording to start")
            player = ffmpeg_player(srv, "rec/s1", "player")
            procs.append(player)
            wait_players(srv, "rec/s1", 1)

            # the unwritable path and the full "disk" stop their recorders, nothing else
            srv.wait_log('record "ro" of "rec/s1": opening "%s/s1.flv" failed' % ro, 5)
            srv.wait_log('record "full" of "rec/s1": writing "/dev/full" failed', 5)
            check("No space left on device" in srv.log(), "the log does not say the disk is full")
            # the same name published twice, meanwhile: appended to one file, and beside it
            src4 = source(clip4)
            for i in range(2):
                pa = ffmpeg_publisher(srv, clip4, "again/a", "again%d" % i)
                procs.append(pa)
                check(pa.wait(20) == 0, "publisher to again/a failed: %s" % pa.stderr()[-300:])
                wait_for(lambda: srv.log().count('record "ap" of "again/a": closed') > i, 10,
                         "the append recording to close")
            check(srv.log().count('record "ap" of "again/a": appending to "again/ap-a.flv"') == 1,
                  "the second publish did not append")
            for f in ("again/un-a.flv", "again/un-a-1.flv"):
                check(parse_framemd5(_packets(os.path.join(srv.dir, f)))["video"] ==
                      src4.packets["video"], "%s is not the clip" % f)
            # a recording plays back over RTMP from a play directory
            r = subprocess.run(FFMPEG_QUIET + ["-i", url(srv, "vod/un-a.flv"), "-c", "copy",
                                               "-f", "framemd5", "-"],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            check(r.returncode == 0, "ffmpeg could not play vod/un-a.flv: %s" % r.stderr[-300:])
            check(parse_framemd5(r.stdout)["video"] == src4.packets["video"],
                  "the recording played over RTMP is not the clip")
            apfile = os.path.join(srv.dir, "again/ap-a.flv")
            text = _packets(apfile)
            check(parse_framemd5(text)["video"] == src4.packets["video"] * 2,
                  "the appended file is not the clip twice")
            dts = [int(l.split(",")[1]) for l in text.splitlines()
                   if l.startswith("0,")]
            check(all(a < b for a, b in zip(dts, dts[1:])), "appended timestamps go back")
            d = _probe(apfile)
            check(abs(d - 2 * _probe(clip4)) <= 0.5, "the appended file lasts %.2fs" % d)

            check(p20.wait(40) == 0, "publisher of 20 s failed: %s" % p20.stderr()[-300:])
            check(player.wait(15) == 0, "player failed: %s" % player.stderr()[-300:])
            check_complete("player of rec/s1", parse_framemd5(player.stdout()), src20)

            # the 20 s file: complete, the right length, seekable through its index
            path = os.path.join(srv.dir, "rec/rec", "s1-%s.flv" % time.strftime("%Y%m%d"))
            wait_for(lambda: 'record "all" of "rec/s1": closed' in srv.log(), 10,
                     "the recording to be closed")
            got = parse_framemd5(_packets(path))
            check(got["video"] == src20.packets["video"],
                  "recorded video: %d packets, source %d, or their hashes differ"
                  % (len(got["video"]), len(src20.packets["video"])))
            check(got["audio"] == src20.packets["audio"],
                  "recorded audio: %d packets, source %d, or their hashes differ"
                  % (len(got["audio"]), len(src20.packets["audio"])))
            d, want = _probe(path), _probe(clip20)
            check(abs(d - want) <= 0.5, "recorded duration %.3fs, published %.3fs" % (d, want))
            meta, keys = check_index(path)
            check(len(keys) == len(src20.key_index), "%d key frames indexed, source has %d"
                  % (len(keys), len(src20.key_index)))
            check(abs(meta["duration"] - want) <= 0.5, "onMetaData duration %r" % meta["duration"])
            # the key frame at 10 s (10.023 in this clip): where -ss lands, by the index
            k10 = min((ts for _, ts in keys), key=lambda t: abs(t - 10000))
            seek = parse_framemd5(_packets(path, ["-ss", "10"], ["-copyts"]))
            first = seek["video"][0]
            check(first in src20.keys, "after -ss the first video packet is not a key frame")
            idx = src20.packets["video"].index(first)
            check(abs(idx * 40 - (k10 - 23)) <= 40,
                  "after -ss %.2f the first video packet is source packet %d" % (k10 / 1000, idx))
            contiguous("video after -ss", seek["video"], src20.packets["video"])

            # key frames only; a file that stops at max_size
            kf = parse_framemd5(_packets(os.path.join(srv.dir, "kf/s1.flv")))
            check(kf["video"] == [src20.packets["video"][i] for i in src20.key_index] and
                  not kf["audio"], "the keyframes recording holds %d video, %d audio packets"
                  % (len(kf["video"]), len(kf["audio"])))
            small = os.path.join(srv.dir, "small/s1.flv")
            check('record "small" of "rec/s1": closed "small/s1.flv" (max_size)' in srv.log() and
                  80000 < os.path.getsize(small) <= 100 * 1024,
                  "max_size: %d bytes" % os.path.getsize(small))
            sp = parse_framemd5(_packets(small))
            check(sp["video"] == src20.packets["video"][:len(sp["video"])] and
                  sp["audio"] == src20.packets["audio"][:len(sp["audio"])],
                  "the file cut at max_size is not the start of the source")
            check_index(small)

            # the manual recorder ran for the publish that asked, only for it
            mfile = os.path.join(srv.dir, "manual/m1.flv")
            wait_for(lambda: os.path.exists(mfile) and 'closed "manual/m1.flv"' in srv.log(), 15,
                     "the manual recording of m1")
            check(parse_framemd5(_packets(mfile))["video"] == source(clip4).packets["video"],
                  "the manual recording differs from its source")
            check(not os.path.exists(os.path.join(srv.dir, "manual/s1.flv")),
                  "the manual recorder recorded a publish that did not ask")

            # on_record_done, with the fields
            done = wait_for(lambda: [f for f in svc.find("record_done", "s1")
                                     if f.get("recorder") == "all"], 10, "on_record_done")[0]
            check(done["app"] == "rec" and done["path"].endswith("rec/rec/s1-%s.flv"
                                                                 % time.strftime("%Y%m%d")),
                  "on_record_done fields: %r" % done)
            check(abs(float(done["duration"]) - want) <= 0.5 and
                  int(done["size"]) == os.path.getsize(path) and done["reason"] == "unpublish",
                  "on_record_done duration/size/reason: %r" % done)
            failed = [f for f in svc.find("record_done", "s1") if f.get("recorder") == "ro"]
            check(failed and failed[0]["reason"].startswith("error:"),
                  "no on_record_done for the recorder that could not open: %r" % failed)

            # interval: 30 s in files of 10 s that concatenate to the source exactly
            check(p30.wait(20) == 0, "publisher of 30 s failed: %s" % p30.stderr()[-300:])
            wait_for(lambda: len(re.findall(r'record "iv" of "split/s2": closed', srv.log())) >= 3,
                     10, "the interval recordings to close")
            files = _record_lines(srv, "iv", "split/s2")
            check(len(files) == 3, "interval of 10s made %d files of 30s: %r" % (len(files), files))
            video, audio = [], []
            for f in files:
                full = os.path.join(srv.dir, f)
                p = parse_framemd5(_packets(full))
                check(p["video"] and p["video"][0] in src30.keys,
                      "%s does not start with a key frame" % f)
                check_index(full)
                video += p["video"]
                audio += p["audio"]
            check(video == src30.packets["video"],
                  "the split files hold %d video packets, the source %d (lost, repeated or "
                  "reordered)" % (len(video), len(src30.packets["video"])))
            check(audio == src30.packets["audio"],
                  "the split files hold %d audio packets, the source %d"
                  % (len(audio), len(src30.packets["audio"])))
            check(srv.sanitizer_report() is None, srv.sanitizer_report() or "")
    finally:
        for p in procs:
            p.stop()
        svc.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_record_killed():
    """kill -9 mid-recording: the file reads with ffprobe up to its last whole tag."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(20)
    src = source(clip)
    apps = {"live": 'live = true; record = { name = "all"; path = "rec/$name.flv"; '
                    'flush = "200ms"; };'}
    with live_server(apps) as srv:
        srv.start()
        pub = ffmpeg_publisher(srv, clip, "live/k", "pub")
        try:
            path = os.path.join(srv.dir, "rec/k.flv")
            wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 200000, 15,
                     "the recording to grow")
            for pid in srv.worker_pids():
                os.kill(pid, signal.SIGKILL)
            os.kill(srv.pid, signal.SIGKILL)
            srv.proc.wait(5)
        finally:
            pub.stop()
        size = os.path.getsize(path)
        tags, meta = flv_tags(path)
        check(meta is not None and len(tags) > 50, "%d whole tags in the killed file" % len(tags))
        d = _probe(path)
        got = parse_framemd5(_packets(path))
        check(len(got["video"]) > 25, "only %d video packets read" % len(got["video"]))
        check(got["video"] == src.packets["video"][:len(got["video"])],
              "the killed file's video is not the source's from its start")
        check(got["audio"] == src.packets["audio"][:len(got["audio"])],
              "the killed file's audio is not the source's from its start")
        # the index written while recording covers the key frames already on disk
        check_index(path, final=False)
        check(d >= (len(got["video"]) - 1) * 0.04 - 0.1,
              "ffprobe says %.2fs for %d video frames (%d bytes)" % (d, len(got["video"]), size))


def _publish_typed(port, name, ptype, frames):
    """Publishes `frames` (video bodies after their 5-byte header) with the publish type
    `ptype`, as FMS-era clients do, then closes."""
    import rtmp_client as rc
    from live_helpers import _connected, status_code
    from test_notify import AVC_HEADER
    c = _connected(port, "m")
    try:
        sid = c.create_stream()
        c.command("publish", 0, None, name, ptype, msid=sid, csid=8)
        m, _ = c.read_until(lambda x: x.is_command("onStatus") and x.msid == sid, 5.0,
                            "onStatus for publish")
        check(status_code(m) == "NetStream.Publish.Start", "publish %s: %r" % (ptype, m))
        c.send_message(rc.MSG_VIDEO, bytes([0x17, 0, 0, 0, 0]) + AVC_HEADER, msid=sid, csid=6,
                       timestamp=1000)
        for i, body in enumerate(frames):
            head = bytes([0x17 if i % 5 == 0 else 0x27, 1, 0, 0, 0])
            c.send_message(rc.MSG_VIDEO, head + body, msid=sid, csid=6, timestamp=1000 + 40 * i)
        c.command("deleteStream", 0, None, float(sid), csid=3)
        time.sleep(0.3)
    finally:
        c.close()


def test_record_publish_type():
    """Manual recorders follow the publish type as FMS does: "record" records, "append"
    continues the file, "live" records nothing."""
    apps = {"m": 'live = true; record = ( { name = "man"; what = "manual"; path = "m/$name.flv"; }, '
                 '{ name = "three"; path = "m/three-$name.flv"; max_frames = 3; }, '
                 '{ name = "dur"; path = "m/dur-$name.flv"; max_duration = "150ms"; } );'}
    frames = [bytes([0, 0, 0, 4, 0x65 if i % 5 == 0 else 0x41, i, i, i]) for i in range(12)]
    with live_server(apps) as srv:
        srv.start()
        path = os.path.join(srv.dir, "m/t.flv")
        _publish_typed(srv.port, "t", "live", frames)
        time.sleep(0.3)
        check(not os.path.exists(path), "a live publish was recorded by a manual recorder")
        # the limits per file, at any frame: frames (the sequence header is not one), and
        # duration (frames at 0, 40, 80 and 120 ms)
        for rec, want in (("three", 3), ("dur", 4)):
            srv.wait_log('record "%s" of "m/t": closed "m/%s-t.flv" (max_%s)'
                         % (rec, rec, "frames" if rec == "three" else "duration"), 5)
            tags, _ = flv_tags(os.path.join(srv.dir, "m/%s-t.flv" % rec))
            got = [body[5:] for _, t, _, body in tags if t == 9 and body[1] == 1]
            check(got == frames[:want], "%s: %d frames recorded" % (rec, len(got)))
        # a second "record" replaces the file, "append" continues it
        for k, (ptype, n) in enumerate((("record", 1), ("record", 1), ("append", 2))):
            _publish_typed(srv.port, "t", ptype, frames)
            wait_for(lambda: srv.log().count('record "man" of "m/t": closed') > k, 5,
                     "the recording to close")
            tags, meta = flv_tags(path)
            video = [(ts, body) for _, t, ts, body in tags if t == 9 and body[1] == 1]
            check([b[5:] for _, b in video] == frames * n,
                  "after publish type %s the file holds %d frames" % (ptype, len(video)))
            ts = [t for t, _ in video]
            check(ts[:12] == [40 * i for i in range(12)],
                  "timestamps do not start at 0 in steps of 40: %r" % ts[:12])
            check(all(a < b for a, b in zip(ts, ts[1:])), "timestamps go back: %r" % ts)
        check(meta["duration"] > 0.9, "appending left the duration at %r" % meta["duration"])


def test_exec_record_done():
    """exec_record_done runs once per closed file with the file's path, recorder, size and
    reason as arguments of its own (no shell)."""
    # a recorder whose file cannot be made runs nothing: there is no file to act on
    apps = {"m": 'live = true; record = ( { name = "three"; path = "m/$name.flv"; max_frames = 3; '
                 '}, { name = "nowhere"; path = "/proc/nope/$name.flv"; } ); '
                 'exec_record_done = [ "cp", "$path", "done-$recorder-$size-$reason.flv" ];'}
    frames = [bytes([0, 0, 0, 4, 0x65 if i % 5 == 0 else 0x41, i, i, i]) for i in range(12)]
    with live_server(apps) as srv:
        srv.start()
        _publish_typed(srv.port, "t", "live", frames)
        srv.wait_log('record "three" of "m/t": closed "m/t.flv" (max_frames)', 5)
        size = os.path.getsize(os.path.join(srv.dir, "m/t.flv"))
        copy = os.path.join(srv.dir, "done-three-%d-max_frames.flv" % size)
        wait_for(lambda: os.path.exists(copy) and os.path.getsize(copy) == size, 5,
                 "exec_record_done to copy the file to %s" % os.path.basename(copy))
        tags, _ = flv_tags(copy)
        got = [body[5:] for _, t, _, body in tags if t == 9 and body[1] == 1]
        check(got == frames[:3], "the copied recording holds %d frames" % len(got))
        srv.wait_log("exec_record_done", 5)
        srv.wait_log('record "nowhere" of "m/t": opening "/proc/nope/t.flv" failed', 5)
        time.sleep(0.5)
        started = srv.log().count('exec_record_done "m/t": started')
        check(started == 1, "exec_record_done ran %d times, for one file" % started)
