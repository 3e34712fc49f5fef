"""rtmp_bench against a throwaway nginx-rtmp: a small fan-out must pass with every player
complete and latency figures in its JSON report; with slow readers, the healthy players and the
slow ones are reported apart."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import (BENCH, check, free_port, nginx_rtmp, skip, start_nginx_rtmp, stop_process)

PLAYERS = 20
SECONDS = 5



def _cpu0_ticks():
    """CPU 0's (idle, user) ticks from /proc/stat, counted as rtmp_bench --probe-cpu does:
    idle+iowait+steal, user+nice."""
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v[0] == "cpu0":
                user, nice, _system, idle, iowait, _irq, _softirq, steal = map(int, v[1:9])
                return idle + iowait + steal, user + nice
    raise AssertionError("no cpu0 line in /proc/stat")


def _tools():
    nginx = nginx_rtmp()
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        skip("ffmpeg is not installed")
    if not os.access(BENCH, os.X_OK):
        skip("RTMP_BENCH=%s is not an executable (build it with make)" % BENCH)
    return nginx, ffmpeg


def _nginx_and_clip(nginx, ffmpeg, tmp):
    """A 5 s clip and nginx-rtmp on a free port: (clip, port, proc)."""
    # key frame every second, so players start quickly on a server with no GOP cache
    clip = os.path.join(tmp, "clip.flv")
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                    "-f", "lavfi", "-i", "sine", "-t", "5",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-b:v", "1000k",
                    "-c:a", "aac", "-f", "flv", clip],
                   check=True, timeout=20, stdin=subprocess.DEVNULL,
                   capture_output=True)

    port = free_port()
    proc = start_nginx_rtmp(nginx, tmp, port)
    return clip, port, proc


def test_bench_fanout_nginx_rtmp():
    nginx, ffmpeg = _tools()
    tmp = tempfile.mkdtemp(prefix="rtmp_bench_e2e_")
    proc = None
    try:
        clip, port, proc = _nginx_and_clip(nginx, ffmpeg, tmp)
        report = os.path.join(tmp, "bench.json")
        t0 = time.monotonic()
        outer0 = _cpu0_ticks()
        run = subprocess.run([BENCH, "--port", str(port), "--flv", clip, "--players",
                              str(PLAYERS), "--duration", str(SECONDS), "--json", report,
                              "--probe-cpu", "0"],
                             capture_output=True, text=True, timeout=25,
                             stdin=subprocess.DEVNULL)
        outer1 = _cpu0_ticks()
        took = time.monotonic() - t0
        check(os.path.exists(report),
              "no JSON report; rtmp_bench said:\n%s%s" % (run.stdout, run.stderr))
        with open(report) as f:
            r = json.load(f)
        check(run.returncode == 0 and r["pass"],
              "run failed (exit %d):\n%s%s" % (run.returncode, run.stdout, run.stderr))
        check(r["sessions_ok"] == PLAYERS and r["sessions_failed"] == 0,
              "sessions: %d ok, %d failed" % (r["sessions_ok"], r["sessions_failed"]))
        players = r["per_player"]
        check(len(players) == PLAYERS, "%d players in the report" % len(players))
        low = [p for p in players if p["complete"] < 0.98]
        check(not low, "players under 98%%: %s" % low[:5])
        check(all(p["received"] > 0 for p in players), "a player received no media")
        lat = r["latency"]
        check(lat is not None and lat["samples"] > 0, "no latency samples")
        for k in ("p50_ms", "p99_ms", "max_ms"):
            check(k in lat and 0 <= lat[k] < 5000, "latency %s: %r" % (k, lat.get(k)))
        check(lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"] + 0.001,
              "latency percentiles out of order: %r" % lat)
        start = r["startup"]
        check(start is not None and start["samples"] == PLAYERS,
              "startup samples: %r" % start)
        check(r["delivered_mbps"] > 0 and r["source_mbps"] > 0, "no bit rates")
        # the one publisher's bytes, paced in real time: the measured seconds at least
        published_s = r["published_bytes"] * 8 / 1e6 / r["source_mbps"]
        check(0.9 * SECONDS <= published_s <= took + 1,
              "published %d bytes: %.1f s of the source in a %.1f s run"
              % (r["published_bytes"], published_s, took))
        check(r["errors"] == [], "errors: %r" % r["errors"])
        check(took < 25, "rtmp_bench took %.1f s" % took)
        # CPU 0 over the measured window lies within what this test saw around the whole run
        probe = r["probe_cpu"]
        check(probe["cpu"] == 0 and abs(probe["seconds"] - SECONDS) < 0.5,
              "probe_cpu: %r" % probe)
        # busy is wall time less idle; each idle reading is rounded to a tick
        outer_busy = took * probe["clk_tck"] - (outer1[0] - outer0[0])
        check(probe["busy_ticks"] <= outer_busy + 2
              and probe["user_ticks"] <= outer1[1] - outer0[1],
              "probe_cpu %r against %.1f busy ticks and %r .. %r around the run"
              % (probe, outer_busy, outer0, outer1))
    finally:
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


test_bench_fanout_nginx_rtmp.TIME_LIMIT = 30

SLOW_PLAYERS = 10
SLOW_SECONDS = 4


def test_bench_slow_readers():
    """--slow-fraction 0.3: 3 of 10 players read at a quarter of the source rate."""
    nginx, ffmpeg = _tools()
    tmp = tempfile.mkdtemp(prefix="rtmp_bench_e2e_")
    proc = None
    try:
        clip, port, proc = _nginx_and_clip(nginx, ffmpeg, tmp)
        bad = subprocess.run([BENCH, "--flv", clip, "--mode", "idle", "--slow-fraction", "0.5"],
                             capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
        check(bad.returncode == 2, "--slow-fraction accepted outside fanout: %d" % bad.returncode)
        report = os.path.join(tmp, "bench.json")
        run = subprocess.run([BENCH, "--port", str(port), "--flv", clip, "--players",
                              str(SLOW_PLAYERS), "--duration", str(SLOW_SECONDS),
                              "--slow-fraction", "0.3", "--slow-rate", "0.25",
                              "--json", report],
                             capture_output=True, text=True, timeout=25,
                             stdin=subprocess.DEVNULL)
        check(os.path.exists(report),
              "no JSON report; rtmp_bench said:\n%s%s" % (run.stdout, run.stderr))
        with open(report) as f:
            r = json.load(f)
        out = run.stdout + run.stderr
        check(run.returncode == 0 and r["pass"], "run failed (exit %d):\n%s" % (run.returncode, out))
        check(r["slow_fraction"] == 0.3 and r["slow_rate"] == 0.25, "settings: %r" % r)
        h, sl = r["healthy"], r["slow"]
        check(h["players"] == 7 and sl["players"] == 3, "groups: %r / %r" % (h, sl))
        check(h["complete"] == 7 and h["disconnected"] == 0, "healthy: %r" % h)
        check(sl["connected"] + sl["disconnected"] == 3 and
              sl["skipped"] + sl["intact"] == sl["connected"], "slow: %r" % sl)
        players = r["per_player"]
        check(sum(1 for p in players if p["slow"]) == 3, "slow flags: %r" % players)
        # a quarter of the rate for 4 s: the slow players fall seconds behind (the bytes
        # even out in the drain, when they read freely)
        check(r["slow_latency"] is not None and r["slow_latency"]["samples"] > 0,
              "no slow latency: %r" % r["slow_latency"])
        check(r["slow_latency"]["p99_ms"] > max(500.0, 2 * r["latency"]["p99_ms"]),
              "slow players not behind: %r / healthy %r" % (r["slow_latency"], r["latency"]))
        check("slow players" in run.stdout, "no slow line in the text report:\n%s" % run.stdout)
    finally:
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


test_bench_slow_readers.TIME_LIMIT = 30
