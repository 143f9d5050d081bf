#!/usr/bin/env bash
# Runs the official Engine.IO / Socket.IO protocol test suites against `edgeio --app echo`.
#
# Usage:
#   EIO_SUITE=/path/to/engine.io-protocol/test-suite \
#   SIO_SUITE=/path/to/socket.io-protocol/test-suite \
#   EIO3_SUITE=/path/to/engine.io-protocol/v3-test-suite \
#   scripts/conformance.sh
#
# Each *_SUITE variable is optional; a suite whose variable is unset is skipped, and the script
# fails when none is set. The suites are not part of this repository: check them out elsewhere.
# They live in github.com/socketio/socket.io under docs/engine.io-protocol/v4-test-suite,
# docs/socket.io-protocol/v5-test-suite and docs/engine.io-protocol/v3-test-suite (older copies
# of the first two are the test-suite folders of socketio/engine.io-protocol and
# socketio/socket.io-protocol; those lack a fix for lost WebSocket events and are flaky).
# They talk to http://localhost:3000, so the server is started on 127.0.0.1:3000, and nothing
# else may be listening there.
#
# This script builds nothing. It runs $EDGEIO_BIN (default: bin/edgeio in the repository).
#
# Environment:
#   EDGEIO_BIN          server binary (default: <repo>/bin/edgeio)
#   SUITE_TIMEOUT       seconds allowed for one suite run (default: 300)
#   STARTUP_TIMEOUT     seconds to wait for the server's port (default: 15)
#   CONFORMANCE_LOGS    directory for server and suite logs (default: a new temporary directory)
#
# Exit status: 0 when every selected suite ran with no failing test, 1 otherwise, 2 on usage
# errors.

set -euo pipefail

HOST=127.0.0.1
PORT=3000

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EDGEIO_BIN="${EDGEIO_BIN:-$repo_root/bin/edgeio}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-300}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-15}"

server_pid=""
summary=()
overall=0

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

stop_server() {
  if [[ -n "$server_pid" ]]; then
    # The server was started with setsid, so its process group is ours alone.
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill -KILL -- "-$server_pid" 2>/dev/null || kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
  local rc=$?
  stop_server
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

wait_for_port() {
  local deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ! port_open; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      return 1
    fi
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.1
  done
}

wait_for_port_free() {
  local deadline=$((SECONDS + 10))
  while port_open; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.1
  done
}

# count <word> <file>: the number mocha printed before "<word>" (0 when absent). -a: a failed
# assertion can print raw binary bytes into the log.
count() {
  local n
  n="$(grep -aEo "^ *[0-9]+ $1( |\$)" "$2" | tail -n 1 | grep -aEo '[0-9]+' || true)"
  printf '%s' "${n:-0}"
}

run_suite() {
  local name="$1" dir="$2"
  shift 2
  local server_log="$logs/$name-server.log" suite_log="$logs/$name-suite.log"

  log "=== $name: $dir"
  if [[ ! -f "$dir/package.json" || ! -f "$dir/test-suite.js" ]]; then
    log "$name: $dir has no package.json / test-suite.js"
    summary+=("$name: not run (no test suite at $dir)")
    overall=1
    return
  fi
  if ! grep -q 'const URL = "http://localhost:3000"' "$dir/test-suite.js"; then
    log "$name: warning: the suite does not target http://localhost:3000; results may be meaningless"
  fi

  if [[ ! -d "$dir/node_modules" ]]; then
    log "$name: installing the suite's dependencies"
    if ! (cd "$dir" && npm install --no-audit --no-fund >"$logs/$name-npm.log" 2>&1); then
      log "$name: npm install failed, see $logs/$name-npm.log"
      summary+=("$name: not run (npm install failed)")
      overall=1
      return
    fi
  fi

  if ! wait_for_port_free; then
    die "$HOST:$PORT is in use; stop whatever listens there first"
  fi

  log "$name: starting $EDGEIO_BIN $*"
  # Run from the log directory, so whatever the server writes to its working directory
  # (a data directory, for instance) stays out of the repository.
  (cd "$logs" && exec setsid "$EDGEIO_BIN" "$@") >"$server_log" 2>&1 </dev/null &
  server_pid=$!
  if ! wait_for_port; then
    log "$name: the server did not listen on $HOST:$PORT within ${STARTUP_TIMEOUT}s; its log:"
    tail -n 40 "$server_log" >&2 || true
    stop_server
    summary+=("$name: not run (server did not start)")
    overall=1
    return
  fi

  local rc=0
  # --exit: mocha 9 otherwise waits for every socket the suite left open.
  # ipv4first: the suites say "localhost"; the server listens on 127.0.0.1 only.
  if (cd "$dir" &&
    NODE_OPTIONS="--dns-result-order=ipv4first ${NODE_OPTIONS:-}" \
      timeout --kill-after=10 "$SUITE_TIMEOUT" npm test --silent -- --exit) 2>&1 | tee "$suite_log"; then
    rc=0
  else
    rc=$?
  fi

  stop_server

  local passing failing pending line
  passing="$(count passing "$suite_log")"
  failing="$(count failing "$suite_log")"
  pending="$(count pending "$suite_log")"
  line="$name: $passing passing, $failing failing"
  if ((pending > 0)); then
    line+=" ($pending pending)"
  fi
  if ((rc == 124 || rc == 137)); then
    line+=" (timed out after ${SUITE_TIMEOUT}s)"
    overall=1
  elif ((rc != 0 && failing == 0)); then
    line+=" (mocha exited with status $rc)"
    overall=1
  fi
  if ((failing > 0)) || ((passing == 0)); then
    overall=1
  fi
  summary+=("$line")
}

# --- main ---

if [[ -z "${EIO_SUITE:-}" && -z "${SIO_SUITE:-}" && -z "${EIO3_SUITE:-}" ]]; then
  die "set at least one of EIO_SUITE, SIO_SUITE, EIO3_SUITE (see the header of $0)"
fi
[[ -x "$EDGEIO_BIN" ]] || die "no executable at $EDGEIO_BIN (build it first, or set EDGEIO_BIN)"
EDGEIO_BIN="$(cd "$(dirname "$EDGEIO_BIN")" && pwd)/$(basename "$EDGEIO_BIN")"
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
command -v setsid >/dev/null || die "setsid (util-linux) is not installed"
command -v timeout >/dev/null || die "timeout (coreutils) is not installed"

if port_open; then
  die "something already listens on $HOST:$PORT; stop it first"
fi

logs="${CONFORMANCE_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/edgeio-conformance.XXXXXX")}"
mkdir -p "$logs"
logs="$(cd "$logs" && pwd)"
log "logs in $logs"

server_args=(--app echo --addr "$HOST:$PORT" --admin-addr 127.0.0.1:0
  --ping-interval 300ms --ping-timeout 200ms --connect-timeout 1s --cors-origins '*')

if [[ -n "${EIO_SUITE:-}" ]]; then
  run_suite eio "$EIO_SUITE" "${server_args[@]}"
fi
if [[ -n "${SIO_SUITE:-}" ]]; then
  run_suite sio "$SIO_SUITE" "${server_args[@]}"
fi
if [[ -n "${EIO3_SUITE:-}" ]]; then
  run_suite eio3 "$EIO3_SUITE" "${server_args[@]}" --allow-eio3
fi

echo
echo "conformance summary:"
for line in "${summary[@]}"; do
  echo "  $line"
done
exit "$overall"
