#!/usr/bin/env python3
"""bench_report.py: medians and ours/other ratios from scripts/bench.sh runs (runs.jsonl).

Writes OUT/results.json and OUT/results.md and prints the markdown table.
"""
import argparse
import json
import os
import statistics
import sys
import time
from collections import OrderedDict

GB = 1e9  # delivered gigabytes are decimal: 10^9 bytes
BG_MAX = 0.25  # cores of background load on the server CPU beyond which no net estimate

# What a reader needs to know to read a scenario's numbers.
NOTES = {
    "coalesce100": "nginx-rtmp has no flush_interval: it runs its default (send as frames "
                   "arrive), so this compares our coalescing with nginx's only mode.",
    "coalesce33": "As coalesce100: flush_interval is ours only.",
    "srsload": "The load SRS's figures were measured at (1,000 players of one ~500 kbit/s "
               "stream): SRS at its default 350 ms merged write spent 1.5 CPU-s per GB "
               "against nginx-rtmp's 5.6, at p99 latency 370 ms.",
    "setup": "A session is complete at its first audio or video message: handshake, connect, "
             "createStream, play and the first media byte.",
    "workers2": "Both servers pinned to the one server CPU: this measures the cost and "
                "correctness of cross-worker delivery, not scaling. nginx-rtmp runs with "
                "rtmp_auto_push on.",
    "streams": "Pss includes our GOP cache, one GOP (~0.6 MB at 2.5 Mbit/s) per stream.",
    "ingest": "Pss includes our GOP cache, one GOP per stream. The target is CPU per GB the "
              "publishers sent: per GB delivered would credit a server its players' GOP-cache "
              "bursts and charge one whose players wait for a key frame.",
    "default": "Every streaming setting at its default (ours: flush_interval 30ms, GOP cache "
               "on; both: connection limits raised for the load, warnings-only logs), 2 "
               "workers each; nginx-rtmp with rtmp_auto_push on, its way to share a stream "
               "between workers.",
    "latency": "Few enough players that neither the server nor rtmp_bench is near saturation: "
               "the latency is what the server adds plus loopback and rtmp_bench's own reads "
               "(one clock, one process).",
    "startup": "One session at a time: play -> first key frame is the server's answer time, "
               "not a queue behind a burst's other sessions. nginx-rtmp has no GOP cache: "
               "its players wait for the next key frame (2 s GOP).",
    "slowbase": "The baseline of `slow`: the same players, duration and server settings, none slow.",
    "slow": "A tenth of the players read at SLOW_RATE x the source rate (rtmp_bench --slow-fraction, "
            "SO_RCVBUF 64 KB). Completeness and latency rows are the healthy players'; slow "
            "players are counted as skipped (connected, frames missing before the last one "
            "received), intact (connected, none missing) or disconnected. CPU per GB divides "
            "the server's CPU by every byte delivered, slow players' included. TCP memory is "
            "the kernel's for all sockets (/proc/net/sockstat): what a slow player has not "
            "read waits in the server's send buffer, outside Pss.",
}

# slow is compared with slowbase; the target is a change within this fraction
SLOW_BASE = {"slow": "slowbase"}
SLOW_TARGET = 0.10


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def hist(b, name, key):
    h = b.get(name) if b else None
    return h.get(key) if h else None


def run_metrics(r):
    """One run's derived numbers (None where not applicable)."""
    m = OrderedDict()
    b = load_json(r.get("bench_json", "")) if r.get("started") else None
    m["pass"] = bool(b and b.get("pass") and r.get("bench_rc") == 0)
    if not b:
        return m, b
    tck = r["clk_tck"]
    # busy as wall time less idle (measured at idle entry and exit), not as the busy ticks
    # that alias with a periodic load; runs recorded before cpu_idle_ticks have only those
    if "cpu_idle_ticks" in r:
        cpu0 = max(r["wall_s"] - r["cpu_idle_ticks"] / tck, 0.0)
    else:
        cpu0 = r["cpu_ticks"] / tck
    proc = r["proc_ticks"] / tck
    players = [p for p in b.get("per_player", [])]
    delivered = sum(p.get("bytes", 0) for p in players)
    m["players"] = b.get("players") or None
    m["sessions_ok"] = b.get("sessions_ok")
    m["sessions_failed"] = b.get("sessions_failed")
    m["complete_ok"] = b.get("completeness", {}).get("players_ok")
    m["complete_min"] = b.get("completeness", {}).get("min")
    m["complete_avg"] = b.get("completeness", {}).get("avg")
    m["delivered_mbps"] = b.get("delivered_mbps")
    m["delivered_gb"] = delivered / GB if delivered else None
    m["server_cpu_s_proc"] = proc
    m["server_cpu_s_cpu0"] = cpu0
    # the server CPU's background (other tenants), sampled while the server idled, scaled
    # to the run's wall time and taken off: an estimate, on a quiet machine close to zero
    if r.get("idle_wall_s"):
        if "idle_cpu_idle_ticks" in r:
            bg = max(1.0 - r["idle_cpu_idle_ticks"] / tck / r["idle_wall_s"], 0.0)
        else:
            bg = r["idle_cpu_ticks"] / tck / r["idle_wall_s"]
        m["cpu0_background"] = bg
        # above BG_MAX cores the other tenants' load swamps ours: no estimate
        cpu0_net = max(cpu0 - bg * r["wall_s"], 0.0) if bg <= BG_MAX else None
        m["server_cpu_s_cpu0_net"] = cpu0_net
    else:
        cpu0_net = None
    softirq = r.get("softirq_ticks", 0) / tck
    m["server_softirq_s"] = softirq
    # the server's own code against everything its CPU did (kernel sends, softirq included)
    if r.get("user_ticks") is not None and cpu0 > 0:
        m["user_share"] = r["user_ticks"] / tck / (cpu0_net if cpu0_net else cpu0)
    # the same over the measured window alone (rtmp_bench --probe-cpu): the steady state,
    # without the ramp's handshakes and connects, which are user-space work
    probe = b.get("probe_cpu")
    if probe and probe.get("busy_ticks"):
        m["user_share_window"] = probe["user_ticks"] / probe["busy_ticks"]
    if delivered:
        m["cpu_s_per_gb_proc"] = proc / (delivered / GB)
        m["cpu_s_per_gb_proc_softirq"] = (proc + softirq) / (delivered / GB)
        if "ksoftirqd_ticks" in r:
            ksoft = r["ksoftirqd_ticks"] / tck
            m["cpu_s_per_gb_proc_softirq_ksoftirqd"] = (proc + softirq + ksoft) / (delivered / GB)
        m["cpu_s_per_gb_cpu0"] = cpu0 / (delivered / GB)
        if "load_cpu_idle_ticks" in r and "cpu_idle_ticks" in r:
            both = 2 * r["wall_s"] - (r["cpu_idle_ticks"] + r["load_cpu_idle_ticks"]) / tck
            m["cpu_s_per_gb_both"] = max(both, 0.0) / (delivered / GB)
        if cpu0_net is not None:
            m["cpu_s_per_gb_cpu0_net"] = cpu0_net / (delivered / GB)
            # players one core could serve at this cost: a core's GB/s over one player's
            rate = b.get("delivered_mbps")
            if rate and m["players"] and cpu0_net > 0:
                player_bps = rate * 1e6 / 8 / m["players"]
                m["players_per_core"] = GB / (m["cpu_s_per_gb_cpu0_net"] * player_bps)
    # one player per stream: CPU per GB the publishers sent over the whole run (as the CPU
    # is counted), whatever the players received (a GOP-cache burst, a key-frame wait)
    published = b.get("published_bytes")
    if published and cpu0_net is not None and b.get("streams") == b.get("players"):
        m["cpu_s_per_published_gb_cpu0_net"] = cpu0_net / (published / GB)
    m["pss_base_mb"] = r["pss_base_kb"] / 1024
    m["pss_peak_mb"] = r["pss_peak_kb"] / 1024
    if r.get("tcp_mem_peak_kb") is not None:
        m["tcp_mem_peak_mb"] = (r["tcp_mem_peak_kb"] - r.get("tcp_mem_base_kb", 0)) / 1024
    healthy, slow = b.get("healthy"), b.get("slow")
    if slow and slow.get("players"):
        hbytes = healthy.get("bytes", 0) if healthy else 0
        if hbytes:
            m["cpu_s_per_gb_healthy_proc"] = proc / (hbytes / GB)
        m["slow_players"] = slow["players"]
        m["slow_skipped"] = slow.get("skipped")
        m["slow_intact"] = slow.get("intact")
        m["slow_disconnected"] = slow.get("disconnected")
        m["slow_disconnected_after_s"] = slow.get("disconnected_after_p50_s") or None
        m["slow_complete_avg"] = slow.get("complete_avg")
        m["slow_missing"] = slow.get("missing")
        m["slow_latency_p50_ms"] = hist(b, "slow_latency", "p50_ms")
        m["slow_latency_p99_ms"] = hist(b, "slow_latency", "p99_ms")
    ok = b.get("sessions_ok") or 0
    if r["mode"] == "idle" and ok:
        m["pss_per_session_kb"] = (r["pss_peak_kb"] - r["pss_base_kb"]) / ok
        m["cpu_ms_per_session_proc"] = proc * 1000 / ok
    if r["mode"] == "setup" and ok:
        m["setup_rate"] = b.get("setup_rate")
        m["cpu_ms_per_session_proc"] = proc * 1000 / ok
    m["latency_p50_ms"] = hist(b, "latency", "p50_ms")
    m["latency_p99_ms"] = hist(b, "latency", "p99_ms")
    m["latency_max_ms"] = hist(b, "latency", "max_ms")
    m["first_media_p50_ms"] = hist(b, "first_media", "p50_ms")
    m["first_media_p99_ms"] = hist(b, "first_media", "p99_ms")
    m["startup_p50_ms"] = hist(b, "startup", "p50_ms")
    m["startup_p99_ms"] = hist(b, "startup", "p99_ms")
    cpu = b.get("cpu", {})
    m["bench_cpu_s"] = (cpu.get("user_s") or 0) + (cpu.get("sys_s") or 0)
    m["bench_load"] = m["bench_cpu_s"] / r["wall_s"] if r.get("wall_s") else None
    m["server_procs"] = r.get("procs")
    return m, b


def median(vals):
    vals = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(vals) if vals else None


# (metric key, label, better) per mode; better: "lower" / "higher" / "" (context only)
ROWS = {
    "fanout": [
        ("delivered_mbps", "delivered Mbit/s (window)", ""),
        ("complete_ok", "players >= 98% complete", "higher"),
        ("sessions_failed", "players failed", "lower"),
        ("cpu_s_per_gb_proc", "CPU-s per GB, server processes", "lower"),
        ("cpu_s_per_gb_proc_softirq", "CPU-s per GB, processes + server CPU softirq", "lower"),
        ("cpu_s_per_gb_proc_softirq_ksoftirqd", "same + the server CPU's ksoftirqd", "lower"),
        ("cpu_s_per_gb_cpu0", "CPU-s per GB, server CPU busy (all of it)", "lower"),
        ("cpu_s_per_gb_cpu0_net", "same, minus background load", "lower"),
        ("cpu_s_per_gb_both", "CPU-s per GB, both CPUs busy (server and load together)", ""),
        ("cpu_s_per_published_gb_cpu0_net", "CPU-s per published GB, server CPU busy minus "
         "background", "lower"),
        ("cpu0_background", "background load on server CPU (cores)", ""),
        ("user_share", "user space, share of the server CPU's busy time", "lower"),
        ("user_share_window", "same, measured window alone (steady state)", "lower"),
        ("players_per_core", "players per core at this cost (server CPU busy)", "higher"),
        ("pss_peak_mb", "Pss peak MB", "lower"),
        ("tcp_mem_peak_mb", "kernel TCP memory peak MB (all sockets, over idle)", "lower"),
        ("latency_p50_ms", "latency p50 ms", "lower"),
        ("latency_p99_ms", "latency p99 ms", "lower"),
        ("latency_max_ms", "latency max ms", "lower"),
        ("startup_p50_ms", "startup p50 ms (play -> key frame)", "lower"),
        ("bench_load", "rtmp_bench load (cores; ~1 = client saturated)", ""),
    ],
    "idle": [
        ("sessions_ok", "sessions held", "higher"),
        ("sessions_failed", "sessions failed", "lower"),
        ("pss_per_session_kb", "Pss per session KB", "lower"),
        ("pss_peak_mb", "Pss peak MB", "lower"),
        ("cpu_ms_per_session_proc", "server CPU-ms per session", "lower"),
        ("bench_load", "rtmp_bench load (cores; ~1 = client saturated)", ""),
    ],
    "setup": [
        ("setup_rate", "sessions/s", "higher"),
        ("sessions_failed", "sessions failed", "lower"),
        ("first_media_p50_ms", "play -> first media p50 ms", "lower"),
        ("first_media_p99_ms", "play -> first media p99 ms", "lower"),
        ("startup_p50_ms", "play -> first key frame p50 ms", "lower"),
        ("startup_p99_ms", "play -> first key frame p99 ms", "lower"),
        ("cpu_ms_per_session_proc", "server CPU-ms per session", "lower"),
        ("pss_peak_mb", "Pss peak MB", "lower"),
        ("bench_load", "rtmp_bench load (cores; ~1 = client saturated)", ""),
    ],
}


# Extra rows of a run with slow readers (after the fan-out ones).
SLOW_ROWS = [
    ("cpu_s_per_gb_healthy_proc", "CPU-s per GB of healthy players' bytes, processes", "lower"),
    ("slow_players", "slow players", ""),
    ("slow_skipped", "slow: connected, frames skipped", ""),
    ("slow_intact", "slow: connected, none skipped", ""),
    ("slow_disconnected", "slow: disconnected", ""),
    ("slow_disconnected_after_s", "slow: disconnected after (p50 s from play)", ""),
    ("slow_complete_avg", "slow: completeness avg (after the drain)", ""),
    ("slow_missing", "slow: frames missing, all slow players", ""),
    ("slow_latency_p50_ms", "slow: latency p50 ms", ""),
    ("slow_latency_p99_ms", "slow: latency p99 ms", ""),
]

SUMMARY = {
    "fanout": [
        ("complete_ok", "players >= 98% complete", "higher"),
        ("cpu_s_per_gb_proc", "CPU-s per GB (processes)", "lower"),
        ("cpu_s_per_gb_proc_softirq", "CPU-s per GB (+ softirq)", "lower"),
        ("pss_peak_mb", "Pss peak MB", "lower"),
        ("latency_p50_ms", "latency p50 ms", "lower"),
        ("latency_p99_ms", "latency p99 ms", "lower"),
    ],
    "idle": [
        ("pss_per_session_kb", "Pss per session KB", "lower"),
        ("cpu_ms_per_session_proc", "CPU-ms per session", "lower"),
    ],
    "setup": [
        ("setup_rate", "sessions/s (completed)", "higher"),
        ("sessions_failed", "sessions failed", "lower"),
        ("first_media_p50_ms", "play -> first media p50 ms", "lower"),
        ("startup_p50_ms", "play -> key frame p50 ms", "lower"),
        ("startup_p99_ms", "play -> key frame p99 ms", "lower"),
    ],
}


def targets(scenarios, run=None):
    """The performance targets rtmp_server is held to: (target, what was measured, "met" /
    "missed" / "not measured"), judged from the medians, or with run=N from the Nth run of
    every server alone (the servers alternate, so run N of each saw the same machine)."""
    def med(sc, key, srv="ours"):
        s = scenarios.get(sc, {}).get("servers", {}).get(srv, {})
        if run is None:
            return s.get("median", {}).get(key)
        for r in s.get("runs", []):
            if r["run"] == run:
                return r["metrics"].get(key)
        return None

    def rat(sc, key, other="nginx"):
        return ratio(med(sc, key), med(sc, key, other))

    cpu = "cpu_s_per_gb_cpu0_net"
    rows = []

    def judge(what, value, limit, higher=False, shown=None):
        if value is None:
            rows.append((what, "—", "not measured"))
            return
        ok = value >= limit if higher else value <= limit
        rows.append((what, shown if shown is not None else fmt(value), "met" if ok else "missed"))

    def complete(sc):
        ok, n = med(sc, "complete_ok"), med(sc, "players")
        if ok is None or not n:
            rows.append((f"{sc}: every player >= 98% complete", "—", "not measured"))
        else:
            rows.append((f"{sc}: every player >= 98% complete", f"{fmt(ok)} of {fmt(n)}",
                         "met" if ok >= n else "missed"))

    judge("default: CPU per GB <= 0.6x nginx-rtmp (2 workers, rtmp_auto_push)",
          rat("default", cpu), 0.6)
    # nginx-rtmp's own default is one worker; srsload is the same load with nginx-rtmp
    # at its defaults (our flush_interval there does not touch its run)
    judge("default: CPU per GB <= 0.6x nginx-rtmp (its default: 1 worker, same load)",
          ratio(med("default", cpu), med("srsload", cpu, "nginx")), 0.6)
    judge("default: latency p99 <= 50 ms", med("default", "latency_p99_ms"), 50)
    judge("default: startup p50 <= 50 ms", med("default", "startup_p50_ms"), 50)
    complete("default")
    judge("lowlat (window 0): CPU per GB <= 0.9x nginx-rtmp", rat("lowlat", cpu), 0.9)
    judge("latency (window 0): latency p99 <= 5 ms", med("latency", "latency_p99_ms"), 5)
    # judged in the steady state: over the whole run the ramp's 2,000 handshakes count too
    # (runs recorded before rtmp_bench --probe-cpu have the whole run's alone)
    share, whole = med("lowlat", "user_share_window"), med("lowlat", "user_share")
    shown = " ".join(x for x in (share is not None and f"{share:.1%}",
                                 whole is not None and f"({whole:.1%})") if x)
    judge("lowlat (window 0): user space <= 10% of the server CPU in the steady state "
          "(whole run in brackets)", share if share is not None else whole, 0.10,
          shown=shown or None)
    srs = rat("srsload", cpu, "srs")
    if srs is not None:
        judge("srsload (100 ms): CPU per GB <= SRS's (350 ms)", srs, 1.0)
        judge("srsload (100 ms): latency p99 under a third of SRS's",
              ratio(med("srsload", "latency_p99_ms"), med("srsload", "latency_p99_ms", "srs")),
              1 / 3)
    else:
        # no SRS here: its figures at this load from the issue's own harness, as ratios
        # to nginx-rtmp measured with it (1.5 / 5.6 CPU-s per GB; p99 370 ms)
        judge("srsload (100 ms): CPU per GB <= SRS's, i.e. <= 0.27x nginx-rtmp's "
              "(SRS not run: its published ratio)", rat("srsload", cpu), 1.5 / 5.6)
        judge("srsload (100 ms): latency p99 under a third of SRS's 370 ms",
              med("srsload", "latency_p99_ms"), 370 / 3)
    judge("coalesce100: >= 6,000 players per core", med("coalesce100", "players_per_core"),
          6000, higher=True)
    judge("streams: CPU per GB <= 0.7x nginx-rtmp", rat("streams", cpu), 0.7)
    judge("ingest: CPU per published GB <= 0.6x nginx-rtmp",
          rat("ingest", "cpu_s_per_published_gb_cpu0_net"), 0.6)
    judge("idle: <= 8 KiB per session", med("idle", "pss_per_session_kb"), 8)
    judge("coalesce100: Pss <= 40 MB at 3,000 players", med("coalesce100", "pss_peak_mb"), 40)
    judge("setup: >= 2x nginx-rtmp's sessions/s", rat("setup", "setup_rate"), 2, higher=True)
    judge("startup: play -> key frame p99 <= 2 ms", med("startup", "startup_p99_ms"), 2)
    for key, what in (("cpu_s_per_gb_cpu0", "CPU per GB"), ("latency_p99_ms", "latency p99")):
        a, b = med("slow", key), med("slowbase", key)
        judge(f"slow: healthy players' {what} within +10%",
              None if a is None or not b else a / b - 1, SLOW_TARGET,
              shown=None if a is None or not b else f"{a / b - 1:+.1%}")
    judge("workers2: CPU per GB <= 1.1x one worker's (lowlat)",
          ratio(med("workers2", cpu), med("lowlat", cpu)), 1.1)
    complete("workers2")
    return rows


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--machine", default="")
    ap.add_argument("--settings", default="")
    ap.add_argument("--nginx-version", default="")
    a = ap.parse_args()

    runs = []
    with open(a.runs) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    if not runs:
        print("bench_report: no runs", file=sys.stderr)
        return 1

    scenarios = OrderedDict()
    servers = []
    for r in runs:
        sc = scenarios.setdefault(r["scenario"], OrderedDict(
            what=r.get("what", ""), mode=r["mode"], streams=r["streams"], players=r["players"],
            flush_interval=r["flush_interval"], workers=r["workers"],
            slow_fraction=float(r.get("slow_fraction") or 0), slow_rate=r.get("slow_rate"),
            servers=OrderedDict()))
        if r["server"] not in servers:
            servers.append(r["server"])
        s = sc["servers"].setdefault(r["server"], OrderedDict(runs=[], notes=[], errors={}))
        m, b = run_metrics(r)
        s["runs"].append(OrderedDict(run=r["run"], started=r["started"], bench_rc=r["bench_rc"],
                                     dir=r.get("dir"), metrics=m))
        if r.get("note"):
            s["notes"].append(f"run {r['run']}: {r['note'].strip()}")
        for e in (b or {}).get("errors", []):
            s["errors"][e["reason"]] = s["errors"].get(e["reason"], 0) + e["count"]
    # "ours" first, then the others in the order seen
    seen = list(servers)
    servers.sort(key=lambda x: (x != "ours", seen.index(x)))
    others = [x for x in servers if x != "ours"]

    for sc in scenarios.values():
        sc["rows"] = list(ROWS[sc["mode"]])
        if sc.get("slow_fraction"):
            sc["rows"] += SLOW_ROWS
    for sc in scenarios.values():
        for s in sc["servers"].values():
            keys = OrderedDict()
            for run in s["runs"]:
                for k in run["metrics"]:
                    keys[k] = True
            med = OrderedDict()
            for k in keys:
                if k == "pass":
                    continue
                med[k] = median([run["metrics"].get(k) for run in s["runs"]])
            s["passed"] = sum(1 for run in s["runs"] if run["metrics"].get("pass"))
            s["median"] = med
        ours = sc["servers"].get("ours", {}).get("median", {})
        sc["ratios"] = OrderedDict()
        for o in others:
            om = sc["servers"].get(o, {}).get("median", {})
            sc["ratios"][f"ours/{o}"] = OrderedDict(
                (k, ratio(ours.get(k), om.get(k)))
                for k, _, _ in sc["rows"] + SUMMARY[sc["mode"]])

    # slow readers against their baseline, per server: the change the target bounds
    slow_cmp = OrderedDict()
    for name, base in SLOW_BASE.items():
        if name not in scenarios or base not in scenarios:
            continue
        rows = OrderedDict()
        for srv in servers:
            sm = scenarios[name]["servers"].get(srv, {}).get("median", {})
            bm = scenarios[base]["servers"].get(srv, {}).get("median", {})
            if not sm or not bm:
                continue
            row = OrderedDict()
            for key in ("cpu_s_per_gb_proc", "cpu_s_per_gb_proc_softirq",
                        "cpu_s_per_gb_proc_softirq_ksoftirqd", "cpu_s_per_gb_cpu0",
                        "cpu_s_per_gb_cpu0_net", "latency_p50_ms",
                        "latency_p99_ms", "pss_peak_mb", "tcp_mem_peak_mb"):
                a_, b_ = sm.get(key), bm.get(key)
                row[key] = OrderedDict(base=b_, slow=a_, change=(
                    a_ / b_ - 1 if a_ is not None and b_ else None))
            row["healthy_complete"] = OrderedDict(
                base=bm.get("complete_ok"), slow=sm.get("complete_ok"))
            rows[srv] = row
        slow_cmp[name] = OrderedDict(base=base, servers=rows)

    # ---- markdown ----
    out = []
    head = ["metric", "better"] + servers + [f"ours/{o}" for o in others]
    out.append(f"Machine: {a.machine}  ")
    out.append(f"Settings: {a.settings}  ")
    if a.nginx_version:
        out.append(f"nginx: {a.nginx_version} with libnginx-mod-rtmp  ")
    out.append("Medians over runs; ratios are ours / other (below 1 is better for \"lower\" rows).")
    out.append("")
    goals = targets(scenarios)
    # each run judged alone shows how far a verdict stands from this machine's noise
    run_numbers = sorted({r["run"] for sc in scenarios.values()
                          for s in sc["servers"].values() for r in s["runs"]})
    per_run = [targets(scenarios, run=n) for n in run_numbers]
    out.append("| target | measured (median) | each run | met in | |")
    out.append("|---|---:|---:|---:|---|")
    for i, (what, value, verdict) in enumerate(goals):
        each = [judged[i] for judged in per_run]
        shown = " / ".join(v for _, v, _ in each)
        verdicts = [j for _, _, j in each if j != "not measured"]
        met = f"{verdicts.count('met')} of {len(verdicts)}" if verdicts else "—"
        out.append(f"| {what} | {value} | {shown} | {met} | {verdict} |")
    out.append("")
    # the summary: a few numbers per scenario, details below
    out.append("| scenario | metric | better | " + " | ".join(servers) + " | " +
               " | ".join(f"ours/{o}" for o in others) + " |")
    out.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(servers) + len(others))) + "|")
    for name, sc in scenarios.items():
        passes = ", ".join(f"{srv} {sc['servers'][srv]['passed']}/{len(sc['servers'][srv]['runs'])}"
                           for srv in servers if srv in sc["servers"])
        first = True
        for key, label, better in SUMMARY[sc["mode"]]:
            row = [f"{name} (runs passed: {passes})" if first else "", label, better]
            first = False
            for srv in servers:
                row.append(fmt(sc["servers"].get(srv, {}).get("median", {}).get(key)))
            for o in others:
                v = sc["ratios"][f"ours/{o}"].get(key)
                row.append("—" if v is None else f"{v:.2f}")
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    for name, cmp_ in slow_cmp.items():
        out.append(f"### {name} against {cmp_['base']}: change with slow readers "
                   f"(target: within {SLOW_TARGET:.0%} for CPU per GB and healthy p99)")
        out.append("")
        out.append("| server | metric | " + cmp_["base"] + " | " + name + " | change | target |")
        out.append("|---|---|---:|---:|---:|---|")
        labels = {"cpu_s_per_gb_proc": "CPU-s per GB (processes)",
                  "cpu_s_per_gb_proc_softirq": "CPU-s per GB (+ softirq)",
                  "cpu_s_per_gb_proc_softirq_ksoftirqd": "CPU-s per GB (+ softirq + ksoftirqd)",
                  "cpu_s_per_gb_cpu0": "CPU-s per GB (server CPU busy)",
                  "cpu_s_per_gb_cpu0_net": "CPU-s per GB (server CPU busy, net of background)",
                  "latency_p50_ms": "healthy latency p50 ms",
                  "latency_p99_ms": "healthy latency p99 ms",
                  "pss_peak_mb": "Pss peak MB",
                  "tcp_mem_peak_mb": "kernel TCP memory peak MB"}
        for srv, row in cmp_["servers"].items():
            for key, label in labels.items():
                v = row[key]
                ch = v["change"]
                judged = key in ("cpu_s_per_gb_proc_softirq_ksoftirqd", "cpu_s_per_gb_cpu0",
                                 "latency_p99_ms")
                verdict = ("—" if not judged or ch is None else
                           "met" if ch <= SLOW_TARGET else "missed")
                out.append(f"| {srv} | {label} | {fmt(v['base'])} | {fmt(v['slow'])} | "
                           f"{'—' if ch is None else f'{ch:+.1%}'} | {verdict} |")
            hc = row["healthy_complete"]
            out.append(f"| {srv} | healthy players >= 98% | {fmt(hc['base'])} | "
                       f"{fmt(hc['slow'])} | | |")
        out.append("")
    for name, sc in scenarios.items():
        passes = ", ".join(
            f"{srv} {sc['servers'][srv]['passed']}/{len(sc['servers'][srv]['runs'])}"
            for srv in servers if srv in sc["servers"])
        out.append(f"### {name} — {sc['what']}")
        out.append("")
        out.append(f"streams {sc['streams']}, players/sessions {sc['players']}, "
                   f"flush_interval {sc['flush_interval']} (ours), workers {sc['workers']}; "
                   f"runs passed: {passes}")
        out.append("")
        if name in NOTES:
            out.append(NOTES[name])
            out.append("")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
        for key, label, better in sc["rows"]:
            row = [label, better]
            for srv in servers:
                row.append(fmt(sc["servers"].get(srv, {}).get("median", {}).get(key)))
            for o in others:
                v = sc["ratios"][f"ours/{o}"].get(key)
                row.append("—" if v is None else f"{v:.2f}")
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        for srv in servers:
            s = sc["servers"].get(srv)
            if not s:
                continue
            for n in s["notes"]:
                out.append(f"- {srv} {n}")
            if s["errors"]:
                top = sorted(s["errors"].items(), key=lambda kv: -kv[1])[:3]
                out.append(f"- {srv} rtmp_bench errors (all runs): " +
                           "; ".join(f"{c} × {r}" for r, c in top))
        out.append("")
    md = "\n".join(out)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md + "\n")
    doc = OrderedDict(generated=time.strftime("%Y-%m-%dT%H:%M:%S%z"), machine=a.machine,
                      settings=a.settings, nginx=a.nginx_version, servers=servers,
                      targets=[OrderedDict(target=t, measured=v, verdict=j,
                                           runs=[judged[i][1] for judged in per_run],
                                           met_in_runs=sum(judged[i][2] == "met"
                                                           for judged in per_run))
                               for i, (t, v, j) in enumerate(goals)],
                      scenarios=scenarios, slow_comparison=slow_cmp)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(md)
    print(f"\nwritten: {os.path.join(a.out, 'results.md')}, {os.path.join(a.out, 'results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
