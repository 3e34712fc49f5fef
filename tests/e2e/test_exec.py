"""exec: commands run by the worker that owns a stream. exec_push transcodes a published stream
to a 360p variant published back into the server, is stopped with SIGTERM (SIGKILL for one
that ignores it) when the stream ends and restarted when it dies meanwhile; exec_pull starts a
publisher when a player asks for a stream nobody publishes; stream names full of shell syntax
are single argv elements; no zombie is ever left."""

import os
import re
import signal
import subprocess
import time

import harness
from harness import check, media_clip, need_tools, pid_alive, wait_for
from live_helpers import FFMPEG_QUIET, PyPlayer, PyPublisher, ffmpeg_publisher, live_conf, url

STARTED = re.compile(r'(exec_\w+) "([^"]*)": started pid (\d+): (.*)$')


def _started(srv, what, label):
    """Pids of the commands the log says were started for `what` "label", in order."""
    out = []
    for line in srv.log().splitlines():
        m = STARTED.search(line)
        if m and m.group(1) == what and m.group(2) == label:
            out.append(int(m.group(3)))
    return out


def _stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])  # state, ppid, pgrp


def _zombies_of(parents):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[0] == "Z" and st[1] in parents:
                out.append(int(name))
    return out


def _group_members(pgrp):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[2] == pgrp and st[0] not in ("Z", "X"):
                out.append(int(name))
    return out


def _script(srv, name, text):
    """An executable file `name` in the server's directory."""
    path = os.path.join(srv.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def _check_gone(srv, pid, what):
    wait_for(lambda: not pid_alive(pid), 10, "%s (pid %d) to end" % (what, pid))
    workers = set(srv.worker_pids())
    wait_for(lambda: not _zombies_of(workers), 5, "no zombie children of the workers")
    check(not _group_members(pid), "%s left processes in its group" % what)


def test_exec_push_transcodes_to_360p():
    need_tools("ffmpeg", "ffprobe")
    clip = media_clip(16)
    port = harness.free_port()
    variant = "rtmp://127.0.0.1:%d/variants/${name}_360p" % port
    cmd = ("ffmpeg -nostdin -hide_banner -loglevel error -i rtmp://127.0.0.1:%d/live/$name "
           "-vf scale=-2:360 -c:v libx264 -preset ultrafast -tune zerolatency -g 25 -c:a copy "
           "-f flv %s" % (port, variant))
    apps = {"live": 'live = true; exec_push = "%s";' % cmd, "variants": "live = true;"}
    srv = harness.Server(workers=2, ports=[port], conf=live_conf(port, apps, 2))
    with srv:
        srv.start()
        pub = ffmpeg_publisher(srv, clip, "live/cam", "pub")
        pids = wait_for(lambda: _started(srv, "exec_push", "live/cam"), 10, "exec_push started")
        tpid = pids[0]
        check(_stat(tpid)[1] in srv.worker_pids(), "the transcoder is a child of a worker")
        srv.wait_log('publish "variants/cam_360p"', 20)
        # a player of the variant decodes pictures of the new size
        r = subprocess.run(FFMPEG_QUIET + ["-i", url(srv, "variants/cam_360p"), "-frames:v", "10",
                                           "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "variant player: %s" % r.stderr[-500:])
        check(len(r.stdout) == 10 * 480 * 360,
              "10 gray pictures of 480x360 are %d bytes, got %d" % (10 * 480 * 360,
                                                                    len(r.stdout)))
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                                "-show_entries", "stream=height", "-of", "csv=p=0",
                                url(srv, "variants/cam_360p")],
                               capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        check(probe.stdout.strip() == "360", "ffprobe says height %r" % probe.stdout.strip())
        # unpublishing ends the transcoder with SIGTERM, and it is reaped
        pub.stop()
        srv.wait_log('exec_push "live/cam": stopping pid %d with signal 15' % tpid, 10)
        _check_gone(srv, tpid, "the transcoder")
        srv.wait_log('exec_push "live/cam": pid %d ' % tpid, 5)
        check("pid %d still running" % tpid not in srv.log(), "ffmpeg needed SIGKILL")
        check(srv.sanitizer_report() is None, srv.sanitizer_report())


def test_exec_kill_restart_and_names():
    need_tools("ffmpeg")
    port = harness.free_port()
    apps = {
        # the test's own choice of a shell as the program: the server runs argv as given
        "trap": "live = true; exec_kill_timeout = \"1s\"; "
                "exec_push = ( [ \"/bin/sh\", \"-c\", \"trap '' TERM; sleep 100\" ] );",
        "restart": 'live = true; exec_push = "sleep 60";',
        "meta": 'live = true; exec_publish = ( "echo $name", [ "printf", "[%s]", "$args" ] ); '
                'exec_publish_done = "echo done $name"; '
                'exec_play = "echo play $name $addr"; exec_play_done = "echo stop $app";',
        "slow": 'live = true; exec_publish = "sleep 30"; exec_timeout = "500ms";',
    }
    srv = harness.Server(workers=1, ports=[port], conf=live_conf(port, apps, 1))
    with srv:
        srv.start()
        worker = srv.worker_pids()[0]

        # a command that ignores SIGTERM gets SIGKILL after exec_kill_timeout
        p = PyPublisher(srv.port, "trap", "t")
        check(p.status == "NetStream.Publish.Start", "trap publish: %s" % p.status)
        tpid = wait_for(lambda: _started(srv, "exec_push", "trap/t"), 5, "trap started")[0]
        wait_for(lambda: len(_group_members(tpid)) >= 1, 5, "the trap script running")
        time.sleep(0.3)  # the shell sets its trap
        p.c.close()
        srv.wait_log('exec_push "trap/t": stopping pid %d with signal 15' % tpid, 5)
        srv.wait_log("pid %d still running 1000ms after signal 15: SIGKILL" % tpid, 5)
        srv.wait_log("pid %d killed by signal 9" % tpid, 5)
        _check_gone(srv, tpid, "the TERM-ignoring script")

        # a supervised command killed behind the server's back is started again
        p = PyPublisher(srv.port, "restart", "r")
        first = wait_for(lambda: _started(srv, "exec_push", "restart/r"), 5, "sleep started")[0]
        os.kill(first, signal.SIGKILL)
        srv.wait_log('exec_push "restart/r": restarting "sleep" in 1000ms', 5)
        pids = wait_for(lambda: len(_started(srv, "exec_push", "restart/r")) >= 2 and
                        _started(srv, "exec_push", "restart/r"), 5, "sleep restarted")
        second = pids[1]
        check(second != first and pid_alive(second), "a new sleep runs")
        check(_stat(second)[1] == worker, "the new sleep is the worker's child")
        # no listening socket, client connection or log file leaks into a command (looked at
        # once its dynamic loader is done: while it maps libc, libc is an open descriptor)
        def fds_of(pid):
            fds = {int(n): os.readlink("/proc/%d/fd/%s" % (pid, n))
                   for n in os.listdir("/proc/%d/fd" % pid)}
            return fds if not any(".so" in t for t in fds.values()) else None
        fds = wait_for(lambda: fds_of(second), 3, "sleep to finish loading")
        check(sorted(fds) == [0, 1, 2] and fds[0] == "/dev/null" and
              fds[1].startswith("pipe:") and fds[1] == fds[2],
              "the command's descriptors: %r" % fds)
        p.c.close()
        _check_gone(srv, second, "the restarted sleep")
        check(len(_started(srv, "exec_push", "restart/r")) == 2, "no restart after the end")

        # shell syntax in a stream name is bytes in one argv element: nothing runs it
        owned = os.path.join(srv.dir, "owned")
        name = "x;touch${IFS}%s" % owned
        p = PyPublisher(srv.port, "meta", name + "?k=$(id)&key=s3cr3tkey")
        check(p.status == "NetStream.Publish.Start", "meta publish: %s" % p.status)
        srv.wait_log('exec_publish "meta/%s" [echo ' % name, 5)
        line = [l for l in srv.log().splitlines() if 'exec_publish "meta/%s" [echo ' % name in l]
        check(line[0].endswith("]: " + name), "echo printed the name verbatim: %s" % line[0])
        # the command's output has the stream key masked, as the log of its start does
        srv.wait_log("]: [k=$(id)&key=*********]", 5)
        srv.wait_log('"printf" "[%s]" "k=$(id)&key=***"', 5)
        check("s3cr3tkey" not in srv.log(), "the stream key reached the log")
        # a line longer than a log line goes out in pieces: a key across the cut is masked
        # in the piece it ends in ("[pad=x...&key=" puts it at bytes 396 to 404)
        p2 = PyPublisher(srv.port, "meta", "long?pad=%s&key=s3cr3tkey" % ("x" * 386))
        check(p2.status == "NetStream.Publish.Start", "long publish: %s" % p2.status)
        srv.wait_log("]: key=*********]", 5)
        check("s3cr" not in srv.log(), "a piece of the stream key reached the log: %s"
              % [l for l in srv.log().splitlines() if "s3cr" in l])
        p2.c.close()
        with PyPlayer(srv.port, "meta", name) as pl:
            pl.play()
            srv.wait_log("]: play %s 127.0.0.1" % name, 5)
        srv.wait_log("]: stop meta", 5)
        p.c.close()
        srv.wait_log("]: done " + name, 5)
        time.sleep(0.5)
        check(not os.path.exists(owned), "a stream name ran a command")
        wait_for(lambda: not _zombies_of({worker}), 5, "no zombie children of the worker")

        # a one-shot command is stopped after exec_timeout
        p = PyPublisher(srv.port, "slow", "s")
        s1 = wait_for(lambda: _started(srv, "exec_publish", "slow/s"), 5, "sleep started")[0]
        srv.wait_log('exec_publish "slow/s": pid %d ran past exec_timeout' % s1, 5)
        srv.wait_log("pid %d killed by signal 15" % s1, 5)
        p.c.close()

        # a reload leaves the commands of the streams old workers still serve running
        p = PyPublisher(srv.port, "restart", "r3")
        r3 = wait_for(lambda: _started(srv, "exec_push", "restart/r3"), 5, "sleep started")[0]
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded", 10)
        wait_for(lambda: any(w != worker for w in srv.worker_pids()), 10, "a new worker")
        time.sleep(1.0)
        check(pid_alive(r3) and _stat(r3)[1] == worker, "the command runs on in the old worker")
        p.c.close()
        srv.wait_log('exec_push "restart/r3": stopping pid %d' % r3, 5)
        srv.wait_log("pid %d killed by signal 15" % r3, 5)  # reaped by the old worker
        wait_for(lambda: not pid_alive(worker), 10, "the old worker to exit")
        check(not _group_members(r3), "the command left processes behind")

        # a worker told to stop takes its commands with it, the stubborn one by SIGKILL
        p1 = PyPublisher(srv.port, "trap", "t2")
        p2 = PyPublisher(srv.port, "restart", "r2")
        t2 = wait_for(lambda: _started(srv, "exec_push", "trap/t2"), 5, "trap started")[0]
        r2 = wait_for(lambda: _started(srv, "exec_push", "restart/r2"), 5, "sleep started")[0]
        time.sleep(0.3)
        srv.signal(signal.SIGTERM)
        srv.wait_exit(10)
        for pid in (t2, r2):
            wait_for(lambda: not pid_alive(pid) and not _group_members(pid), 5,
                     "command %d gone with its worker" % pid)
        srv.wait_log("pid %d still running 1000ms after signal 15: SIGKILL" % t2, 2)
        srv.wait_log("pid %d killed by signal 9" % t2, 2)
        p1.c.close()
        p2.c.close()
        check(srv.sanitizer_report() is None, srv.sanitizer_report())


def test_exec_pull_on_demand():
    need_tools("ffmpeg")
    clip = media_clip(4)
    port = harness.free_port()
    cmd = ("ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i %s -c copy "
           "-f flv rtmp://127.0.0.1:%d/pull/$name" % (clip, port))
    apps = {"pull": 'live = true; exec_pull = "%s"; exec_pull_idle = "1s";' % cmd}
    srv = harness.Server(workers=2, ports=[port], conf=live_conf(port, apps, 2))
    with srv:
        srv.start()
        r = subprocess.run(FFMPEG_QUIET + ["-i", url(srv, "pull/feed"), "-frames:v", "50",
                                           "-c", "copy", "-f", "framemd5", "-"],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "player: %s" % r.stderr[-500:])
        video = [l for l in r.stdout.splitlines() if l.startswith("0,")]
        check(len(video) >= 50, "the player got %d video packets" % len(video))
        pids = _started(srv, "exec_pull", "pull/feed")
        check(len(pids) == 1, "one exec_pull started: %r" % pids)
        srv.wait_log('exec_pull "pull/feed": no players for 1000ms, stopping', 10)
        _check_gone(srv, pids[0], "the pull's ffmpeg")
        check(srv.sanitizer_report() is None, srv.sanitizer_report())


def test_exec_pull_leaves_streams_to_pull_origins():
    """With pull origins in the same application the origins fetch a stream nobody publishes;
    exec_pull starts nothing (it would be a second publisher of the same name)."""
    port, dead = harness.free_port(), harness.free_port()
    apps = {"edge": 'live = true; pull = "rtmp://127.0.0.1:%d/live"; exec_pull = "sleep 30";'
                    % dead}
    srv = harness.Server(workers=1, ports=[port], conf=live_conf(port, apps, 1))
    with srv:
        srv.start()
        player = PyPlayer(srv.port, "edge", "cam")
        try:
            player.play()
            srv.wait_log('pull "edge/cam" started', 10)
            srv.wait_log('pull "edge/cam" from rtmp://127.0.0.1:%d/live failed' % dead, 10)
            check(_started(srv, "exec_pull", "edge/cam") == [],
                  "exec_pull started beside the pull: %r" % _started(srv, "exec_pull", "edge/cam"))
        finally:
            player.stop()


def test_done_hooks_finish_when_their_worker_leaves():
    """A _done hook started as a worker leaves (the stream ended after a reload, or during a
    graceful stop) runs to its end: it archives recordings or marks streams offline, and
    killing it at once lost that work."""
    port = harness.free_port()
    app = ('live = true; exec_publish_done = [ "{dir}/hook.sh", "{dir}/done-$name", "$name", '
           '"${args.wait}" ];')
    srv = harness.Server(workers=1, ports=[port], conf=live_conf(port, {"live": app}, 1))
    with srv:
        _script(srv, "hook.sh", '#!/bin/sh\nsleep "${3:-1}"\necho "$2" > "$1"\n')
        srv.start()

        def publish(name):
            p = PyPublisher(srv.port, "live", name)
            check(p.status == "NetStream.Publish.Start", "publish: %s" % p.status)
            return p

        def hook_ran(name):
            pid = wait_for(lambda: _started(srv, "exec_publish_done", "live/" + name), 5,
                           "the hook of %s started" % name)[0]
            srv.wait_log("pid %d exited with code 0" % pid, 1)
            with open(os.path.join(srv.dir, "done-" + name)) as f:
                check(f.read() == name + "\n", "the hook's file")

        # the stream ends on a worker a reload told to leave
        worker = srv.worker_pids()[0]
        p = publish("a")
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded", 10)
        p.close()
        wait_for(lambda: not pid_alive(worker), 10, "the old worker to exit")
        hook_ran("a")

        # the stream ends during a graceful stop
        p = publish("b")
        srv.signal(signal.SIGQUIT)
        time.sleep(0.3)
        p.close()
        check(srv.wait_exit(10) == 0, "graceful stop's exit code")
        hook_ran("b")

        # a fast stop (TERM) still gives a quick hook its moment
        srv.start()
        p = publish("c?wait=0.1")
        srv.signal(signal.SIGTERM)
        check(srv.wait_exit(10) == 0, "fast stop's exit code")
        p.close()
        hook_ran("c")


def test_a_command_that_cannot_start_says_why():
    port = harness.free_port()
    apps = {"live": 'live = true; exec_publish = ( [ "{dir}/nothere" ], [ "{dir}/bad.sh" ] );'}
    srv = harness.Server(workers=1, ports=[port], conf=live_conf(port, apps, 1))
    with srv:
        _script(srv, "bad.sh", "#!/nonexistent/interpreter\n")
        srv.start()
        with PyPublisher(srv.port, "live", "x") as p:
            check(p.status == "NetStream.Publish.Start", "publish: %s" % p.status)
            srv.wait_log('exec_publish "live/x": not started: "%s/nothere" (2: No such file '
                         'or directory)' % srv.dir, 5)
            srv.wait_log("]: execve() failed: No such file or directory (a script's "
                         "interpreter?)", 5)
