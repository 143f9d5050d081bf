#!/usr/bin/env bash
# Builds what the browser and Node get of edgeio's TypeScript:
#   - hub/sdk/dist: the client SDK (@edgeio/client), ES modules and .d.ts, with tsc;
#   - hub/demo/static/dist/app.js: the demo page's bundle (demo code, SDK, socket.io-client,
#     socket.io-msgpack-parser), type-checked with tsc and bundled with esbuild; bin/edgeio
#     embeds it, so this runs before `go build` (make build does).
# npm ci runs in hub/sdk when node_modules is missing or its stamp differs from
# package.json + package-lock.json; each build step runs only when its inputs are newer than
# its output. Without npm it says so and stops: the binary still builds, and its demo page
# says the bundle is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdk="$root/hub/sdk"
demo="$root/hub/demo"
log() { printf 'build-web: %s\n' "$*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
  log "npm not found: the SDK and the demo bundle are not built"
  exit 0
fi

checksum() { cat "$sdk/package.json" "$sdk/package-lock.json" | sha256sum | cut -d' ' -f1; }
stamp="$sdk/node_modules/.edgeio-install-stamp"
if [[ ! -d "$sdk/node_modules" || "$(checksum)" != "$(cat "$stamp" 2>/dev/null || true)" ]]; then
  log "npm ci in hub/sdk/"
  (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
  # A module boundary: should an npm package ever ship .go files, `go vet ./...` and
  # `go test ./...` of edgeio do not wander into them.
  printf 'module edgeio.invalid/node_modules\n' >"$sdk/node_modules/go.mod"
  checksum >"$stamp"
fi

# newer OUT IN...: true when OUT is missing or any file under IN is newer than it
newer() {
  local out="$1"; shift
  [[ ! -e "$out" ]] && return 0
  [[ -n "$(find "$@" -newer "$out" -type f -print -quit)" ]]
}

bin="$sdk/node_modules/.bin"
if newer "$sdk/dist/index.js" "$sdk/src" "$sdk/tsconfig.json" "$stamp"; then
  log "tsc: hub/sdk/dist"
  "$bin/tsc" -p "$sdk/tsconfig.json"
  touch "$sdk/dist/index.js"
fi

out="$demo/static/dist/app.js"
if newer "$out" "$demo/web" "$sdk/dist"; then
  log "tsc --noEmit and esbuild: hub/demo/static/dist/app.js"
  "$bin/tsc" -p "$demo/web/tsconfig.json"
  "$bin/esbuild" "$demo/web/main.ts" --bundle --format=esm --platform=browser --target=es2020 \
    --minify --log-level=warning --outfile="$out"
fi
