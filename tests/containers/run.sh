#!/usr/bin/env bash
# The whole system in containers (ctest `containers.system`): build the images,
# bring it up with two replicas of notification-worker and dataplatform-relay,
# run driver.py through the published ports, then bring everything down,
# volumes included, and check that no container, network or daemon of ours is
# left. Skipped (exit 77) only when no engine answers and we are not root.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CT="$ROOT/scripts/containers.sh"

# Its own compose project, state folder and host ports (ephemeral for the
# APIs and the fake peer), so a running `make up-containers` is not touched.
export COMPOSE_PROJECT_NAME=${CONTAINERS_TEST_PROJECT:-ticketingtest}
export TICKETING_CONTAINERS_DIR=${CONTAINERS_TEST_STATE:-$ROOT/.local/containers-test}
export KAFKA_HOST_PORT_BASE=${CONTAINERS_TEST_KAFKA_PORT_BASE:-28192}
export RESERVATION_API_HOST_PORT= PAYMENT_API_HOST_PORT= FAKE_PEER_HOST_PORT= FAKE_PEER_CONTROL_HOST_PORT= \
  IDP_HOST_PORT=
# The compose files read these; the caller's values (e.g. a process-mode
# DATAPLATFORM_URL, or the process stack's ID_TOKEN_* that `make test` exports)
# must not leak into the test's system (TOPIC_PREFIX: `make test`'s namespace
# on the process stack; the compose project is a cluster of its own).
unset TOPIC_PREFIX DATAPLATFORM_URL WEBHOOK_URL DISCORD_WEBHOOK_URL NOTIFY_CHANNELS LOG_LEVEL TOKEN_SECRET \
  MARIADB_ROOT_PASSWORD KAFKA_HEAP_OPTS KAFKA_IMAGE MARIADB_IMAGE REDIS_IMAGE TOOLS_IMAGE \
  TICKETING_IMAGE_PREFIX TICKETING_IMAGE_TAG BASE_IMAGE \
  ID_TOKEN_ISSUER ID_TOKEN_AUDIENCE ID_TOKEN_JWKS IDP_URL REDIS_PASSWORD \
  RESERVATION_API_REDIS_PASSWORD SCHEDULER_REDIS_PASSWORD RELAY_REDIS_PASSWORD \
  NOTIFICATION_REDIS_PASSWORD RESERVATION_API_DB_PASSWORD PAYMENT_API_DB_PASSWORD

say() { echo "containers-test: $*"; }

if ! docker info >/dev/null 2>&1 && [ "$(id -u)" -ne 0 ]; then
  say "SKIP: no Docker engine answers and we are not root to start one"
  exit 77
fi

mkdir -p "$TICKETING_CONTAINERS_DIR"
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && docker info >/dev/null 2>&1; then
    say "failed: last log lines of each container"
    for c in $(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"); do
      echo "--- $(docker inspect --format '{{.Name}} {{.State.Status}} exit={{.State.ExitCode}}' "$c")"
      docker logs --tail 15 "$c" 2>&1 | sed 's/^/    /'
    done
  fi
  bash "$CT" down
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$SECONDS
bash "$CT" daemon start || exit 1
bash "$CT" images || exit 1
t_images=$((SECONDS - t0))
t1=$SECONDS
bash "$CT" compose up -d --scale notification-worker=2 --scale dataplatform-relay=2 || exit 1
bash "$CT" wait-healthy 300 || exit 1
t_up=$((SECONDS - t1))
say "images ready in ${t_images} s, system up and healthy in ${t_up} s"

status=$(bash "$CT" status)
echo "$status"
eval "$(grep -E '^[A-Z_]+=' <<<"$status" | sed 's/^/export /')"
[ -n "${RESERVATION_API_URL:-}" ] && [ -n "${PAYMENT_API_URL:-}" ] && [ -n "${FAKE_PEER_CONTROL_URL:-}" ] && [ -n "${IDP_URL:-}" ] ||
  { say "published URLs missing from status"; exit 1; }

say "idle memory (docker stats --no-stream)"
sleep 5
docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' \
  $(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME") | sort | sed 's/^/    /'

python3 "$ROOT/tests/containers/driver.py" || exit 1

# Down, then nothing of ours may be left.
trap - EXIT
bash "$CT" down || exit 1
if docker info >/dev/null 2>&1; then
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
         docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
         docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
  [ -z "$left" ] || { say "left behind after down: $left"; exit 1; }
fi
if [ -f "$TICKETING_CONTAINERS_DIR/dockerd.pid" ]; then say "our dockerd still recorded as running"; exit 1; fi
say "passed in $((SECONDS - t0)) s; nothing left behind"
