#!/usr/bin/env bash
# The main job. For now: start the stack and the five services, show that
# each is live and ready and what it exposes, then stop what was started
# (KEEP=1 leaves everything running). The ticket-open rush comes with the
# services' business logic.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STACK="bash $ROOT/scripts/stack.sh"

# Captured first: `status | grep -q` would SIGPIPE the script under pipefail.
before=$($STACK status 2>/dev/null || true)
started=0
grep -q ' stopped$' <<<"$before" && started=1
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "demo: KEEP=1, leaving everything running; stop it with 'make down'"
  elif [ "$started" = 1 ]; then
    $STACK down
  else
    $STACK services-down
  fi
}
trap cleanup EXIT

echo "demo: [1/3] starting Kafka (3 nodes), MariaDB, Redis and the five services"
$STACK run

echo "demo: [2/3] health of each service"
fail=0
for svc in reservation-api:9081 payment-api:9082 seat-expiry-scheduler:9083 dataplatform-relay:9084 notification-worker:9085; do
  name=${svc%%:*}; port=${svc##*:}
  live=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/live" || true)
  ready=$(curl -s "http://127.0.0.1:$port/health/ready" || true)
  metrics=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^[a-z]' || true)
  printf 'demo:   %-22s live=%s ready=%s metrics=%s series\n' "$name" "$live" "$ready" "$metrics"
  [ "$live" = 200 ] && [[ "$ready" == *'"ready"'* ]] || fail=1
done

echo "demo: [3/3] stopping"
[ "$fail" = 0 ] || { echo "demo: a service is not healthy" >&2; exit 1; }
echo "demo: all five services healthy"
