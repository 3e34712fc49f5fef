"""/stat and /metrics show the whole server whichever worker answers: with two workers, a
publisher on one and players on both, /stat (JSON) has the stream with its codecs, non-zero
bitrates in and out, the players of both workers and the pull between them, answered the same
by both workers; /metrics passes a strict parser of the Prometheus text exposition format
(and promtool's, when installed). The stream is pushed to another server and allowed by
an on_publish callback, so relays and callback latency have something to show."""

import http.server
import json
import math
import re
import shutil
import subprocess
import threading
import time

import harness
from harness import check, fail, media_clip, need_tools, wait_for
from http_helpers import Conn, http_server
from live_helpers import PyPlayer, ffmpeg_publisher, live_server, players_of, publishers_of

FEW_SLOTS = "worker_connections = 20;\n"


# ---- the text exposition format, strictly -------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _value(text, where):
    if text in ("NaN", "+Inf", "-Inf"):
        return float(text.replace("Inf", "inf"))
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        fail("%s: bad value %r" % (where, text))
    return float(text)


def _labels(text, where):
    """Parses `a="x",b="y"` (a trailing comma allowed) into a dict."""
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(LABEL + "=\"").match(text, i)
        check(m, "%s: bad label at %r" % (where, text[i:]))
        name = text[i:m.end() - 2]
        i = m.end()
        value = []
        while True:
            check(i < len(text), "%s: unterminated label value" % where)
            ch = text[i]
            if ch == "\\":
                check(i + 1 < len(text) and text[i + 1] in "\\\"n",
                      "%s: bad escape in a label value" % where)
                value.append({"\\": "\\", "\"": "\"", "n": "\n"}[text[i + 1]])
                i += 2
            elif ch == "\"":
                i += 1
                break
            elif ch == "\n":
                fail("%s: newline in a label value" % where)
            else:
                value.append(ch)
                i += 1
        check(name not in labels, "%s: label %s twice" % (where, name))
        labels[name] = "".join(value)
        if i < len(text):
            check(text[i] == ",", "%s: expected ',' after a label" % where)
            i += 1
    return labels


def parse_prometheus(text):
    """Parses exposition format 0.0.4 strictly: returns {family: {"type", "help", "samples":
    [(name, labels, value)]}}; fails on anything the format does not allow, on families whose
    samples are not together, repeated series, and on inconsistent histograms."""
    check(text.endswith("\n"), "the last line does not end with a newline")
    families, order, seen, current = {}, [], set(), None

    def family_of(name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and base in families and \
                    families[base]["type"] in ("histogram", "summary"):
                return base
        return name

    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d (%r)" % (n, line[:80])
        check(line != "", "%s: empty line" % where)
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (" + NAME + r") (.*)", line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.groups()
            f = families.setdefault(name, {"type": None, "help": None, "samples": []})
            check(not f["samples"], "%s: %s after the family's samples" % (where, kind))
            if kind == "TYPE":
                check(rest in TYPES and f["type"] is None, "%s: bad or repeated TYPE" % where)
                f["type"] = rest
            else:
                check(f["help"] is None, "%s: repeated HELP" % where)
                check(re.fullmatch(r"([^\\]|\\\\|\\n)*", rest), "%s: bad escape in HELP" % where)
                f["help"] = rest
            if name not in order:
                order.append(name)
            continue
        m = re.fullmatch("(" + NAME + r")(?:\{(.*)\})? (\S+)(?: (-?\d+))?", line)
        check(m, "%s: not a sample line" % where)
        name, labels, value = m.group(1), _labels(m.group(2) or "", where), \
            _value(m.group(3), where)
        fam = family_of(name)
        if fam != current:
            check(fam not in seen, "%s: samples of %s are not together" % (where, fam))
            seen.add(fam)
            current = fam
        f = families.setdefault(fam, {"type": "untyped", "help": None, "samples": []})
        if f["type"] is None:
            f["type"] = "untyped"
        key = (name, tuple(sorted(labels.items())))
        check(key not in {(s[0], tuple(sorted(s[1].items()))) for s in f["samples"]},
              "%s: repeated series" % where)
        if f["type"] == "counter":
            check(value >= 0 and not math.isnan(value), "%s: negative counter" % where)
        if f["type"] == "histogram":
            check(name != fam, "%s: a histogram sample without _bucket/_sum/_count" % where)
            if name.endswith("_bucket"):
                check("le" in labels, "%s: a bucket without le" % where)
        f["samples"].append((name, labels, value))

    for fam, f in families.items():
        if f["type"] != "histogram":
            continue
        groups = {}
        for name, labels, value in f["samples"]:
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            g = groups[rest]
            if name.endswith("_bucket"):
                g["buckets"].append((_value(labels["le"], fam), value))
            elif name.endswith("_sum"):
                g["sum"] = value
            else:
                g["count"] = value
        for g in groups.values():
            les = [le for le, _ in g["buckets"]]
            check(les == sorted(les) and les and les[-1] == math.inf,
                  "%s: buckets not ascending to +Inf: %s" % (fam, les))
            counts = [c for _, c in g["buckets"]]
            check(counts == sorted(counts), "%s: buckets not cumulative" % fam)
            check(g["count"] == counts[-1] and g["sum"] is not None,
                  "%s: _count %s is not the +Inf bucket %s, or no _sum" % (fam, g["count"],
                                                                           counts[-1]))
    return families


def test_prometheus_parser_rejects():
    """The parser above is strict: each of these is refused."""
    good = "# HELP a x\n# TYPE a counter\na{b=\"c\"} 1\n"
    parse_prometheus(good)
    bad = [good[:-1], good + "\n", "# TYPE a counter\na -1\n", "a{b=\"c} 1\n",
           "a{b=\"\\x\"} 1\n", "a 1\nb 1\na 2\n", "a{b=\"c\"} 1\na{b=\"c\"} 2\n", "a one\n",
           "# TYPE a gauge\n# TYPE a gauge\na 1\n", "a 1\n# TYPE a gauge\n", "1a 1\n",
           "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
           "h_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"]
    for text in bad:
        try:
            parse_prometheus(text)
        except AssertionError:
            continue
        fail("accepted %r" % text)


# ---- the test ---------------------------------------------------------------------------------

class _Allow(http.server.BaseHTTPRequestHandler):
    """A notify endpoint that allows everything."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _get(conn, path):
    st, h, body = conn.get(path)
    check(st == 200, "%s answered %d" % (path, st))
    return h, body


def test_stat_and_metrics_cover_every_worker():
    need_tools("ffmpeg")
    clip = media_clip(20)
    notify = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Allow)
    threading.Thread(target=notify.serve_forever, daemon=True).start()
    target = live_server({"live": "live = true;"})
    dead = harness.free_port()  # a second target nobody listens on: it keeps retrying
    app = ('live = true; push = ( "rtmp://127.0.0.1:%d/live", "rtmp://127.0.0.1:%d/live/key" ); '
           'on_publish = "http://127.0.0.1:%d/publish"; '
           % (target.port, dead, notify.server_port))
    try:
        with target:
            target.start()
            _stat_and_metrics(clip, app, target, dead)
    finally:
        notify.shutdown()
        notify.server_close()


def _stat_and_metrics(clip, app, target, dead):
    with http_server(workers=2, http_extra="stat = true; metrics = true; ",
                     main_extra=FEW_SLOTS, app_extra=app) as srv:
        srv.start()
        pub = ffmpeg_publisher(srv, clip, "live/s", "pub")
        wait_for(lambda: publishers_of(srv, "live/s"), 10, "the publisher")
        pub_worker = list(publishers_of(srv, "live/s").values())[0]
        players = []
        try:
            # add players until both workers serve some (few slots push them apart)
            for i in range(30):
                players.append(PyPlayer(srv.port, "live", "s").play())
                wait_for(lambda: len(players_of(srv, "live/s")) >= len(players), 10,
                         "player %d in the log" % i)
                if len(set(players_of(srv, "live/s").values())) == 2 and len(players) >= 3:
                    break
            workers = set(players_of(srv, "live/s").values())
            check(len(workers) == 2, "players only on %s" % workers)

            # keep-alive connections until both workers have answered
            conns, answers = [], {}
            try:
                def both_answer():
                    c = Conn(srv.http_port)
                    conns.append(c)
                    _, body = _get(c, "/stat")
                    doc = json.loads(body)
                    answers[doc["server"]["answered_by"]] = c
                    return len(answers) == 2
                wait_for(both_answer, 15, "/stat answered by both workers", interval=0.05)

                def full(c):
                    _, body = _get(c, "/stat")
                    doc = json.loads(body)
                    apps = {a["name"]: a for a in doc["applications"]}
                    st = {s["name"]: s for s in apps.get("live", {"streams": []})["streams"]}
                    s = st.get("s")
                    ok = s and s["bitrate_in"] > 0 and s["bitrate_out"] > 0 and \
                        s["publisher"] and s["publisher"]["video"] and \
                        s["publisher"]["video"]["frame_rate"] > 0 and \
                        len(s["players"]) == len(players)
                    return (doc, s) if ok else None
                for slot, c in sorted(answers.items()):
                    doc, s = wait_for(lambda: full(c), 10,
                                      "worker %d's /stat with the whole stream" % slot)
                    check(doc["server"]["workers"] == 2 and len(doc["workers"]) == 2 and
                          doc["server"]["version"] and doc["server"]["uptime"] >= 0 and
                          doc["server"]["pid"] == srv.pid, "server part: %r" % doc["server"])
                    p = s["publisher"]
                    v, a = p["video"], p["audio"]
                    check(v["codec"] == "avc" and v["width"] == 320 and v["height"] == 240 and
                          15 <= v["frame_rate"] <= 35 and v["profile"] and v["level"],
                          "video: %r" % v)
                    check(a["codec"] == "aac" and a["sample_rate"] == 44100 and
                          a["channels"] in (1, 2), "audio: %r" % a)
                    check(p["address"].startswith("127.0.0.1:") and p["duration"] > 0,
                          "publisher: %r" % p)
                    on = {pl["worker"] for pl in s["players"]}
                    check(len(on) == 2, "players on workers %s in %d's answer" % (on, slot))
                    check(all(pl["address"].startswith("127.0.0.1:") and pl["bytes"] > 0
                              for pl in s["players"]), "players: %r" % s["players"][:3])
                    check(s["nplayers"] == len(players), "nplayers %r" % s["nplayers"])
                    pulls = [r for r in s["relays"] if r["type"] == "pull"]
                    check(len(pulls) == 1 and pulls[0]["from_worker"] == p["worker"] and
                          pulls[0]["to_worker"] != p["worker"], "relays: %r" % s["relays"])
                    pushes = {r["target"]: r for r in s["relays"] if r["type"] == "push"}
                    up = pushes.get("rtmp://127.0.0.1:%d/live" % target.port)
                    down = pushes.get("rtmp://127.0.0.1:%d/live" % dead)
                    check(len(pushes) == 2 and up and down, "push targets: %r" % s["relays"])
                    check(up["worker"] == p["worker"] and up["state"] == "publishing" and
                          up["bytes"] > 0 and up["duration"] > 0, "push target: %r" % up)
                    # the stream name (where services keep their keys) is never shown
                    check(down["state"] in ("connecting", "waiting") and
                          down["bytes"] == 0 and "key" not in json.dumps(s["relays"]) and
                          (down["state"] == "connecting" or down["error"]),
                          "dead push target: %r" % down)
                    check(sum(w["connections"]["rtmp"] for w in doc["workers"]) >=
                          len(players) + 1, "connections: %r" % doc["workers"])

                # /metrics from both workers
                for slot, c in sorted(answers.items()):
                    h, body = _get(c, "/metrics")
                    check(h["content-type"].startswith("text/plain; version=0.0.4"),
                          "metrics type %r" % h["content-type"])
                    text = body.decode("utf-8")
                    fams = parse_prometheus(text)
                    for name in ("rtmp_connections", "rtmp_connections_accepted_total",
                                 "rtmp_streams", "rtmp_players", "rtmp_bytes_received_total",
                                 "rtmp_bytes_sent_total", "rtmp_dropped_frames_total",
                                 "rtmp_handshake_failures_total",
                                 "rtmp_notify_duration_seconds"):
                        check(name in fams and fams[name]["help"], "no %s" % name)
                    per = {s[1]["worker"]: s[2] for s in fams["rtmp_players"]["samples"]}
                    check(len(per) == 2 and sum(per.values()) == len(players) and
                          all(v > 0 for v in per.values()), "rtmp_players %r" % per)
                    rate = [s for s in fams["rtmp_stream_in_bytes_per_second"]["samples"]
                            if s[1] == {"app": "live", "name": "s"}]
                    check(rate and rate[0][2] > 0, "bitrate in: %r" % rate)
                    n = [v for name, _, v in fams["rtmp_notify_duration_seconds"]["samples"]
                         if name.endswith("_count")]
                    check(n == [1], "notify callbacks counted: %r (one on_publish)" % n)
                    promtool = shutil.which("promtool")
                    if promtool:
                        r = subprocess.run([promtool, "check", "metrics"], input=body,
                                           capture_output=True, timeout=30)
                        check(r.returncode == 0, "promtool: %s %s" % (r.stdout, r.stderr))
            finally:
                for c in conns:
                    c.close()
        finally:
            for p in players:
                p.stop()
            pub.stop()


test_stat_and_metrics_cover_every_worker.TIME_LIMIT = 60


def test_stat_frame_rate_of_a_pulled_stream():
    """An edge's /stat gives a pulled stream's frame rate right from the start. The origin sends
    its cached GOP at once when the pull begins, and counting frames as they arrived read that
    burst as two to three times the real rate for the first seconds."""
    need_tools("ffmpeg")
    clip = media_clip(14)
    with live_server({"live": "live = true;"}) as o:
        o.start()
        pub = ffmpeg_publisher(o, clip, "live/f", "pub")
        wait_for(lambda: publishers_of(o, "live/f"), 5, "the publisher on the origin")
        time.sleep(2.5)  # a whole GOP cached on the origin
        app = 'live = true; pull = "rtmp://127.0.0.1:%d/live";' % o.port
        with http_server(http_extra="stat = true; ", app_extra=app) as e:
            e.start()
            player = PyPlayer(e.port, "live", "f").play()
            try:
                rates = []
                c = Conn(e.http_port)
                end = time.monotonic() + 5.0
                while time.monotonic() < end:
                    _, body = _get(c, "/stat")
                    for a in json.loads(body)["applications"]:
                        for s in a["streams"]:
                            v = (s.get("publisher") or {}).get("video") or {}
                            if s["name"] == "f" and v.get("frame_rate"):
                                rates.append(v["frame_rate"])
                    time.sleep(0.2)
                print("  frame rates read: %s" % sorted(set(round(r) for r in rates)))
                check(rates and all(22 <= r <= 28 for r in rates),
                      "the 25 fps stream read as %s" % sorted(set(round(r, 1) for r in rates)))
            finally:
                player.stop()
        pub.stop()
