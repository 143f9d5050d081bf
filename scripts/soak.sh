#!/usr/bin/env bash
# A soak run: a fresh server under steady chat load for DURATION (10 min), then the clients
# leave; it prints the server's goroutines, heap and RSS before, during and after, to show
# that they come back to their level.
#
#   scripts/soak.sh                          # 5,000 connections, 300 messages/s, 10 minutes
#   CONNS=1000 DURATION=2m scripts/soak.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/bin/edgeio"
[[ -x "$bin" ]] || { echo "soak: build first (make build)" >&2; exit 2; }
conns=${CONNS:-5000} msgs=${MSG_RATE:-300} duration=${DURATION:-10m}
port=$((20000 + RANDOM % 20000)) admin=$((port + 1))
secret="soak-$RANDOM$RANDOM"
work="$(mktemp -d /tmp/edgeio-soak.XXXXXX)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$bin" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --jwt-secret "$secret" \
  --data-dir "$work/data" --max-conns-per-ip 0 --rate-handshakes 0 --rate-events 0 \
  --rate-messages 0 --auth-fail-limit 0 >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

sample() { # label: goroutines, live heap, RSS, sockets
  local m
  m=$(curl -s "http://127.0.0.1:$admin/metrics")
  printf '%-8s goroutines %6s  heap %7.1f MB  rss %7.1f MB  sockets %6s\n' "$1" \
    "$(awk '/^go_goroutines /{print $2}' <<<"$m")" \
    "$(awk '/^go_memstats_heap_alloc_bytes /{printf "%.1f", $2/1048576}' <<<"$m")" \
    "$(awk '/^process_resident_memory_bytes /{printf "%.1f", $2/1048576}' <<<"$m")" \
    "$(awk '/^edgeio_sockets /{print $2}' <<<"$m")"
}

sample before
( sleep 30; sample during ) &
"$bin" bench --url "http://127.0.0.1:$port" --jwt-secret "$secret" --server-pid "$pid" \
  --conns "$conns" --msg-rate "$msgs" --duration "$duration" --quiet --max-time 2h |
  grep -E 'delivery|deliveries:|errors|disconnects|server|rss'
sleep 10 # clients gone; let heartbeats, graces and GC settle
curl -s -o /dev/null "http://127.0.0.1:$admin/debug/pprof/heap?gc=1"
sample after
