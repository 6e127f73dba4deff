# Sourced by benches/switches.sh and benches/profile.sh.
#
#   start_server BINARY [ARGS...]
#
# Starts the benchmark server BINARY (RUST_LOG=warn) as `BINARY PORT ARGS...`
# on a free port of 127.0.0.1, pinned to CPU $SERVER_CPU when that is set;
# sets `port` and `pid`, and returns once it accepts connections (fails
# after 5 s).
start_server() {
  local binary=$1
  shift
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local run=("$binary")
  [ -z "${SERVER_CPU:-}" ] || run=(taskset -c "$SERVER_CPU" "$binary")
  RUST_LOG=warn "${run[@]}" "$port" "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$binary did not accept connections on port $port within 5 s" >&2
  return 1
}
