#!/usr/bin/env bash
# Installs what the end-to-end tests need, and nothing that is already there:
#   - the npm packages of e2e/ (npm ci, or npm install without a lockfile), when
#     e2e/node_modules is missing or older than package.json / package-lock.json;
#   - Debian's python-socketio client with both transports (requests for polling,
#     websocket-client for WebSocket) and its msgpack serializer, when /usr/bin/python3
#     cannot import them;
#   - redis-server, when it is not on PATH;
#   - chromium, for the browser tests, when /usr/bin/chromium is missing.
# Safe to run again and again. Runs as root (CI, fresh Debian with Go and Node/npm).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
e2e="$root/e2e"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'install-deps: %s\n' "$*" >&2; }

# --- npm packages of e2e/ -------------------------------------------------
# The stamp holds a checksum of package.json and package-lock.json as of the
# last successful install; any change to either (or a missing node_modules)
# triggers a clean install.
deps_checksum() {
  cat "$e2e/package.json" "$e2e/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1
}

stamp="$e2e/node_modules/.edgeio-install-stamp"
want="$(deps_checksum)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ ! -d "$e2e/node_modules" || "$want" != "$have" ]]; then
  if [[ -f "$e2e/package-lock.json" ]]; then
    log "npm ci in e2e/"
    (cd "$e2e" && npm ci --no-audit --no-fund)
  else
    log "npm install in e2e/ (no lockfile)"
    (cd "$e2e" && npm install --no-audit --no-fund)
  fi
  deps_checksum >"$stamp"
else
  log "e2e/node_modules is up to date"
fi

# --- Debian packages --------------------------------------------------------
apt_pkgs=()
if ! /usr/bin/python3 -c 'import socketio, websocket, requests, msgpack' >/dev/null 2>&1; then
  # msgpack: python-socketio's msgpack serializer (socketio.Client(serializer="msgpack"))
  apt_pkgs+=(python3-socketio python3-engineio python3-websocket python3-requests python3-msgpack)
fi
if ! command -v redis-server >/dev/null 2>&1; then
  apt_pkgs+=(redis-server)
fi
# headless Chromium for the browser tests (the dashboard), driven by npm's playwright-core
if [[ ! -x /usr/bin/chromium ]]; then
  apt_pkgs+=(chromium)
fi

if ((${#apt_pkgs[@]})); then
  log "apt-get install ${apt_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
else
  log "python3-socketio, redis-server and chromium already present"
fi

/usr/bin/python3 -c 'import socketio, websocket, requests, msgpack' ||
  { log "error: /usr/bin/python3 still cannot import socketio, websocket, requests, msgpack"; exit 1; }
