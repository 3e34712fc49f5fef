#!/usr/bin/env bash
# bench.sh: rtmp_server side by side with nginx-rtmp (and SRS) under rtmp_bench; `make bench`.
#
# Every scenario runs against every server, alternating, RUNS times; each run starts the
# server afresh on its own free loopback port, pinned to SERVER_CPU, with rtmp_bench pinned
# to BENCH_CPU. Per run: server CPU from /proc/stat (SERVER_CPU's wall time less its idle
# time, so loopback softirq counts) and from /proc/PID/stat (utime+stime of master and workers),
# peak Pss from /proc/PID/smaps_rollup, peak kernel TCP memory (/proc/net/sockstat, both ends
# of every loopback connection), and rtmp_bench's JSON. scripts/bench_report.py takes
# the medians and writes build/bench/results.{json,md}.
#
# Knobs (environment):
#   QUICK=1        SCALE=0.1 RUNS=1 DURATION=8 unless those are given
#   SCALE=1        multiplies player, publisher and session counts
#   RUNS=3         runs per scenario and server (medians are reported)
#   DURATION=20    measured seconds per fan-out / idle / setup run
#   SLOW_DURATION=60  measured seconds of the slow and slowbase runs: at half rate a player
#                  falls behind by half the time, and the server's send buffer (up to 4 MB
#                  autotuned) hides the first ~12 s of that at 2.5 Mbit/s
#   SLOW_RATE=0.5  slow players' read rate, a fraction of the source rate
#   SCENARIOS=...  space-separated subset of the scenario names below (default: all)
#   SERVERS=...    default "ours nginx" (+ "srs" when SRS_BIN is set)
#   SRS_BIN=PATH   an SRS binary to compare too
#   CHUNK_SIZE=N   set this chunk size explicitly on every server (default: each one's default)
#   OURS_BIN, BENCH_BIN  binaries to use (default ./rtmp_server, ./rtmp_bench)
#   SERVER_CPU=0 BENCH_CPU=1, BENCH_DIR=build/bench, NGINX_BIN=nginx,
#   NGINX_RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
#
# `make bench` runs this with sh; it re-executes itself under bash.
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

if [ "${QUICK:-0}" = 1 ]; then
    SCALE=${SCALE:-0.1}
    RUNS=${RUNS:-1}
    DURATION=${DURATION:-8}
fi
SCALE=${SCALE:-1}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
BENCH_DIR=${BENCH_DIR:-build/bench}
NGINX_BIN=${NGINX_BIN:-nginx}
NGINX_RTMP_MODULE=${NGINX_RTMP_MODULE:-/usr/lib/nginx/modules/ngx_rtmp_module.so}
SRS_BIN=${SRS_BIN:-}
CHUNK_SIZE=${CHUNK_SIZE:-}
if [ -z "${SERVERS:-}" ]; then
    SERVERS="ours nginx"
    [ -n "$SRS_BIN" ] && SERVERS="$SERVERS srs"
fi
OURS_BIN=${OURS_BIN:-$ROOT/rtmp_server}
BENCH_BIN=${BENCH_BIN:-$ROOT/rtmp_bench}
IDLE_PROBE=${IDLE_PROBE:-2} # seconds of the server CPU's background load sampled before each run
NOFILE=20000 # sessions plus slack; the hard limit is raised where we may

# Scenarios: name|mode|media|streams|players (burst in setup mode)|flush_interval|workers|
# slow fraction (fanout: players reading at SLOW_RATE)|what
# Counts are at SCALE=1; streams and players scale (at least 1), except in latency and
# startup, whose point is a load that saturates neither side. flush_interval "-" leaves the
# server's default. `slow` is compared with `slowbase`, the same run without slow readers,
# which runs first whenever slow does.
SCENARIO_TABLE="
default|fanout|600k|1|1000|-|2|0|default configuration: 1,000 players x 600 kbit/s, 2 workers, every streaming setting at its default
lowlat|fanout|720p|1|2000|0|1|0|low-latency fan-out: 2,000 players x 2.5 Mbit/s, flush_interval 0
latency|fanout|720p|1|100|0|1|0|added latency: 100 players x 2.5 Mbit/s, flush_interval 0, neither side near saturation
coalesce100|fanout|720p|1|3000|100ms|1|0|coalesced fan-out: 3,000 players x 2.5 Mbit/s, flush_interval 100ms
coalesce33|fanout|720p|1|3000|33ms|1|0|coalesced fan-out: 3,000 players x 2.5 Mbit/s, flush_interval 33ms
srsload|fanout|600k|1|1000|100ms|1|0|SRS's reference load: 1,000 players x 600 kbit/s, flush_interval 100ms
fanout600k|fanout|600k|1|3000|0|1|0|600 kbit/s fan-out: 3,000 players
streams|fanout|720p|100|200|-|1|0|many streams: 100 publishers x 2 players, 2.5 Mbit/s, default flush_interval
ingest|fanout|600k|500|500|-|1|0|ingest: 500 publishers x 600 kbit/s, one player each, default flush_interval
idle|idle|-|0|10000|0|1|0|idle: 10,000 quiet sessions (handshake + connect)
setup|setup|720p|1|1000|0|1|0|setup burst: 1,000 full play sessions at once (to the first media message)
startup|setup|720p|1|1|0|1|0|startup: one play session at a time onto a GOP-cached stream, to its first key frame
workers2|fanout|720p|1|2000|0|2|0|two workers: 2,000 players x 2.5 Mbit/s, worker_processes 2
slowbase|fanout|720p|1|2000|-|1|0|slow-reader baseline: 2,000 players x 2.5 Mbit/s, none slow, default flush_interval
slow|fanout|720p|1|2000|-|1|0.1|slow readers: 2,000 players x 2.5 Mbit/s, 10% of them reading at SLOW_RATE, default flush_interval
"
SCENARIOS=${SCENARIOS:-$(printf '%s\n' "$SCENARIO_TABLE" | awk -F'|' 'NF>1{printf "%s ", $1}')}
SLOW_DURATION=${SLOW_DURATION:-60}
SLOW_RATE=${SLOW_RATE:-0.5}
# slow is reported against slowbase: run the baseline first when it was not asked for
case " $SCENARIOS " in
    *" slow "*) case " $SCENARIOS " in *" slowbase "*) ;; *) SCENARIOS="slowbase $SCENARIOS" ;; esac ;;
esac

log() { printf 'bench: %s\n' "$*" >&2; }

# ---- cleanup: everything we start is tracked by pid ------------------------------------------

SERVER_PID=""
BENCH_PID=""
SAMPLER_PID=""

# The pid and its descendants (our server's and nginx's workers), parents first.
tree_pids() {
    local p=$1 c
    [ -d "/proc/$p" ] || return 0
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do
        tree_pids "$c"
    done
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pids i
    pids=$(tree_pids "$SERVER_PID")
    kill -TERM "$SERVER_PID" 2>/dev/null
    for i in $(seq 1 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    for p in $pids; do
        kill -KILL "$p" 2>/dev/null
    done
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

cleanup() {
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; fi
    if [ -n "$BENCH_PID" ]; then kill -TERM "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null; fi
    SAMPLER_PID=""
    BENCH_PID=""
    stop_server
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---- checks -------------------------------------------------------------------------------

for tool in ffmpeg taskset python3 ps timeout; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool is needed"; exit 1; }
done
[ -x "$OURS_BIN" ] && [ -x "$BENCH_BIN" ] || { log "build first: make"; exit 1; }
NCPU=$(getconf _NPROCESSORS_ONLN)
if [ "$NCPU" -le "$SERVER_CPU" ] || [ "$NCPU" -le "$BENCH_CPU" ]; then
    log "SERVER_CPU=$SERVER_CPU / BENCH_CPU=$BENCH_CPU need more than $NCPU CPUs"
    exit 1
fi
ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$BENCH_DIR/media"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
CLK_TCK=$(getconf CLK_TCK)

# ---- media: generated once, kept in the cache dir ------------------------------------------

# name WxH video_kbit audio_kbit seconds
make_media() {
    local out="$BENCH_DIR/media/$1.flv"
    [ -s "$out" ] && return 0
    log "generating $out ($2, $3+$4 kbit/s, $5 s)"
    ffmpeg -hide_banner -loglevel error -nostdin -y \
        -f lavfi -i "testsrc2=size=$2:rate=30" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$5" \
        -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p \
        -g 60 -keyint_min 60 -sc_threshold 0 \
        -b:v "${3}k" -minrate "${3}k" -maxrate "${3}k" -bufsize "${3}k" -x264-params nal-hrd=cbr \
        -c:a aac -b:a "${4}k" -ac 2 -f flv "$out.tmp" && mv "$out.tmp" "$out"
}
make_media 720p 1280x720 2370 128 15 || { log "ffmpeg failed"; exit 1; }
make_media 600k 640x360 536 64 15 || { log "ffmpeg failed"; exit 1; }

# From here on this shell, the samplers and rtmp_bench stay off the server's CPU.
taskset -p -c "$BENCH_CPU" $$ >/dev/null

# ---- server configurations -----------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# dir port workers flush
conf_ours() {
    local chunk="" flush=""
    [ -n "$CHUNK_SIZE" ] && chunk="chunk_size = $CHUNK_SIZE;"
    [ "$4" != - ] && flush="flush_interval = \"$4\";"
    cat > "$1/rtmp.conf" <<EOF
worker_processes = $3;
worker_connections = 16384;
worker_rlimit_nofile = $NOFILE;
pid = "$1/rtmp_server.pid";
error_log = "$1/error.log";
log_level = "warn";
rtmp = {
    $chunk
    server = ( {
        listen = "127.0.0.1:$2";
        application = ( { name = "live"; live = true; $flush } );
    } );
};
EOF
    echo "$OURS_BIN -c $1/rtmp.conf"
}

conf_nginx() {
    local chunk="" push=""
    [ -n "$CHUNK_SIZE" ] && chunk="chunk_size $CHUNK_SIZE;"
    # live streams across workers only with auto_push (and it relays over unix sockets)
    [ "$3" -gt 1 ] && push="rtmp_auto_push on; rtmp_socket_dir $1;"
    cat > "$1/nginx.conf" <<EOF
load_module $NGINX_RTMP_MODULE;
daemon off;
master_process on;
user root;
worker_processes $3;
worker_rlimit_nofile $NOFILE;
error_log $1/error.log warn;
pid $1/nginx.pid;
events { worker_connections 16384; }
$push
rtmp {
    server {
        listen 127.0.0.1:$2;
        $chunk
        application live { live on; }
    }
}
EOF
    echo "$NGINX_BIN -p $1 -e $1/error.log -c $1/nginx.conf"
}

conf_srs() {
    local chunk=""
    [ -n "$CHUNK_SIZE" ] && chunk="chunk_size $CHUNK_SIZE;"
    cat > "$1/srs.conf" <<EOF
listen 127.0.0.1:$2;
max_connections $((NOFILE - 1000));
daemon off;
pid $1/srs.pid;
srs_log_tank file;
srs_log_file $1/error.log;
srs_log_level warn;
$chunk
vhost __defaultVhost__ { }
EOF
    echo "$SRS_BIN -c $1/srs.conf"
}

# ---- measurement ---------------------------------------------------------------------------

# "busy softirq idle time" of the server CPU (or of the CPU given): busy =
# user+nice+system+irq+softirq ticks, softirq = irq+softirq alone (the loopback delivery
# work no process is charged for), idle = idle+iowait+steal, and the time of the reading.
# busy is counted by timer ticks, which a load that wakes in short periodic bursts aliases
# with: a streams run counted nginx-rtmp's CPU busy for less time than its own processes
# ran. A tickless kernel measures idle at each idle entry and exit, so wall time less idle
# is the busy time the report uses. The load's CPU is read too: loopback does part of each
# side's TCP work in the other's softirq (a segment Nagle held back leaves when the client's
# ACK arrives, on its CPU), so both CPUs' busy time is reported as well.
cpu_ticks() {
    local name user nice system idle iowait irq softirq steal rest
    while read -r name user nice system idle iowait irq softirq steal rest; do
        if [ "$name" = "cpu${1:-$SERVER_CPU}" ]; then
            echo "$((user + nice + system + irq + softirq)) $((irq + softirq))" \
                "$((idle + iowait + steal)) $EPOCHREALTIME"
            return
        fi
    done < /proc/stat
    echo "0 0 0 $EPOCHREALTIME"
}

# "total user": utime+stime of the server's live processes, plus the master's reaped
# children, and the utime part of that alone.
proc_ticks() {
    local total=0 user=0 p line f
    for p in $(tree_pids "$SERVER_PID"); do
        read -r line < "/proc/$p/stat" 2>/dev/null || continue
        # fields after "pid (comm) ": state is field 3, utime 14, stime 15, cutime 16, cstime 17
        read -r -a f <<< "${line##*) }"
        total=$((total + f[11] + f[12]))
        user=$((user + f[11]))
        if [ "$p" = "$SERVER_PID" ]; then
            total=$((total + f[13] + f[14]))
            user=$((user + f[13]))
        fi
    done
    echo "$total $user"
}

# CPU ticks of the server CPU's ksoftirqd: loopback delivery the kernel defers there under
# load is charged to neither the server nor /proc/stat's softirq column, and how much is
# deferred changes with the load's shape (slow readers shift it into the server's own time).
ksoftirqd_ticks() {
    local p line f
    p=$(ps -eo pid=,comm= | awk -v n="ksoftirqd/$SERVER_CPU" '$2 == n { print $1 }')
    [ -n "$p" ] && read -r line < "/proc/$p/stat" 2>/dev/null || { echo 0; return; }
    read -r -a f <<< "${line##*) }"
    echo $((f[11] + f[12]))
}

pss_kb() {
    local total=0 p k v u
    for p in $(tree_pids "$SERVER_PID"); do
        while read -r k v u; do
            [ "$k" = "Pss:" ] && total=$((total + v))
        done < "/proc/$p/smaps_rollup" 2>/dev/null
    done
    echo "$total"
}

nprocs() { tree_pids "$SERVER_PID" | wc -l; }

# Kernel memory of every TCP socket on the machine, in kB ("TCP: ... mem PAGES"): the data
# a slow reader has not taken waits there, in the server's send buffer, outside its Pss.
tcp_mem_kb() {
    local pages
    pages=$(awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat)
    echo $(( ${pages:-0} * $(getconf PAGESIZE) / 1024 ))
}

# Peak Pss, process count and TCP memory every half second into $1 until killed.
sampler() {
    local out=$1 peak=0 maxp=0 tpeak=0 v n t
    while :; do
        v=$(pss_kb)
        n=$(nprocs)
        t=$(tcp_mem_kb)
        [ "$v" -gt "$peak" ] && peak=$v
        [ "$n" -gt "$maxp" ] && maxp=$n
        [ "$t" -gt "$tpeak" ] && tpeak=$t
        echo "$peak $maxp $tpeak" > "$out.tmp" && mv "$out.tmp" "$out"
        sleep 0.5
    done
}

wait_port() {
    local i
    for i in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

scale() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s + 0.5); print (v < 1 ? 1 : v) }'; }

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  ')"; }

# ---- one run -------------------------------------------------------------------------------

RUNS_FILE="$BENCH_DIR/runs.jsonl"
: > "$RUNS_FILE"

# scenario server run mode media streams players flush workers slow
run_one() {
    local sc=$1 srv=$2 run=$3 mode=$4 media=$5 streams=$6 players=$7 flush=$8 workers=$9
    local slow=${10} duration=$DURATION
    case $sc in slow | slowbase) duration=$SLOW_DURATION ;; esac
    local dir="$BENCH_DIR/run/$sc-$srv-$run"
    rm -rf "$dir"
    mkdir -p "$dir"
    local port cmd note=""
    port=$(free_port)
    case $srv in
        ours) cmd=$(conf_ours "$dir" "$port" "$workers" "$flush") ;;
        nginx) cmd=$(conf_nginx "$dir" "$port" "$workers") ;;
        srs) cmd=$(conf_srs "$dir" "$port") ;;
    esac
    record() { # started bench_rc note [measurements...]
        printf '{"scenario": "%s", "server": "%s", "run": %s, "mode": "%s", "streams": %s, "players": %s, "flush_interval": "%s", "workers": %s, "slow_fraction": %s, "slow_rate": %s, "duration_s": %s, "what": %s, "started": %s, "bench_rc": %s, "note": %s, "dir": "%s"%s}\n' \
            "$sc" "$srv" "$run" "$mode" "$streams" "$players" "$flush" "$workers" "$slow" "$SLOW_RATE" "$duration" \
            "$(json_str "$what")" "$1" "$2" "$(json_str "$3")" "$dir" "${4:-}" >> "$RUNS_FILE"
    }

    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" $cmd > "$dir/server.out" 2>&1 &
    SERVER_PID=$!
    if ! wait_port "$port"; then
        note="server did not start: $(tail -n 3 "$dir/server.out" "$dir/error.log" 2>/dev/null | grep -v '^==>' | tail -n 3)"
        log "$sc/$srv run $run: $note"
        stop_server
        record false null "$note"
        return
    fi
    sleep 0.5 # workers up, startup settled
    # the server CPU's background load (other tenants of a shared machine) while ours idles
    local b0 b1 bt0 bt1 bi0 bi1 _
    read -r b0 _ bi0 bt0 <<< "$(cpu_ticks)"
    sleep "$IDLE_PROBE"
    read -r b1 _ bi1 bt1 <<< "$(cpu_ticks)"
    local nproc_start base_pss
    nproc_start=$(nprocs)
    base_pss=$(pss_kb)
    local base_tcp
    base_tcp=$(tcp_mem_kb)

    local args=(--port "$port" --mode "$mode" --duration "$duration" --json "$dir/bench.json")
    case $mode in
        fanout) args+=(--streams "$streams" --players "$players" --flv "$BENCH_DIR/media/$media.flv"
                       --probe-cpu "$SERVER_CPU") ;;
        idle) args+=(--players "$players") ;;
        setup) args+=(--streams "$streams" --burst "$players" --flv "$BENCH_DIR/media/$media.flv") ;;
    esac
    # a setup session is complete at its first media message; startup waits for the key frame
    case $sc in
        startup) args+=(--until key) ;;
    esac
    [ -n "$CHUNK_SIZE" ] && args+=(--chunk-size "$CHUNK_SIZE")
    [ "$slow" != 0 ] && args+=(--slow-fraction "$slow" --slow-rate "$SLOW_RATE")
    # rtmp_bench bounds its own phases; this is the backstop
    local limit=$((${duration%.*} + 90 + players / 50))

    sampler "$dir/pss" &
    SAMPLER_PID=$!
    local c0 p0 c1 p1 u0 u1 t0 t1 rc s0 s1 k0 k1 i0 i1 l0 l1
    read -r c0 s0 i0 t0 <<< "$(cpu_ticks)"
    read -r _ _ l0 _ <<< "$(cpu_ticks "$BENCH_CPU")"
    read -r p0 u0 <<< "$(proc_ticks)"
    k0=$(ksoftirqd_ticks)
    timeout -k 5 "$limit" taskset -c "$BENCH_CPU" "$BENCH_BIN" "${args[@]}" > "$dir/bench.out" 2>&1 &
    BENCH_PID=$!
    wait "$BENCH_PID"
    rc=$?
    BENCH_PID=""
    read -r c1 s1 i1 t1 <<< "$(cpu_ticks)"
    read -r _ _ l1 _ <<< "$(cpu_ticks "$BENCH_CPU")"
    read -r p1 u1 <<< "$(proc_ticks)"
    k1=$(ksoftirqd_ticks)
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=""

    local peak=0 maxp=0 tcp_peak=0 nproc_end alive=true
    [ -s "$dir/pss" ] && read -r peak maxp tcp_peak < "$dir/pss"
    nproc_end=$(nprocs)
    kill -0 "$SERVER_PID" 2>/dev/null || alive=false
    [ "$rc" = 124 ] && note="rtmp_bench timed out after ${limit}s; "
    [ "$alive" = false ] && note="${note}server died during the run; "
    [ "$nproc_end" -lt "$nproc_start" ] && note="${note}server lost processes ($nproc_start -> $nproc_end); "
    local crashes
    crashes=$(grep -ciE 'signal [0-9]+|exited on signal|core dumped|segfault' "$dir/error.log" 2>/dev/null)
    [ "${crashes:-0}" -gt 0 ] && note="${note}error log: $crashes worker crash line(s); "
    stop_server

    record true "$rc" "$note" "$(printf ', "cpu_ticks": %s, "proc_ticks": %s, "user_ticks": %s, "clk_tck": %s, "wall_s": %s, "pss_base_kb": %s, "pss_peak_kb": %s, "tcp_mem_base_kb": %s, "tcp_mem_peak_kb": %s, "procs": %s, "bench_json": "%s", "idle_cpu_ticks": %s, "idle_wall_s": %s, "softirq_ticks": %s, "ksoftirqd_ticks": %s, "cpu_idle_ticks": %s, "idle_cpu_idle_ticks": %s, "load_cpu_idle_ticks": %s' \
        $((c1 - c0)) $((p1 - p0)) $((u1 - u0)) "$CLK_TCK" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" \
        "$base_pss" "$peak" "$base_tcp" "${tcp_peak:-0}" "$maxp" "$dir/bench.json" $((b1 - b0)) \
        "$(awk -v a="$bt0" -v b="$bt1" 'BEGIN{printf "%.3f", b-a}')" $((s1 - s0)) $((k1 - k0)) \
        $((i1 - i0)) $((bi1 - bi0)) $((l1 - l0)))"
    log "$sc/$srv run $run: rc=$rc cpu$SERVER_CPU=$(awk -v a="$t0" -v b="$t1" -v i=$((i1 - i0)) \
        -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", (b - a) * hz - i}')t (by ticks $((c1 - c0))t)" \
        "proc=$((p1 - p0))t pss_peak=${peak}kB ${note}"
}

# ---- all scenarios -------------------------------------------------------------------------

log "servers: $SERVERS; scenarios: $SCENARIOS"
log "SCALE=$SCALE RUNS=$RUNS DURATION=$DURATION; server on CPU $SERVER_CPU, rtmp_bench on CPU $BENCH_CPU"
[ -n "$CHUNK_SIZE" ] && log "chunk size $CHUNK_SIZE on every server"
case " $SCENARIOS " in *" slow "*) log "slow readers: SLOW_RATE=$SLOW_RATE, SLOW_DURATION=$SLOW_DURATION s (slow and slowbase)" ;; esac

for sc in $SCENARIOS; do
    line=$(printf '%s\n' "$SCENARIO_TABLE" | awk -F'|' -v n="$sc" '$1 == n')
    if [ -z "$line" ]; then
        log "unknown scenario $sc"
        continue
    fi
    IFS='|' read -r _ mode media streams players flush workers slow what <<< "$line"
    # one-stream scenarios stay one stream; many-stream ones scale
    [ "$streams" -gt 1 ] && streams=$(scale "$streams")
    case $sc in latency | startup) ;; *) players=$(scale "$players") ;; esac
    log "== $sc: $what (streams $streams, players $players, flush $flush, workers $workers)"
    for run in $(seq 1 "$RUNS"); do
        order=$SERVERS
        # alternate which server goes first, so drift on a shared machine evens out
        [ $((run % 2)) = 0 ] && order=$(printf '%s\n' $SERVERS | tac | tr '\n' ' ')
        for srv in $order; do
            if [ "$srv" = srs ] && [ "$workers" -gt 1 ]; then
                log "$sc/srs: skipped (SRS has no worker processes)"
                continue
            fi
            run_one "$sc" "$srv" "$run" "$mode" "$media" "$streams" "$players" "$flush" "$workers" "$slow"
            sleep 1
        done
    done
done

MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $NCPU CPUs, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sr)"
python3 "$ROOT/scripts/bench_report.py" --runs "$RUNS_FILE" --out "$BENCH_DIR" \
    --machine "$MACHINE" --settings "SCALE=$SCALE RUNS=$RUNS DURATION=$DURATION SLOW_DURATION=$SLOW_DURATION SLOW_RATE=$SLOW_RATE CHUNK_SIZE=${CHUNK_SIZE:-default} servers=$SERVERS; rtmp_server $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo +changes), built $(date -r "$OURS_BIN" '+%F %T')" \
    --nginx-version "$("$NGINX_BIN" -v 2>&1 | sed 's/.*: //')"
