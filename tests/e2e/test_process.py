"""Process tests: master and workers, respawn, reload, log reopen, graceful and fast stop,
the -t / -v / -h command line."""

import os
import re
import signal
import socket
import tempfile
import time

from harness import (REPO, SERVER, Server, check, children, connect, fail, pid_alive,
                     port_accepts, rtmp_handshake, run_server_cmd, socket_inodes,
                     tcp_established_inodes, wait_for, is_open)


# ---- helpers -----------------------------------------------------------------------------

def server_side_inode(sock, port):
    """Inode of the server's end of `sock` (ESTABLISHED, local port `port`, remote port the
    client's), or None."""
    cport = sock.getsockname()[1]
    # /proc/net/tcp can hold tens of thousands of lines (TIME_WAIT from other tests):
    # filter on the text of both ports before splitting
    lneedle = ":%04X " % port
    rneedle = ":%04X " % cport
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            if lneedle not in line or rneedle not in line:
                continue
            p = line.split()
            if len(p) < 10 or p[3] != "01":
                continue
            if int(p[1].rsplit(":", 1)[1], 16) == port and int(p[2].rsplit(":", 1)[1], 16) == cport:
                return int(p[9])
    return None


def owner_of(srv, sock, port, timeout=2.0):
    """The worker pid that accepted `sock` (waits until one has; fails if none does)."""
    def find():
        ino = server_side_inode(sock, port)
        if ino is None:
            return None
        for pid in srv.worker_pids():
            if ino in socket_inodes(pid):
                return pid
        return None
    return wait_for(find, timeout, "a worker to accept the connection on port %d" % port)


def accepted_by_worker(srv, port, timeout=2.0):
    """Opens a connection to port and returns (sock, worker pid that accepted it)."""
    s = connect(port)
    try:
        return s, owner_of(srv, s, port, timeout)
    except BaseException:
        s.close()
        raise


def conf_line(text, needle):
    """1-based line number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    fail("%r not in the config" % needle)


def base_conf(ports, workers=2, main_extra="", server_extra=""):
    from harness import conf_text
    return conf_text(ports, workers, "info", main_extra, server_extra)


# ---- master and workers ----------------------------------------------------------------------

def test_master_and_two_workers():
    with Server(workers=2).start() as srv:
        check(srv.pid_file() == srv.pid,
              "pid file holds %s, master is %d" % (srv.pid_file(), srv.pid))
        workers = srv.worker_pids()
        check(len(workers) == 2, "expected 2 workers, found %s" % workers)
        time.sleep(0.2)  # none of them dies right after start
        check(srv.worker_pids() == workers, "workers changed: %s -> %s" % (workers,
                                                                        srv.worker_pids()))
        srv.wait_log("started", 2.0)

        # a client is served by a worker, never by the master
        s, owner = accepted_by_worker(srv, srv.port)
        with s:
            check(owner in workers, "connection accepted by %d, not a worker" % owner)
            est = tcp_established_inodes(srv.port)
            held = socket_inodes(srv.pid) & est
            check(not held, "the master holds %d accepted client socket(s)" % len(held))


def test_kill_worker_respawns():
    with Server(workers=2).start() as srv:
        before = srv.worker_pids()
        victim = before[0]
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)

        def respawned():
            now = srv.worker_pids()
            return len(now) == 2 and victim not in now and now
        now = wait_for(respawned, 1.0, "a new worker to replace killed worker %d" % victim)
        took = time.monotonic() - t0
        new = set(now) - set(before)
        check(len(new) == 1, "expected one new worker, got %s -> %s" % (before, now))
        check(before[1] in now, "the surviving worker %d was replaced too" % before[1])
        srv.wait_log("worker %d exited on signal 9" % victim, 2.0)

        # still serving, and the new worker takes its share
        s, owner = accepted_by_worker(srv, srv.port)
        s.close()
        check(owner in now, "accepted by %d, not a current worker" % owner)
        print("  respawned in %.0f ms" % (took * 1000))


def test_kill_worker_repeatedly():
    """A worker killed again and again keeps being replaced (with back-off); the master
    stays up and the server keeps accepting."""
    with Server(workers=2).start() as srv:
        for _ in range(3):
            victim = srv.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: len(srv.worker_pids()) == 2 and victim not in srv.worker_pids(),
                     3.0, "worker %d to be replaced" % victim)
        check(srv.proc.poll() is None, "the master exited")
        s, _ = accepted_by_worker(srv, srv.port)
        s.close()


def _open_and_count(srv, n, gap):
    """Opens n RTMP connections, one after the other, each through its handshake; returns
    them with how many each worker pid accepted."""
    socks, owners = [], {}
    try:
        for _ in range(n):
            s = connect(srv.port)
            socks.append(s)
            rtmp_handshake(s)
            pid = owner_of(srv, s, srv.port)
            owners[pid] = owners.get(pid, 0) + 1
            time.sleep(gap)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks, owners


def test_connections_spread_over_workers():
    """Connections arriving at a quiet server go to both workers. The kernel wakes the same
    idle worker first every time, so without balancing one worker took them all and did the
    streaming work of every player alone. After a reload, the new workers share the next
    ones, and the old workers (no longer listening) take none."""
    with Server(workers=2).start() as srv:
        workers = srv.worker_pids()
        socks, owners = _open_and_count(srv, 40, 0.01)
        try:
            print("  40 connections over the workers: %s" % sorted(owners.values()))
            check(set(owners) <= set(workers), "accepted by %s, workers are %s"
                  % (sorted(owners), workers))
            check(len(owners) == 2 and min(owners.values()) >= 16,
                  "40 connections spread as %s over workers %s" % (owners, workers))

            srv.signal(signal.SIGHUP)
            srv.wait_log("reloaded", 3.0)
            fresh = wait_for(lambda: [p for p in srv.worker_pids() if p not in workers]
                             if len(srv.worker_pids()) == 4 else None, 3.0, "2 new workers")
            more, owners2 = _open_and_count(srv, 20, 0.01)
            socks += more
            print("  20 after the reload: %s" % sorted(owners2.values()))
            check(set(owners2) == set(fresh) and min(owners2.values()) >= 7,
                  "after the reload 20 connections went %s; new workers are %s"
                  % (owners2, fresh))
        finally:
            for s in socks:
                s.close()


# ---- reload ----------------------------------------------------------------------------------

def _reload_with_second_port(srv):
    """HUP with a valid change: a second listen port and a different chunk_size. Returns
    (new port, old workers, new workers)."""
    old = srv.worker_pids()
    port2 = srv.ports[0]
    from harness import free_port
    port2 = free_port()
    srv.write_conf(base_conf([srv.port, port2], server_extra="            chunk_size = 8192;\n"))
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded", 3.0)

    def new_generation():
        now = srv.worker_pids()
        fresh = [p for p in now if p not in old]
        return len(fresh) == 2 and fresh
    fresh = wait_for(new_generation, 3.0, "2 new workers after HUP")
    return port2, old, fresh


def test_reload_new_workers_old_connection_drains():
    with Server(workers=2).start() as srv:
        c, old_owner = accepted_by_worker(srv, srv.port)
        with c:
            port2, old, fresh = _reload_with_second_port(srv)
            check(old_owner in old, "owner %d not among old workers %s" % (old_owner, old))

            # the new port accepts, served by a new worker
            s2, owner2 = accepted_by_worker(srv, port2)
            s2.close()
            check(owner2 in fresh, "new port served by %d, not a new worker %s" % (owner2, fresh))
            # the old port now goes to the new generation too
            s1, owner1 = accepted_by_worker(srv, srv.port)
            s1.close()
            check(owner1 in fresh, "old port served by %d after reload, not a new worker %s"
                  % (owner1, fresh))

            # the idle old worker goes; the one holding our client stays while it is open
            idle_old = [p for p in old if p != old_owner]
            wait_for(lambda: not any(pid_alive(p) for p in idle_old), 3.0,
                     "the old worker without clients (%s) to exit" % idle_old)
            time.sleep(0.5)
            check(pid_alive(old_owner), "old worker %d exited while its client was connected"
                  % old_owner)
            check(is_open(c), "the pre-reload connection was closed by the reload")
        # client closed: the old worker finishes
        wait_for(lambda: not pid_alive(old_owner), 3.0,
                 "old worker %d to exit after its last client closed" % old_owner)
        check(srv.proc.poll() is None, "the master exited")
        check(len(srv.worker_pids()) == 2, "expected 2 workers, found %s" % srv.worker_pids())


def test_reload_bounds_draining_workers_by_the_new_shutdown_timeout():
    """The shutdown_timeout a reload sets bounds every worker left draining: those the reload
    replaces and those an earlier reload left draining without a bound. Before, each kept its
    own configuration's value, so after a reload from 0 they, and a QUIT, waited for clients
    that might never leave."""
    with Server(workers=2) as srv:
        text = open(srv.conf).read()
        check('shutdown_timeout = "30s"' in text, "the harness config changed")
        unbounded = text.replace('shutdown_timeout = "30s"', "shutdown_timeout = 0")
        srv.write_conf(unbounded)
        srv.start()
        c1, first = accepted_by_worker(srv, srv.port)
        with c1:
            srv.write_conf(unbounded + "# again\n")
            srv.signal(signal.SIGHUP)
            srv.wait_log("reloaded", 5.0)
            time.sleep(1.5)
            check(pid_alive(first), "worker %d with a client left with shutdown_timeout 0"
                  % first)
            c2, second = accepted_by_worker(srv, srv.port)
            with c2:
                check(second != first, "a new client went to the draining worker")
                srv.write_conf(text.replace('shutdown_timeout = "30s"', 'shutdown_timeout = "1s"'))
                srv.signal(signal.SIGHUP)
                wait_for(lambda: srv.log().count("reloaded") == 2, 5.0, "the second reload")
                for pid in (first, second):
                    wait_for(lambda: not pid_alive(pid), 4.0, "draining worker %d to go within "
                             "the new shutdown_timeout of 1s" % pid)
        check(srv.proc.poll() is None, "the master exited")


def test_reload_old_connection_still_served():
    """A TCP connection opened before HUP completes the RTMP handshake after it."""
    with Server(workers=2).start() as srv:
        c, old_owner = accepted_by_worker(srv, srv.port)
        with c:
            port2, old, fresh = _reload_with_second_port(srv)
            check(pid_alive(old_owner), "old worker %d exited with a client" % old_owner)
            rtmp_handshake(c)
            check(pid_alive(old_owner), "old worker %d exited with a client" % old_owner)
            # and a new connection on the new port completes it too
            with connect(port2) as s2:
                rtmp_handshake(s2)
        wait_for(lambda: not pid_alive(old_owner), 5.0,
                 "old worker %d to exit after its last client closed" % old_owner)


def test_reload_closes_dropped_port():
    """A port the new configuration drops refuses clients at once (no new worker inherits
    it), and a later reload can bind it again."""
    from harness import free_port
    port2 = free_port()
    with Server(workers=2, ports=None).start() as srv:
        srv.write_conf(base_conf([srv.port, port2]))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: srv.log().count("reloaded;") >= 1, 3.0, "the first reload")
        wait_for(lambda: port_accepts(port2), 3.0, "the added port to accept")

        before = srv.worker_pids()
        srv.write_conf(base_conf([srv.port]))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: srv.log().count("reloaded;") >= 2, 3.0, "the reload that drops it")
        wait_for(lambda: len([p for p in srv.worker_pids() if p not in before]) == 2, 3.0,
                 "new workers")
        wait_for(lambda: not port_accepts(port2), 3.0, "the dropped port to refuse clients")
        check(port_accepts(srv.port), "the kept port stopped accepting")

        srv.write_conf(base_conf([srv.port, port2]))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: srv.log().count("reloaded;") >= 3 or "reload failed" in srv.log(),
                 3.0, "the reload that adds it back")
        check("reload failed" not in srv.log(), "adding the port back failed: %s"
              % srv.log()[-400:])
        with connect(port2) as s:
            rtmp_handshake(s)


def test_reload_broken_config_keeps_running():
    with Server(workers=2).start() as srv:
        before = srv.worker_pids()
        text = base_conf([srv.port])
        # an unknown directive on a known line of an otherwise valid file
        lines = text.splitlines(True)
        at = conf_line(text, "listen =")  # inside the server block
        lines.insert(at, "            no_such_directive = 1;\n")
        broken = "".join(lines)
        bad_line = conf_line(broken, "no_such_directive")
        srv.write_conf(broken)
        srv.signal(signal.SIGHUP)
        want = "rtmp.conf:%d: unknown directive" % bad_line
        srv.wait_log(want, 3.0)
        srv.wait_log("reload failed", 2.0)
        time.sleep(0.3)
        check(srv.worker_pids() == before,
              "workers changed after a failed reload: %s -> %s" % (before, srv.worker_pids()))
        s, owner = accepted_by_worker(srv, srv.port)
        s.close()
        check(owner in before, "accepted by %d, not one of the original workers" % owner)

        # a type error and a syntax error are refused the same way
        srv.write_conf(base_conf([srv.port], server_extra='            chunk_size = "abc";\n'))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: srv.log().count("reload failed") >= 2, 3.0, "a second 'reload failed'")
        srv.write_conf(base_conf([srv.port]).replace('log_level = "info";', "log_level = ;"))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: srv.log().count("reload failed") >= 3, 3.0, "a third 'reload failed'")
        check(srv.worker_pids() == before, "workers changed after failed reloads")
        check(port_accepts(srv.port), "port no longer accepts")

        # and a valid file after that reloads normally
        srv.write_conf(base_conf([srv.port]))
        srv.signal(signal.SIGHUP)
        wait_for(lambda: len([p for p in srv.worker_pids() if p not in before]) == 2, 3.0,
                 "new workers after a valid HUP")


# ---- logs ------------------------------------------------------------------------------------

def _log_fds_point_to(pid, path):
    targets = []
    d = "/proc/%d/fd" % pid
    try:
        for n in os.listdir(d):
            try:
                targets.append(os.readlink(os.path.join(d, n)))
            except OSError:
                pass
    except OSError:
        return None
    logs = [t for t in targets if os.path.basename(t).startswith("error.log")]
    return logs and all(t == path for t in logs)


def test_usr1_reopens_log():
    with Server(workers=2).start() as srv:
        srv.wait_log("started", 2.0)
        rotated = srv.log_path + ".1"
        os.rename(srv.log_path, rotated)
        srv.signal(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(srv.log_path), 2.0, "a new error.log after USR1")
        # the old file ends with the signal, the new one begins with the reopen
        srv.wait_log("logs reopened", 2.0)
        with open(rotated) as f:
            check("reopening logs" in f.read(), "the moved file does not end with the USR1")
        # master and every worker write to the new file, none to the moved one
        for pid in [srv.pid] + srv.worker_pids():
            wait_for(lambda: _log_fds_point_to(pid, srv.log_path), 2.0,
                     "process %d to reopen error.log" % pid)

        # new lines land in the new file: from the master (a worker killed) ...
        victim = srv.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        srv.wait_log("worker %d exited on signal 9" % victim, 2.0)
        # ... and from workers (a reload makes the old ones log their shutdown)
        old = [p for p in srv.worker_pids() if p != victim]
        wait_for(lambda: len(srv.worker_pids()) == 2, 2.0, "the respawn")
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded", 3.0)
        srv.wait_log(" %d#" % old[0], 3.0)
        with open(rotated) as f:
            moved = f.read()
        check("exited on signal 9" not in moved, "a line after USR1 went to the moved file")

        # workers of a reloaded configuration hold no descriptor of the log they replaced,
        # which a rotation would otherwise keep open (and on disk) until the next reload
        wait_for(lambda: not (set(srv.worker_pids()) & set(old)), 5.0, "the old workers' exit")
        os.rename(srv.log_path, srv.log_path + ".2")
        srv.signal(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(srv.log_path), 2.0, "a new error.log after USR1")
        for pid in [srv.pid] + srv.worker_pids():
            wait_for(lambda: _log_fds_point_to(pid, srv.log_path), 2.0,
                     "process %d to hold the new error.log alone" % pid)


# ---- stopping --------------------------------------------------------------------------------

def test_quit_waits_for_clients():
    with Server(workers=2).start() as srv:
        c, owner = accepted_by_worker(srv, srv.port)
        with c:
            others = [p for p in srv.worker_pids() if p != owner]
            srv.signal(signal.SIGQUIT)
            srv.wait_log("shutting down gracefully", 2.0)
            wait_for(lambda: not any(pid_alive(p) for p in others), 3.0,
                     "the worker without clients to exit")
            time.sleep(0.5)
            check(srv.proc.poll() is None, "master exited (code %s) with a client connected"
                  % srv.proc.returncode)
            check(pid_alive(owner), "the worker with a client exited")
            check(os.path.exists(srv.pid_path), "pid file removed before the exit")
            check(not _accepted_anywhere(srv),
                  "a new connection was accepted during graceful shutdown")
            check(not port_accepts(srv.port),
                  "a new client could connect during graceful shutdown, to wait in a queue "
                  "nobody accepts")
        code = srv.wait_exit(5.0)
        check(code == 0, "master exit code %d, expected 0" % code)
        check(not os.path.exists(srv.pid_path), "pid file still exists after exit")
        check(not pid_alive(owner), "worker %d still alive after the master exited" % owner)


def _accepted_anywhere(srv):
    """Whether a fresh connection gets accepted by some worker within 0.5 s."""
    try:
        s = connect(srv.port, 0.5)
    except OSError:
        return False
    with s:
        deadline = time.monotonic() + 0.5
        for _ in range(25):
            ino = server_side_inode(s, srv.port)
            if ino and any(ino in socket_inodes(p) for p in children(srv.pid)):
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
    return False


def test_term_stops_promptly_with_clients():
    with Server(workers=2).start() as srv:
        socks = []
        try:
            for _ in range(4):
                s, _ = accepted_by_worker(srv, srv.port)
                socks.append(s)
            workers = srv.worker_pids()
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            code = srv.wait_exit(3.0)
            took = time.monotonic() - t0
            check(code == 0, "master exit code %d after TERM, expected 0" % code)
            wait_for(lambda: not any(pid_alive(p) for p in workers), 1.0, "workers to exit")
            check(not os.path.exists(srv.pid_path), "pid file still exists after TERM")
            print("  stopped in %.0f ms" % (took * 1000))
        finally:
            for s in socks:
                s.close()


# ---- command line ----------------------------------------------------------------------------

def test_t_accepts_sample_config():
    r = run_server_cmd(["-t", "-c", "conf/rtmp.conf"], cwd=REPO)
    check(r.returncode == 0, "-t on conf/rtmp.conf exited %d: %s" % (r.returncode,
                                                                      (r.stdout + r.stderr).strip()))
    check("successful" in r.stdout + r.stderr, "no success message: %r" % (r.stdout + r.stderr))


def _t(text, name="rtmp.conf", extra=None):
    d = tempfile.mkdtemp(prefix="rtmp_e2e_t_")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text.replace("{dir}", d))
    for n, t in (extra or {}).items():
        with open(os.path.join(d, n), "w") as f:
            f.write(t)
    try:
        r = run_server_cmd(["-t", "-c", path])
        r.created = sorted(set(os.listdir(d)) - {name} - set(extra or {}))
    finally:
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)
    return r, path


def test_t_reports_errors_with_file_and_line():
    good = base_conf([19350])
    r, _ = _t(good)
    check(r.returncode == 0, "-t on a valid generated config exited %d: %s"
          % (r.returncode, r.stderr.strip()))
    check(not r.created, "-t created %s" % r.created)

    def insert_after(text, needle, line):
        lines = text.splitlines(True)
        at = conf_line(text, needle)
        lines.insert(at, line)
        return "".join(lines)

    cases = [
        # (what, config text, file, line needle, words the message must contain)
        ("unknown directive", insert_after(good, "listen =", "            bogus_thing = 1;\n"),
         "rtmp.conf", "bogus_thing", ["unknown directive", "bogus_thing"]),
        ("unknown top-level directive", insert_after(good, "log_level", "bogus_top = 1;\n"),
         "rtmp.conf", "bogus_top", ["unknown directive"]),
        ("wrong type", insert_after(good, "listen =", '            chunk_size = "abc";\n'),
         "rtmp.conf", "chunk_size", ["chunk_size"]),
        ("out of range", insert_after(good, "listen =", "            chunk_size = 10;\n"),
         "rtmp.conf", "chunk_size", ["chunk_size", "between"]),
        ("wrong type (top level)", good.replace("worker_processes = 2", 'worker_processes = "x"'),
         "rtmp.conf", "worker_processes", ["worker_processes"]),
        ("bad log_level", good.replace('log_level = "info"', 'log_level = "loud"'),
         "rtmp.conf", "log_level", ["log_level"]),
        ("syntax error", good.replace('log_level = "info";', "log_level = ;"),
         "rtmp.conf", "log_level = ;", ["syntax error"]),
        ("syntax error (unbalanced)", good + "}\n", "rtmp.conf", None, ["syntax error"]),
        ("missing @include", insert_after(good, "listen =", '            @include "nope.conf"\n'),
         "rtmp.conf", "@include", ["include"]),
        ("listen at top level", insert_after(good, "log_level", 'listen = "1935";\n'),
         "rtmp.conf", 'listen = "1935"', ["listen", "not allowed"]),
        ("application directive at top level", insert_after(good, "log_level",
                                                            'name = "x";\n'),
         "rtmp.conf", 'name = "x"', ["name"]),
        ("bad listen", good.replace('"127.0.0.1:19350"', '"127.0.0.1:99999"'),
         "rtmp.conf", "listen =", ["listen"]),
        ("duplicate setting", insert_after(good, "log_level", 'log_level = "warn";\n'),
         "rtmp.conf", 'log_level = "warn"', ["duplicate setting name", '"log_level"']),
        # a start could bind only one of them
        ("wildcard and address on one port",
         good.replace('"127.0.0.1:19350"', '"127.0.0.1:19350", "*:19350"'), "rtmp.conf",
         "listen =", ["0.0.0.0:19350", "overlaps", "127.0.0.1:19350"]),
    ]
    failures = []
    for what, text, fname, needle, words in cases:
        r, path = _t(text)
        msg = (r.stdout + r.stderr).strip()
        if needle is None:
            # syntax error: libconfig reports the line where it noticed
            m = re.search(re.escape(fname) + r":(\d+):", msg)
            ok = m is not None
        else:
            ok = "%s:%d:" % (fname, conf_line(text, needle)) in msg
        ok = ok and all(w in msg for w in words) and r.returncode == 1
        if not ok:
            failures.append("%s: exit %d, %r" % (what, r.returncode, msg))

    # an error inside an @include'd file names that file and its line
    inc = 'chunk_size = 4096;\nbogus_in_include = 1;\n'
    text = insert_after(good, "listen =", '            @include "inc.conf"\n')
    r, path = _t(text, extra={"inc.conf": inc})
    msg = (r.stdout + r.stderr).strip()
    if not (r.returncode == 1 and "inc.conf:2:" in msg and "unknown directive" in msg):
        failures.append("@include with an error: exit %d, %r" % (r.returncode, msg))

    # a syntax error inside an include too
    r, path = _t(text, extra={"inc.conf": "chunk_size = 4096\n}}\n"})
    msg = (r.stdout + r.stderr).strip()
    if not (r.returncode == 1 and "inc.conf:" in msg):
        failures.append("@include with a syntax error: exit %d, %r" % (r.returncode, msg))

    # an error_log in a directory that does not exist says so
    r, path = _t(good.replace('error_log = "{dir}/error.log"', 'error_log = "{dir}/no/error.log"'))
    msg = (r.stdout + r.stderr).strip()
    if not (r.returncode == 1 and "its directory does not exist: create it first" in msg):
        failures.append("error_log without a directory: exit %d, %r" % (r.returncode, msg))

    # a log or pid file a start could not open: -t fails as the start would
    for setting, value, want in (("error_log", "{dir}", "cannot open error_log"),
                                 ("pid", "{dir}", "cannot write the pid file"),
                                 ("pid", "/proc/rtmp_e2e.pid", "cannot write the pid file")):
        old_line = '%s = "{dir}/%s";' % (setting, "error.log" if setting == "error_log"
                                          else "rtmp_server.pid")
        r, _ = _t(good.replace(old_line, '%s = "%s";' % (setting, value)))
        msg = (r.stdout + r.stderr).strip()
        if not (r.returncode == 1 and want in msg):
            failures.append("%s = %s: exit %d, %r" % (setting, value, r.returncode, msg))

    # a missing file
    r = run_server_cmd(["-t", "-c", "/nonexistent/rtmp_e2e.conf"])
    msg = (r.stdout + r.stderr).strip()
    if not (r.returncode == 1 and "/nonexistent/rtmp_e2e.conf" in msg):
        failures.append("missing file: exit %d, %r" % (r.returncode, msg))

    check(not failures, "%d case(s) wrong:\n    %s" % (len(failures), "\n    ".join(failures)))


def test_start_with_broken_config_fails():
    """Starting (not -t) on a broken file exits non-zero with file:line, leaving no pid file."""
    srv = Server(workers=2)
    with srv:
        srv.write_conf(base_conf([srv.port], server_extra="            chunk_size = 10;\n"))
        srv.start(wait=False)
        code = srv.wait_exit(5.0)
        check(code != 0, "started on a broken config (exit %d)" % code)
        out = srv.output() + srv.log()
        with open(srv.conf) as f:
            line = conf_line(f.read(), "chunk_size")
        check("rtmp.conf:%d:" % line in out,
              "no file:line in %r" % out.strip())
        check(not os.path.exists(srv.pid_path), "pid file left behind")


def test_v_and_h():
    r = run_server_cmd(["-v"])
    out = r.stdout + r.stderr
    check(r.returncode == 0, "-v exited %d" % r.returncode)
    check(re.search(r"rtmp_server/\d+\.\d+", out), "-v has no version: %r" % out)
    check("jemalloc" in out or "libc malloc" in out, "-v names no allocator: %r" % out)
    if "/san-" in SERVER:
        check("libc malloc" in out, "a sanitizer build should use libc malloc: %r" % out)

    r = run_server_cmd(["-h"])
    check(r.returncode == 0, "-h exited %d" % r.returncode)
    check("Usage" in r.stdout and "-c" in r.stdout and "-t" in r.stdout,
          "-h prints no usage: %r" % r.stdout)

    r = run_server_cmd(["-Z"])
    check(r.returncode != 0, "an unknown option exited 0")
    check("Usage" in r.stderr, "an unknown option prints no usage on stderr: %r" % r.stderr)


def test_systemd_notify():
    """Type=notify: READY=1 once listening, RELOADING=1 then READY=1 around a reload,
    STOPPING=1 on the way out, each with the master's pid."""
    d = tempfile.mkdtemp(prefix="rtmp_notify_")
    path = os.path.join(d, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    os.environ["NOTIFY_SOCKET"] = path
    try:
        with Server(workers=1).start() as srv:
            os.environ.pop("NOTIFY_SOCKET", None)
            msg = sock.recv(256).decode()
            check("READY=1" in msg and ("MAINPID=%d" % srv.pid) in msg,
                  "first notification %r" % msg)
            # listening already: a client connects at once
            connect(srv.port).close()
            os.kill(srv.pid, signal.SIGHUP)
            got = [sock.recv(256).decode() for _ in range(2)]
            check("RELOADING=1" in got[0] and "READY=1" in got[1],
                  "around a reload: %r" % got)
            os.kill(srv.pid, signal.SIGQUIT)
            msg = sock.recv(256).decode()
            check("STOPPING=1" in msg, "on QUIT: %r" % msg)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        sock.close()
        os.unlink(path)
        os.rmdir(d)


# ---- user ----------------------------------------------------------------------------------

def _ids(pid):
    """(real uid, real gid) of a process."""
    with open("/proc/%d/status" % pid) as f:
        fields = dict(l.split(":", 1) for l in f if ":" in l)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_workers_run_as_user():
    """With `user`, the master stays root and workers, with every command they run, are that
    user; streams play across workers, and a USR1 after moving the log lets the workers
    reopen it (the master hands the new file over first)."""
    import pwd
    from harness import skip
    from live_helpers import PyPlayer, PyPublisher, is_video_key
    from test_notify import AVC_HEADER
    if os.geteuid() != 0:
        skip("needs root to change user")
    nobody = pwd.getpwnam("nobody")
    srv = Server(workers=2, main_extra='user = "nobody";\n',
                 app_extra='live = true; exec_push = "sleep 60"; hls = true; '
                           'hls_path = "{dir}/hls/live"; ')
    with srv:
        os.chmod(srv.dir, 0o755)  # the workers reopen the log in it as nobody
        srv.start()
        # the directory HLS would be created in is root's: said at the start, once
        srv.wait_log('hls_path "%s/hls/live": the workers (user "nobody") cannot write in '
                     '"%s": Permission denied' % (srv.dir, srv.dir))
        time.sleep(0.5)
        check(srv.log().count("cannot write in") == 1, "the warning is not given once:\n%s"
              % srv.log())
        check(_ids(srv.pid) == (0, 0), "the master is not root: %r" % (_ids(srv.pid),))
        workers = srv.worker_pids()
        for w in workers:
            check(_ids(w) == (nobody.pw_uid, nobody.pw_gid), "worker %d runs as %r"
                  % (w, _ids(w)))
        check(os.stat(srv.log_path).st_uid == nobody.pw_uid, "the log is not the user's")

        with PyPublisher(srv.port, "live", "u") as pub:
            check(pub.status == "NetStream.Publish.Start", "publish: %s" % pub.status)
            m = wait_for(lambda: re.search(r'exec_push "live/u": started pid (\d+)', srv.log()),
                         5, "the exec_push command")
            check(_ids(int(m.group(1)))[0] == nobody.pw_uid, "the command runs as root")
            # read once it runs sleep: before its execve a child still shows the worker's
            # environment as the worker started with it, and during it none at all
            def environ():
                if not os.readlink("/proc/%s/exe" % m.group(1)).endswith("/sleep"):
                    return None
                with open("/proc/%s/environ" % m.group(1), "rb") as f:
                    return dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            env = wait_for(environ, 5, "the command's environment")
            for var, want in ((b"HOME", nobody.pw_dir), (b"USER", "nobody"),
                              (b"LOGNAME", "nobody")):
                check(env.get(var) == want.encode(), "the command's %s is %r, not %r"
                      % (var.decode(), env.get(var), want))
            pub.video(0, AVC_HEADER, header=True)
            pub.video(0, b"key" + bytes(300), key=True)
            players = [PyPlayer(srv.port, "live", "u").play() for _ in range(4)]
            try:
                for pl in players:
                    pl.wait(lambda ms: any(is_video_key(x) for x in ms), 5, "the key frame")
                served = set(re.findall(r'#(\d+): play "live/u"', srv.log()))
                check(len(served) == 2, "players on worker(s) %s only" % served)
            finally:
                for pl in players:
                    pl.stop()

        os.rename(srv.log_path, srv.log_path + ".1")
        srv.signal(signal.SIGUSR1)
        wait_for(lambda: os.path.exists(srv.log_path), 2.0, "a new error.log after USR1")
        for pid in [srv.pid] + workers:
            wait_for(lambda: _log_fds_point_to(pid, srv.log_path), 2.0,
                     "process %d to reopen error.log" % pid)
        check("reopening the error_log failed" not in srv.log() + open(srv.log_path + ".1").read(),
              "a worker could not reopen the log")

    # a user the system does not have is a configuration error
    r, _ = _t(base_conf([19351]) + 'user = "no-such-user-here";\n')
    msg = (r.stdout + r.stderr).strip()
    check(r.returncode == 1 and 'no user "no-such-user-here"' in msg and "rtmp.conf:" in msg,
          "unknown user: %d %r" % (r.returncode, msg))
