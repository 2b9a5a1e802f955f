#!/usr/bin/env bash
# The main job: a ticket-open rush end to end. Starts the stack and two
# instances of each of the five services (consumer groups of two), the fake
# data platform and the fake webhook, loads the demo catalogue, then runs
# USERS buyers (default 2000) through the public HTTP APIs (tools/rush;
# waiting buyers long-poll their place for LONG_POLL_SECONDS, 0 = poll),
# waits until the system is quiet, checks the invariants, writes the report
# and a chart, and stops what it started (KEEP=1 leaves everything running).
# Exits non-zero when an invariant fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STACK="bash $ROOT/scripts/stack.sh"
DATA=${TICKETING_DATA_DIR:-$ROOT/.local/stack}
LOGS=$DATA/logs
SERVICES=(reservation-api payment-api seat-expiry-scheduler dataplatform-relay notification-worker)

USERS=${USERS:-2000}
RUN_ID=${RUN_ID:-demo$(date +%Y%m%d%H%M%S)}
OUT=${DEMO_OUT:-$ROOT/.local/demo/$RUN_ID}
# A rush in minutes, not hours: short holds and queue places, fast expiry.
export HOLD_TTL_SECONDS=${HOLD_TTL_SECONDS:-10}
export QUEUE_MAX_ACTIVE=${QUEUE_MAX_ACTIVE:-200}
export QUEUE_ACTIVE_TTL_SECONDS=${QUEUE_ACTIVE_TTL_SECONDS:-30}
export EXPIRY_TICK_MS=${EXPIRY_TICK_MS:-200}
# Events of other runs on the shared topics are none of this run's business.
export IGNORE_UNKNOWN_RESERVATIONS=true
# Two instances of each service by default; INSTANCES=3 or more also puts
# HAProxy in front of the APIs (LB=1 asks for it with fewer): the buyers then
# use one address per API.
INSTANCES=${INSTANCES:-2}
long_polls=()
LB=${LB:-$([ "$INSTANCES" -ge 3 ] && echo 1 || echo 0)}
export RUN_ID INSTANCES LB

# Captured first: `status | grep -q` would SIGPIPE the script under pipefail.
before=$($STACK status 2>/dev/null || true)
started=0
grep -q ' stopped$' <<<"$before" && started=1
cleanup() {
  local code=$?
  if [ "${KEEP:-0}" = 1 ]; then
    echo "demo: KEEP=1, everything keeps running:"
    $STACK status | grep -E '_URLS?=' | sed 's/^/demo:   /' || true
    echo "demo:   databases reservation_$RUN_ID and payment_$RUN_ID; logs in $LOGS"
    echo "demo: stop it all with 'make down'"
  elif [ "$started" = 1 ]; then
    echo "demo: stopping the services and the stack"
    $STACK down >/dev/null
  else
    echo "demo: stopping the services (the stack was already running)"
    $STACK services-down >/dev/null
  fi
  exit $code
}
trap cleanup EXIT

# The demo's own topic namespace (TOPIC_PREFIX, libs/events namespace.hpp):
# its events never reach the topics a later `make run` reads.
export TOPIC_PREFIX=${TOPIC_PREFIX:-demo.}
echo "demo: [1/6] Kafka (3 nodes, KRaft), MariaDB, Redis, Prometheus, Alertmanager"
mkdir -p "$OUT" "$LOGS"
$STACK up >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log"; exit 1; }
grep -E '^stack:|^#   (kafka|mariadb|redis|prometheus|alertmanager)|brokers:' "$OUT/up.log" | sed 's/^/demo:   /' || true

echo "demo: [2/6] $INSTANCES instances of each service, run $RUN_ID (own databases, Redis prefixes, consumer groups; topics $TOPIC_PREFIX*)"
$STACK services-down >/dev/null  # `run` starts only the services not running yet
declare -A offsets
instances() {  # service: its instance names
  local n
  echo "$1"
  for ((n = 2; n <= INSTANCES; n++)); do echo "$1-$n"; done
}
for s in "${SERVICES[@]}"; do
  for name in $(instances "$s"); do offsets[$name]=$(stat -c %s "$LOGS/$name.log" 2>/dev/null || echo 0); done
done
groups=()
for s in "${SERVICES[@]}"; do groups+=(--group "$s=$s-$RUN_ID"); done
# The new groups start where the topics end now, before any member joins.
# The stack's settings only for this command: `run` must not see them, or it
# would start the services with these admin credentials instead of their own.
(
  eval "$($STACK env | sed 's/^/export /')"
  "$BUILD_DIR/tools/rush/rush" init-groups --kafka "$KAFKA_BOOTSTRAP_SERVERS" "${groups[@]}" | sed 's/^/demo:   /'
)
$STACK run >"$OUT/run.log" || { cat "$OUT/run.log"; exit 1; }
eval "$($STACK status | grep -E '^[A-Z_]+=' | sed 's/^/export /')"
# The process stack's connection settings win over a container mode's, should
# both run.
eval "$($STACK env | sed 's/^/export /')"
if [ "$LB" = 1 ]; then
  # The buyers see one address per API: HAProxy's.
  RESERVATION_API_URLS=$RESERVATION_API_LB_URL PAYMENT_API_URLS=$PAYMENT_API_LB_URL
  # Each long poll holds two of HAProxy's descriptors (deploy/haproxy/defaults.cfg):
  # fewer at once; the other waiting buyers poll every 1-5 s.
  long_polls=(--max-long-polls "${MAX_LONG_POLLS:-6000}")
  echo "demo:   HAProxy in front of the APIs (statistics: $LB_STATS_URL)"
fi
echo "demo:   reservation-api $RESERVATION_API_URLS"
echo "demo:   payment-api     $PAYMENT_API_URLS"

echo "demo: [3/6] waiting until every consumer instance owns its partitions"
for s in "${SERVICES[@]}"; do
  for name in $(instances "$s"); do
    for ((i = 0; i < 600; i++)); do
      tail -c +"$((offsets[$name] + 1))" "$LOGS/$name.log" | grep -q '"partitions assigned"' && break
      sleep 0.1
    done
    [ "$i" -lt 600 ] || { echo "demo: $name got no partitions within 60 s (log: $LOGS/$name.log)" >&2; exit 1; }
  done
done
sleep 2  # a new group starts at the log end once fetching begins

echo "demo: [4/6] Kafka's EndToEndLatency on this cluster (reference for the event pipeline)"
e2e_topic="demo.e2e-latency.$RUN_ID"
kafka_e2e=()
e2e=$($STACK kafka-java org.apache.kafka.tools.EndToEndLatency \
  "$KAFKA_BOOTSTRAP_SERVERS" "$e2e_topic" "${E2E_MESSAGES:-2000}" all 512 "$KAFKA_ADMIN_PROPERTIES" 2>/dev/null | tail -2 | tr '\n' ' ' || true)
e2e_p50=$(sed -n 's/.*50th = \([0-9]*\),.*/\1/p' <<<"$e2e")
e2e_p99=$(sed -n 's/.*99th = \([0-9]*\),.*/\1/p' <<<"$e2e")
if [ -n "$e2e_p50" ] && [ -n "$e2e_p99" ]; then
  kafka_e2e=(--kafka-e2e-ms "$e2e_p50,$e2e_p99")
  echo "demo:   p50 $e2e_p50 ms, p99 $e2e_p99 ms"
else
  echo "demo:   not measured: $e2e"
fi
"$BUILD_DIR/tools/admin/ticketing-admin" delete-topics --bootstrap "$KAFKA_BOOTSTRAP_SERVERS" "$e2e_topic" >/dev/null 2>&1 || true
metrics=()
for s in "${SERVICES[@]}"; do
  var="$(tr 'a-z-' 'A-Z_' <<<"$s")_ADMIN_URLS"
  [ -n "${!var:-}" ] && metrics+=(--metrics "$s=${!var}")
done

redis_mb() {  # used_memory or used_memory_peak of the stack's Redis, in MB
  redis-cli -u "${REDIS_URL/redis:\/\/:/redis://default:}" --no-auth-warning info memory 2>/dev/null |
    sed -n "s/^$1:\([0-9]*\).*/\1/p" | awk '{printf "%.1f", $1 / 1048576} END {if (NR == 0) printf "?"}'
}
redis_before=$(redis_mb used_memory)

echo "demo: [5/6] the rush: $USERS buyers"
rush_started=$SECONDS
webhook=()
[ -n "${FAKE_WEBHOOK_CONTROL_URL:-}" ] && webhook=(--webhook-control "$FAKE_WEBHOOK_CONTROL_URL")
platform=()
[ -n "${FAKE_DATAPLATFORM_CONTROL_URL:-}" ] && platform=(--dataplatform-control "$FAKE_DATAPLATFORM_CONTROL_URL")
set +e
"$BUILD_DIR/tools/rush/rush" --users "$USERS" \
  --reservation-urls "$RESERVATION_API_URLS" --payment-urls "$PAYMENT_API_URLS" --idp-url "$IDP_URL" \
  --mysql-url "$MYSQL_URL" --reservation-db "reservation_$RUN_ID" --payment-db "payment_$RUN_ID" \
  --kafka "$KAFKA_BOOTSTRAP_SERVERS" "${platform[@]}" "${webhook[@]}" "${groups[@]}" \
  "${metrics[@]}" "${kafka_e2e[@]}" --long-poll-s "${LONG_POLL_SECONDS:-20}" "${long_polls[@]}" \
  --report "$OUT/report.txt" --json "$OUT/report.json" --chart "$OUT/chart.svg"
code=$?
set -e
# Redis memory (the whole server: earlier runs' keys included), printed and
# added to the report.
{
  echo "redis"
  printf '  %-28s %s MB before the rush, %s MB after (peak since Redis started: %s MB)\n' \
    "used memory" "$redis_before" "$(redis_mb used_memory)" "$(redis_mb used_memory_peak)"
} | tee -a "$OUT/report.txt"

# What the operators saw: the alerts Prometheus fired during the rush (its
# rules: deploy/prometheus/rules) and the messages of the operations channel.
alerts=$(curl -fsS -m 5 "$PROMETHEUS_URL/api/v1/query" --data-urlencode \
  "query=max by (alertname, job) (max_over_time(ALERTS{alertstate=\"firing\"}[$((SECONDS - rush_started + 30))s]))" 2>/dev/null |
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(", ".join(sorted(x["metric"].get("alertname","?")+"("+x["metric"].get("job","-")+")" for x in r)) or "none")' 2>/dev/null ||
  echo "not known (Prometheus did not answer)")
{
  echo "monitoring"
  printf '  %-28s %s\n' "prometheus" "$PROMETHEUS_URL (alerts: $PROMETHEUS_URL/alerts; KEEP=1 keeps it running)"
  printf '  %-28s %s\n' "alerts fired during the rush" "$alerts"
  if [ -n "${OPS_WEBHOOK_CONTROL_URL:-}" ]; then
    printf '  %-28s %s\n' "operations channel" "the fake ops webhook: $OPS_WEBHOOK_CONTROL_URL/_control/requests"
  fi
} | tee -a "$OUT/report.txt"

echo "demo: [6/6] done: report $OUT/report.txt, chart $OUT/chart.svg"
if [ "$code" != 0 ]; then echo "demo: an invariant failed (exit $code)" >&2; fi
exit "$code"
