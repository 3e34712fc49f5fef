"""Shared helpers for the end-to-end tests: start rtmp_server on a free loopback port in a
fresh temp dir, find its workers, read its log, stop it by pid, speak the RTMP handshake.

Standard library only. Every wait is a bounded poll; the network is 127.0.0.1 only.
Processes are stopped by pid, never by name.
"""

import ctypes
import errno
import functools
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.environ.get("RTMP_SERVER") or os.path.join(REPO, "rtmp_server")
BENCH = os.environ.get("RTMP_BENCH") or os.path.join(REPO, "rtmp_bench")

POLL = 0.02  # seconds between polls


class TestFailure(AssertionError):
    pass


class SkipTest(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

NGINX_RTMP_CONF = """load_module %(module)s;
daemon off;
master_process off;
error_log %(dir)s/error.log %(level)s;
pid %(dir)s/nginx.pid;
events { worker_connections %(connections)d; }
rtmp {
    server {
        listen 127.0.0.1:%(port)d;
        chunk_size 4096;
        application live { %(live)s }
    }
}
"""


def nginx_rtmp():
    """nginx's path; skips the test when nginx with libnginx-mod-rtmp is not installed."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)
    if not nginx or not os.path.exists(NGINX_RTMP_MODULE):
        skip("nginx with libnginx-mod-rtmp is not installed")
    return nginx


def start_nginx_rtmp(nginx, tmp, port, live="live on;", level="warn", connections=1024):
    """A throwaway nginx-rtmp (the peer) in `tmp` on 127.0.0.1:port, ready to accept."""
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_RTMP_CONF % {"module": NGINX_RTMP_MODULE, "dir": tmp, "port": port,
                                   "live": live, "level": level, "connections": connections})
    out = open(os.path.join(tmp, "nginx.out"), "ab")
    proc = subprocess.Popen([nginx, "-p", tmp, "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    out.close()

    def ready():
        if proc.poll() is not None:
            fail("nginx exited with %s: %s" % (proc.returncode,
                                               open(os.path.join(tmp, "nginx.out")).read()))
        return port_accepts(port, 0.2)
    try:
        wait_for(ready, 5.0, "nginx-rtmp on port %d" % port)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def stop_process(proc):
    """TERM by pid, a bounded wait, then KILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def ipv6_loopback():
    """True when ::1 can be bound here (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def skip(msg):
    raise SkipTest(msg)


def wait_for(pred, timeout, what, interval=POLL):
    """Polls pred() until it returns something truthy; returns that value. Bounded in time
    and in count; raises TestFailure naming `what` when it never happens."""
    deadline = time.monotonic() + timeout
    polls = int(timeout / interval) + 2
    last = None
    for _ in range(polls):
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    fail("timed out after %.1fs waiting for %s" % (timeout, what))


# ---- sockets -----------------------------------------------------------------------------

def free_port():
    """A port the kernel just handed out on 127.0.0.1 (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port, timeout=2.0):
    """A connected TCP socket to 127.0.0.1:port (blocking, with a timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def recv_exact(sock, n):
    chunks = []
    got = 0
    # bounded: each recv either returns data, times out (socket timeout) or sees EOF
    while got < n:
        b = sock.recv(n - got)
        if not b:
            fail("connection closed after %d of %d bytes" % (got, n))
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def is_open(sock, wait=0.1):
    """True when the peer has neither closed nor reset the connection (nothing readable
    within `wait`, or readable data)."""
    import select
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return True
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return False
    return bool(data)


HANDSHAKE_SIZE = 1536


def rtmp_handshake(sock, timeout=5.0):
    """Client side of the simple (RTMP 1.0 spec 5.2) handshake: C0+C1 out, S0+S1+S2 in,
    C2 (echo of S1) out. Returns (s1, s2)."""
    old = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        c1 = struct.pack(">II", int(time.monotonic() * 1000) & 0xFFFFFFFF, 0) + \
            random.randbytes(HANDSHAKE_SIZE - 8)
        sock.sendall(b"\x03" + c1)
        try:
            reply = recv_exact(sock, 1 + 2 * HANDSHAKE_SIZE)
        except socket.timeout:
            fail("no S0+S1+S2 within %.1fs (handshake not answered)" % timeout)
        check(reply[0] == 3, "S0 is %d, expected 3" % reply[0])
        s1 = reply[1:1 + HANDSHAKE_SIZE]
        s2 = reply[1 + HANDSHAKE_SIZE:]
        # spec 5.2.4: S2 echoes C1's random data (a simple C1 has zeros at bytes 4..7)
        check(s2[8:] == c1[8:], "S2 does not echo C1's random bytes")
        sock.sendall(s1)  # C2
        return s1, s2
    finally:
        sock.settimeout(old)


# ---- /proc -------------------------------------------------------------------------------

def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rfind(")") + 2:].split()[0]
    return state not in ("Z", "X")


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[1])


def children(pid):
    """Pids of pid's live children, from /proc/<pid>/task/*/children, else /proc/*/stat."""
    kids = set()
    task_dir = "/proc/%d/task" % pid
    found_file = False
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return []
    for t in tasks:
        try:
            with open("%s/%s/children" % (task_dir, t)) as f:
                found_file = True
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    if not found_file:
        for name in os.listdir("/proc"):
            if name.isdigit() and _ppid(int(name)) == pid:
                kids.add(int(name))
    return sorted(k for k in kids if pid_alive(k))


def fd_targets(pid):
    """{descriptor: readlink} of every /proc/<pid>/fd entry (missing ones skipped)."""
    out = {}
    d = "/proc/%d/fd" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            out[int(n)] = os.readlink("%s/%s" % (d, n))
        except OSError:
            pass
    return out


def socket_count(pid):
    return sum(1 for t in fd_targets(pid).values() if t.startswith("socket:"))


def socket_inodes(pid):
    return {int(t[8:-1]) for t in fd_targets(pid).values() if t.startswith("socket:[")}


def tcp_established_inodes(local_port):
    """Socket inodes of ESTABLISHED TCP connections whose local port is local_port (the
    server side of accepted connections)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        needle = ":%04X " % local_port
        for line in lines:
            if needle not in line:
                continue
            parts = line.split()
            if len(parts) < 10:
                continue
            lport = int(parts[1].rsplit(":", 1)[1], 16)
            if lport == local_port and parts[3] == "01":
                inodes.add(int(parts[9]))
    return inodes


def socket_copy(pid, local_port, remote_port):
    """A copy of process pid's descriptor for its end of the loopback TCP connection
    local_port <-> remote_port (pidfd_getfd: needs ptrace rights), as a socket object."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if len(parts) > 9 and int(parts[1].rsplit(":", 1)[1], 16) == local_port and \
                    int(parts[2].rsplit(":", 1)[1], 16) == remote_port:
                inode = int(parts[9])
    check(inode is not None, "no connection %d <-> %d" % (local_port, remote_port))
    fd = next((n for n, t in fd_targets(pid).items() if t == "socket:[%d]" % inode), None)
    check(fd is not None, "process %d does not hold socket %d" % (pid, inode))
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd
        check(copy >= 0, "pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
    finally:
        os.close(pidfd)
    return socket.socket(fileno=copy)


def server_tcp_option(pid, server_port, client_port, option):
    """A TCP socket option (socket.TCP_NODELAY, ...) of process pid's end of the loopback
    connection server_port <-> client_port."""
    with socket_copy(pid, server_port, client_port) as sk:
        return sk.getsockopt(socket.IPPROTO_TCP, option)


def unsent_bytes(pid, local_port, remote_port):
    """Bytes process pid has written to its end of local_port <-> remote_port that TCP has
    not sent yet (SIOCOUTQNSD)."""
    import fcntl
    import struct
    with socket_copy(pid, local_port, remote_port) as sk:
        return struct.unpack("i", fcntl.ioctl(sk.fileno(), 0x894B, b"\0" * 4))[0]


@functools.cache
def asan_build():
    """Whether SERVER is an AddressSanitizer build: its allocator keeps what is freed,
    pads each block with redzones and adds shadow memory, so RSS reads about 3x."""
    with open(SERVER, "rb") as f:
        return b"__asan_init" in f.read()


def vm_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def minor_faults(pid):
    """Page faults the process took without I/O: fresh pages it touched for the first time."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return 0


# ---- the server ----------------------------------------------------------------------------

# Every server started in this process, so the runner can show their logs and make sure
# nothing is left running after a test, whatever happened in it.
_servers = []


def conf_text(ports, workers=2, log_level="info", main_extra="", server_extra="", app_extra=""):
    """A complete config; paths are filled in by Server.write_conf. app_extra goes inside
    the application block of "live" (e.g. 'live = true; ')."""
    listen = ", ".join('"127.0.0.1:%d"' % p for p in ports)
    return (
        "worker_processes = %s;\n"
        "error_log = \"{dir}/error.log\";\n"
        "pid = \"{dir}/rtmp_server.pid\";\n"
        "log_level = \"%s\";\n"
        "shutdown_timeout = \"30s\";\n"
        "%s"
        "rtmp = {\n"
        "    server = (\n"
        "        {\n"
        "            listen = [ %s ];\n"
        "%s"
        "            application = ( { name = \"live\"; %s} );\n"
        "        }\n"
        "    );\n"
        "};\n"
    ) % (workers, log_level, main_extra, listen, server_extra, app_extra)


class Server:
    """One rtmp_server in its own temp dir. Use as a context manager: the processes are
    stopped (TERM, then KILL, by pid) on leaving, whether the test passed or not."""

    def __init__(self, workers=2, ports=None, log_level="info", main_extra="",
                 server_extra="", conf=None, app_extra=""):
        self.dir = tempfile.mkdtemp(prefix="rtmp_e2e_")
        self.conf = os.path.join(self.dir, "rtmp.conf")
        self.log_path = os.path.join(self.dir, "error.log")
        self.pid_path = os.path.join(self.dir, "rtmp_server.pid")
        self.out_path = os.path.join(self.dir, "server.out")
        self.port = free_port() if ports is None else ports[0]
        self.ports = [self.port] if ports is None else list(ports)
        self.workers = workers
        self.proc = None
        self.seen_workers = set()
        self._out = None
        if conf is None:
            conf = conf_text(self.ports, workers, log_level, main_extra, server_extra,
                             app_extra)
        self.write_conf(conf)
        _servers.append(self)

    # -- config
    def write_conf(self, text):
        """Writes the config ({dir} is replaced by the temp dir); atomically, so a reload
        never sees half a file."""
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(text.replace("{dir}", self.dir))
        os.replace(tmp, self.conf)

    # -- life
    def start(self, wait=True, timeout=10.0, env=None, wrap=()):
        """env: variables added to the server's environment; wrap: a command that execs
        the server's argv, which it is given after its own."""
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(list(wrap) + [SERVER, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env={**os.environ, **(env or {})})
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        def ready():
            if self.proc.poll() is not None:
                fail("server exited with code %s during start-up" % self.proc.returncode)
            return os.path.exists(self.pid_path) and port_accepts(self.port, 0.2)
        wait_for(ready, timeout, "the pid file and port %d" % self.port)
        wait_for(lambda: len(self.worker_pids()) >= self.workers, timeout,
                 "%d workers" % self.workers)

    @property
    def pid(self):
        return self.proc.pid

    def pid_file(self):
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def worker_pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids = children(self.proc.pid)
        self.seen_workers.update(pids)
        return pids

    def signal(self, sig):
        check(self.proc is not None and self.proc.poll() is None, "master is not running")
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("master %d did not exit within %.1fs" % (self.proc.pid, timeout))

    def _ours(self, pid):
        """pid still runs our binary with our config (guards against pid reuse)."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.conf.encode() in f.read()
        except OSError:
            return False

    def stop(self):
        """TERM the master, wait (bounded), KILL it if needed; then KILL any worker of ours
        still alive. Safe to call more than once."""
        if self.proc is not None:
            self.seen_workers.update(children(self.proc.pid) if self.proc.poll() is None else [])
            if self.proc.poll() is None:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(6)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    try:
                        self.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
        for pid in sorted(self.seen_workers):
            if pid_alive(pid) and self._ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for _ in range(100):
            if not any(pid_alive(p) and self._ours(p) for p in self.seen_workers):
                break
            time.sleep(POLL)
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- log
    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def output(self):
        try:
            with open(self.out_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, needle, timeout=3.0, path=None):
        def found():
            text = self.log() if path is None else _read(path)
            return needle in text
        wait_for(found, timeout, "%r in the error log" % needle)

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

    def sanitizer_report(self):
        """The first line of an ASan/UBSan/LSan report in the server's output, or None."""
        for line in self.output().splitlines():
            if any(m in line for m in self.SANITIZER_MARKS):
                return line.strip()
        return None

    def diagnostics(self, lines=30):
        out = []
        for name, text in (("error.log", self.log()), ("stdout/stderr", self.output())):
            tail = text.splitlines()[-lines:]
            if tail:
                out.append("  --- %s (%s), last %d lines:" % (name, self.dir, len(tail)))
                out.extend("  | " + l for l in tail)
        return "\n".join(out)


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def servers_started():
    return list(_servers)


def cleanup(keep_dirs=False):
    """Stops every client program and every server started so far and removes the servers'
    temp dirs (unless kept)."""
    stop_clients()
    while _servers:
        s = _servers.pop()
        try:
            s.stop()
        except Exception:
            pass
        if not keep_dirs:
            shutil.rmtree(s.dir, ignore_errors=True)


def self_signed_certificate(dir, name="server"):
    """A self-signed P-256 certificate for localhost and 127.0.0.1 made with the openssl
    command, for the TLS listeners: (certificate path, key path), <dir>/<name>.pem and .key."""
    need_tools("openssl")
    crt, key = os.path.join(dir, name + ".pem"), os.path.join(dir, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, "openssl req failed: %s" % r.stderr[-500:])
    return crt, key


def dated_certificate(dir, name, start, end):
    """Like self_signed_certificate, valid from start to end ("YYYYMMDDHHMMSSZ"), made with
    openssl ca (req cannot date a certificate in the past)."""
    need_tools("openssl")
    crt, key = os.path.join(dir, name + ".pem"), os.path.join(dir, name + ".key")
    ca = os.path.join(dir, name + ".ca")
    os.makedirs(ca, exist_ok=True)
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(ca, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = CA\n[CA]\ndatabase = %s/index.txt\nserial = %s/serial\n"
                "new_certs_dir = %s\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
                "[p]\ncommonName = supplied\n" % (ca, ca, ca))
    csr = os.path.join(ca, "req.csr")
    for argv in (["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                  "-subj", "/CN=localhost",
                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                 ["openssl", "ca", "-batch", "-config", os.path.join(ca, "ca.cnf"), "-selfsign",
                  "-keyfile", key, "-in", csr, "-out", crt, "-startdate", start,
                  "-enddate", end, "-notext"]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "%s failed: %s" % (" ".join(argv[:2]), r.stderr[-500:]))
    return crt, key


def run_server_cmd(args, cwd=None, timeout=10):
    """Runs rtmp_server with args (-t, -v, -h ...) and returns the CompletedProcess."""
    return subprocess.run([SERVER] + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def raise_nofile(want):
    """Raises this process' RLIMIT_NOFILE to at least `want` (root may raise the hard limit
    too); returns the soft limit now in force."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- client programs (ffmpeg, rtmpdump, gst-launch-1.0) --------------------------------------

# Every client program started in this process, so cleanup() can stop what a test left
# running (by pid) whatever happened in it.
_clients = []


def need_tools(*names):
    """Skips the test unless every named program is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip("not installed: %s" % ", ".join(missing))


class ClientProc:
    """A client program with its stdout and stderr in files under `dir`; stopped by pid
    (stop() is bounded: the signal, then KILL). Use as a context manager."""

    def __init__(self, args, dir, name):
        self.args = list(args)
        self.name = name
        self.out_path = os.path.join(dir, name + ".stdout")
        self.err_path = os.path.join(dir, name + ".stderr")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=dir)
        _clients.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Exit code; fails the test (after killing it) if it runs longer than timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            fail("%s (pid %d) still running after %.1fs" % (self.name, self.pid, timeout))

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends sig (if still running), waits up to timeout, then KILLs; returns the exit
        code. Safe to call more than once."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        return self.proc.returncode

    def stdout(self):
        return _read(self.out_path)

    def stderr(self):
        return _read(self.err_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL)
        return False


def stop_clients():
    while _clients:
        c = _clients.pop()
        try:
            c.stop(signal.SIGKILL)
        except Exception:
            pass


# ---- test media --------------------------------------------------------------------------

_clip_dir = None
_clips = {}


def _remove_clip_dir():
    if _clip_dir and not os.environ.get("E2E_CACHE_DIR"):
        shutil.rmtree(_clip_dir, ignore_errors=True)


def media_clip(seconds=4):
    """An FLV test clip (lavfi testsrc 320x240 at 25 fps + a 440 Hz sine; H.264 with a 2 s
    GOP, AAC), made with ffmpeg once per run (or kept in $E2E_CACHE_DIR if set) and shared
    by the tests. Skips the test when ffmpeg is not installed."""
    global _clip_dir
    need_tools("ffmpeg")
    path = _clips.get(seconds)
    if path and os.path.getsize(path) > 0:
        return path
    if _clip_dir is None:
        _clip_dir = os.environ.get("E2E_CACHE_DIR")
        if _clip_dir:
            os.makedirs(_clip_dir, exist_ok=True)
        else:
            import atexit
            _clip_dir = tempfile.mkdtemp(prefix="rtmp_e2e_media_")
            atexit.register(_remove_clip_dir)
    path = os.path.join(_clip_dir, "clip_%ds.flv" % seconds)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        _clips[seconds] = path
        return path
    tmp = path + ".tmp.flv"
    r = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-g", "50", "-c:a", "aac", "-b:a", "64k", "-f", "flv", tmp],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    check(r.returncode == 0 and os.path.exists(tmp),
          "ffmpeg could not make the test clip (exit %d): %s" % (r.returncode, r.stderr[-500:]))
    os.replace(tmp, path)
    _clips[seconds] = path
    return path
