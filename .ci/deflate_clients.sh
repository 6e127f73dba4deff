#!/usr/bin/env bash
# permessage-deflate with independent clients: Python's `websockets` and
# Node's `ws`, each against the echo example at URL (ws://HOST:PORT/echo).
# Installs what it needs (a venv, and ws@8 with npm) under /tmp; a missing
# python3 or node fails the run.
#
#   bash .ci/deflate_clients.sh ws://127.0.0.1:PORT/echo
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:?usage: deflate_clients.sh ws://HOST:PORT/echo}"

command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are missing" >&2; exit 1; }

venv=/tmp/greenws-ci-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q 'websockets>=13'
"$venv/bin/python" .ci/ws_deflate_check.py "$url"

node_dir=/tmp/greenws-node
[ -f "$node_dir/node_modules/ws/package.json" ] || npm install --silent --prefix "$node_dir" ws@8 >/dev/null
NODE_PATH="$node_dir/node_modules" node .ci/ws_deflate_check.cjs "$url"
