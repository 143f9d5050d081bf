#!/usr/bin/env bash
# Runs the bundled load harness against a fresh edgeio on loopback and prints its table.
#
#   scripts/bench.sh                      # the full scenario: 10,000 connections, rooms of 100,
#                                         # 1,000 messages/s for 30 s
#   CONNS=2000 DURATION=10s scripts/bench.sh
#   PROFILE=1 scripts/bench.sh            # also capture CPU, heap, allocs and goroutine
#                                         # profiles into profiles/ through the pprof endpoints
#   TARGET=node scripts/bench.sh          # the same run against the Node Socket.IO peer of
#                                         # ../shared/peers/node-socketio (PEER_DIR=...)
#
# Environment: CONNS, ROOM_SIZE, MSG_RATE, DURATION, RATE (connections/s), TRANSPORT,
# PARSER, SERVER_ARGS (extra server flags), BENCH_ARGS (extra harness flags), PORT.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/bin/edgeio"
[[ -x "$bin" ]] || { echo "bench: build first (make build)" >&2; exit 2; }

conns=${CONNS:-10000} room=${ROOM_SIZE:-100} msgs=${MSG_RATE:-1000} duration=${DURATION:-30s}
rate=${RATE:-2000} port=${PORT:-$((20000 + RANDOM % 20000))}
admin=$((port + 1))
secret="bench-$RANDOM$RANDOM"
work="$(mktemp -d /tmp/edgeio-bench.XXXXXX)"

# The harness and the server each hold one file per connection; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ "${TARGET:-edgeio}" == node ]]; then
  # the same chat contract on stock Node Socket.IO, for side-by-side figures
  peer="${PEER_DIR:-$root/../shared/peers/node-socketio}"
  cp -r "$peer" "$work/peer"
  (cd "$work/peer" && npm install --no-audit --no-fund --silent >/dev/null)
  (cd "$work/peer" && PORT=$port JWT_SECRET=$secret exec node server.mjs) >"$work/server.log" 2>&1 &
else
  # shellcheck disable=SC2086
  "$bin" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --jwt-secret "$secret" \
    --data-dir "$work/data" --max-conns-per-ip 0 --rate-handshakes 0 --rate-events 0 \
    --rate-messages 0 --auth-fail-limit 0 ${SERVER_ARGS:-} >"$work/server.log" 2>&1 &
fi
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
if ! kill -0 "$pid" 2>/dev/null; then
  echo "bench: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

if [[ -n "${PROFILE:-}" ]]; then
  out="$root/profiles/$(date -u +%Y%m%d-%H%M%S)"
  mkdir -p "$out"
  # the send phase starts after the ramp and a 2 s warmup; profile most of it
  ramp=$(( conns / ${rate%.*} + 4 ))
  secs=$(( ${duration%s} > 10 ? ${duration%s} - 5 : ${duration%s} ))
  (
    sleep "$ramp"
    curl -s -o "$out/cpu.pprof" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=$secs"
    curl -s -o "$out/heap.pprof" "http://127.0.0.1:$admin/debug/pprof/heap"
    curl -s -o "$out/allocs.pprof" "http://127.0.0.1:$admin/debug/pprof/allocs"
    curl -s -o "$out/goroutine.txt" "http://127.0.0.1:$admin/debug/pprof/goroutine?debug=1"
  ) &
  profiler=$!
fi

# shellcheck disable=SC2086
"$bin" bench --url "http://127.0.0.1:$port" --jwt-secret "$secret" --server-pid "$pid" \
  --conns "$conns" --room-size "$room" --msg-rate "$msgs" --duration "$duration" --rate "$rate" \
  --transport "${TRANSPORT:-websocket}" --parser "${PARSER:-json}" \
  --procs "$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))" ${BENCH_ARGS:-}

if [[ -n "${PROFILE:-}" ]]; then
  wait "$profiler" || true
  echo "profiles in $out (go tool pprof -top $bin $out/cpu.pprof)"
fi
