#!/usr/bin/env bash
# Where each server's CPU goes under one load, by perf samples: the kernel,
# the server's own code, libc; and the server's hottest kernel and
# user-space symbols.
# Used for the causes in benches/RESULTS.md ("Where greenws loses").
#
#   bash benches/profile.sh echo|wss|fanout [SERVERS...]
#        (default servers: greenws-server fastws-server tokio-server)
#
# Setup "isolated" of benches/run.sh: each server with one worker pinned to
# CPU 0 (RUST_LOG=warn), the load pinned to CPU 1, and `perf record -F 999`
# on the server for 4 s in the middle of the load. The load: `loadgen echo`
# (64 connections, 64 B, 6 s; over TLS with a fresh self-signed
# certificate for wss), or for fanout `loadgen fanout` at one rate (1 000
# subscribers, 100 messages a second for 6 s).
# Needs perf (Debian: linux-perf) and, for wss, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?usage: bash benches/profile.sh echo|wss|fanout [SERVERS...]}
shift
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(greenws-server fastws-server tokio-server)
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)" >&2; exit 1; }
cargo build --release -q -p benches --bins
bin=target/release
scratch=$(mktemp -d)
pid=
load=
# Whatever still runs when the script stops (a failed perf or load), then
# the scratch files.
trap 'for p in $load $pid; do kill "$p" 2>/dev/null || true; done; rm -rf "$scratch"' EXIT

tls_args=()
loadgen_tls=()
if [ "$workload" = wss ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$scratch/key.pem" -out "$scratch/cert.pem" 2>/dev/null
  tls_args=("$scratch/cert.pem" "$scratch/key.pem")
  loadgen_tls=(--ca "$scratch/cert.pem")
elif [ "$workload" != echo ] && [ "$workload" != fanout ]; then
  echo "unknown workload $workload (echo, wss or fanout)" >&2
  exit 2
fi
if [ "$workload" = fanout ]; then
  load_args=(fanout --subscribers 1000 --start-rate 100 --ceiling 100 --refinements 0
    --step-seconds 6)
  measures='max_rate=[0-9.]*\|p99_ms_at_max=[0-9.]*\|cpu_us_per_delivery_at_max=[0-9.]*'
else
  load_args=(echo --connections 64 --size 64 --seconds 6)
  measures='msgs_per_sec=[0-9.]*\|cpu_us_per_msg=[0-9.]*'
fi

. benches/start-server.sh

for server in "${servers[@]}"; do
  SERVER_CPU=0 start_server "$bin/$server" 1 "${tls_args[@]}"
  taskset -c 1 "$bin/loadgen" "${load_args[@]}" --port "$port" --pid "$pid" \
    "${loadgen_tls[@]}" >"$scratch/load.out" 2>&1 &
  load=$!
  sleep 1
  perf record -q -F 999 -p "$pid" -o "$scratch/perf.data" -- sleep 4 >/dev/null
  wait "$load"
  load=
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  echo "== $server, $workload: $(grep '^RESULT' "$scratch/load.out" | grep -o "$measures" | tr '\n' ' ')"
  echo "-- samples by object"
  perf report -i "$scratch/perf.data" --no-children --sort dso 2>/dev/null |
    grep -E '^ +[0-9]' | awk '$1+0 >= 0.5'
  echo "-- kernel symbols at 2% of samples or more"
  perf report -i "$scratch/perf.data" --no-children --sort symbol 2>/dev/null |
    grep -E '^ +[0-9]' | grep '\[k\]' | awk '$1+0 >= 2.0' | cut -c1-100
  echo "-- user-space symbols at 1% of samples or more"
  perf report -i "$scratch/perf.data" --no-children --sort dso,symbol 2>/dev/null |
    grep -E '^ +[0-9]' | grep -v '\[k\]' | awk '$1+0 >= 1.0' | cut -c1-140
  echo
done
echo "$(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
