#!/usr/bin/env bash
# Server CPU per HTTP request and per WebSocket echo message, two builds
# compared in alternated rounds on the same machine.
#
#   bash benches/compare-cpu.sh OLD_DIR NEW_DIR [ROUNDS] [SECONDS]
#
# OLD_DIR and NEW_DIR are checkouts whose release examples are built:
#   cargo build --release -p greenws --example hello --example echo --example client_loadgen
# (the load generator of NEW_DIR drives both). Each server runs pinned to
# CPU 0, its load to CPU 1: wrk (32 connections, keep-alive) on the hello
# example's `GET /`, and client_loadgen's echo mode (32 connections, 64-byte
# binary messages in a closed loop) on the echo example. The server's CPU
# time comes from /proc/PID/stat around the load (ticks for HTTP, the load
# generator's reading for echo). Rounds alternate the order (old, new, then
# new, old); the summary gives each build's median and spread (min..max),
# the median of the per-round ratios new/old (each round runs both builds
# back to back, so drift in the machine's load cancels out better), and the
# load average, since other work on the machine adds noise.
set -euo pipefail

OLD=${1:?OLD_DIR}
NEW=${2:?NEW_DIR}
ROUNDS=${3:-5}
SECONDS_EACH=${4:-5}
CONNECTIONS=32
TICK=$(getconf CLK_TCK)
LOADGEN="$NEW/target/release/examples/client_loadgen"
OUT=$(mktemp -d /tmp/compare-cpu.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

# Starts example $2 of build $1 pinned to CPU 0; sets PID and PORT.
start_server() {
    # A file of its own: the shell truncates a redirect in the background
    # child, so a reused file could still show the last server's port.
    local log
    log=$(mktemp "$OUT/server.XXXXXX")
    RUST_LOG=warn taskset -c 0 "$1/target/release/examples/$2" --port 0 >"$log" 2>"$OUT/server.err" &
    PID=$!
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/^Serving on [a-z]*:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "server $1 $2 did not start" >&2
    cat "$OUT/server.err" >&2
    exit 1
}

stop_server() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Microseconds of server CPU per request of build $1.
http_round() {
    start_server "$1" hello
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$PORT/" >/dev/null # warm up
    local before after requests
    before=$(cpu_ticks "$PID")
    requests=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" "http://127.0.0.1:$PORT/" |
        awk '/requests in/ {print $1}')
    after=$(cpu_ticks "$PID")
    stop_server
    awk -v t="$((after - before))" -v hz="$TICK" -v n="$requests" 'BEGIN {printf "%.3f\n", t / hz * 1e6 / n}'
}

# Microseconds of server CPU per echoed message of build $1.
echo_round() {
    start_server "$1" echo
    local result
    result=$(taskset -c 1 "$LOADGEN" echo --url "ws://127.0.0.1:$PORT/echo" \
        --connections "$CONNECTIONS" --size 64 --seconds "$SECONDS_EACH" --pid "$PID")
    stop_server
    sed -n 's/.*server_cpu_us_per_msg=\([0-9.]*\).*/\1/p' <<<"$result"
}

summary() { # name file
    sort -n "$2" | awk -v name="$1" '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%-26s median %8.3f us   spread %.3f..%.3f   (%d rounds)\n", name, m, v[1], v[NR], NR
    }'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
    for which in $order; do
        dir=$OLD
        [ "$which" = new ] && dir=$NEW
        h=$(http_round "$dir")
        e=$(echo_round "$dir")
        echo "$h" >>"$OUT/http-$which"
        echo "$e" >>"$OUT/echo-$which"
        echo "round $round $which: http ${h} us/request, echo ${e} us/message (load $(cut -d' ' -f1 /proc/loadavg))"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
summary "http old (us/request)" "$OUT/http-old"
summary "http new (us/request)" "$OUT/http-new"
summary "echo old (us/message)" "$OUT/echo-old"
summary "echo new (us/message)" "$OUT/echo-new"
ratio() { # name old-file new-file
    paste "$2" "$3" | awk '{print $2 / $1}' | sort -n | awk -v name="$1" '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%-26s median %8.3f      spread %.3f..%.3f   (per round)\n", name, m, v[1], v[NR]
    }'
}
ratio "http new/old" "$OUT/http-old" "$OUT/http-new"
ratio "echo new/old" "$OUT/echo-old" "$OUT/echo-new"
