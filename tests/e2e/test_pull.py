"""pull: players on an edge E get streams published on an origin O (another rtmp_server, or
nginx-rtmp), with fail-over past a dead origin, one origin connection for all of E's workers,
release after the idle time, and StreamNotFound for a pull that never comes when
idle_streams is off. A pulled stream publishes on E as an encoder would: E records it, cuts
HLS from it, pushes it on and runs exec_publish for it (access rules on publishers do not
apply), and ends the playlist and the recording when the pull ends or is released."""

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import closing

import harness
import rtmp_client as rc
from harness import (check, media_clip, need_tools, nginx_rtmp, start_nginx_rtmp, stop_process,
                     tcp_established_inodes, wait_for)
from live_helpers import (FFMPEG_QUIET, PyPlayer, PyPublisher, check_players, client_port,
                          contiguous,
                          ffmpeg_player, ffmpeg_publisher, live_server, parse_framemd5,
                          players_of, publishers_of, session_lines, source)
from test_hls import VIDEO_SRC_BSF, VIDEO_TS_BSF, _check_rules, _hashes, _read_playlist
from test_notify import AVC_HEADER, AuthService
from test_record import _packets


def _pull_lines(srv, what):
    return [l for l in srv.log().splitlines() if "pull \"" in l and what in l]


def _wait_exit(p, timeout, what):
    code = p.wait(timeout)
    check(code == 0, "%s exited with %d: %s" % (what, code, p.stderr()[-800:]))


def test_edge_pull_failover_two_workers():
    """E lists a dead origin first: the second serves; players on both of E's workers get the
    whole stream over one connection to O."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(10)
    src = source(clip)
    dead = harness.free_port()
    with live_server({"live": "live = true;"}) as o:
        o.start()
        origins = '"rtmp://127.0.0.1:%d/live", "rtmp://localhost:%d/live"' % (dead, o.port)
        # the worker holding the pull records and writes HLS; the other, which pulls from it,
        # does neither
        apps = {"live": 'live = true; pull = ( %s ); pull_idle_timeout = "2s"; '
                        'hls = true; hls_path = "{dir}/hls"; '
                        'record = { name = "all"; path = "rec/$name.flv"; unique = true; };'
                        % origins}
        # few connection slots per worker: Python players fill the first worker, so the
        # ffmpeg players after them land in the other one
        with live_server(apps, workers=2, main_extra="worker_connections = 16;\n") as e:
            e.start()
            first = ffmpeg_player(e, "live/s", "first")
            wait_for(lambda: _pull_lines(e, "connected, asking to play"), 10,
                     "E's pull connected")
            pub = ffmpeg_publisher(o, clip, "live/s", "pub")
            wait_for(lambda: publishers_of(o, "live/s"), 5, "the publisher on O")
            fillers = []
            try:
                for _ in range(14):
                    fillers.append(PyPlayer(e.port, "live", "s").play())
                late = [ffmpeg_player(e, "live/s", "late%d" % i) for i in range(3)]
                players = [first] + late
                wait_for(lambda: len(players_of(e, "live/s")) >= len(players) + len(fillers),
                         15, "E's players")
                served = players_of(e, "live/s")
                ff_workers = {served.get(client_port(p.pid, e.port)) for p in players}
                # one connection from E to O (and the publisher's), however many of E's
                # workers have players
                o_plays = players_of(o, "live/s")
                check(len(o_plays) == 1 and len(tcp_established_inodes(o.port)) == 2,
                      "O serves %d plays of live/s over %d connections; expected E's one "
                      "pull: %s" % (len(o_plays), len(tcp_established_inodes(o.port)), o_plays))
                # (once the stream ends, players that stay in both workers may each get a
                # pull that waits for it again)
                check(len(_pull_lines(e, "started (a player asked")) == 1,
                      "E started more than one pull: %s" % _pull_lines(e, "started ("))

                _wait_exit(pub, 20, "the publisher")
                for p in players:
                    _wait_exit(p, 10, p.name)
                check_players(players, src)
            finally:
                for f in fillers:
                    f.stop()
            check(len(set(served.values())) == 2 and len(ff_workers) == 2,
                  "E's ffmpeg players were served by %s, all players by %s: expected both "
                  "workers" % (sorted(ff_workers), sorted(set(served.values()))))
            dead_url = "rtmp://127.0.0.1:%d/live" % dead
            failed = _pull_lines(e, "from %s failed" % dead_url)
            check(failed and all("[warn]" in l and "Connection refused" in l for l in failed),
                  "no warning about the dead origin: %s" % failed)
            o_url = "rtmp://localhost:%d/live" % o.port
            check(_pull_lines(e, "from %s: playing" % o_url), "E never played from O")
            log = e.log()
            check(log.count('hls "live/s": writing') == 1 and
                  log.count('record "all" of "live/s": recording to') == 1,
                  "E's workers wrote HLS %d times and recorded %d times: expected once each"
                  % (log.count('hls "live/s": writing'),
                     log.count('record "all" of "live/s": recording to')))
            check(os.listdir(os.path.join(e.dir, "rec")) == ["s.flv"],
                  "E's recordings: %s" % os.listdir(os.path.join(e.dir, "rec")))
            check(_codecs(os.path.join(e.dir, "rec", "s.flv")) == ["aac", "h264"],
                  "E's recording does not read as H.264 + AAC")


test_edge_pull_failover_two_workers.TIME_LIMIT = 40


def _session_workers(srv):
    """{client port: "pid#slot"} of every session that logged a line."""
    return {port: w for _, w, _, port in session_lines(srv)}


class SlowOrigin:
    """A loopback TCP relay to 127.0.0.1:port that waits `delay` seconds before connecting
    each client on: an origin far away, whose pull takes that long to come up."""

    def __init__(self, port, delay):
        self.port = harness.free_port()
        self.target = port
        self.delay = delay
        self.accepted = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.socks = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                a, _ = self.lsock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            threading.Thread(target=self._serve, args=(a,), daemon=True).start()

    def _serve(self, a):
        time.sleep(self.delay)
        try:
            b = socket.create_connection(("127.0.0.1", self.target), 5)
        except OSError:
            a.close()
            return
        self.socks += [a, b]
        for x, y in ((a, b), (b, a)):
            threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(x, y):
        try:
            while True:
                data = x.recv(65536)
                if not data:
                    break
                y.sendall(data)
        except OSError:
            pass
        for z in (x, y):
            try:
                z.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.lsock.close()
        for x in self.socks:
            x.close()


def test_edge_players_in_the_other_worker_get_the_stream_back():
    """The worker holding an edge's pull loses its last player when the origin's publisher
    leaves (an ffmpeg-like player ends at the notice), and lets the pull go; a player that
    stays in the other worker, whose copy from the first ended, gets a pull of its own and
    the stream when the publisher comes back. Before, it waited for good."""
    with live_server({"live": "live = true;"}) as o:
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live"; '
                        'pull_idle_timeout = "5s";' % o.port}
        with live_server(apps, workers=2) as e:
            e.start()
            players = []
            pub = PyPublisher(o.port, "live", "s")
            try:
                pub.video(0, AVC_HEADER, header=True)
                for ts in range(0, 2000, 40):
                    pub.video(ts, b"first" + bytes(100), key=ts % 1000 == 0)
                quitter = PyPlayer(e.port, "live", "s").play()  # its worker pulls
                players.append(quitter)
                quitter.wait(lambda ms: any(m.type == rc.MSG_VIDEO for m in ms), 5, "media")
                pull_worker = wait_for(lambda: players_of(e, "live/s").get(quitter.port), 5,
                                       "the first play line")
                stayer = None
                for _ in range(20):  # a player in the other worker
                    p = PyPlayer(e.port, "live", "s").play()
                    players.append(p)
                    if wait_for(lambda: players_of(e, "live/s").get(p.port), 5,
                                "a play line") != pull_worker:
                        stayer = p
                        break
                    p.stop()
                check(stayer is not None, "no player landed in the other worker")
                stayer.wait(lambda ms: any(m.type == rc.MSG_VIDEO for m in ms), 5, "media")
                for p in players:
                    if p is not stayer:
                        p.stop()

                pub.close()
                e.wait_log('pull "live/s" released: no players left', 5)
                pub = PyPublisher(o.port, "live", "s")
                pub.video(0, AVC_HEADER, header=True)
                pub.video(40, b"back" + bytes(100), key=True)
                stayer.wait(lambda ms: any(m.type == rc.MSG_VIDEO and b"back" in m.payload
                                           for m in ms), 8, "the stream back")
            finally:
                pub.close()
                for p in players:
                    p.stop()


def test_edge_burst_on_both_workers_pulls_once():
    """Players on both of E's workers ask for a stream in the same instant: one worker pulls
    it from O, the other plays it from that worker, and O sees a single play."""
    need_tools("ffmpeg")
    clip = media_clip(10)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        pub = ffmpeg_publisher(o, clip, "live/b", "pub")
        wait_for(lambda: publishers_of(o, "live/b"), 5, "the publisher on O")
        slow = SlowOrigin(o.port, 0.3)
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live";' % slow.port}
        # few slots per worker: once one is full the next connections go to the other
        with live_server(apps, workers=2, main_extra="worker_connections = 16;\n") as e:
            e.start()
            players = []
            try:
                def workers_of_players():
                    seen = _session_workers(e)
                    return {pl.port: seen.get(pl.port) for pl in players}

                for _ in range(18):
                    players.append(PyPlayer(e.port, "live", "b"))
                    if len(set(workers_of_players().values()) - {None}) == 2:
                        break
                where = workers_of_players()
                by_worker = {}
                for pl in players:
                    by_worker.setdefault(where.get(pl.port), []).append(pl)
                # room on each worker for the pull and the other's internal connection
                for group in by_worker.values():
                    while len(group) > 3:
                        group.pop().stop()
                # alternating workers, so the first play of each goes out together
                groups = list(by_worker.values())
                playing = [pl for row in itertools.zip_longest(*groups) for pl in row if pl]
                check(len(by_worker) == 2 and all(len(g) >= 1 for g in by_worker.values()),
                      "players per worker: %s" % {w: len(g) for w, g in by_worker.items()})
                for pl in playing:
                    pl.play()
                wait_for(lambda: all(any(m.type == rc.MSG_VIDEO for _, m in pl.events)
                                     for pl in playing), 15, "video at every player")
                time.sleep(1.0)
                # a worker whose player came within the master's answer may start a pull
                # too, but gives it up before connecting
                connected = _pull_lines(e, "connected, asking to play")
                check(len(connected) == 1, "E connected %d pulls to O: %s"
                      % (len(connected), connected))
                o_plays = [l for l in o.log().splitlines() if 'play "live/b"' in l]
                check(len(o_plays) == 1 and slow.accepted == 1,
                      "O served %d plays of live/b over %d connections: %s"
                      % (len(o_plays), slow.accepted, o_plays))
                check(not _pull_lines(e, "failed"), "E's pull failed: %s"
                      % _pull_lines(e, "failed"))
            finally:
                for pl in players:
                    pl.stop()
                pub.stop()
                slow.close()


test_edge_burst_on_both_workers_pulls_once.TIME_LIMIT = 40


def test_edge_pull_passes_over_an_origin_that_never_answers():
    """An origin that takes the connection but never answers: the pull gives it up after
    pull_connect_timeout, not after handshake_timeout, and plays from the next origin."""
    need_tools("ffmpeg")
    clip = media_clip(10)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog, and nobody ever answers
    mute = silent.getsockname()[1]
    try:
        with live_server({"live": "live = true;"}) as o:
            o.start()
            pub = ffmpeg_publisher(o, clip, "live/m", "pub")
            wait_for(lambda: publishers_of(o, "live/m"), 5, "the publisher on O")
            apps = {"live": 'live = true; pull = ( "rtmp://127.0.0.1:%d/live", '
                            '"rtmp://127.0.0.1:%d/live" ); pull_connect_timeout = "1s";'
                            % (mute, o.port)}
            with live_server(apps, server_extra='handshake_timeout = "20s";\n') as e:
                e.start()
                asked = time.monotonic()
                with PyPlayer(e.port, "live", "m") as p:
                    p.play().wait(lambda ms: any(m.type == rc.MSG_VIDEO for m in ms), 10,
                                  "video through the second origin")
                    took = time.monotonic() - asked
                check(took < 5.0, "the first video came %.1fs after the play" % took)
                failed = _pull_lines(e, "from rtmp://127.0.0.1:%d/live failed" % mute)
                check(failed and "the origin did not answer play within 1000ms" in failed[0],
                      "the silent origin's failure: %s" % failed)
            pub.stop()
    finally:
        silent.close()


def test_edge_pull_goes_on_to_a_host_names_next_address():
    """O's host name resolves to two addresses, and nothing listens on the first: the pull
    goes on to the second within the same attempt, and says which address failed. Before,
    only the first address was ever tried. The name comes from a hosts file the server
    reads in a mount namespace of its own, so no DNS server is asked."""
    need_tools("ffmpeg", "ffprobe", "unshare", "mount")
    if os.geteuid() != 0:
        harness.skip("needs root for a mount namespace")
    clip = media_clip(6)
    src = source(clip)
    host = "rtmp-e2e-two-addresses.test"
    # O also listens on 127.0.0.5, on its port; 127.0.0.4 answers that port with a refusal
    with live_server({"live": "live = true;"}) as o:
        o.write_conf(open(o.conf).read().replace(
            '"127.0.0.1:%d"' % o.port, '"127.0.0.1:%d", "127.0.0.5:%d"' % (o.port, o.port)))
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://%s:%d/live";' % (host, o.port)}
        with live_server(apps) as e:
            hosts = os.path.join(e.dir, "hosts")
            with open(hosts, "w") as f:
                f.write("127.0.0.1 localhost\n127.0.0.4 %s\n127.0.0.5 %s\n" % (host, host))
            e.start(wrap=["unshare", "-m", "sh", "-c",
                          'mount --bind "$0" /etc/hosts && exec "$@"', hosts])
            pub = ffmpeg_publisher(o, clip, "live/m", "pub")
            wait_for(lambda: publishers_of(o, "live/m"), 5, "the publisher on O")
            player = ffmpeg_player(e, "live/m", "player")
            _wait_exit(pub, 20, "the publisher")
            _wait_exit(player, 10, "the player")
            check_players([player], src)
            tried = [l for l in e.log().splitlines() if "; trying 127.0.0.5:%d" % o.port in l]
            check(len(tried) == 1 and "Connection refused (127.0.0.4:%d)" % o.port in tried[0]
                  and "[warn]" in tried[0], "E's line about the first address: %s" % tried)
            check(len(_pull_lines(e, "connected, asking to play")) == 1,
                  "E's pull connected %d times" % len(_pull_lines(e, "connected, asking")))


test_edge_pull_goes_on_to_a_host_names_next_address.TIME_LIMIT = 40


def test_edge_players_outlive_the_worker_that_pulled_for_them():
    """The worker holding E's pull dies (SIGKILL) while the other worker's players watch
    through it: those players hear UnpublishNotify, and a pull of their own worker brings the
    stream back to them. Before, they waited for good while O still published."""
    need_tools("ffmpeg")
    clip = media_clip(20)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        pub = ffmpeg_publisher(o, clip, "live/k", "pub")
        wait_for(lambda: publishers_of(o, "live/k"), 5, "the publisher on O")
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live";' % o.port}
        with live_server(apps, workers=2) as e:
            e.start()
            players = []
            try:
                for _ in range(6):
                    players.append(PyPlayer(e.port, "live", "k").play())
                    time.sleep(0.1)
                wait_for(lambda: len(players_of(e, "live/k")) >= 6, 10, "E's players")
                where = players_of(e, "live/k")
                check(len(set(where.values())) == 2, "E's players on %s only" % where)
                line = wait_for(lambda: _pull_lines(e, ": playing ("), 10, "E's pull")[0]
                holder = int(line.split("]", 1)[1].split("#", 1)[0])
                survivors = [pl for pl in players if not where[pl.port].startswith("%d#" % holder)]
                for pl in players:
                    pl.wait(lambda ms: any(m.type == rc.MSG_VIDEO for m in ms), 10, "video")
                os.kill(holder, signal.SIGKILL)
                killed = time.monotonic()
                for pl in survivors:
                    pl.wait_status("NetStream.Play.UnpublishNotify", 5)
                    pl.wait(lambda ms: any(t > killed + 0.1 and m.type == rc.MSG_VIDEO
                                           for t, m in list(pl.events)), 10,
                            "video again after worker %d died" % holder)
                check(len(_pull_lines(e, "started (")) == 2,
                      "E's pulls: %s" % _pull_lines(e, "started ("))
            finally:
                for pl in players:
                    pl.stop()
        pub.stop()


test_edge_players_outlive_the_worker_that_pulled_for_them.TIME_LIMIT = 40


def test_edge_releases_idle_pull():
    """The last player leaves while O still publishes: after pull_idle_timeout, and not
    before, E closes its connection to O, with a FIN once it has read what O still sent, not
    with the reset that unread input makes (O saw "Connection reset by peer")."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(16)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live"; '
                        'pull_idle_timeout = "2s";' % o.port}
        with live_server(apps) as e:
            e.start()
            pub = ffmpeg_publisher(o, clip, "live/r", "pub")
            wait_for(lambda: publishers_of(o, "live/r"), 5, "the publisher on O")
            wait_for(lambda: len(tcp_established_inodes(o.port)) == 1, 5, "O's one connection")
            player = ffmpeg_player(e, "live/r", "player")
            wait_for(lambda: _pull_lines(e, ": playing ("), 10, "E's pull playing")
            check(len(tcp_established_inodes(o.port)) == 2, "O does not see E's pull")
            time.sleep(1.0)
            player.stop()
            left = time.monotonic()
            released = wait_for(lambda: _pull_lines(e, "released: no players for 2.0s"), 8,
                                "E releasing the pull")
            idle = time.monotonic() - left
            check(idle >= 1.8, "E released the pull %.1fs after the player left" % idle)
            wait_for(lambda: len(tcp_established_inodes(o.port)) == 1, 5,
                     "O's connection from E closing")
            check(pub.running(), "O's publisher ended too early")
            check(all("bytes received" in l for l in released), released)
            closed = [l for l in o.log().splitlines()
                      if "session closed" in l and "state handshake" not in l]
            check(len(closed) == 1 and "client closed the connection" in closed[0] and
                  "reset" not in o.log(), "O's end of the pull: %s" % closed)
            pub.stop()


test_edge_releases_idle_pull.TIME_LIMIT = 30


def test_static_pull_survives_origin_restarts():
    """pull_static: one of E's two workers pulls from the start, without players, past the
    idle time; when O's publisher leaves and a new one comes, the pull comes back and a
    player that stayed on E sees both runs whole with timestamps that never go back."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(4)
    src = source(clip)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live"; pull_static = "st"; '
                        'pull_idle_timeout = "1s";' % o.port}
        with live_server(apps, workers=2) as e:
            e.start()
            wait_for(lambda: len(players_of(o, "live/st")) == 1, 10, "E's static pull on O")
            time.sleep(2.0)  # past pull_idle_timeout: a static pull stays without players
            check(len(tcp_established_inodes(o.port)) == 1,
                  "O has %d connections; expected E's static pull alone"
                  % len(tcp_established_inodes(o.port)))
            check(len(_pull_lines(e, "started (static")) == 1,
                  "static pulls started: %s" % _pull_lines(e, "started ("))
            with PyPlayer(e.port, "live", "st") as py:
                py.play()
                py.wait_status("NetStream.Play.Start")
                for run in range(2):
                    wait_for(lambda: len(_pull_lines(e, ": playing (")) >= run + 1, 10,
                             "E's pull playing from O (run %d)" % run)
                    pub = ffmpeg_publisher(o, clip, "live/st", "pub%d" % run)
                    _wait_exit(pub, 15, "publisher %d" % run)
                    # the player got the whole run: the same number of packets each time;
                    # the audio after the last video frame comes in real time behind it
                    want = {k: (run + 1) * len(src.packets[k]) for k in ("video", "audio")}
                    py.wait(lambda ms: all(len(py.packets(ms)[k]) >= want[k] for k in want), 5,
                            "the media of run %d" % run)
                got = py.packets()
                check(got["video"] == src.packets["video"] * 2 and
                      got["audio"] == src.packets["audio"] * 2,
                      "the player on E did not get both runs whole: %d/%d video, %d/%d audio"
                      % (len(got["video"]), 2 * len(src.packets["video"]), len(got["audio"]),
                         2 * len(src.packets["audio"])))
                for kind in (rc.MSG_VIDEO, rc.MSG_AUDIO):
                    ts = [m.timestamp for m in py.media() if m.type == kind]
                    back = [(a, b) for a, b in zip(ts, ts[1:]) if b < a]
                    check(not back, "timestamps went back across the origin's restart: %s"
                          % back[:5])
            failed = _pull_lines(e, "failed: origin says NetStream.Play.UnpublishNotify")
            check(failed, "E did not log the origin's end of stream")
            # stopping E while its pull is connected is no failure of the pull: released,
            # not warned about and retried
            wait_for(lambda: len(_pull_lines(e, "connected, asking to play")) >= 3, 5,
                     "E's static pull connected again")
            before = len(_pull_lines(e, "failed"))
            e.stop()
            check(len(_pull_lines(e, "failed")) == before,
                  "stopping E logged its pull as failed: %s" % _pull_lines(e, "failed")[before:])
            check(_pull_lines(e, "released: the worker is shutting down"),
                  "E's pull was not released as the worker stopped")


test_static_pull_survives_origin_restarts.TIME_LIMIT = 30


def test_pull_from_nginx_and_not_found():
    """nginx-rtmp as the origin; and with idle_streams off, a player of a name no origin can
    give gets StreamNotFound once every origin failed."""
    need_tools("ffmpeg", "ffprobe")
    nginx = nginx_rtmp()
    clip = media_clip(8)
    src = source(clip)
    tmp = tempfile.mkdtemp(prefix="rtmp_pull_e2e_")
    n_port = harness.free_port()
    dead = harness.free_port()
    nginx_proc = None
    try:
        # publish_notify: players (our pull) hear UnpublishNotify when the publisher leaves
        nginx_proc = start_nginx_rtmp(nginx, tmp, n_port, live="live on; publish_notify on;",
                                      level="info")
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live/${name}";' % n_port,
                "gone": 'live = true; idle_streams = false; pull = "rtmp://127.0.0.1:%d/x";'
                        % dead}
        with live_server(apps) as e:
            e.start()
            player = ffmpeg_player(e, "live/n", "player")
            wait_for(lambda: _pull_lines(e, ": playing ("), 10, "E's pull from nginx playing")
            pub = harness.ClientProc(FFMPEG_QUIET + ["-re", "-i", clip, "-c", "copy", "-f",
                                                     "flv", "rtmp://127.0.0.1:%d/live/n"
                                                     % n_port], tmp, "pub")
            with PyPlayer(e.port, "gone", "nothing") as py:
                py.play()
                py.wait_status("NetStream.Play.StreamNotFound", 8)
                check("NetStream.Play.Start" not in py.statuses(),
                      "the player was told Play.Start first: %s" % py.statuses())
            # while the pull waits out its back-off, a player is not kept waiting at all
            with PyPlayer(e.port, "gone", "nothing") as py:
                t0 = time.monotonic()
                py.play()
                py.wait_status("NetStream.Play.StreamNotFound", 3)
                check(time.monotonic() - t0 < 0.9, "the second player waited %.1fs"
                      % (time.monotonic() - t0))
            _wait_exit(pub, 20, "the publisher")
            _wait_exit(player, 10, "the player")
            check_players([player], src)
    finally:
        stop_process(nginx_proc)
        shutil.rmtree(tmp, ignore_errors=True)


test_pull_from_nginx_and_not_found.TIME_LIMIT = 30


def test_pull_from_nginx_ends_at_its_stream_eof():
    """nginx-rtmp at its defaults tells a player its publisher left with User Control StreamEOF
    alone, and restarts the timestamps inside the same play when one comes back. E takes the
    StreamEOF as the end of the stream: its players hear UnpublishNotify, and the next
    publisher on nginx is a new publish on E, with timestamps that go on. Before, E's stream
    stayed published with no data, its players were told nothing, and their timestamps went
    back to 0 at the second run."""
    nginx = nginx_rtmp()
    clip = media_clip(4)
    src = source(clip)
    tmp = tempfile.mkdtemp(prefix="rtmp_pull_e2e_")
    n_port = harness.free_port()
    nginx_proc = None
    try:
        nginx_proc = start_nginx_rtmp(nginx, tmp, n_port, live="live on;", level="info")
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live";' % n_port}
        with live_server(apps) as e:
            e.start()
            with PyPlayer(e.port, "live", "eof") as py:
                py.play()
                for run in range(2):
                    wait_for(lambda: len(_pull_lines(e, ": playing (")) >= run + 1, 10,
                             "E's pull playing from nginx (run %d)" % run)
                    pub = harness.ClientProc(FFMPEG_QUIET + [
                        "-re", "-i", clip, "-c", "copy", "-f", "flv",
                        "rtmp://127.0.0.1:%d/live/eof" % n_port], tmp, "pub%d" % run)
                    _wait_exit(pub, 15, "publisher %d" % run)
                    py.wait_status("NetStream.Play.UnpublishNotify" if run == 0 else
                                   "NetStream.Play.PublishNotify", 5)
                    if run == 0:
                        wait_for(lambda: _pull_lines(e, "origin says StreamEOF"), 5,
                                 "E's pull ending at nginx's StreamEOF")
                py.wait(lambda ms: py.statuses().count("NetStream.Play.UnpublishNotify") >= 2,
                        5, "the second UnpublishNotify")
                got = py.packets()
                check(len(got["video"]) >= 2 * len(src.packets["video"]) * 0.95,
                      "the player on E got %d video frames of 2 x %d" % (
                          len(got["video"]), len(src.packets["video"])))
                ts = [m.timestamp for m in py.media() if m.type == rc.MSG_VIDEO]
                back = [(a, b) for a, b in zip(ts, ts[1:]) if b < a]
                check(not back, "timestamps went back across nginx's restart: %s" % back[:5])
    finally:
        stop_process(nginx_proc)
        shutil.rmtree(tmp, ignore_errors=True)


test_pull_from_nginx_ends_at_its_stream_eof.TIME_LIMIT = 40


def _codecs(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", path],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "ffprobe could not read %s: %s" % (path, r.stderr[-400:]))
    return sorted(st["codec_name"] for st in json.loads(r.stdout)["streams"])


def _check_hls(srv, app, name, src_clip):
    """E's playlist of app/name is ended, every segment reads with ffprobe and starts with a
    key frame, and its video is a run of the source's from the start."""
    d = os.path.join(srv.dir, "hls", app)
    playlist = os.path.join(d, name + ".m3u8")
    pl = _read_playlist(playlist)
    check(pl is not None and pl.ended and len(pl.segments) >= 2,
          "E's playlist: %r" % (pl.text if pl else None))
    _check_rules(d, pl)
    got = _hashes(playlist, "video", VIDEO_TS_BSF)
    contiguous("E's HLS video", got, _hashes(src_clip, "video", VIDEO_SRC_BSF), to_end=False,
               from_start=True)
    return got


def test_edge_pull_publish_chain():
    """A player on E starts the pull; the pulled stream is recorded (FLV read by ffprobe and
    ffmpeg, H.264 + AAC, the source's packets from the start), cut to HLS, pushed to another
    application of O, not pushed back to where it comes from, and runs exec_publish, though
    E denies every publisher by address, wants publish keys, and on_publish says no (it is
    only told). The player
    leaves: once pull_idle_timeout passed, the playlist ends and the recording closes, as when
    a publisher leaves, and on_publish_done and on_record_done are sent."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(14)
    src = source(clip)
    svc = AuthService()
    with closing(svc), live_server({"live": "live = true;", "copy": "live = true;"}) as o:
        o.start()
        back = "rtmp://127.0.0.1:%d/live" % o.port
        apps = {"live": 'live = true; pull = "%s"; pull_idle_timeout = "1s"; '
                        'access = ( "deny publish all" ); '
                        'publish_key_secret = "0123456789abcdef0123456789abcdef"; '
                        'hls = true; hls_path = "{dir}/hls"; hls_fragment = "2s"; '
                        'hls_playlist_length = "60s"; hls_endlist = true; '
                        'record = { name = "all"; path = "rec/$name.flv"; }; '
                        'push = ( "%s", "rtmp://127.0.0.1:%d/copy" ); '
                        'exec_publish = [ "/usr/bin/touch", "{dir}/published-$name" ]; '
                        'on_publish = "%s"; on_publish_done = "%s"; on_record_done = "%s"; '
                        'on_update = "%s"; notify_update_interval = "1s";'
                        % (back, back, o.port, svc.url("/deny"), svc.url("/done"),
                           svc.url("/rec"), svc.url("/upd"))}
        with live_server(apps) as e:
            e.start()
            player = ffmpeg_player(e, "live/p", "player")
            wait_for(lambda: _pull_lines(e, ": playing ("), 10, "E's pull playing")
            pub = ffmpeg_publisher(o, clip, "live/p", "pub")
            try:
                wait_for(lambda: publishers_of(o, "live/p"), 5, "the publisher on O")
                wait_for(lambda: publishers_of(o, "copy/p"), 10, "E's push to O's copy app")
                check(len(publishers_of(o, "live/p")) == 1,
                      "E pushed the stream back to O: %s" % publishers_of(o, "live/p"))
                check(e.log().count("the stream is pulled from there, not pushed") == 1,
                      "E did not skip the push back to its origin")
                wait_for(lambda: os.path.exists(os.path.join(e.dir, "published-p")), 5,
                         "exec_publish on E")
                check('denied by rule' not in e.log() and "refused" not in e.log(),
                      "E's access rules or keys refused the pull")
                told = svc.wait("publish", "p")
                check(told.get("app") == "live" and told.get("type") == "live",
                      "on_publish of the pull: %s" % told)
                rec = os.path.join(e.dir, "rec", "p.flv")
                playlist = os.path.join(e.dir, "hls", "live", "p.m3u8")
                wait_for(lambda: len(getattr(_read_playlist(playlist), "segments", [])) >= 2,
                         15, "two segments in E's playlist")
                check(not _read_playlist(playlist).ended, "E's playlist ended early")
                player.stop()
                wait_for(lambda: _pull_lines(e, "released: no players for 1.0s"), 8,
                         "E releasing the pull")
                e.wait_log('hls "live/p" stopped', 5)
                e.wait_log('record "all" of "live/p": closed', 5)
                check(pub.running(), "O's publisher ended before E released its pull")
                wait_for(lambda: not publishers_of(o, "copy/p") or
                         'publish ended "copy/p"' in o.log(), 10, "E's push ending")
                svc.wait("publish_done", "p")
                rec_done = svc.wait("record_done", "p")
                check(rec_done.get("path", "").endswith("rec/p.flv"),
                      "on_record_done: %s" % rec_done)
                # the player's on_update comes every second, the pull's never
                check(svc.find("update", "p") and
                      not [f for f in svc.find("update", "p") if f.get("type") == "live"],
                      "on_update for the pull, or none for the player: %s" % svc.find("update"))
            finally:
                pub.stop()
            check(_codecs(rec) == ["aac", "h264"], "E's recording: %s" % _codecs(rec))
            got = parse_framemd5(_packets(rec))
            contiguous("E's recorded video", got["video"], src.packets["video"], to_end=False,
                       from_start=True)
            contiguous("E's recorded audio", got["audio"], src.packets["audio"], to_end=False,
                       from_start=True)
            hls = _check_hls(e, "live", "p", clip)
            check(len(got["video"]) >= len(hls) > 0, "%d video packets recorded, %d in HLS"
                  % (len(got["video"]), len(hls)))


test_edge_pull_publish_chain.TIME_LIMIT = 40


def test_static_pull_hls():
    """pull_static with hls: without any player, E cuts the whole pulled stream into HLS and
    ends the playlist when O's publisher leaves."""
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(6)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live"; pull_static = "h"; '
                        'hls = true; hls_path = "{dir}/hls"; hls_fragment = "2s"; '
                        'hls_playlist_length = "60s"; hls_endlist = true;' % o.port}
        with live_server(apps) as e:
            e.start()
            wait_for(lambda: _pull_lines(e, ": playing ("), 10, "E's static pull playing")
            pub = ffmpeg_publisher(o, clip, "live/h", "pub")
            _wait_exit(pub, 20, "the publisher")
            wait_for(lambda: _pull_lines(e, "failed: origin says NetStream.Play.UnpublishNotify"),
                     5, "E's pull hearing the end of the stream")
            e.wait_log('hls "live/h" stopped', 5)
            got = _check_hls(e, "live", "h", clip)
            want = _hashes(clip, "video", VIDEO_SRC_BSF)
            check(len(got) == len(want), "%d video packets in E's HLS, %d in the source"
                  % (len(got), len(want)))


test_static_pull_hls.TIME_LIMIT = 30


def test_pull_conf_errors():
    tmp = tempfile.mkdtemp(prefix="rtmp_pull_conf_")
    try:
        for app, why in (('pull = "rtmp://[::zz]/live";', "an IPv6 address in the brackets"),
                         ('pull_static = "a";', "needs origins in \"pull\""),
                         ('pull = "rtmp://127.0.0.1/live"; pull_static = ( "a", "a?x=1" );',
                          "without the same name twice")):
            conf = tmp + "/rtmp.conf"
            with open(conf, "w") as f:
                f.write('rtmp = { server = ( { listen = [ "127.0.0.1:1935" ]; application = '
                        '( { name = "live"; live = true; %s } ); } ); };\n' % app)
            r = harness.run_server_cmd(["-t", "-c", conf])
            out = r.stdout + r.stderr
            check(r.returncode != 0 and why in out and "rtmp.conf:1" in out,
                  "-t with %s: exit %d, %s" % (app, r.returncode, out[-400:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_edge_pulls_count_in_max_streams():
    """A pulled stream is a published stream: players of an edge cannot open streams past
    max_streams, and an encoder finds the place a pull holds taken."""
    with live_server({"live": "live = true;"}) as o:
        o.start()
        apps = {"live": 'live = true; pull = "rtmp://127.0.0.1:%d/live";' % o.port}
        with live_server(apps, workers=1, main_extra="max_streams = 1;\n") as e:
            e.start()
            pubs = [PyPublisher(o.port, "live", n) for n in ("a", "b")]
            try:
                with PyPlayer(e.port, "live", "a") as pa:
                    pa.play()
                    wait_for(lambda: _pull_lines(e, 'pull "live/a" from ') and
                             _pull_lines(e, ": playing ("), 10, "the pull of a playing")
                    with PyPlayer(e.port, "live", "b") as pb:
                        pb.play()
                        e.wait_log('pull "live/b" from rtmp://127.0.0.1:%d/live failed: '
                                   'max_streams (1) reached here' % o.port, 10)
                    c = PyPublisher(e.port, "live", "c")
                    check(c.status == "NetStream.Publish.BadName",
                          "an encoder beside the pull answered %s" % c.status)
                    c.close()
            finally:
                for p in pubs:
                    p.close()
