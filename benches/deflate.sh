#!/usr/bin/env bash
# permessage-deflate benchmark: greenws's echo example against Node's `ws`
# (perMessageDeflate), compression agreed and off, on the same data: bytes
# on the wire, server CPU per message, idle memory per connection.
#   bash benches/deflate.sh [wire|idle|all] [--rounds N] [--seconds S] [--connections C] [--idle N]
# Installs ws@8 under /tmp/greenws-bench-node (npm), builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed" >&2; exit 1; }
node_dir=/tmp/greenws-bench-node
[ -f "$node_dir/node_modules/ws/package.json" ] || npm install --silent --prefix "$node_dir" ws@8 >/dev/null
export NODE_PATH="$node_dir/node_modules"
echo "node $(node --version), ws $(node -p 'require("ws/package.json").version')" >&2
cargo build --release -p greenws --example echo
cargo build --release -p benches --bin deflate-bench
# Idle runs hold 10 000 connections and more.
ulimit -n "$(ulimit -Hn)"
exec target/release/deflate-bench "$@"
