#!/usr/bin/env bash
# reservation-api against references, side by side in one run:
#   holds:     POST /v1/reservations over N keep-alive connections vs the same
#              hold transaction (same statements, READ COMMITTED, outbox row)
#              sent by a minimal SQL client (libs/db) from N threads, in
#              ROUNDS alternating slices (SQL, HTTP, SQL, HTTP...) so that a
#              burst of load from elsewhere on the machine hits both sides;
#   GET seats: GET /v1/schedules/{id}/seats vs nginx (one worker) serving the
#              same JSON bytes from a file, both with wrk;
#   tokens:    POST /v1/queue/tokens for new users (ID token checked, rate
#              limits asked, token signed, queue joined) vs the same queue-join
#              Lua script driven directly against Redis (QueueStore::enter),
#              in ROUNDS alternating slices.
# Prints each figure and the ratio; saves the report in .local/bench/. Starts
# the stack if needed and stops it again after; starts its own reservation-api
# on its own database / Redis prefix / consumer group and removes them after.
#   CONNS=16 HOLD_SECONDS=10 ROUNDS=2 SCHEDULES=400 WRK_SECONDS=10 TOKEN_SECONDS=6 bash bench/bench-reservation.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STACK="bash $ROOT/scripts/stack.sh"
CONNS=${CONNS:-16}                  # hold connections / SQL threads
HOLD_SECONDS=${HOLD_SECONDS:-10}    # each side's holds time, split into ROUNDS slices (a slice also stops when its seats run out)
ROUNDS=${ROUNDS:-2}
SCHEDULES=${SCHEDULES:-1200}        # extra schedules (x 50 seats) per copy
HOLDS_PER_USER=${HOLDS_PER_USER:-10}
HTTP_THREADS=${HTTP_THREADS:-16}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNS=${WRK_CONNS:-50}
WRK_SECONDS=${WRK_SECONDS:-10}
TOKEN_SECONDS=${TOKEN_SECONDS:-6}   # each side's queue-token time, split into ROUNDS slices
TOKEN_USERS=${TOKEN_USERS:-1000}    # new users per connection and slice (multiple of 50; HTTP fetches their ID tokens first)
OUT=$ROOT/.local/bench
mkdir -p "$OUT"

API=$BUILD_DIR/services/reservation-api/reservation-api
BENCH=$BUILD_DIR/bench/reservation/reservation_bench
# A build tree configured before bench/reservation/ existed has no target for
# it until CMake runs again.
if [ ! -x "$BENCH" ] && [ -f "$BUILD_DIR/build.ninja" ]; then
  cmake "$BUILD_DIR" >/dev/null && cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target reservation_bench >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
case "$build_type" in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *) echo "bench-reservation: warning: $BUILD_DIR is built with CMAKE_BUILD_TYPE='${build_type}' (unoptimized): figures understate the service" >&2 ;;
esac
for f in "$API" "$BENCH" /usr/sbin/nginx /usr/bin/wrk; do
  [ -x "$f" ] || { echo "bench-reservation: $f missing (make build; scripts/deps.sh installs nginx-light and wrk)" >&2; exit 1; }
done

run_id=$(date +%s)_$$
DB=bench_res_$run_id
PREFIX="$DB:"
LOG=$OUT/bench-reservation-$run_id.log
NGX=$OUT/nginx-$run_id
: >"$LOG"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
stop_pid() {  # pid: SIGTERM, up to 15 s, then SIGKILL
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

before=$($STACK status 2>/dev/null || true)
started=0
grep -q ' stopped$' <<<"$before" && started=1
api_pid=
nginx_pid=
seeded=0
cleanup() {
  [ -n "$nginx_pid" ] && stop_pid "$nginx_pid"
  [ -n "$api_pid" ] && stop_pid "$api_pid"
  if [ "$seeded" = 1 ]; then
    "$BENCH" cleanup "$MYSQL_URL" "$DB" "$REDIS_URL" "$PREFIX" >>"$LOG" 2>&1 || true
    $STACK kafka-java org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "$BOOTSTRAP" --command-config "$KAFKA_ADMIN_PROPERTIES" --delete --group "$TOPIC_PREFIX$DB" >>"$LOG" 2>&1 || true
  fi
  rm -rf "$NGX"
  if [ "$started" = 1 ]; then $STACK down >/dev/null; fi
}
trap cleanup EXIT
# The benchmark's own topic namespace: its events never reach `make run`'s topics.
export TOPIC_PREFIX=${TOPIC_PREFIX:-bench.}
$STACK up >/dev/null
envs=$($STACK env)
BOOTSTRAP=$(sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p' <<<"$envs")
MYSQL_URL=$(sed -n 's/^MYSQL_URL=//p' <<<"$envs")
REDIS_URL=$(sed -n 's/^REDIS_URL=//p' <<<"$envs")
IDP_URL=$(sed -n 's/^IDP_URL=//p' <<<"$envs")
# Kafka as the stack's admin principal (the service under test and the tools).
eval "$(grep '^KAFKA_' <<<"$envs" | sed 's/^/export /')"
export IDP_URL  # reservation_bench asks it for ID tokens
id_env=()
for v in ID_TOKEN_ISSUER ID_TOKEN_AUDIENCE ID_TOKEN_JWKS; do id_env+=("$v=$(sed -n "s/^$v=//p" <<<"$envs")"); done

HTTP_PORT=$(free_port)
ADMIN_PORT=$(free_port)
api_env=(KAFKA_BOOTSTRAP_SERVERS="$BOOTSTRAP" MYSQL_URL="$MYSQL_URL" REDIS_URL="$REDIS_URL"
  MYSQL_DATABASE="$DB" REDIS_PREFIX="$PREFIX" KAFKA_CONSUMER_GROUP="$DB" KAFKA_AUTO_OFFSET_RESET=latest
  TOKEN_SECRET="bench-reservation-token-secret-$run_id-0123456789" QUEUE_MAX_ACTIVE=1000000 MAX_HOLDS_PER_USER="$HOLDS_PER_USER"
  HOLD_TTL_SECONDS=3600 HTTP_THREADS="$HTTP_THREADS" HTTP_PORT="$HTTP_PORT" ADMIN_PORT="$ADMIN_PORT"
  LOG_LEVEL=info "${id_env[@]}"
  # Far above the load: each request still pays the limit check's Redis round trip.
  RATE_LIMIT_HOLD_USER=100000/s:100000 RATE_LIMIT_HOLD_CLIENT=100000/s:100000
  RATE_LIMIT_STATUS_USER=100000/s:100000 RATE_LIMIT_STATUS_CLIENT=100000/s:100000
  RATE_LIMIT_TOKEN_USER=100000/s:100000 RATE_LIMIT_TOKEN_CLIENT=100000/s:100000)

echo "bench-reservation: database $DB, $CONNS connections, ${HOLD_SECONDS}s per holds run, HTTP_THREADS=$HTTP_THREADS"
seeded=1
env "${api_env[@]}" "$API" seed >>"$LOG" 2>&1
ids=$("$BENCH" prepare "$MYSQL_URL" "$DB" "$SCHEDULES" 2>>"$LOG")
http_first=$(sed -n 's/.*http_first=\([0-9]*\).*/\1/p' <<<"$ids")
sql_first=$(sed -n 's/.*sql_first=\([0-9]*\).*/\1/p' <<<"$ids")
echo "bench-reservation: seeded; 2 x $SCHEDULES extra schedules x 50 seats (HTTP from schedule $http_first, SQL from $sql_first)"

env "${api_env[@]}" "$API" >>"$LOG" 2>&1 &
api_pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$ADMIN_PORT/health/ready" >/dev/null 2>&1 && break
  kill -0 "$api_pid" 2>/dev/null || { echo "bench-reservation: reservation-api exited, see $LOG" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ADMIN_PORT/health/ready" >/dev/null || { echo "bench-reservation: reservation-api not ready, see $LOG" >&2; exit 1; }

# SQL first in each round: the service's relay is then idle during the
# reference slice, and publishes an HTTP slice's outbox rows during it (part of its cost).
# Each slice has its own schedules and users.
slice=$(python3 -c "print($HOLD_SECONDS / $ROUNDS)")
per=$((SCHEDULES / ROUNDS))
sql_holds=
http_holds=
for r in $(seq 0 $((ROUNDS - 1))); do
  echo "bench-reservation: [1/6] hold transaction via libs/db ($CONNS threads), slice $((r + 1))/$ROUNDS"
  out=$("$BENCH" holds-sql "$MYSQL_URL" "$DB" "$CONNS" "$slice" $((sql_first + r * per)) "$per" "$HOLDS_PER_USER" $((2000000000 + r * 10000000)) 2>>"$LOG")
  echo "  $out"
  sql_holds+="$out"$'\n'
  echo "bench-reservation: [2/6] POST /v1/reservations ($CONNS keep-alive connections), slice $((r + 1))/$ROUNDS"
  out=$("$BENCH" holds-http "$HTTP_PORT" "$CONNS" "$slice" $((http_first + r * per)) "$per" "$HOLDS_PER_USER" $((1000000000 + r * 10000000)) 2>>"$LOG")
  echo "  $out"
  http_holds+="$out"$'\n'
done

# What the holds cost the event pipeline: the service's own histogram of
# outbox row insert (in the hold's transaction) to broker acknowledgement, so
# that an outbox setting cannot raise the hold ratio unseen.
sleep 1  # the last slice's rows are published
outbox_metrics=$(curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | grep '^outbox_publish_lag_seconds_bucket' || true)

# GET seats: the exact body of one answer, served by nginx from a file.
token=$("$BENCH" token "$HTTP_PORT" 999999999 2>>"$LOG")
SEATS_PATH=/v1/schedules/1/seats
mkdir -p "$NGX/root/v1/schedules/1" "$NGX/tmp"
"$BENCH" get "$HTTP_PORT" "$token" "$SEATS_PATH" >"$NGX/root$SEATS_PATH" 2>>"$LOG"
NGINX_PORT=$(free_port)
cat >"$NGX/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  keepalive_requests 100000000;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGX/root;
    location / { }
  }
}
EOF
/usr/sbin/nginx -c "$NGX/nginx.conf" -p "$NGX" -g 'daemon off;' >>"$LOG" 2>&1 &
nginx_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT$SEATS_PATH" && break; sleep 0.1; done
cmp -s "$NGX/root$SEATS_PATH" <(curl -sf "http://127.0.0.1:$NGINX_PORT$SEATS_PATH") ||
  { echo "bench-reservation: nginx does not serve the seats body, see $LOG" >&2; exit 1; }
bytes=$(stat -c %s "$NGX/root$SEATS_PATH")

wrk_run() {
  /usr/bin/wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency \
    -H "Authorization: Bearer $token" "$1" 2>&1 | tee -a "$LOG"
}
echo "bench-reservation: [3/6] nginx, 1 worker, $bytes-byte file (wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_SECONDS}s)"
nginx_out=$(wrk_run "http://127.0.0.1:$NGINX_PORT$SEATS_PATH")
grep -E 'Requests/sec|^ +(50|99)%|Non-2xx' <<<"$nginx_out" | sed 's/^ */  /'
echo "bench-reservation: [4/6] GET $SEATS_PATH on reservation-api (same wrk settings)"
api_out=$(wrk_run "http://127.0.0.1:$HTTP_PORT$SEATS_PATH")
grep -E 'Requests/sec|^ +(50|99)%|Non-2xx' <<<"$api_out" | sed 's/^ */  /'

token_slice=$(python3 -c "print($TOKEN_SECONDS / $ROUNDS)")
lua_tokens=
http_tokens=
for r in $(seq 0 $((ROUNDS - 1))); do
  echo "bench-reservation: [5/6] queue-join Lua script via Redis ($CONNS threads), slice $((r + 1))/$ROUNDS"
  out=$("$BENCH" tokens-lua "$REDIS_URL" "${PREFIX}lua:" "$CONNS" "$token_slice" $((4000000000 + r * 10000000)) "$((TOKEN_USERS * 10))" 2>>"$LOG")
  echo "  $out"
  lua_tokens+="$out"$'\n'
  echo "bench-reservation: [6/6] POST /v1/queue/tokens ($CONNS keep-alive connections), slice $((r + 1))/$ROUNDS"
  out=$("$BENCH" tokens-http "$HTTP_PORT" "$CONNS" "$token_slice" $((3000000000 + r * 10000000)) "$TOKEN_USERS" 2>>"$LOG")
  echo "  $out"
  http_tokens+="$out"$'\n'
done

report=$OUT/bench-reservation-$run_id.txt
python3 - "$sql_holds" "$http_holds" "$nginx_out" "$api_out" "$outbox_metrics" "$lua_tokens" "$http_tokens" <<'PY' | tee "$report"
import math, re, sys
sql, http, ngx, api, outbox, lua_tok, http_tok = sys.argv[1:]
def quantile_ms(text, q):
    # Cumulative buckets of one histogram (all series summed), interpolated.
    buckets = {}
    for m in re.finditer(r'le="([^"]+)"\}\s+([0-9.e+]+)', text):
        b = math.inf if m.group(1) == "+Inf" else float(m.group(1))
        buckets[b] = buckets.get(b, 0) + float(m.group(2))
    if not buckets or max(buckets.values()) == 0:
        return None, 0
    total = buckets[math.inf]
    rank, lower, below = q * total, 0.0, 0.0
    for b in sorted(buckets):
        if buckets[b] >= rank:
            if math.isinf(b):
                return lower * 1000, total
            inb = buckets[b] - below
            return (lower + (b - lower) * ((rank - below) / inb if inb else 1)) * 1000, total
        lower, below = b, buckets[b]
    return lower * 1000, total
def kv(lines):
    # Slices summed; latency percentiles: the worst slice's.
    rows = [{k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", l)} for l in lines.splitlines() if l.strip()]
    out = {k: sum(r[k] for r in rows) for k in ("holds", "errors", "seconds")}
    out["rate"] = out["holds"] / out["seconds"]
    for k in ("p50_ms", "p99_ms"):
        out[k] = max(r[k] for r in rows)
    out["slices"] = [round(r["rate"]) for r in rows]
    return out
def ms(text):
    v = float(re.match(r"([0-9.]+)", text).group(1))
    unit = text[len(re.match(r"[0-9.]+", text).group(0)):]
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
def wrk(out):
    rate = float(re.search(r"Requests/sec:\s*([0-9.]+)", out).group(1))
    p50 = ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    return rate, p50, p99, int(bad.group(1)) if bad else 0, errs.group(0) if errs else ""
s, h = kv(sql), kv(http)
nr, n50, n99, nbad, nerr = wrk(ngx)
ar, a50, a99, abad, aerr = wrk(api)
sr, hr = float(s["rate"]), float(h["rate"])
print()
print(f"{'figure':40} {'reference':>12} {'reservation-api':>16} {'ratio':>8}")
print(f"{'holds/s (SQL client vs HTTP)':40} {sr:12.0f} {hr:16.0f} {hr/sr:8.2f}")
print(f"{'hold p50 (ms)':40} {float(s['p50_ms']):12.2f} {float(h['p50_ms']):16.2f} {float(h['p50_ms'])/max(float(s['p50_ms']),1e-9):8.2f}")
print(f"{'hold p99 (ms)':40} {float(s['p99_ms']):12.2f} {float(h['p99_ms']):16.2f} {float(h['p99_ms'])/max(float(s['p99_ms']),1e-9):8.2f}")
print(f"{'GET seats req/s (nginx file vs API)':40} {nr:12.0f} {ar:16.0f} {ar/nr:8.2f}")
print(f"{'GET seats p50 (ms)':40} {n50:12.2f} {a50:16.2f} {a50/max(n50,1e-9):8.2f}")
print(f"{'GET seats p99 (ms)':40} {n99:12.2f} {a99:16.2f} {a99/max(n99,1e-9):8.2f}")
lt, ht = kv(lua_tok), kv(http_tok)
print(f"{'queue tokens/s (Lua via Redis vs HTTP)':40} {lt['rate']:12.0f} {ht['rate']:16.0f} {ht['rate']/lt['rate']:8.2f}")
print(f"{'queue token p50 (ms)':40} {lt['p50_ms']:12.2f} {ht['p50_ms']:16.2f} {ht['p50_ms']/max(lt['p50_ms'],1e-9):8.2f}")
print(f"{'queue token p99 (ms)':40} {lt['p99_ms']:12.2f} {ht['p99_ms']:16.2f} {ht['p99_ms']/max(lt['p99_ms'],1e-9):8.2f}")
o50, events = quantile_ms(outbox, 0.5)
o99, _ = quantile_ms(outbox, 0.99)
if o50 is not None:
    print(f"{'hold commit -> event acked by Kafka (ms)':40} {'':>12} {f'p50 {o50:.1f}':>16} {f'p99 {o99:.1f}':>8}  ({events:.0f} events, outbox relay)")
print()
print(f"holds: SQL {s['holds']:.0f} ok / {s['errors']:.0f} errors in {s['seconds']:.2f}s (slices {s['slices']}/s); "
      f"HTTP {h['holds']:.0f} ok (201) / {h['errors']:.0f} errors in {h['seconds']:.2f}s (slices {h['slices']}/s); p50/p99: worst slice")
if nbad or abad or nerr or aerr:
    print(f"GET seats: non-2xx nginx={nbad} api={abad} {nerr} {aerr}".rstrip())
print("targets: holds ratio >= 0.6:", "met" if hr >= 0.6 * sr else "NOT met",
      "| GET seats ratio >= 1.0:", "met" if ar >= nr else "NOT met",
      "| queue tokens ratio >= 0.4:", "met" if ht["rate"] >= 0.4 * lt["rate"] else "NOT met")
print("(2-core machine shared by load generator, server, MariaDB, Redis and Kafka: rerun to compare)")
PY
echo "bench-reservation: report saved to $report (logs: $LOG)"
