#!/bin/sh
# Smoke run of replica_bench (bench/replica_bench.cc): every configuration
# (SQLite, 1 and 2 PostgreSQL replicas) runs every phase and no call fails.
# The figures of so short a run mean nothing, so "the goal not met" (exit
# status 2) passes too; a failed call or set-up (1) does not.
# Usage: replica_bench_smoke.sh <replica_bench binary>
set -u
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" --requests 300 --warmup 20 --rounds 2 --in-flight 16 --seconds 60 \
  --propagation-samples 4 >"$out"
rc=$?
cat "$out"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
  echo "replica_bench_smoke: replica_bench exited with $rc" >&2
  exit 1
fi
# Only the closing line says that every configuration was measured.
if ! grep -q '^replica_bench: all 3 configurations measured, no call failed' "$out"; then
  echo "replica_bench_smoke: replica_bench did not measure every configuration (exit $rc)" >&2
  exit 1
fi
