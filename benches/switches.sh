#!/usr/bin/env bash
# How often each server's threads sleep and are woken, per echoed message:
# the cause measured behind greenws's tail at the default worker count (see
# benches/RESULTS.md, "Where greenws loses").
#
#   bash benches/switches.sh [ROUNDS]     (default 2 rounds)
#
# Each server runs as the "defaults" setup of benches/run.sh runs it (its
# default worker count, unpinned, the load generator `loadgen echo`, 64
# connections of 64 B for 5 s, on the same CPUs), except that greenws's log
# is off (RUST_LOG=warn; an echo connection logs only its upgrade); and
# greenws once more with one worker (`greenws-server:1`), unpinned too. Summed over all the
# server's threads (/proc/PID/task/*): voluntary context switches (a thread
# that blocked, in epoll_wait or on a futex, and was woken again),
# involuntary ones (preempted), and the time its threads were runnable but
# waited for a CPU (schedstat), each per echoed message; and the p99 the
# load generator measured.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
cargo build --release -q -p benches --bins
bin=target/release
pid=
# A server still running when the script stops early (a failed load).
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT

# Voluntary and involuntary switches, and ns waiting for a CPU, of $1.
counters() {
  cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt/{v+=$2} /^nonvoluntary_ctxt/{n+=$2} END{printf "%d %d ", v, n}'
  cat /proc/"$1"/task/*/schedstat | awk '{w+=$2} END{printf "%d\n", w}'
}

. benches/start-server.sh

echo "| round | server | msgs | p99 ms | voluntary switches/msg | involuntary/msg | waited for a CPU, us/msg |"
echo "|---|---|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  for contender in greenws-server tokio-server fastws-server greenws-server:1; do
    server=${contender%%:*}
    workers=default
    [ "$contender" = "$server" ] || workers=${contender#*:}
    start_server "$bin/$server" "$workers"
    read -r v0 n0 w0 < <(counters "$pid")
    out=$("$bin/loadgen" echo --port "$port" --connections 64 --size 64 --seconds 5 --pid "$pid" || true)
    read -r v1 n1 w1 < <(counters "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    line=$(grep '^RESULT' <<<"$out" || true)
    sent=$(grep -o 'sent=[0-9]*' <<<"$line" | cut -d= -f2 || true)
    p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$line" | cut -d= -f2 || true)
    errors=$(grep -o ' errors=[0-9]*' <<<"$line" | cut -d= -f2 || true)
    if [ "$errors" != 0 ] || [ -z "$sent" ] || [ "$sent" = 0 ]; then
      echo "| $round | $contender | INVALID: $line |  |  |  |  |"
      continue
    fi
    awk -v r="$round" -v s="$contender" -v m="$sent" -v p="$p99" \
      -v v=$((v1 - v0)) -v n=$((n1 - n0)) -v w=$((w1 - w0)) \
      'BEGIN { printf "| %s | %s | %d | %.3f | %.3f | %.4f | %.3f |\n", r, s, m, p, v / m, n / m, w / 1000 / m }'
  done
done
echo
echo "$(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
