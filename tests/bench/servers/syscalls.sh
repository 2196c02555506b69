#!/bin/sh
# Syscalls and context switches per message of one echo server under ping-pong load, counted with
# perf's tracepoints over a window inside the load generator's measured window (ramp and warm-up left
# out, so accepts do not count). Needs perf and permission to trace the server (root, or
# kernel.perf_event_paranoid <= 1). Figures for docs/benchmarks.md ("C io_uring reference").
#
#   tests/bench/servers/syscalls.sh CONNS -- build/bench/c-uring [--wait any]
#   tests/bench/servers/syscalls.sh 1000 -- build/bench/c-epoll
#
# The server runs as `taskset -c 0 CMD --host 127.0.0.1 --port 0`, the loadgen (build it first: run
# net.mjs once) as `taskset -c 1 build/bench/loadgen --mode pingpong --conns CONNS --seconds 8
# --warmup-ms 500`; perf counts from 4 s after the loadgen starts, for 3 s (inside the loadgen's
# measured window when its ramp takes under 3.5 s, which the script checks). Messages in the perf
# window are counted by the kernel: the server's read(2) calls (c-epoll: one 64-byte message each) or
# its io_uring completions ÷ 2 (tracepoint io_uring:io_uring_complete: a receive and a send each),
# not estimated from the loadgen's average rate. Our own server (node dist/cli.js serve) makes
# read(2) calls of its own and more completions than two a message, so for it set
# SYSCALLS_MSGS=loadgen: messages = the loadgen's msgs/s × 3 s (its whole-window average).
#   SYSCALLS_MSGS=loadgen tests/bench/servers/syscalls.sh 1000 -- node dist/cli.js serve --backend uring --status-ms 0
# Every process it starts is ended by PID.
set -eu
[ $# -ge 3 ] && [ "$2" = "--" ] || { echo "usage: $0 CONNS -- SERVER [ARGS...]" >&2; exit 2; }
conns=$1; shift 2
cd "$(dirname "$0")/../../.."
[ -x build/bench/loadgen ] || { echo "syscalls.sh: build/bench/loadgen missing: run tests/bench/net.mjs once" >&2; exit 2; }
tmp=$(mktemp -d)
: >"$tmp/out"
server=""; gen=""
cleanup() { for p in $gen $server; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
taskset -c 0 "$@" --host 127.0.0.1 --port 0 >"$tmp/out" 2>"$tmp/err" &
server=$!
i=0; while ! grep -q '^listening on' "$tmp/out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(sed -n 's/^listening on [^:]*:\([0-9]*\).*/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "syscalls.sh: the server did not start: $(cat "$tmp/err")" >&2; exit 1; }
taskset -c 1 build/bench/loadgen --host 127.0.0.1 --port "$port" --mode pingpong --conns "$conns" --seconds 8 \
  --bytes 64 --sources 16 --warmup-ms 500 --ramp-timeout-s 20 --handshake-timeout-ms 10000 >"$tmp/gen" &
gen=$!
sleep 4
events=raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,context-switches,io_uring:io_uring_complete
perf stat -x, -e "$events" -p "$server" -o "$tmp/perf" -- sleep 3
wait "$gen"; gen=""
res=$(tail -n 1 "$tmp/gen")
rate=$(printf '%s' "$res" | sed -n 's/.*"msgsPerS":\([0-9.e+]*\).*/\1/p')
ramp=$(printf '%s' "$res" | sed -n 's/.*"rampS":\([0-9.e+]*\).*/\1/p')
awk -v rate="$rate" -v ramp="$ramp" -v cmd="$*" -v conns="$conns" -v byrate="${SYSCALLS_MSGS:-}" -F, '
  /^[0-9]/ { n[$3] = $1 }
  END {
    msgs = byrate == "loadgen" ? rate * 3 : n["syscalls:sys_enter_read"] > 0 ? n["syscalls:sys_enter_read"] : n["io_uring:io_uring_complete"] / 2
    if (msgs <= 0) { print "syscalls.sh: no message counted in the perf window"; exit 1 }
    if (ramp + 0.5 > 4) printf "warning: the ramp took %.2f s: the perf window began before the measured one\n", ramp
    printf "%s, %d conns: %.0f messages in the 3 s perf window (loadgen: %.0f msgs/s)\n", cmd, conns, msgs, rate
    printf "  syscalls %.0f = %.4f per message (io_uring_enter %.4f, epoll_wait %.4f, read %.4f, write %.4f); context switches %.4f per message\n",
      n["raw_syscalls:sys_enter"], n["raw_syscalls:sys_enter"] / msgs, n["syscalls:sys_enter_io_uring_enter"] / msgs,
      n["syscalls:sys_enter_epoll_wait"] / msgs, n["syscalls:sys_enter_read"] / msgs, n["syscalls:sys_enter_write"] / msgs, n["context-switches"] / msgs
  }' "$tmp/perf"
