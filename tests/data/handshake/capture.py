#!/usr/bin/env python3
# Records real clients' RTMP handshakes through a loopback proxy in front of a throwaway nginx-rtmp.
#
# Usage: python3 tests/data/handshake/capture.py [outdir]   (default: this script's directory)
# Needs nginx with Debian's libnginx-mod-rtmp, rtmpdump and ffmpeg. Everything listens on
# 127.0.0.1 only; nginx runs in the foreground from a temp dir and is killed by its pid.

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HS = 1 + 1536 + 1536  # C0+C1+C2 or S0+S1+S2


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(tmp, port):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n"
            "daemon off;\nmaster_process off;\n"
            f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log info;\n"
            "events { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{port}; "
            "application live { live on; } } }\n"
        )
    p = subprocess.Popen(["nginx", "-p", tmp, "-e", f"{tmp}/error.log", "-c", conf])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("nginx did not start; see " + tmp + "/error.log")


def pump(src, dst, record, limit):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if len(record) < limit:
                record.extend(data[: limit - len(record)])
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def capture(client_argv_for, upstream_port):
    """Runs one client through a one-shot proxy; returns (client bytes, server bytes)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    c2s, s2c = bytearray(), bytearray()

    def proxy():
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", upstream_port))
        t = threading.Thread(target=pump, args=(u, c, s2c, HS), daemon=True)
        t.start()
        pump(c, u, c2s, HS)
        t.join(5)

    t = threading.Thread(target=proxy, daemon=True)
    t.start()
    client = subprocess.Popen(
        client_argv_for(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 10
    while time.time() < deadline and (len(c2s) < HS or len(s2c) < HS):
        time.sleep(0.05)
    client.kill()
    client.wait()
    ls.close()
    if len(c2s) < HS or len(s2c) < HS:
        sys.exit(f"short capture: client {len(c2s)} server {len(s2c)}")
    return bytes(c2s), bytes(s2c)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="hscap-", dir="/tmp")
    nport = free_port()
    nginx = start_nginx(tmp, nport)
    try:
        clients = {
            "rtmpdump": lambda p: [
                "rtmpdump", "-q", "-r", f"rtmp://127.0.0.1:{p}/live/test", "-o", "/dev/null",
                "-m", "3",
            ],
            # librtmp only does the digest (FP9) handshake when encrypting or when SWF
            # verification is asked for, so a made-up hash and size force it.
            "rtmpdump_swfvfy": lambda p: [
                "rtmpdump", "-q", "-r", f"rtmp://127.0.0.1:{p}/live/test", "-o", "/dev/null",
                "-m", "3", "-w", "00" * 32, "-x", "1000",
            ],
            # ffmpeg sends a digest-based C2 only when playing; publishing echoes S1.
            "ffmpeg_play": lambda p: [
                "ffmpeg", "-nostdin", "-loglevel", "quiet", "-rw_timeout", "3000000", "-i",
                f"rtmp://127.0.0.1:{p}/live/test", "-t", "1", "-f", "null", "-",
            ],
            "ffmpeg": lambda p: [
                "ffmpeg", "-nostdin", "-loglevel", "quiet", "-re", "-f", "lavfi", "-i",
                "testsrc=size=64x64:rate=5", "-t", "2", "-c:v", "flv1", "-f", "flv",
                f"rtmp://127.0.0.1:{p}/live/test",
            ],
        }
        for name, argv in clients.items():
            c, s = capture(argv, nport)
            with open(os.path.join(out, f"{name}_c0c1.bin"), "wb") as f:
                f.write(c[:1537])
            with open(os.path.join(out, f"{name}_c2.bin"), "wb") as f:
                f.write(c[1537:])
            with open(os.path.join(out, f"nginx_s0s1s2_for_{name}.bin"), "wb") as f:
                f.write(s)
            print(f"{name}: captured {len(c)} client and {len(s)} server bytes")
    finally:
        nginx.kill()
        nginx.wait()


if __name__ == "__main__":
    main()
