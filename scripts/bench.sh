#!/usr/bin/env bash
# Runs the bundled load harness against fresh servers on loopback, one after the other with
# the same harness and scenario, and compares them (edgeio bench compare). Targets:
#   edgeio             the chat app with production defaults (bolt store, abuse limits on)
#   edgeio-norecovery  the same with --recovery-window 0 (what recovery costs)
#   edgeio-base        the chat app of another build, BASE_BIN: before and after in one run
#   relay              edgeio --app relay: WebSocket frames relayed to a room and nothing else,
#                      the floor that shows what the machine can do (bench/relay)
#   node               the same chat contract on stock Node Socket.IO (bench/node-peer)
# In the cluster scenarios each target is two nodes of it (edgeio with --redis-url, the Node
# peer with REDIS_URL and the stock @socket.io/redis-adapter) on one redis-server that the
# script starts on a loopback port, fresh for each target.
# Scenarios, each compared on its own:
#   chat      10,000 connections, rooms of 100, 1,000 messages/s (100,000 deliveries/s) for
#             30 s: edgeio, relay, node
#   big-room  a live event: one room of 10,000, 10 messages/s for 15 s, the joins timed:
#             edgeio, relay, node
#   idle      10,000 connections in rooms of 100, held 10 s, their clients asking for
#             connection state recovery: memory per idle connection of edgeio with recovery
#             and without (--recovery-window 0), and node
#   cluster   two nodes on one Redis, 10,000 connections (every room of 100 half on each
#             node), 500 messages/s (CLUSTER_RATE) for 20 s: edgeio, node; CPU per delivery
#             with Redis's counted in, and what Redis spent per message and per connection
#   cluster-big-room   the big room over two nodes on one Redis (half its members on each):
#             edgeio, node
#   cluster-idle       idle's memory per connection over two nodes on one Redis: edgeio, node
#
#   scripts/bench.sh                          # all six scenarios (about 12 minutes)
#   SCENARIOS=chat scripts/bench.sh           # one scenario (any of the six above)
#   TARGETS=edgeio scripts/bench.sh           # one target (any of the targets above)
#   RATES="300 600 1000 1200" SCENARIOS=chat scripts/bench.sh  # a sweep of message rates:
#                                             # the comparison names the highest rate each held
#   CONNS=2000 DURATION=10s scripts/bench.sh  # smaller (CONNS is the big room's size too)
#   BASE_BIN=/tmp/edgeio-old TARGETS="edgeio-base edgeio node" SCENARIOS=cluster scripts/bench.sh
#                                             # an older build beside this one, in one run
#   PROFILE=1 scripts/bench.sh                # edgeio's CPU, heap, allocs and goroutine
#                                             # profiles into profiles/ (pprof endpoints)
#   OUT=dir scripts/bench.sh                  # keep the JSON reports in dir
#
# Environment: SCENARIOS, TARGETS, RATES (or MSG_RATE; chat), BIG_RATE (big-room),
# CLUSTER_RATE (cluster), CONNS, ROOM_SIZE (chat, cluster), DURATION, RATE (connections per
# second), TRANSPORT, PARSER, SERVER_ARGS (extra edgeio flags), BENCH_ARGS (extra harness
# flags), OUT, BIN (the edgeio binary), BASE_BIN (edgeio-base's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${BIN:-$root/bin/edgeio}" # BIN=another build, for an A/B comparison
[[ -x "$bin" ]] || { echo "bench: build first (make build)" >&2; exit 2; }

scenarios=${SCENARIOS:-chat big-room idle cluster cluster-big-room cluster-idle}
rates=${RATES:-${MSG_RATE:-1000}}
conns=${CONNS:-10000} room=${ROOM_SIZE:-100} duration=${DURATION:-30s} rate=${RATE:-2000}
secret="bench-$RANDOM$RANDOM"
work="$(mktemp -d /tmp/edgeio-bench.XXXXXX)"
out=${OUT:-$work/reports}
mkdir -p "$out"
pids=()        # the target's processes: its servers, then its Redis (cluster)
redis_port=""  # the cluster's Redis

# The harness and the server each hold one file per connection; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# edgeio runs with its limits on, 5 sessions per address among them: the harness spreads
# its connections over 127.1.0.1 onwards, four to an address.
addrs=$(( conns / 4 + 1 ))
sources="127.1.0.1-127.1.$(( addrs / 256 )).$(( addrs % 256 ))"

stop_server() { # the servers first, then their Redis
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  pids=()
  redis_port=""
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

# wait_port PORT NAME LOG: until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $2 did not start:" >&2
  cat "$3" >&2
  exit 1
}

# start_server TARGET PORT ADMIN N [edgeio flags...]: server N of TARGET (one of a cluster's
# nodes), in the background, added to pids.
start_server() {
  local target=$1 port=$2 admin=$3 n=$4
  shift 4
  local log="$work/server-$n.log"
  case "$target" in
    edgeio | edgeio-norecovery | edgeio-base)
      rm -rf "$work/data-$n"
      local exe=$bin extra=()
      [[ "$target" == edgeio-norecovery ]] && extra=(--recovery-window 0)
      [[ "$target" == edgeio-base ]] && exe=${BASE_BIN:?bench: edgeio-base runs BASE_BIN, another build}
      # shellcheck disable=SC2086
      "$exe" --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" --jwt-secret "$secret" \
        --data-dir "$work/data-$n" "${extra[@]}" "$@" ${SERVER_ARGS:-} >"$log" 2>&1 &
      ;;
    relay)
      "$bin" --app relay --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" >"$log" 2>&1 &
      ;;
    node)
      install_peer
      local redis_url=""
      [[ -n "$redis_port" ]] && redis_url="redis://127.0.0.1:$redis_port"
      (cd "$peer" && PORT=$port JWT_SECRET=$secret PARSER="${PARSER:-json}" REDIS_URL=$redis_url exec node server.mjs) >"$log" 2>&1 &
      ;;
    *) echo "bench: unknown target $target (edgeio, edgeio-norecovery, edgeio-base, relay, node)" >&2; exit 2 ;;
  esac
  pids+=($!)
  wait_port "$port" "$target" "$log"
}

# start_redis: a fresh redis-server on a loopback port, without persistence.
start_redis() {
  redis_port=$((20000 + RANDOM % 20000))
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_port "$redis_port" redis-server "$work/redis.log"
}

# wait_mesh ADMIN...: until every edgeio node's /metrics counts the others (10 s at most).
wait_mesh() {
  local want=$(($# - 1)) admin all
  for _ in $(seq 100); do
    all=1
    for admin in "$@"; do
      curl -s "http://127.0.0.1:$admin/metrics" | grep -q "^edgeio_cluster_nodes $want\$" || all=0
    done
    ((all)) && return 0
    sleep 0.1
  done
  echo "bench: the edgeio nodes did not see each other within 10 s" >&2
}

# run_one SCENARIO TARGET MSG_RATE ROOM_SIZE DURATION [harness flags...]: fresh servers
# (two nodes on a fresh Redis in the cluster scenario), one harness run; its JSON report is
# added to reports.
run_one() {
  local scenario=$1 target=$2 msgs=$3 size=$4 secs=$5
  shift 5
  local port=$((20000 + RANDOM % 20000))
  local admin=$((port + 1)) protocol=socketio
  local urls="http://127.0.0.1:$port" servers cluster=()
  [[ "$target" == relay ]] && protocol=relay
  if [[ "$scenario" == cluster* ]]; then
    start_redis
    cluster=(--redis-url "redis://127.0.0.1:$redis_port")
    start_server "$target" "$port" "$admin" 1 "${cluster[@]}"
    start_server "$target" $((port + 2)) $((admin + 2)) 2 "${cluster[@]}"
    urls="$urls,http://127.0.0.1:$((port + 2))"
    servers="${pids[1]},${pids[2]}"
    [[ "$target" == edgeio* ]] && wait_mesh "$admin" $((admin + 2))
  else
    start_server "$target" "$port" "$admin" 1
    servers="${pids[0]}"
  fi
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
  "$bin" bench --url "$urls" --protocol "$protocol" --label "$target" \
    --jwt-secret "$secret" --server-pid "$servers" "${cluster[@]}" --source-ips "$sources" \
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
    cluster)
      for target in ${TARGETS:-edgeio node}; do
        run_one cluster "$target" "${CLUSTER_RATE:-500}" "$room" "${DURATION:-20s}"
      done
      ;;
    cluster-big-room)
      for target in ${TARGETS:-edgeio node}; do
        run_one cluster-big-room "$target" "${BIG_RATE:-10}" "$conns" "${DURATION:-15s}" --scenario big-room
      done
      ;;
    cluster-idle)
      for target in ${TARGETS:-edgeio node}; do
        run_one cluster-idle "$target" 0 "$room" "${DURATION:-10s}" --idle --recovery
      done
      ;;
    *) echo "bench: unknown scenario $scenario (chat, big-room, idle, cluster, cluster-big-room, cluster-idle)" >&2; exit 2 ;;
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
