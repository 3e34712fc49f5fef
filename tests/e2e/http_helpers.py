"""Helpers for the HTTP listener's e2e tests: a config with an http block, raw requests over
one socket (for pipelining, bad requests, timeouts), and a response reader."""

import socket

import harness
from harness import check, fail


def http_conf(rtmp_port, http_port, workers=1, http_extra="", app_extra="live = true; ",
              main_extra="", also_listen=()):
    """A complete config: the rtmp server on rtmp_port with application "live", and an http
    block on 127.0.0.1:http_port (and also_listen) serving hls_root "hls" (below the
    server's dir)."""
    listen = ", ".join('"%s"' % a for a in ["127.0.0.1:%d" % http_port] + list(also_listen))
    return harness.conf_text(
        [rtmp_port], workers,
        main_extra=main_extra + 'http = { listen = [ %s ]; %s};\n' % (listen, http_extra),
        app_extra=app_extra)


def http_server(workers=1, http_extra="", **kw):
    rtmp_port, http_port = harness.free_port(), harness.free_port()
    srv = harness.Server(workers=workers, ports=[rtmp_port],
                         conf=http_conf(rtmp_port, http_port, workers, http_extra, **kw))
    srv.http_port = http_port
    return srv


def read_response(conn, head_only=False, timeout=5.0):
    """One response from a Conn: (status, headers dict with lower-case names, body bytes).
    The body is Content-Length bytes (none for HEAD, 204 and 304)."""
    sock = conn.sock
    sock.settimeout(timeout)
    buf = conn.pending
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            fail("connection closed before a whole response head (%r)" % buf[:200])
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    check(parts[0] == "HTTP/1.1", "status line %r" % lines[0])
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        check(name and name == name.strip(), "bad header line %r" % line)
        headers[name.lower()] = value.strip()
    n = 0 if head_only or status in (204, 304) else int(headers["content-length"])
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            fail("connection closed after %d of %d body bytes" % (len(buf), n))
        buf += chunk
    conn.pending = buf[n:]
    return status, headers, buf[:n]


class Conn:
    """A raw HTTP/1.1 connection to the listener."""

    def __init__(self, port, timeout=5.0, sock=None):
        """sock: a socket already connected (one speaking TLS, say) instead of a new one."""
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.pending = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))

    def get(self, path, method="GET", headers=""):
        self.send("%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, path, headers))
        return self.response(head_only=method == "HEAD")

    def response(self, head_only=False, timeout=5.0):
        return read_response(self, head_only, timeout)

    def closed(self, timeout=3.0):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
