#!/bin/sh
# Smoke run of h2load_ratios.sh: the set-up, every phase and the call-log
# check work against the real server. The ratios of so short a run mean
# nothing, so "a goal not met" (exit status 2) passes too; anything else
# (a call not answered OK, a set-up failure) does not.
# Usage: BUILD_DIR=<build dir> h2load_ratios_smoke.sh
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$(dirname "$0")/h2load_ratios.sh" 600 2 >"$out"
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
  echo "h2load_ratios_smoke: h2load_ratios exited with $rc" >&2
  exit 1
fi
# Exit status 2 also comes from a tool that stopped early: only the closing
# line says that every phase was measured.
if ! grep -q '^h2load_ratios: all [0-9]* phases measured' "$out"; then
  echo "h2load_ratios_smoke: h2load_ratios did not measure every phase (exit $rc)" >&2
  exit 1
fi
