#!/usr/bin/env python3
# Loopback TCP proxy that records each connection's bytes, one file per direction.
# usage: proxy.py LISTEN_PORT TARGET_PORT OUTDIR
import os, socket, sys, threading

listen_port, target_port, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def pump(src, dst, path):
    with open(path, "wb") as f:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            f.write(data)
            f.flush()
            try:
                dst.sendall(data)
            except OSError:
                break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port))
ls.listen(8)
n = 0
while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", target_port))
    n += 1
    base = os.path.join(outdir, "conn%d" % n)
    threading.Thread(target=pump, args=(c, s, base + ".c2s"), daemon=True).start()
    threading.Thread(target=pump, args=(s, c, base + ".s2c"), daemon=True).start()
