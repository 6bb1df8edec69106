#!/bin/sh
# Smoke run of server_load against a server it starts: every phase runs and
# no call fails. The ratios of so short a run mean nothing, so "a goal not
# met" (exit status 2) passes too; a failed call or set-up (1) does not.
# Usage: server_load_smoke.sh <server_load binary>
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" --requests 300 --warmup 20 --rounds 2 --in-flight 16 --seconds 60 >"$out"
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
  echo "server_load_smoke: server_load exited with $rc" >&2
  exit 1
fi
# Exit status 2 also comes from a tool that stopped early: only the closing
# line says that every phase was measured.
if ! grep -q '^server_load: all [0-9]* phases measured' "$out"; then
  echo "server_load_smoke: server_load did not measure every phase (exit $rc)" >&2
  exit 1
fi
