#!/usr/bin/env bash
# The whole system in containers: images built offline, Docker Compose up/down.
#
#   containers.sh images               base image (debootstrap when missing), builder,
#                                      five services, tools, Kafka, MariaDB, Redis
#   containers.sh up [compose args]    images, then the whole system (detached)
#   containers.sh down                 containers, networks and volumes; the daemon if we started it
#   containers.sh status [--if-running]  published URLs as NAME=value lines
#   containers.sh wait-healthy [S]     until every container with a health check is healthy
#   containers.sh compose ARGS...      docker-compose on the project's two files
#   containers.sh daemon start|stop    a Docker engine: the one that answers, else Debian's
#                                      dockerd started here (root only), stopped only by us
#
# Host ports (loopback only), all overridable: Kafka 28092-28094, reservation-api
# 28081, payment-api 28082, fake peer data 28500 / control 28501. An empty value
# (e.g. RESERVATION_API_HOST_PORT=) publishes on an ephemeral port instead, which
# lets that service be scaled too. The fixed ones sit below the kernel's ephemeral
# range (32768-60999), where an outgoing connection may hold a port at any moment.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${TICKETING_CONTAINERS_DIR:-$ROOT/.local/containers}
# Build logs and contexts go here whether or not this script starts the engine.
mkdir -p "$STATE"
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-ticketing}
TAG=${TICKETING_IMAGE_TAG:-local}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
BUILDER_IMAGE=ticketing/builder:$TAG
SERVICES=(reservation-api payment-api seat-expiry-scheduler dataplatform-relay notification-worker)
COMPOSE_FILES=(-f "$ROOT/docker-compose.kafka.yml" -f "$ROOT/deploy/docker-compose.yml")

# What the compose files read; our local images unless the caller names others.
export KAFKA_IMAGE=${KAFKA_IMAGE:-ticketing/kafka:$TAG}
export MARIADB_IMAGE=${MARIADB_IMAGE:-ticketing/mariadb:$TAG}
export REDIS_IMAGE=${REDIS_IMAGE:-ticketing/redis:$TAG}
export TOOLS_IMAGE=${TOOLS_IMAGE:-ticketing/tools:$TAG}
export TICKETING_IMAGE_PREFIX=${TICKETING_IMAGE_PREFIX:-ticketing/}
export TICKETING_IMAGE_TAG=$TAG
export KAFKA_HOST_PORT_BASE=${KAFKA_HOST_PORT_BASE:-28092}
export KAFKA_HOST_PORT_2=$((KAFKA_HOST_PORT_BASE + 1)) KAFKA_HOST_PORT_3=$((KAFKA_HOST_PORT_BASE + 2))
export RESERVATION_API_HOST_PORT=${RESERVATION_API_HOST_PORT-28081}
export PAYMENT_API_HOST_PORT=${PAYMENT_API_HOST_PORT-28082}
export FAKE_PEER_HOST_PORT=${FAKE_PEER_HOST_PORT-28500}
export FAKE_PEER_CONTROL_HOST_PORT=${FAKE_PEER_CONTROL_HOST_PORT-28501}
export IDP_HOST_PORT=${IDP_HOST_PORT-28600}

# The 28.x client on these machines has no buildx; the engine's classic builder
# does multi-stage builds fine.
export DOCKER_BUILDKIT=0

log() { echo "containers: $*" >&2; }
die() { echo "containers: error: $*" >&2; exit 1; }

# --- the engine ----------------------------------------------------------

engine_answers() { docker info >/dev/null 2>&1; }

# Prints the pid of the dockerd this script started, if it still runs.
our_dockerd() {
  local f=$STATE/dockerd.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *dockerd*"$STATE"* ]] || return 1
  echo "$pid"
}

daemon_start() {
  engine_answers && return 0
  [ "$(id -u)" -eq 0 ] || die "no Docker engine answers and we are not root to start one"
  command -v dockerd >/dev/null || die "dockerd not found: run 'make deps' (Debian's docker.io)"
  mkdir -p "$STATE"
  # The default bridge it creates is ours to remove again when we stop it.
  if [ ! -e /sys/class/net/docker0 ]; then touch "$STATE/docker0.ours"; else rm -f "$STATE/docker0.ours"; fi
  log "starting dockerd (iptables off; log $STATE/dockerd.log)"
  # --iptables=false: the host firewall is left alone; containers talk over
  # their bridge, published ports go through docker-proxy on loopback.
  setsid dockerd --iptables=false --ip6tables=false --pidfile "$STATE/dockerd.daemon.pid" \
    >>"$STATE/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE/dockerd.pid"
  local i
  for ((i = 0; i < 300; i++)); do
    engine_answers && { log "dockerd ready"; return 0; }
    kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null || die "dockerd exited: $(tail -5 "$STATE/dockerd.log")"
    sleep 0.2
  done
  die "dockerd did not answer within 60 s: $(tail -5 "$STATE/dockerd.log")"
}

daemon_stop() {
  local pid i
  pid=$(our_dockerd) || { rm -f "$STATE/dockerd.pid"; return 0; }
  log "stopping the dockerd we started (pid $pid)"
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "dockerd still running after 30 s: SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$STATE/dockerd.pid"
  if [ -f "$STATE/docker0.ours" ] && [ -e /sys/class/net/docker0 ] && command -v ip >/dev/null; then
    ip link delete docker0 2>/dev/null || log "could not remove the docker0 bridge"
  fi
  rm -f "$STATE/docker0.ours"
}

# --- images --------------------------------------------------------------

# The Debian mirror apt on this machine already uses (deb822 or one-line format).
debian_mirror() {
  local uri
  # deb822: one stanza per paragraph; the first whose Suites has bookworm.
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v RS= -F '\n' '{
      u = ""; b = 0
      for (l = 1; l <= NF; l++) {
        n = split($l, w, /[ \t]+/)
        if (w[1] == "URIs:") u = w[2]
        if (w[1] == "Suites:") for (i = 2; i <= n; i++) if (w[i] == "bookworm") b = 1
      }
      if (b && u != "") { print u; exit }
    }' || true)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(sed -n 's/^deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+bookworm[ \t].*/\2/p' /etc/apt/sources.list | head -1)
  fi
  [ -n "$uri" ] || die "no Debian bookworm mirror found in /etc/apt/sources.list{,.d/*.sources}"
  echo "$uri"
}

# Makes BASE_IMAGE with debootstrap (minbase) when the engine does not have it,
# trimmed like the public slim image (no docs, man pages, locales, apt lists).
ensure_base_image() {
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return 0
  [ "$BASE_IMAGE" = debian:bookworm-slim ] || die "base image $BASE_IMAGE not present (only debian:bookworm-slim can be made here)"
  command -v debootstrap >/dev/null || die "debootstrap not found: run 'make deps'"
  local dir=$STATE/rootfs mirror started=$SECONDS
  mirror=$(debian_mirror)
  log "making $BASE_IMAGE with debootstrap (minbase, bookworm, the mirror apt uses)"
  rm -rf "$dir"
  mkdir -p "$dir"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$STATE/debootstrap.log" 2>&1 ||
    die "debootstrap failed: $(tail -5 "$STATE/debootstrap.log")"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$dir/etc/apt/apt.conf.d/docker-no-recommends"
  printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n' >"$dir/etc/apt/apt.conf.d/docker-clean"
  find "$dir/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/var/cache/apt/*.bin \
    "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/var/log/*.log "$dir"/tmp/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  tar -C "$dir" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$dir"
  log "$BASE_IMAGE made in $((SECONDS - started)) s"
}

build() {  # tag context [docker build args...]
  local tag=$1 ctx=$2; shift 2
  local logf=$STATE/build-${tag//[\/:]/-}.log started=$SECONDS
  docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$tag" "$@" "$ctx" >"$logf" 2>&1 ||
    die "building $tag failed: $(tail -20 "$logf")"
  log "built $tag ($((SECONDS - started)) s)"
}

# The Kafka image's context: its Dockerfile and scripts plus the pinned jars
# (.deps is a symlink, which a build context does not follow).
kafka_context() {
  local ctx=$STATE/kafka-context
  ls "$ROOT"/.deps/kafka/lib/kafka_2.13-*.jar >/dev/null 2>&1 ||
    die "Kafka jars missing in .deps/kafka/lib: run 'make deps'"
  rm -rf "$ctx"
  mkdir -p "$ctx/libs"
  cp -L "$ROOT"/.deps/kafka/lib/*.jar "$ctx/libs/"
  cp -r "$ROOT"/deploy/kafka-image/. "$ctx/"
  cp "$ROOT/deploy/kafka/log4j2.yaml" "$ctx/log4j2.yaml"
  echo "$ctx"
}

cmd_images() {
  daemon_start
  local started=$SECONDS s
  ensure_base_image
  # One builder for all binaries (Release, no tests), then thin runtime images.
  build "$BUILDER_IMAGE" "$ROOT" -f "$ROOT/deploy/Dockerfile.builder"
  for s in "${SERVICES[@]}"; do
    build "ticketing/$s:$TAG" "$ROOT/deploy/runtime" -f "$ROOT/deploy/Dockerfile.service" \
      --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" --build-arg SERVICE="$s"
  done
  build "ticketing/tools:$TAG" "$ROOT/deploy" -f "$ROOT/deploy/Dockerfile.tools" --build-arg BUILDER_IMAGE="$BUILDER_IMAGE"
  build "ticketing/kafka:$TAG" "$(kafka_context)"
  build "ticketing/mariadb:$TAG" "$ROOT/deploy/mariadb"
  build "ticketing/redis:$TAG" "$ROOT/deploy/redis"
  rm -rf "$STATE/kafka-context"
  log "images built in $((SECONDS - started)) s"
  docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^ticketing/' | sort >&2
}

# --- compose -------------------------------------------------------------

compose() { docker-compose --ansi never "${COMPOSE_FILES[@]}" "$@"; }

cmd_up() {
  cmd_images
  local started=$SECONDS
  compose up -d --remove-orphans "$@"
  wait_healthy 240
  log "up in $((SECONDS - started)) s"
  cmd_status
}

# Waits until every container of the project that has a health check is healthy.
wait_healthy() {  # timeout-s
  local i ids unhealthy
  for ((i = 0; i < $1; i++)); do
    ids=$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
    [ -n "$ids" ] || die "no container of project $COMPOSE_PROJECT_NAME runs"
    unhealthy=$(docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids |
      awk '$2 != "healthy" && $2 != "none" {print $1}')
    [ -z "$unhealthy" ] && return 0
    sleep 1
  done
  die "not healthy within $1 s: $(echo $unhealthy)"
}

cmd_down() {
  if engine_answers; then
    compose down --volumes --remove-orphans --timeout 20 2>&1 | grep -v 'not found' >&2 || true
  fi
  daemon_stop
}

project_running() {
  engine_answers && [ -n "$(docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ]
}

# host:port published for a service's container port (first replica).
published() {  # service container-port
  { compose port "$1" "$2" 2>/dev/null || true; } | tail -1
}

cmd_status() {  # [--if-running]: print nothing when the project does not run
  if ! project_running; then
    [ "${1:-}" = --if-running ] || echo "# containers: project $COMPOSE_PROJECT_NAME not running"
    return 0
  fi
  echo "# containers (project $COMPOSE_PROJECT_NAME)"
  docker ps --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Names}} {{.Status}}' |
    sort | sed 's/^/#   /'
  local n hp
  local brokers=()
  for n in 1 2 3; do hp=$(published "kafka-$n" 9094); [ -n "$hp" ] && brokers+=("$hp"); done
  [ ${#brokers[@]} -gt 0 ] && echo "KAFKA_BOOTSTRAP_SERVERS=$(IFS=,; echo "${brokers[*]}")"
  hp=$(published reservation-api 8080); [ -n "$hp" ] && echo "RESERVATION_API_URL=http://$hp"
  hp=$(published payment-api 8080); [ -n "$hp" ] && echo "PAYMENT_API_URL=http://$hp"
  hp=$(published fake-peer 8500); [ -n "$hp" ] && echo "FAKE_PEER_URL=http://$hp"
  hp=$(published fake-peer 8501); [ -n "$hp" ] && echo "FAKE_PEER_CONTROL_URL=http://$hp"
  hp=$(published kafka-ui 8080); [ -n "$hp" ] && echo "KAFKA_UI_URL=http://$hp"
  hp=$(published dev-idp 8600); [ -n "$hp" ] && echo "IDP_URL=http://$hp"
  return 0
}

case "${1:-}" in
  base-image) daemon_start; ensure_base_image ;;
  images) cmd_images ;;
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status "${2:-}" ;;
  wait-healthy) wait_healthy "${2:-240}" ;;
  compose) shift; compose "$@" ;;
  daemon)
    case "${2:-}" in
      start) daemon_start ;;
      stop) daemon_stop ;;
      *) die "usage: $0 daemon start|stop" ;;
    esac ;;
  *) echo "usage: $0 images|up|down|status|compose ARGS|daemon start|stop" >&2; exit 2 ;;
esac
