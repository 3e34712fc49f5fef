"""Live streaming across workers (worker_processes = 2): a stream published in one worker plays
complete from both, and a HUP reload during a live stream loses nothing, while a player that
connects after the reload (served by a new worker) plays the stream too.

These need cross-worker play (the registry in the master and the pull between workers); until
that lands they fail: players on the worker without the publisher wait for a stream that never
reaches them. The single-worker acceptance is test_live.py."""

import signal
import time

import rtmp_client as rc
from harness import check, media_clip, need_tools, wait_for
from live_helpers import (PyPlayer, PyPublisher, check_players, ffmpeg_player, ffmpeg_publisher,
                          is_video_header, live_server, players_of, publishers_of, rtmpdump_player,
                          source)
from test_notify import AVC_HEADER, AuthService

LIVE = {"live": "live = true;"}


def _wait_exit(p, timeout, what):
    code = p.wait(timeout)
    check(code == 0, "%s exited with %d: %s" % (what, code, p.stderr()[-800:]))


def test_players_on_both_workers():
    need_tools("ffmpeg", "ffprobe", "rtmpdump")
    clip = media_clip(8)
    src = source(clip)
    stream = "live/w"
    # no limit on connections per worker: the players spread because workers balance
    with live_server(LIVE, workers=2) as srv:
        srv.start()
        # some players wait before the publisher comes, the others join a running stream
        early = [ffmpeg_player(srv, stream, "ffe%d" % i) for i in range(4)]
        early += [rtmpdump_player(srv, stream, "dumpe%d" % i) for i in range(8)]
        wait_for(lambda: len(players_of(srv, stream)) >= len(early), 15, "the early players")
        pub = ffmpeg_publisher(srv, clip, stream, "pub")
        wait_for(lambda: publishers_of(srv, stream), 5, "the publisher")
        time.sleep(1.0)
        late = [ffmpeg_player(srv, stream, "ffl%d" % i) for i in range(4)]
        late += [rtmpdump_player(srv, stream, "dumpl%d" % i) for i in range(8)]
        players = early + late
        wait_for(lambda: len(players_of(srv, stream)) >= len(players), 15, "all players")
        pub_worker = list(publishers_of(srv, stream).values())[0]
        served = set(players_of(srv, stream).values())
        check(len(served) == 2, "players were served by %s only; expected both workers"
              % sorted(served))
        others = [p for p, w in players_of(srv, stream).items() if w != pub_worker]
        check(others, "no player on the worker without the publisher (%s)" % pub_worker)

        _wait_exit(pub, 15, "the publisher")
        for p in players:
            _wait_exit(p, 8, p.name)
        check_players(players, src)
        # the other worker's copy ends as a copy, not as a second publisher
        srv.wait_log('copy from another worker ended "%s"' % stream, 5)
        ends = [l for l in srv.log().splitlines() if 'publish ended "%s"' % stream in l]
        check(len(ends) == 1, "publish ended lines: %s" % ends)


test_players_on_both_workers.TIME_LIMIT = 60


def test_reload_during_live_stream():
    need_tools("ffmpeg", "ffprobe", "rtmpdump")
    clip = media_clip(10)
    src = source(clip)
    stream = "live/r"
    with live_server(LIVE, workers=2) as srv:
        srv.start()
        old = srv.worker_pids()
        pub = ffmpeg_publisher(srv, clip, stream, "pub")
        wait_for(lambda: publishers_of(srv, stream), 5, "the publisher")
        before = [ffmpeg_player(srv, stream, "ffb%d" % i) for i in range(3)]
        before += [rtmpdump_player(srv, stream, "dumpb%d" % i) for i in range(3)]
        wait_for(lambda: len(players_of(srv, stream)) >= len(before), 10, "the first players")
        time.sleep(2.0)

        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded", 5.0)
        fresh = wait_for(lambda: [p for p in srv.worker_pids() if p not in old]
                         if len([p for p in srv.worker_pids() if p not in old]) == 2 else None,
                         5.0, "2 new workers after HUP")
        time.sleep(1.0)
        after = [ffmpeg_player(srv, stream, "ffa0"), rtmpdump_player(srv, stream, "dumpa0")]
        wait_for(lambda: len(players_of(srv, stream)) >= len(before) + len(after), 10,
                 "the players that came after the reload")
        new_ports = [p for p, w in players_of(srv, stream).items()
                     if int(w.split("#")[0]) in fresh]
        check(len(new_ports) == len(after), "players after the reload served by new workers: "
              "%d of %d (%s, new workers %s)" % (len(new_ports), len(after),
                                                 players_of(srv, stream), fresh))

        _wait_exit(pub, 15, "the publisher (it must not notice the reload)")
        for p in before + after:
            _wait_exit(p, 8, p.name)
        check_players(before + after, src)
        check(srv.proc.poll() is None, "the master exited")


test_reload_during_live_stream.TIME_LIMIT = 60


def test_players_on_both_workers_stay_across_a_publisher_restart():
    """Players that stay while the publisher leaves and comes back, in either worker, hear
    UnpublishNotify, then PublishNotify, and their timestamps go on from where they were. The
    publisher may come back in the other worker. Before, the players of the worker without
    the new publisher got no PublishNotify and jumped forward by the whole first run."""
    need_tools("ffmpeg")
    clip = media_clip(4)
    stream = "live/back"
    with live_server(LIVE, workers=2) as srv:
        srv.start()
        pub = ffmpeg_publisher(srv, clip, stream, "pub0")
        wait_for(lambda: publishers_of(srv, stream), 5, "the first publisher")
        players = []
        try:
            for _ in range(6):
                players.append(PyPlayer(srv.port, "live", "back").play())
                time.sleep(0.1)
            wait_for(lambda: len(players_of(srv, stream)) >= len(players), 10, "the players")
            served = set(players_of(srv, stream).values())
            check(len(served) == 2, "players on %s only" % served)
            _wait_exit(pub, 15, "the first publisher")
            for pl in players:
                pl.wait_status("NetStream.Play.UnpublishNotify", 5)
            time.sleep(1.0)
            pub = ffmpeg_publisher(srv, clip, stream, "pub1")
            _wait_exit(pub, 15, "the second publisher")
            for pl in players:
                pl.wait(lambda ms: pl.statuses().count("NetStream.Play.UnpublishNotify") >= 2,
                        5, "the second UnpublishNotify")
            where = players_of(srv, stream)
            for pl in players:
                codes = [c for c in pl.statuses() if c.endswith("ublishNotify")]
                check(codes == ["NetStream.Play.UnpublishNotify", "NetStream.Play.PublishNotify",
                                "NetStream.Play.UnpublishNotify"],
                      "player on worker %s heard %s" % (where.get(pl.port), codes))
                ts = [m.timestamp for m in pl.media() if m.type == rc.MSG_VIDEO]
                steps = [b - a for a, b in zip(ts, ts[1:])]
                check(steps and min(steps) >= 0 and max(steps) <= 1000,
                      "player on worker %s: video timestamps stepped from %d to %d ms"
                      % (where.get(pl.port), min(steps), max(steps)))
        finally:
            for pl in players:
                pl.stop()


test_players_on_both_workers_stay_across_a_publisher_restart.TIME_LIMIT = 60


def test_late_players_on_both_workers_get_the_streams_timestamps():
    """A player that joins a stream running for a while starts at the stream's own time on
    either worker. Before, the worker that pulled the stream from the publisher's took the
    sequence headers, handed over at their time 0 before a key frame far later, for the start
    of its timeline and the key frame for a discontinuity: its players started at 1 ms while
    the publisher's worker's started at the stream's time."""
    with live_server(LIVE, workers=2) as srv:
        srv.start()
        players = []
        with PyPublisher(srv.port, "live", "late") as pub:
            pub.video(0, AVC_HEADER, header=True)
            # 12 s of stream, sent faster than real time; a key frame each second
            for ts in range(0, 12000, 40):
                pub.video(ts, b"frame" + bytes(200), key=ts % 1000 == 0)
            try:
                for _ in range(6):
                    players.append(PyPlayer(srv.port, "live", "late").play())
                    time.sleep(0.1)
                wait_for(lambda: len(players_of(srv, "live/late")) >= len(players), 10,
                         "the players")
                check(len(set(players_of(srv, "live/late").values())) == 2,
                      "players on one worker only")
                for ts in range(12000, 12400, 40):
                    pub.video(ts, b"frame" + bytes(200), key=ts % 1000 == 0)
                where = players_of(srv, "live/late")
                for pl in players:
                    pl.wait(lambda ms: sum(1 for m in ms if m.type == rc.MSG_VIDEO and
                                           m.timestamp >= 12360) >= 1 or
                            any(m.type == rc.MSG_VIDEO and 0 < m.timestamp < 11000 for m in ms),
                            5, "the last frame")
                    ts = [m.timestamp for m in pl.media() if m.type == rc.MSG_VIDEO and
                          not is_video_header(m)]
                    check(ts[0] == 11000 and ts[-1] == 12360,
                          "player on worker %s got video from %d to %d ms; the stream's GOP "
                          "starts at 11000" % (where.get(pl.port), ts[0], ts[-1]))
                    # the sequence header comes at the time the player starts at, as from
                    # nginx-rtmp, not at the stream's start: recorders would see time jump
                    heads = [m.timestamp for m in pl.media() if is_video_header(m)]
                    check(heads == [11000], "player on worker %s got the sequence header at "
                          "%s ms, not at its first frame's 11000" % (where.get(pl.port), heads))
            finally:
                for pl in players:
                    pl.stop()


def test_takeover_across_workers():
    """publisher_takeover with two workers: a publisher that lands in the worker without the
    stream takes it over from the other one, whose publisher is disconnected; on_publish is
    asked once for it, and players in both workers go on with the new publisher's frames.
    Before, it was refused as busy ("already publishing in worker N") whenever the two
    publishers landed in different workers."""
    svc = AuthService()
    app = 'live = true; publisher_takeover = true; on_publish = "%s";' % svc.url("/ok")
    players, pubs = [], []
    try:
        with live_server({"take": app}, workers=2) as srv:
            srv.start()
            for _ in range(8):
                players.append(PyPlayer(srv.port, "take", "s").play())
                time.sleep(0.1)
            wait_for(lambda: len(players_of(srv, "take/s")) >= len(players), 10, "the players")
            check(len(set(players_of(srv, "take/s").values())) == 2, "players on one worker")

            def publish():
                p = PyPublisher(srv.port, "take", "s")
                pubs.append(p)
                check(p.status == "NetStream.Publish.Start", "publisher %d of a taken name got "
                      "%s: %s" % (len(pubs), p.status, srv.log()[-1500:]))
                return wait_for(lambda: publishers_of(srv, "take/s").get(p.port), 5,
                                "the publish line of publisher %d" % len(pubs))

            where = [publish()]
            while where[-1] == where[0] and len(pubs) < 12:
                where.append(publish())
            check(where[-1] != where[0], "12 publishers landed in one worker")
            check(pubs[-2].c.wait_closed(5), "the publisher in worker %s was not disconnected"
                  % where[-2])
            srv.wait_log('publish "take/s" taken over by a publisher in worker')

            new = pubs[-1]
            new.video(0, AVC_HEADER, header=True)
            new.video(40, b"takenover", key=True)
            for pl in players:
                pl.wait(lambda ms: any(m.type == rc.MSG_VIDEO and b"takenover" in m.payload
                                       for m in ms), 5, "the new publisher's key frame")
            check(len(svc.find("publish")) == len(pubs), "on_publish asked %d times for %d "
                  "publishes" % (len(svc.find("publish")), len(pubs)))

            # then one in the publisher's own worker: players in the other worker go on
            # too (they waited for good when its copy ended after the new publish began)
            where.append(publish())
            while where[-1] != where[-2] and len(pubs) < 24:
                where.append(publish())
            check(where[-1] == where[-2], "no takeover within one worker")
            pubs[-1].video(80, AVC_HEADER, header=True)
            pubs[-1].video(120, b"samewkr", key=True)
            for pl in players:
                pl.wait(lambda ms: any(m.type == rc.MSG_VIDEO and b"samewkr" in m.payload
                                       for m in ms), 5,
                        "the key frame after a takeover in worker %s" % where[-1])
    finally:
        for c in players + pubs:
            c.close() if isinstance(c, PyPublisher) else c.stop()
        svc.close()
