#!/usr/bin/env bash
# The main job. For now: start the stack and the five services, show that
# each is live and ready, take one buyer through the whole system (hold,
# pay, confirmation, data platform, notification), then stop what was
# started (KEEP=1 leaves everything running). The ticket-open rush with
# thousands of users is still to come.
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

echo "demo: [1/4] starting Kafka (3 nodes), MariaDB, Redis and the five services"
$STACK run

echo "demo: [2/4] health of each service"
fail=0
for svc in reservation-api:${RESERVATION_API_ADMIN_PORT:-9081} payment-api:${PAYMENT_API_ADMIN_PORT:-9082} \
           seat-expiry-scheduler:${SEAT_EXPIRY_SCHEDULER_ADMIN_PORT:-9083} \
           dataplatform-relay:${DATAPLATFORM_RELAY_ADMIN_PORT:-9084} \
           notification-worker:${NOTIFICATION_WORKER_ADMIN_PORT:-9085}; do
  name=${svc%%:*}; port=${svc##*:}
  live=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/live" || true)
  ready=$(curl -s "http://127.0.0.1:$port/health/ready" || true)
  metrics=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c '^[a-z]' || true)
  printf 'demo:   %-22s live=%s ready=%s metrics=%s series\n' "$name" "$live" "$ready" "$metrics"
  [ "$live" = 200 ] && [[ "$ready" == *'"ready"'* ]] || fail=1
done

[ "$fail" = 0 ] || { echo "demo: a service is not healthy" >&2; exit 1; }
echo "demo: all five services healthy"

echo "demo: [3/4] one buyer end to end, public HTTP only"
eval "$($STACK status | grep -E '^[A-Z_]+=' | sed 's/^/export /')"
NOTIFICATION_LOG=${TICKETING_DATA_DIR:-$ROOT/.local/stack}/logs/notification-worker.log \
  python3 "$ROOT/scripts/demo_flow.py"

echo "demo: [4/4] stopping"
