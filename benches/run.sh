#!/usr/bin/env bash
# The one benchmark command: builds the servers, the load generator and the
# driver in release mode, prepares the gevent venv, raises the open-file
# limit, and runs the driver (benches/src/bin/bench/).
#
#   bash benches/run.sh               every workload in both setups, full scale
#                                     (about 40 minutes); rewrites the generated
#                                     part of benches/RESULTS.md and results.png
#   bash benches/run.sh --quick       every workload at small scale (under 3
#                                     minutes once built); CI runs it
#   bash benches/run.sh --only echo64 [--setup isolated]   some workloads (--list)
#   bash benches/run.sh --why         strace -c, CPU split and smaps per server
#   bash benches/run.sh --help        every option
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
if [[ " $* " == *" --why "* ]]; then
  command -v strace >/dev/null || { echo "--why needs strace: apt-get install strace" >&2; exit 1; }
fi
venv=/tmp/greenws-bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gevent, geventwebsocket' 2>/dev/null; then
  echo "== preparing the gevent venv ($venv)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q gevent gevent-websocket
fi
cargo build --release -p benches --bins
# Idle runs hold 19 000 connections: every process may open up to its hard limit.
ulimit -n "$(ulimit -Hn)"
exec target/release/bench "$@"
