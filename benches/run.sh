#!/usr/bin/env bash
# The one benchmark command: builds the servers, the load generator and the
# driver in release mode, prepares the gevent venv and Node's ws, raises the
# open-file limit, and runs the driver (benches/src/bin/bench/).
#
#   bash benches/run.sh               every workload in both setups, and the
#                                     standalone benchmarks (deflate, fan-out
#                                     through Redis, client connections), full
#                                     scale (about an hour); rewrites the
#                                     generated part of benches/RESULTS.md and
#                                     results.png
#   bash benches/run.sh --quick       every workload at small scale (about 3
#                                     minutes once built); CI runs it
#   bash benches/run.sh --only echo64 [--setup isolated]   some workloads (--list)
#   bash benches/run.sh --why         strace -c, CPU split and smaps per server
#   bash benches/run.sh --help        every option
#
# Tools from outside Rust: wrk (always), strace (--why), node and npm (the
# deflate benchmark), redis-server (fan-out through Redis). A missing one
# leaves its section NOT RUN; with CI=true it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [[ " $* " == *" --why "* ]]; then
  command -v strace >/dev/null || { echo "--why needs strace: apt-get install strace" >&2; exit 1; }
fi
for tool in node npm redis-server; do
  if ! command -v "$tool" >/dev/null; then
    if [ "${CI:-}" = true ]; then
      echo "CI=true: $tool is needed by the benchmarks (apt-get install nodejs npm redis-server)" >&2
      exit 1
    fi
    echo "note: $tool is missing; the benchmark that needs it will say NOT RUN" >&2
  fi
done
venv=/tmp/greenws-bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gevent, geventwebsocket' 2>/dev/null; then
  echo "== preparing the gevent venv ($venv)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q gevent gevent-websocket
fi
# Node's ws for the deflate benchmark, where benches/deflate.sh puts it.
node_dir=/tmp/greenws-bench-node
if command -v npm >/dev/null && [ ! -f "$node_dir/node_modules/ws/package.json" ]; then
  echo "== installing Node's ws ($node_dir)" >&2
  npm install --silent --prefix "$node_dir" ws@8 >/dev/null
fi
cargo build --release -p benches --bins
cargo build --release -p greenws --example echo --example client_loadgen
# Idle runs hold 19 000 connections: every process may open up to its hard limit.
ulimit -n "$(ulimit -Hn)"
exec target/release/bench "$@"
