"""push: a stream published on server A is republished to B (another rtmp_server) and C
(nginx-rtmp); players on both get complete streams; C going away for a while costs B nothing
and the push to C comes back within the back-off."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from harness import (ClientProc, check, media_clip, need_tools, nginx_rtmp, start_nginx_rtmp,
                     skip, stop_process, unsent_bytes, wait_for)
from live_helpers import (FFMPEG_QUIET, check_complete, contiguous, ended, ffmpeg_player,
                          ffmpeg_publisher, heavy_clip, is_video_key, live_server,
                          parse_framemd5, publishers_of, PyPlayer, source, url, wait_players)


# wait_key: nginx-rtmp has no GOP cache, so a player there must start at a key frame;
# publish_notify: players hear UnpublishNotify (and ffmpeg ends) when the push stops
NGINX_LIVE = "live on; wait_key on; wait_video on; publish_notify on;"


def _nginx_player(port, stream, tmp, name):
    return ClientProc(FFMPEG_QUIET + ["-i", "rtmp://127.0.0.1:%d/%s" % (port, stream),
                                      "-c", "copy", "-f", "framemd5", "-"], tmp, name)


def _push_lines(log, what, target):
    return [l for l in log.splitlines() if what in l and target in l]


def test_push_to_rtmp_server_and_nginx():
    need_tools("ffmpeg", "ffprobe")
    nginx = nginx_rtmp()
    clip = media_clip(16)
    src = source(clip)
    tmp = tempfile.mkdtemp(prefix="rtmp_push_e2e_")
    c_port = harness.free_port()
    nginx_proc = None
    try:
        with live_server({"live": "live = true;"}) as b:
            b.start()
            target_b = "rtmp://127.0.0.1:%d/live" % b.port
            target_c = "rtmp://127.0.0.1:%d/live/${name}?key=${args.key}" % c_port
            apps = {"live": 'live = true; push = ( "%s", "%s" );' % (target_b, target_c)}
            with live_server(apps, workers=2) as a:
                a.start()
                nginx_proc = start_nginx_rtmp(nginx, tmp, c_port, live=NGINX_LIVE, level="info",
                                              connections=256)
                pb = ffmpeg_player(b, "live/s", "player_b")
                wait_players(b, "live/s", 1)
                pc1 = _nginx_player(c_port, "live/s", tmp, "player_c1")
                time.sleep(0.3)  # nginx-rtmp logs no play line to wait for
                pub = ffmpeg_publisher(a, clip, "live/s?key=secret", "pub")

                short_c = "rtmp://127.0.0.1:%d/live/" % c_port
                wait_for(lambda: len(_push_lines(a.log(), "publish started", target_b)) >= 1
                         and len(_push_lines(a.log(), "publish started", short_c)) >= 1,
                         5, "both pushes publishing")
                time.sleep(3.0)
                stop_process(nginx_proc)  # C goes away for ~5 s
                stopped = time.monotonic()
                pc1.wait(5)
                wait_for(lambda: _push_lines(a.log(), "failed", short_c), 5,
                         "a warning about the push to C")
                time.sleep(max(0.0, 5.0 - (time.monotonic() - stopped)))
                nginx_proc = start_nginx_rtmp(nginx, tmp, c_port, live=NGINX_LIVE, level="info",
                                              connections=256)
                restarted = time.monotonic()
                pc2 = _nginx_player(c_port, "live/s", tmp, "player_c2")
                # back-off 1 s, 2 s, 4 s (+ up to 25 %): the attempt after ~7 s gets through
                wait_for(lambda: len(_push_lines(a.log(), "publish started", short_c)) >= 2,
                         8, "the push to C resuming")
                resumed = time.monotonic() - restarted
                check(resumed < 6.0, "the push to C resumed %.1fs after C came back" % resumed)

                code = pub.wait(25)
                check(code == 0, "the publisher exited with %d: %s" % (code, pub.stderr()[-500:]))
                for p in (pb, pc2):
                    code = p.wait(10)
                    check(code == 0, "%s exited with %d: %s" % (p.name, code, p.stderr()[-500:]))

                # B: no gap although C went away meanwhile
                check_complete("player on B", parse_framemd5(pb.stdout()), src)
                # C before it was stopped: a run from a key frame; after: to the end
                got1 = parse_framemd5(pc1.stdout())
                v = contiguous("player on C before the stop video", got1["video"],
                               src.packets["video"], to_end=False)
                check(src.packets["video"][v] in src.keys,
                      "player on C started at a video packet that is not a key frame")
                check_complete("player on C after the restart", parse_framemd5(pc2.stdout()), src)

                log = a.log()
                check(len(_push_lines(log, "publish started", target_b)) == 1,
                      "the push to B started more than once (one worker pushes, once): %s"
                      % _push_lines(log, "publish started", target_b))
                check(not _push_lines(log, "failed", target_b),
                      "the push to B failed: %s" % _push_lines(log, "failed", target_b))
                warn = _push_lines(log, "failed", short_c)
                check(warn and all("[warn]" in l and "retry in" in l for l in warn),
                      "the push to C's failures are not warnings with a retry: %s" % warn)
                wait_for(lambda: len(_push_lines(a.log(), "stopped", "rtmp://")) >= 2, 5,
                         "both pushes stopped when the publisher left")
                check("secret" not in a.log(), "a stream key reached the log")
                # pushes are relays: the stat page and the log count them apart from players
                pubs = ended(a, "publish")
                check(pubs and all(e[3].endswith(", 0 players") for e in pubs.values()),
                      "'publish ended' counted the pushes as players: %s" % pubs)
                ends = [l for l in a.log().splitlines() if " ended \"live/" in l and
                        ", server: rtmp://" in l]
                check(len(ends) >= 2 and all('push ended "live/' in l for l in ends),
                      "the pushes' ends are logged as: %s" % ends)
    finally:
        stop_process(nginx_proc)
        shutil.rmtree(tmp, ignore_errors=True)


test_push_to_rtmp_server_and_nginx.TIME_LIMIT = 40


def test_push_to_a_stalled_target_falls_behind_in_our_queue():
    """A push target that stops reading: the kernel holds little of the push's output
    (TCP_NOTSENT_LOWAT), so the rest waits in the server's queue, where the lag rules see it
    and skip to the next key frame, and the push goes on once the target reads again."""
    need_tools("ffmpeg")
    clip = heavy_clip(20)
    with live_server({"live": "live = true;"}) as t:
        t.start()
        # skipping from 1 s behind: the stall shows within it
        with live_server({"live": 'live = true; push = "rtmp://127.0.0.1:%d/live"; '
                                  'player_max_lag = "2s";' % t.port}) as e:
            e.start()
            pub = ffmpeg_publisher(e, clip, "live/st", "pub")
            try:
                ports = wait_for(lambda: publishers_of(t, "live/st"), 10, "the push on T")
                (push_port,) = ports
                (worker,) = e.worker_pids()
                time.sleep(1.0)
                stopped = t.worker_pids()
                for w in stopped:
                    os.kill(w, signal.SIGSTOP)
                try:
                    most = 0
                    deadline = time.monotonic() + 4.0
                    while time.monotonic() < deadline:
                        most = max(most, unsent_bytes(worker, push_port, t.port))
                        time.sleep(0.05)
                    behind = _push_lines(e.log(), 'push "live/st" falls behind',
                                         ", server: rtmp://127.0.0.1:%d/live" % t.port)
                finally:
                    for w in stopped:
                        os.kill(w, signal.SIGCONT)
                check(most <= 256 * 1024,
                      "the kernel held %d bytes of the push's output unsent" % most)
                check(behind, "the push never fell behind in the server's queue")
                # reading again: the push goes on over the same connection, with media
                with PyPlayer(t.port, "live", "st") as p:
                    p.play().wait(lambda ms: sum(1 for m in ms if is_video_key(m)) >= 2, 10,
                                  "two key frames pushed after the stall")
                check(publishers_of(t, "live/st") == ports and pub.running(),
                      "the push did not go on after the stall: %s" % publishers_of(t, "live/st"))
                check(not _push_lines(e.log(), "failed", ""),
                      "the push failed: %s" % _push_lines(e.log(), "failed", ""))
            finally:
                pub.stop()


test_push_to_a_stalled_target_falls_behind_in_our_queue.TIME_LIMIT = 40


class ServfailDns:
    """A DNS server on 127.0.0.1:53 that answers every query SERVFAIL (glibc: EAI_AGAIN, a
    temporary failure), for processes whose /etc/resolv.conf names it (with_resolver)."""

    def __init__(self, dir):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.queries = 0
        self.resolv = os.path.join(dir, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                q, peer = self.sock.recvfrom(512)
            except (socket.timeout, OSError):
                continue
            if len(q) < 12:
                continue
            self.queries += 1
            # the query's id and question back, QR set, RCODE 2 (server failure)
            self.sock.sendto(q[:2] + bytes([0x81, 0x82]) + q[4:6] + bytes(6) + q[12:], peer)

    def with_resolver(self):
        """A wrapper: the command runs in a mount namespace whose /etc/resolv.conf is ours."""
        return ["unshare", "-m", "sh", "-c",
                'mount --bind "$0" /etc/resolv.conf && exec "$@"', self.resolv]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_push_to_a_host_dns_does_not_answer_keeps_the_server_up():
    """A push target whose name DNS cannot look up for now (SERVFAIL: the DNS server is
    down) is a warning, not a refused configuration: the server starts and serves, and the
    push says why it does not connect."""
    need_tools("ffmpeg", "unshare", "mount")
    if os.geteuid() != 0:
        skip("needs root for a mount namespace")
    host = "rtmp-e2e-nodns.invalid"
    with live_server({"live": 'live = true; push = "rtmp://%s/live";' % host}) as e:
        try:
            dns = ServfailDns(e.dir)
        except OSError as err:
            skip("127.0.0.1:53 is taken: %s" % err)
        try:
            r = subprocess.run(dns.with_resolver() + [harness.SERVER, "-t", "-c", e.conf],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            said = 'host "%s" did not resolve (Temporary failure in name resolution)' % host
            check(r.returncode == 0 and "[warn]" in r.stderr and said in r.stderr,
                  "-t with DNS failing: %d %s" % (r.returncode, r.stderr))
            check(dns.queries > 0, "the name was never asked of the DNS server")
            e.start(wrap=dns.with_resolver())
            e.wait_log(said)
            clip = media_clip(4)
            pub = ffmpeg_publisher(e, clip, "live/d", "pub")
            with ffmpeg_player(e, "live/d", "player") as player:
                check(player.wait(20) == 0, "the player: %s" % player.stderr()[-500:])
            pub.wait(20)
            e.wait_log('push "live/d" to rtmp://%s/live failed: host "%s" did not resolve when '
                       'the configuration was read' % (host, host))
        finally:
            dns.close()


def test_push_resolves_a_host_name_when_read():
    """A host name is looked up when the configuration is read. Only with this machine's
    name in /etc/hosts as 127.0.0.1: nothing may ask a DNS server."""
    name = socket.gethostname()
    with open("/etc/hosts") as f:
        local = any(l.split()[:1] == ["127.0.0.1"] and name in l.split()[1:]
                    for l in f if not l.startswith("#"))
    if not local or name == "localhost":
        harness.skip("%s is not in /etc/hosts as 127.0.0.1" % name)
    need_tools("ffmpeg")
    clip = media_clip(4)
    with live_server({"live": "live = true;"}) as b:
        b.start()
        apps = {"live": 'live = true; push = "rtmp://%s:%d/live";' % (name, b.port)}
        with live_server(apps) as a:
            a.start()
            pub = ffmpeg_publisher(a, clip, "live/s", "pub")
            b.wait_log('publish "live/s"', 10)
            check('tcUrl="rtmp://%s:%d/live"' % (name, b.port) in b.log(),
                  "the push's tcUrl does not name the host as written")
            pub.wait(15)


def test_push_refuses_bad_urls():
    tmp = tempfile.mkdtemp(prefix="rtmp_push_conf_")
    try:
        for bad, why in (("rtmp://[::zz]/live", "an IPv6 address in the brackets"),
                         ("rtmp://127.0.0.1:1936", "the application is missing"),
                         ("rtmp://127.0.0.1/live/${nope}", "${name}, ${app} or ${args.KEY}"),
                         ("http://127.0.0.1/live", "an rtmp:// or rtmps:// URL")):
            conf = os.path.join(tmp, "rtmp.conf")
            with open(conf, "w") as f:
                f.write('rtmp = { server = ( { listen = [ "127.0.0.1:1935" ]; application = '
                        '( { name = "live"; live = true; push = ( "%s" ); } ); } ); };\n' % bad)
            r = harness.run_server_cmd(["-t", "-c", conf])
            out = r.stdout + r.stderr
            check(r.returncode != 0 and why in out and "rtmp.conf:1" in out,
                  "-t with push %s: exit %d, %s" % (bad, r.returncode, out[-400:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
