#!/usr/bin/env bash
# The one benchmark command: builds every server and the load generator in
# release mode, prepares the gevent venv, raises the open-file limit, and
# runs the driver.
#   bash benches/run.sh [all|http|echo|fanout|idle] [--rounds N] [--seconds S]
# `all` (the default) rewrites the generated part of benches/RESULTS.md and
# benches/results.png.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
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
