#!/usr/bin/env bash
# Issue 18's exact sequence against the real plot demo, repeated: the demo
# serves TLS with a self-signed certificate and RUST_LOG=debug (its stderr
# to a file, as a user's terminal would take it), and each round does
#   1. curl -k https://127.0.0.1:PORT/test            (must answer 200)
#   2. a plaintext "GET / HTTP/1.1" to the TLS port, then close
#   3. a wss:// WebSocket from Python's websockets, no ALPN offered, that
#      sends one message and must hear it echoed
# Every step is bounded in time (STEP_TIMEOUT seconds, far beyond the
# milliseconds each takes); a stall fails the run and says which step of
# which round. The issue saw step 3 stall for 30 s in 7 of 120 rounds.
#
# Usage: tests/issue18_sequence.sh [ROUNDS]   (default 500)
# Needs: curl, openssl, and Python's websockets in $VENV (default
# /tmp/greenws-ci-venv; made with pip when missing). With CI=true a
# missing tool fails the run; otherwise too.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-500}
step_timeout=${STEP_TIMEOUT:-10}
venv=${VENV:-/tmp/greenws-ci-venv}

for tool in curl openssl timeout python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing" >&2; exit 1; }
done
if ! "$venv/bin/python" -c 'import websockets' 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'websockets>=13' ||
    { echo "FAIL: cannot install Python's websockets in $venv" >&2; exit 1; }
fi

cargo build -q --release -p greenws --bin plot-demo
demo=target/release/plot-demo

work=$(mktemp -d /tmp/issue18.XXXXXX)
pid=
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null

RUST_LOG=debug "$demo" --port 0 --no-browser \
  --cert "$work/cert.pem" --key "$work/key.pem" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
  grep -q "Serving on" "$work/out" && break
  sleep 0.1
done
port=$(head -1 "$work/out" | sed -n 's|^Serving on https://127.0.0.1:||p')
[ -n "$port" ] || { echo "FAIL: the demo did not start" >&2; cat "$work/log" >&2; exit 1; }

# Step 3 as the issue's user ran it: Python's websockets over wss://, no
# ALPN (websockets offers none), one echo, a clean close.
cat >"$work/wss.py" <<'EOF'
import asyncio, ssl, sys
from websockets.asyncio.client import connect

async def main(url, timeout):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with connect(url, ssl=context, open_timeout=timeout, close_timeout=timeout) as ws:
        await ws.send("hi")
        reply = await asyncio.wait_for(ws.recv(), timeout)
        assert reply == "hi", reply

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
EOF

fail() {
  echo "FAIL: round $1, step $2 ($3)" >&2
  echo "last lines of the demo's log:" >&2
  tail -5 "$work/log" >&2
  exit 1
}

start=$(date +%s%N)
for round in $(seq 1 "$rounds"); do
  body=$(timeout "$step_timeout" curl -skf --max-time "$step_timeout" \
    "https://127.0.0.1:$port/test") || fail "$round" 1 "curl -k https://127.0.0.1:$port/test"
  [ -n "$body" ] || fail "$round" 1 "empty body"
  # The server answers the first bytes with an alert and closes, so the
  # rest of the write may meet a reset: only the connect must succeed.
  timeout "$step_timeout" bash -c "trap '' PIPE; exec 3<>/dev/tcp/127.0.0.1/$port || exit 1
    printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3 2>/dev/null; exit 0" ||
    fail "$round" 2 "plaintext GET to the TLS port"
  timeout "$step_timeout" "$venv/bin/python" "$work/wss.py" \
    "wss://127.0.0.1:$port/echo" "$step_timeout" 2>"$work/wss.err" ||
    fail "$round" 3 "wss:// without ALPN: $(tail -1 "$work/wss.err")"
done
end=$(date +%s%N)

kill -0 "$pid" || { echo "FAIL: the demo exited" >&2; exit 1; }
failed=$(grep -c "TLS handshake failed" "$work/log" || true)
millis=$(((end - start) / 1000000))
printf '%d/%d rounds passed in %d.%03d s; the demo logged %d failed TLS handshakes and %s bytes of debug log\n' \
  "$rounds" "$rounds" $((millis / 1000)) $((millis % 1000)) "$failed" "$(stat -c %s "$work/log")"
