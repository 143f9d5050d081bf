#!/usr/bin/env bash
# Runs the bundled load harness against fresh servers on loopback, one after the other with
# the same harness and scenario, and compares them (edgeio bench compare). Targets:
#   edgeio             the chat app with production defaults (bolt store, abuse limits on)
#   edgeio-norecovery  the same with --recovery-window 0 (what recovery costs)
#   relay              edgeio --app relay: WebSocket frames relayed to a room and nothing else,
#                      the floor that shows what the machine can do (bench/relay)
#   node               the same chat contract on stock Node Socket.IO (bench/node-peer)
# Scenarios, each compared on its own:
#   chat      10,000 connections, rooms of 100, 1,000 messages/s (100,000 deliveries/s) for
#             30 s: edgeio, relay, node
#   big-room  a live event: one room of 10,000, 10 messages/s for 15 s, the joins timed:
#             edgeio, relay, node
#   idle      10,000 connections in rooms of 100, held 10 s, their clients asking for
#             connection state recovery: memory per idle connection of edgeio with recovery
#             and without (--recovery-window 0), and node
#
#   scripts/bench.sh                          # all three scenarios (about 7 minutes)
#   SCENARIOS=chat scripts/bench.sh           # one scenario (any of chat big-room idle)
#   TARGETS=edgeio scripts/bench.sh           # one target (any of the targets above)
#   RATES="300 600 1000 1200" SCENARIOS=chat scripts/bench.sh  # a sweep of message rates:
#                                             # the comparison names the highest rate each held
#   CONNS=2000 DURATION=10s scripts/bench.sh  # smaller (CONNS is the big room's size too)
#   PROFILE=1 scripts/bench.sh                # edgeio's CPU, heap, allocs and goroutine
#                                             # profiles into profiles/ (pprof endpoints)
#   OUT=dir scripts/bench.sh                  # keep the JSON reports in dir
#
# Environment: SCENARIOS, TARGETS, RATES (or MSG_RATE; chat), BIG_RATE (big-room), CONNS,
# ROOM_SIZE (chat), DURATION, RATE (connections per second), TRANSPORT, PARSER, SERVER_ARGS
# (extra edgeio flags), BENCH_ARGS (extra harness flags), OUT, BIN (the edgeio binary).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-$root/bin/edgeio}" # BIN=another build, for an A/B comparison
[[ -x "$bin" ]] || { echo "bench: build first (make build)" >&2; exit 2; }

scenarios=${SCENARIOS:-chat big-room idle}
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
    edgeio | edgeio-norecovery)
      rm -rf "$work/data"
      local extra=""
      [[ "$target" == edgeio-norecovery ]] && extra="--recovery-window 0"
      # shellcheck disable=SC2086
      "$bin" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --jwt-secret "$secret" \
        --data-dir "$work/data" $extra ${SERVER_ARGS:-} >"$work/server.log" 2>&1 &
      ;;
    relay)
      "$bin" --app relay --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" >"$work/server.log" 2>&1 &
      ;;
    node)
      install_peer
      (cd "$peer" && PORT=$port JWT_SECRET=$secret PARSER="${PARSER:-json}" exec node server.mjs) >"$work/server.log" 2>&1 &
      ;;
    *) echo "bench: unknown target $target (edgeio, edgeio-norecovery, relay, node)" >&2; exit 2 ;;
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

# run_one SCENARIO TARGET MSG_RATE ROOM_SIZE DURATION [harness flags...]: one fresh server,
# one harness run; its JSON report is added to reports.
run_one() {
  local scenario=$1 target=$2 msgs=$3 size=$4 secs=$5
  shift 5
  local port=$((20000 + RANDOM % 20000))
  local admin=$((port + 1)) protocol=socketio
  [[ "$target" == relay ]] && protocol=relay
  start_server "$target" "$port" "$admin"
  if [[ -n "${PROFILE:-}" && "$target" == edgeio ]]; then
    prof="$root/profiles/$(date -u +%Y%m%d-%H%M%S)-$scenario"
    mkdir -p "$prof"
    # the send phase starts after the ramp and a 2 s warmup; profile most of it
    local ramp=$(( 2 * conns / ${rate%.*} + 4 ))
    local span=$(( ${secs%s} > 10 ? ${secs%s} - 5 : ${secs%s} ))
    (
      sleep "$ramp"
      curl -s -o "$prof/cpu.pprof" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=$span"
      curl -s -o "$prof/heap.pprof" "http://127.0.0.1:$admin/debug/pprof/heap"
      curl -s -o "$prof/allocs.pprof" "http://127.0.0.1:$admin/debug/pprof/allocs"
      curl -s -o "$prof/goroutine.txt" "http://127.0.0.1:$admin/debug/pprof/goroutine?debug=1"
    ) &
    profiler=$!
  fi
  local report="$out/$scenario-$target-$msgs.json"
  echo "bench: $scenario: $target, $msgs messages/s x rooms of $size, $conns connections" >&2
  # shellcheck disable=SC2086
  "$bin" bench --url "http://127.0.0.1:$port" --protocol "$protocol" --label "$target" \
    --jwt-secret "$secret" --server-pid "$pid" --source-ips "$sources" \
    --conns "$conns" --room-size "$size" --msg-rate "$msgs" --duration "$secs" --rate "$rate" \
    --transport "${TRANSPORT:-websocket}" --parser "${PARSER:-json}" \
    --procs "$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))" --json "$@" ${BENCH_ARGS:-} >"$report" || true
  if [[ -n "${profiler:-}" ]]; then
    wait "$profiler" || true
    profiler=""
    echo "bench: profiles in $prof (go tool pprof -top $bin $prof/cpu.pprof)" >&2
  fi
  stop_server
  [[ -s "$report" ]] && reports+=("$report")
  return 0
}

for scenario in $scenarios; do
  reports=()
  case "$scenario" in
    chat)
      for msgs in $rates; do
        for target in ${TARGETS:-edgeio relay node}; do
          run_one chat "$target" "$msgs" "$room" "$duration"
        done
      done
      ;;
    big-room)
      for target in ${TARGETS:-edgeio relay node}; do
        run_one big-room "$target" "${BIG_RATE:-10}" "$conns" "${DURATION:-15s}" --scenario big-room
      done
      ;;
    idle)
      for target in ${TARGETS:-edgeio edgeio-norecovery node}; do
        # clients that ask for connection state recovery: what it costs is in the figure
        run_one idle "$target" 0 "$room" "${DURATION:-10s}" --idle --recovery
      done
      ;;
    *) echo "bench: unknown scenario $scenario (chat, big-room, idle)" >&2; exit 2 ;;
  esac
  echo
  echo "== $scenario =="
  if ((${#reports[@]})); then
    "$bin" bench compare "${reports[@]}"
  else
    echo "no report"
  fi
done
[[ -n "${OUT:-}" ]] && echo "reports in $out" >&2
exit 0
