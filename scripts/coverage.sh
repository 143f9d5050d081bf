#!/usr/bin/env bash
# Prints the statement coverage of the Go packages, counting unit tests and the end-to-end
# runs of the coverage-built binary together (main.go aside), and fails under the minimum.
#   scripts/coverage.sh COVER_DIR MIN_PERCENT
set -euo pipefail
dir=$1 min=$2
dirs=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | paste -sd, -)
go tool covdata textfmt -i="$dirs" -o "$dir/all.out"
grep -v '^edgeio/main.go:' "$dir/all.out" >"$dir/cover.out"
go tool covdata percent -i="$dirs" | grep -v '^\s*edgeio\s' || true
total=$(go tool cover -func="$dir/cover.out" | awk '/^total:/ { sub("%", "", $3); print $3 }')
echo "total statement coverage (unit + e2e, main.go aside): ${total}%"
awk -v t="$total" -v m="$min" 'BEGIN { exit !(t >= m) }' || { echo "coverage ${total}% is under ${min}%"; exit 1; }
