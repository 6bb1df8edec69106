#!/usr/bin/env bash
# h2load_ratios.sh: the server_load ratios measured with h2load (Debian's
# nghttp2-client) instead of the C++ load generator, as a cross-check.
#
#   bench/h2load_ratios.sh [REQUESTS_PER_PHASE] [ROUNDS]   (default 100000 3)
#
# h2load is a single-threaded C event loop: it costs the shared machine about
# 4-6 µs of CPU per call, where server_load's gRPC client costs 20-50 µs.
# On a 2-core machine the load generator and the server share the CPU, so a
# lighter generator gives the cheap calls (Health/Check) more room than the
# expensive ones, and the ratios come out lower: both figures are printed in
# the README.
#
# Starts the server built in ${BUILD_DIR:-build} (port 0, a temporary data
# directory; a second one with --verify-cache 0 for the phase "new token each
# call", whose ratio is to its limit: Health's cost per call plus one raw
# P-256 verify from `openssl speed ecdsap256`, spread over the cores), sets up two organisations with tokenctl (ES256 and HS256
# primary keys), an issuer and a verifier key and one token each, encodes the
# request bodies with `protoc --encode` and sends the same bytes on every call
# (-c 4 -m 64: 256 calls in flight over 4 connections, as server_load). The
# phases run interleaved in ROUNDS rounds. h2load only sees HTTP status 200,
# not grpc-status, so every h2load run sends its own x-request-id and the
# script checks the server's call log afterwards: each run logged exactly its
# number of calls, and no call answered other than code=OK. VerifyToken
# answers a denial with OK, so its tokens are checked with `tokenctl verify`
# (allowed) first and the bodies are decoded back (`protoc --decode`) to the
# same token, organisation and stream.
# The server's CPU per call comes from /proc/<pid>/stat, h2load's from bash's
# `time`; p50 and p99 from h2load's per-request log (--log-file: the time
# from sending each request to the end of its response, in µs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "${BUILD_DIR:-$root/build}" && pwd)  # relative to the caller
cd "$root"
N=${1:-100000}
ROUNDS=${2:-3}
PER_ROUND=$((N / ROUNDS))
# h2load needs at least one request per connection (-c 4).
[ "$PER_ROUND" -ge 4 ] || { echo "h2load_ratios: REQUESTS must be >= 4 x ROUNDS" >&2; exit 1; }
WARMUP=$((PER_ROUND < 2000 ? PER_ROUND : 2000))
command -v h2load >/dev/null || {
  echo "h2load_ratios: h2load not found (scripts/install-deps installs nghttp2-client)" >&2
  exit 1
}
SERVER=${SERVER:-$BUILD_DIR/server/token-authority}
TOKENCTL="$BUILD_DIR/client/tokenctl"
for b in "$SERVER" "$TOKENCTL"; do
  [ -x "$b" ] || { echo "h2load_ratios: $b not built (scripts/build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ta-h2load-XXXXXX)
server_pid=""
nocache_pid=""
cleanup() {
  for pid in $server_pid $nocache_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {  # name [flags...]: starts it, sets $started_pid and $started_addr
  local name=$1
  shift
  "$SERVER" --listen 127.0.0.1:0 --data-dir "$work/$name" "$@" >"$work/$name.start" 2>"$work/$name.calls.log" &
  started_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.start" 2>/dev/null && break; sleep 0.1; done
  started_addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/$name.start")
  [ -n "$started_addr" ] || { echo "h2load_ratios: the server did not start: $(cat "$work/$name.start")" >&2; exit 1; }
}
start_server var
server_pid=$started_pid addr=$started_addr
# The same server with its verify cache off, for VerifyToken of a token it has
# not seen (what a new token costs: every call checks the signature).
start_server nocache --verify-cache 0
nocache_pid=$started_pid nocache_addr=$started_addr

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
admin=(--server "$addr" --api-key-file "$work/var/admin.key")
es_org=$("$TOKENCTL" "${admin[@]}" --json admin org create h2load-es | json_field "['id']")
hs_org=$("$TOKENCTL" "${admin[@]}" --json admin org create h2load-hs | json_field "['id']")
"$TOKENCTL" "${admin[@]}" --as-org "$hs_org" keys rotate --algorithm HS256 >/dev/null
"$TOKENCTL" "${admin[@]}" --json admin key create --org "$es_org" --role issuer |
  json_field "['secret']" >"$work/issuer.key"
"$TOKENCTL" "${admin[@]}" --json admin key create --role verifier |
  json_field "['secret']" >"$work/verifier.key"
es_jwt=$("$TOKENCTL" "${admin[@]}" --as-org "$es_org" --json issue --streams cam1 | json_field "['jwt']")
hs_jwt=$("$TOKENCTL" "${admin[@]}" --as-org "$hs_org" --json issue --streams cam1 | json_field "['jwt']")
for pair in "$es_jwt $es_org" "$hs_jwt $hs_org"; do
  set -- $pair
  "$TOKENCTL" --server "$addr" --api-key-file "$work/verifier.key" verify --org "$2" --stream cam1 "$1" >/dev/null
done
nc_admin=(--server "$nocache_addr" --api-key-file "$work/nocache/admin.key")
nc_org=$("$TOKENCTL" "${nc_admin[@]}" --json admin org create h2load-new | json_field "['id']")
"$TOKENCTL" "${nc_admin[@]}" --json admin key create --role verifier |
  json_field "['secret']" >"$work/nocache-verifier.key"
nc_jwt=$("$TOKENCTL" "${nc_admin[@]}" --as-org "$nc_org" --json issue --streams cam1 | json_field "['jwt']")
"$TOKENCTL" --server "$nocache_addr" --api-key-file "$work/nocache-verifier.key" verify --org "$nc_org" \
  --stream cam1 "$nc_jwt" >/dev/null

# A gRPC message: flag byte 0, 4-byte big-endian length, the protobuf bytes.
frame() {
  local raw="$work/raw"
  protoc --encode="$1" -I proto proto/tokenauthority/v1/token_service.proto >"$raw"
  local len
  len=$(stat -c %s "$raw")
  printf "\\x00\\x$(printf %02x $((len >> 24 & 255)))\\x$(printf %02x $((len >> 16 & 255)))\\x$(printf %02x $((len >> 8 & 255)))\\x$(printf %02x $((len & 255)))"
  cat "$raw"
}
# The body's request, decoded back: it must be the one tokenctl verified.
check_body() {  # file message expected-text
  local got
  got=$(tail -c +6 "$1" | protoc --decode="$2" -I proto proto/tokenauthority/v1/token_service.proto)
  [ "$got" = "$3" ] || { echo "h2load_ratios: $1 decodes to $got" >&2; exit 1; }
}
printf '\x00\x00\x00\x00\x00' >"$work/health.bin"
echo "jwt: \"$es_jwt\" organization_id: \"$es_org\" stream_name: \"cam1\"" |
  frame tokenauthority.v1.VerifyTokenRequest >"$work/es256.bin"
echo "jwt: \"$hs_jwt\" organization_id: \"$hs_org\" stream_name: \"cam1\"" |
  frame tokenauthority.v1.VerifyTokenRequest >"$work/hs256.bin"
echo "jwt: \"$nc_jwt\" organization_id: \"$nc_org\" stream_name: \"cam1\"" |
  frame tokenauthority.v1.VerifyTokenRequest >"$work/es256new.bin"
echo 'spec { target { stream_names { names: "cam1" } } tag: "h2load" }' |
  frame tokenauthority.v1.IssueTokenRequest >"$work/issue.bin"
check_body "$work/es256.bin" tokenauthority.v1.VerifyTokenRequest \
  "$(printf 'jwt: "%s"\norganization_id: "%s"\nstream_name: "cam1"' "$es_jwt" "$es_org")"
check_body "$work/hs256.bin" tokenauthority.v1.VerifyTokenRequest \
  "$(printf 'jwt: "%s"\norganization_id: "%s"\nstream_name: "cam1"' "$hs_jwt" "$hs_org")"
check_body "$work/es256new.bin" tokenauthority.v1.VerifyTokenRequest \
  "$(printf 'jwt: "%s"\norganization_id: "%s"\nstream_name: "cam1"' "$nc_jwt" "$nc_org")"

phases=(health es256 es256new hs256 issue)
declare -A path key goal name reqs secs srv gen target pid_of
path=([health]=/grpc.health.v1.Health/Check [es256]=/tokenauthority.v1.TokenService/VerifyToken
      [es256new]=/tokenauthority.v1.TokenService/VerifyToken
      [hs256]=/tokenauthority.v1.TokenService/VerifyToken [issue]=/tokenauthority.v1.TokenService/IssueToken)
key=([health]="" [es256]="$(cat "$work/verifier.key")" [es256new]="$(cat "$work/nocache-verifier.key")"
     [hs256]="$(cat "$work/verifier.key")" [issue]="$(cat "$work/issuer.key")")
# es256new's goal is against its own limit (below), not Health.
goal=([health]=0 [es256]=0.30 [es256new]=0.85 [hs256]=0.70 [issue]=0.30)
name=([health]="Health/Check" [es256]="VerifyToken ES256" [es256new]="  new token each call"
      [hs256]="VerifyToken HS256" [issue]="IssueToken ES256")
for p in "${phases[@]}"; do target[$p]=$addr; pid_of[$p]=$server_pid; done
target[es256new]=$nocache_addr
pid_of[es256new]=$nocache_pid
for p in "${phases[@]}"; do reqs[$p]=0; secs[$p]=0; srv[$p]=0; gen[$p]=0; done

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
runs=()  # "request-id calls" of every h2load run, checked in the call log
run_h2load() {  # phase requests run-name -> appends to the phase's sums
  local p=$1 n=$2 id="h2load-$1-$3" t0 t1 out rc=0
  local auth=()
  [ -n "${key[$p]}" ] && auth=(-H "authorization: Bearer ${key[$p]}")
  rm -f "$work/requests.log"  # h2load appends to it
  t0=$(ticks "${pid_of[$p]}")
  TIMEFORMAT='%U %S'
  { time h2load -n "$n" -c 4 -m 64 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' \
      -H "x-request-id: $id" "${auth[@]}" -d "$work/$p.bin" --log-file="$work/requests.log" \
      "http://${target[$p]}${path[$p]}" \
      >"$work/h2load.out" 2>&1 || rc=$?; } 2>"$work/time"
  t1=$(ticks "${pid_of[$p]}")
  out=$(cat "$work/h2load.out")
  [ "$rc" = 0 ] || { echo "h2load_ratios: $p: h2load exited with $rc:" >&2; echo "$out" >&2; exit 1; }
  runs+=("$id $n")
  local ok rps
  ok=$(sed -n 's/.* \([0-9]*\) succeeded.*/\1/p' <<<"$out")
  # "finished in 4.68s, 64102.56 req/s, ...": the rate has more digits than
  # the duration, so the phase's seconds are taken as calls / rate.
  rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  [ -n "$rps" ] || { echo "h2load_ratios: $p: no rate in h2load's output" >&2; echo "$out" >&2; exit 1; }
  [ "$ok" = "$n" ] || { echo "h2load_ratios: $p: $ok of $n calls succeeded" >&2; echo "$out" >&2; exit 1; }
  # Latencies of the measured runs only (the warm-up's are dropped below).
  cut -f3 "$work/requests.log" >>"$work/latency-$p"
  reqs[$p]=$((reqs[$p] + n))
  secs[$p]=$(awk -v a="${secs[$p]}" -v n="$n" -v r="$rps" 'BEGIN { print a + n / r }')
  srv[$p]=$((srv[$p] + t1 - t0))
  gen[$p]=$(awk -v a="${gen[$p]}" '{ print a + $1 + $2 }' "$work/time")
}

for p in "${phases[@]}"; do run_h2load "$p" "$WARMUP" warmup; done
for p in "${phases[@]}"; do reqs[$p]=0; secs[$p]=0; srv[$p]=0; gen[$p]=0; : >"$work/latency-$p"; done
for round in $(seq "$ROUNDS"); do
  for p in "${phases[@]}"; do run_h2load "$p" "$PER_ROUND" "$round"; done
done

# Every call must have answered OK (h2load counts HTTP 200 only). The call
# log is written by a background thread: stop the server (SIGTERM flushes it)
# before reading it.
for pid in "$server_pid" "$nocache_pid"; do
  kill "$pid"
  wait "$pid" || { echo "h2load_ratios: a server did not stop cleanly" >&2; exit 1; }
done
server_pid="" nocache_pid=""
cat "$work/var.calls.log" "$work/nocache.calls.log" >"$work/calls.log"
not_ok=$(grep 'code=' "$work/calls.log" | grep -vc 'code=OK ' || true)
if [ "$not_ok" != 0 ]; then
  echo "h2load_ratios: $not_ok calls did not answer OK:" >&2
  (grep 'code=' "$work/calls.log" | grep -v 'code=OK ' | head -5 >&2) || true
  exit 1
fi
for run in "${runs[@]}"; do
  set -- $run
  logged=$(grep -c "code=OK .*request_id=$1 " "$work/calls.log" || true)
  if [ "$logged" != "$2" ]; then
    echo "h2load_ratios: run $1 sent $2 calls, the call log has $logged answered OK" >&2
    exit 1
  fi
done

echo "h2load_ratios: $addr, h2load -c 4 -m 64 (256 calls in flight), $PER_ROUND requests per phase in each of $ROUNDS interleaved rounds (after $WARMUP warm-up calls); every call logged, every one OK"
printf '%-20s %9s %9s %8s %8s %8s %8s %9s  %s\n' phase requests req/s "p50 us" "p99 us" "srv cpu" "gen cpu" \
  "x health" goal
# The q-quantile of a phase's latencies (nearest rank).
quantile() {  # phase q
  sort -n "$work/latency-$1" | awk -v q="$2" '{ v[NR] = $1 } END {
    k = int(q * NR + 0.999999); if (k < 1) k = 1; print v[k] }'
}
health_rps=$(awk -v n="${reqs[health]}" -v s="${secs[health]}" 'BEGIN { print n / s }')
# The limit of VerifyToken with a new token: a Health call's cost on the whole
# machine plus one raw P-256 verify (openssl speed, one core) spread over its
# cores: 1 / (1 / Health's rate + 1 / (cores x verifies/s)).
verify_rate=$(openssl speed -seconds 2 ecdsap256 2>/dev/null |
  awk '/nistp256/ { print $NF }')
[ -n "$verify_rate" ] || { echo "h2load_ratios: no rate from openssl speed ecdsap256" >&2; exit 1; }
cores=$(nproc)
limit_rps=$(awk -v h="$health_rps" -v v="$verify_rate" -v c="$cores" 'BEGIN { print 1 / (1 / h + 1 / (c * v)) }')
status=0
for p in "${phases[@]}"; do
  logged=$(wc -l <"$work/latency-$p")
  [ "$logged" = "${reqs[$p]}" ] || {
    echo "h2load_ratios: $p: h2load logged $logged of ${reqs[$p]} requests" >&2
    exit 1
  }
  p50=$(quantile "$p" 0.50)
  p99=$(quantile "$p" 0.99)
  line=$(awk -v n="${reqs[$p]}" -v s="${secs[$p]}" -v t="${srv[$p]}" -v g="${gen[$p]}" \
    -v p50="$p50" -v p99="$p99" \
    -v hz="$hz" -v h="$health_rps" -v goal="${goal[$p]}" -v lim="$limit_rps" -v new="$([ "$p" = es256new ] && echo 1)" 'BEGIN {
      rps = n / s; r = rps / h; ratio = new ? rps / lim : r
      if (goal == 0) verdict = "reference"
      else if (new) verdict = sprintf("%.2f x limit, >= %.2f %s", ratio, goal, (ratio >= goal) ? "met" : "NOT met")
      else verdict = sprintf(">= %.2f %s", goal, (r >= goal) ? "met" : "NOT met")
      printf "%9d %9.0f %8d %8d %8.1f %8.1f %9.2f  %s", n, rps, p50, p99, t * 1e6 / hz / n, g * 1e6 / n, r,
        verdict
    }')
  printf '%-20s %s\n' "${name[$p]}" "$line"
  [[ "$line" == *"NOT met"* ]] && status=2
done
printf 'limit of a new ES256 token: %.0f req/s (Health %.0f req/s, openssl speed ecdsap256 %.0f verifies/s x %d cores)\n' \
  "$limit_rps" "$health_rps" "$verify_rate" "$cores"
# h2load_ratios_smoke.sh passes only with this line: a run that stopped early
# (set -e passes a tool's exit status on, 2 included) never prints it.
echo "h2load_ratios: all ${#phases[@]} phases measured, every call OK"
exit $status
