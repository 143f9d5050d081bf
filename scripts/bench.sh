#!/usr/bin/env bash
# Runs the bundled load harness against fresh servers on loopback, one after the other with
# the same harness and scenario, and compares them (edgeio bench compare):
#   edgeio  the chat app with production defaults (bolt store, abuse limits on)
#   relay   edgeio --app relay: WebSocket frames relayed to a room and nothing else, the
#           floor that shows what the machine can do (bench/relay)
#   node    the same chat contract on stock Node Socket.IO (bench/node-peer)
#
#   scripts/bench.sh                          # 10,000 connections, rooms of 100, 1,000
#                                             # messages/s (100,000 deliveries/s) for 30 s
#   TARGETS=edgeio scripts/bench.sh           # one target (any of edgeio relay node)
#   RATES="300 600 1000 1200" scripts/bench.sh  # a sweep of message rates: the comparison
#                                             # names the highest rate each target held
#   CONNS=2000 DURATION=10s scripts/bench.sh  # smaller
#   PROFILE=1 scripts/bench.sh                # edgeio's CPU, heap, allocs and goroutine
#                                             # profiles into profiles/ (pprof endpoints)
#   OUT=dir scripts/bench.sh                  # keep the JSON reports in dir
#
# Environment: TARGETS, RATES (or MSG_RATE), CONNS, ROOM_SIZE, DURATION, RATE (connections
# per second), TRANSPORT, PARSER, SERVER_ARGS (extra edgeio flags), BENCH_ARGS (extra
# harness flags), OUT, BIN (the edgeio binary).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-$root/bin/edgeio}" # BIN=another build, for an A/B comparison
[[ -x "$bin" ]] || { echo "bench: build first (make build)" >&2; exit 2; }

targets=${TARGETS:-edgeio relay node}
rates=${RATES:-${MSG_RATE:-1000}}
conns=${CONNS:-10000} room=${ROOM_SIZE:-100} duration=${DURATION:-30s} rate=${RATE:-2000}
secret="bench-$RANDOM$RANDOM"
work="$(mktemp -d /tmp/edgeio-bench.XXXXXX)"
out=${OUT:-$work/reports}
mkdir -p "$out"
pid=""

# The harness and the server each hold one file per connection; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# edgeio runs with its limits on, 5 sessions per address among them: the harness spreads
# its connections over 127.1.0.1 onwards, four to an address.
addrs=$(( conns / 4 + 1 ))
sources="127.1.0.1-127.1.$(( addrs / 256 )).$(( addrs % 256 ))"

stop_server() {
  if [[ -n "$pid" ]]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}
cleanup() {
  stop_server
  [[ -n "${profiler:-}" ]] && kill "$profiler" 2>/dev/null || true
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

# The Node peer's npm packages, installed in place once (again when its lockfile changes).
peer="$root/bench/node-peer"
install_peer() {
  local stamp="$peer/node_modules/.edgeio-install-stamp" want
  want="$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)"
  [[ "$(cat "$stamp" 2>/dev/null || true)" == "$want" ]] && return 0
  echo "bench: npm ci in bench/node-peer" >&2
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  # a module boundary: go vet ./... and go test ./... never wander into npm packages
  printf 'module edgeio.invalid/node_modules\n' >"$peer/node_modules/go.mod"
  echo "$want" >"$stamp"
}

start_server() { # target port admin
  local target=$1 port=$2 admin=$3
  case "$target" in
    edgeio)
      rm -rf "$work/data"
      # shellcheck disable=SC2086
      "$bin" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --jwt-secret "$secret" \
        --data-dir "$work/data" ${SERVER_ARGS:-} >"$work/server.log" 2>&1 &
      ;;
    relay)
      "$bin" --app relay --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" >"$work/server.log" 2>&1 &
      ;;
    node)
      install_peer
      (cd "$peer" && PORT=$port JWT_SECRET=$secret PARSER="${PARSER:-json}" exec node server.mjs) >"$work/server.log" 2>&1 &
      ;;
    *) echo "bench: unknown target $target (edgeio, relay, node)" >&2; exit 2 ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $target did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
}

reports=()
for msgs in $rates; do
  for target in $targets; do
    port=$((20000 + RANDOM % 20000))
    admin=$((port + 1))
    start_server "$target" "$port" "$admin"
    protocol=socketio
    [[ "$target" == relay ]] && protocol=relay
    if [[ -n "${PROFILE:-}" && "$target" == edgeio ]]; then
      prof="$root/profiles/$(date -u +%Y%m%d-%H%M%S)"
      mkdir -p "$prof"
      # the send phase starts after the ramp and a 2 s warmup; profile most of it
      ramp=$(( conns / ${rate%.*} + 4 ))
      secs=$(( ${duration%s} > 10 ? ${duration%s} - 5 : ${duration%s} ))
      (
        sleep "$ramp"
        curl -s -o "$prof/cpu.pprof" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=$secs"
        curl -s -o "$prof/heap.pprof" "http://127.0.0.1:$admin/debug/pprof/heap"
        curl -s -o "$prof/allocs.pprof" "http://127.0.0.1:$admin/debug/pprof/allocs"
        curl -s -o "$prof/goroutine.txt" "http://127.0.0.1:$admin/debug/pprof/goroutine?debug=1"
      ) &
      profiler=$!
    fi
    report="$out/$target-$msgs.json"
    echo "bench: $target, $msgs messages/s x rooms of $room, $conns connections" >&2
    # shellcheck disable=SC2086
    "$bin" bench --url "http://127.0.0.1:$port" --protocol "$protocol" --label "$target" \
      --jwt-secret "$secret" --server-pid "$pid" --source-ips "$sources" \
      --conns "$conns" --room-size "$room" --msg-rate "$msgs" --duration "$duration" --rate "$rate" \
      --transport "${TRANSPORT:-websocket}" --parser "${PARSER:-json}" \
      --procs "$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))" --json ${BENCH_ARGS:-} >"$report" || true
    if [[ -n "${profiler:-}" ]]; then
      wait "$profiler" || true
      profiler=""
      echo "bench: profiles in $prof (go tool pprof -top $bin $prof/cpu.pprof)" >&2
    fi
    stop_server
    [[ -s "$report" ]] && reports+=("$report")
  done
done

"$bin" bench compare "${reports[@]}"
[[ -n "${OUT:-}" ]] && echo "reports in $out" >&2
exit 0
