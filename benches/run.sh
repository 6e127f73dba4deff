#!/usr/bin/env bash
# Builds every benchmark program in release mode, then runs the driver.
#   bash benches/run.sh http [--rounds N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -p benches --bins
exec target/release/bench "$@"
