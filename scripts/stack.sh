#!/usr/bin/env bash
# The local stack: a 3-node Apache Kafka cluster (KRaft, broker+controller per
# node), MariaDB, Redis and the development identity provider (tools/dev-idp:
# signs an ID token for anyone who asks, so never a production stand-in), on loopback, in the git-ignored folder .local/stack,
# plus the five services (`run`). Only processes this script started are ever
# stopped: each has a pid file, and a pid is trusted only while its command
# line still names our data folder or binaries.
#
#   stack.sh up | down | status | env | run | services-down
#   stack.sh kill-broker N | start-broker N      (fault tests)
#   stack.sh kafka-java <main-class> [args...]    (Kafka's own tools)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${TICKETING_DATA_DIR:-$ROOT/.local/stack}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KAFKA_LIB=$ROOT/.deps/kafka/lib
PIDS=$DATA/pids
LOGS=$DATA/logs

KAFKA_PORT_BASE=${KAFKA_PORT_BASE:-19092}
KAFKA_CONTROLLER_PORT_BASE=${KAFKA_CONTROLLER_PORT_BASE:-19192}
MYSQL_PORT=${MYSQL_PORT:-13306}
REDIS_PORT=${REDIS_PORT:-16379}
FAKE_DATAPLATFORM_PORT=${FAKE_DATAPLATFORM_PORT:-18500}
FAKE_DATAPLATFORM_CONTROL_PORT=${FAKE_DATAPLATFORM_CONTROL_PORT:-18501}
FAKE_WEBHOOK_PORT=${FAKE_WEBHOOK_PORT:-18502}
FAKE_WEBHOOK_CONTROL_PORT=${FAKE_WEBHOOK_CONTROL_PORT:-18503}
IDP_PORT=${IDP_PORT:-18510}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090}
ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-19091}
OPS_WEBHOOK_PORT=${OPS_WEBHOOK_PORT:-18504}
OPS_WEBHOOK_CONTROL_PORT=${OPS_WEBHOOK_CONTROL_PORT:-18505}
# HAProxy in front of the API instances (LB=1 runs): one port per API.
declare -A LB_PORTS=([reservation-api]=${RESERVATION_API_LB_PORT:-18081} [payment-api]=${PAYMENT_API_LB_PORT:-18082})
LB_STATS_PORT=${LB_STATS_PORT:-18089}
KAFKA_HEAP=${KAFKA_HEAP:-"-Xms256m -Xmx512m"}
NODES=(1 2 3)

kafka_port() { echo $((KAFKA_PORT_BASE + $1 - 1)); }
controller_port() { echo $((KAFKA_CONTROLLER_PORT_BASE + $1 - 1)); }
bootstrap() {
  local out=() n
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(kafka_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

# Service name → public HTTP port (API services) and admin port.
SERVICES=(reservation-api payment-api seat-expiry-scheduler dataplatform-relay notification-worker)
declare -A HTTP_PORTS=([reservation-api]=${RESERVATION_API_PORT:-8081} [payment-api]=${PAYMENT_API_PORT:-8082})
declare -A ADMIN_PORTS=(
  [reservation-api]=${RESERVATION_API_ADMIN_PORT:-9081}
  [payment-api]=${PAYMENT_API_ADMIN_PORT:-9082}
  [seat-expiry-scheduler]=${SEAT_EXPIRY_SCHEDULER_ADMIN_PORT:-9083}
  [dataplatform-relay]=${DATAPLATFORM_RELAY_ADMIN_PORT:-9084}
  [notification-worker]=${NOTIFICATION_WORKER_ADMIN_PORT:-9085}
)

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# --- process bookkeeping -------------------------------------------------

# Prints the pid recorded for NAME if that process is alive and is ours.
running_pid() {
  local f=$PIDS/$1.pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse after a crash: the command
  # line still mention a path of ours (redis rewrites its title: its working
  # directory is ours instead). Ours also when started with another
  # BUILD_DIR (e.g. a benchmark of an older build against this stack).
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  if [[ "$cmdline" != *"$DATA"* && "$cmdline" != *"$BUILD_DIR"* && "$cmdline" != *"$ROOT/"* ]]; then
    case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$DATA"/*) ;; *) return 1 ;; esac
  fi
  echo "$pid"
}

# Sends SIGTERM to every named process at once, waits, then SIGKILLs the rest.
stop_all() {
  local timeout=$1; shift
  local name pid pids=() names=()
  for name in "$@"; do
    if pid=$(running_pid "$name"); then pids+=("$pid"); names+=("$name"); fi
    rm -f "$PIDS/$name.pid.tmp"
  done
  [ ${#pids[@]} -gt 0 ] || { for name in "$@"; do rm -f "$PIDS/$name.pid"; done; return 0; }
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local waited=0 alive
  while :; do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && break
    if [ "$waited" -ge $((timeout * 10)) ]; then
      log "killing what did not stop in ${timeout}s: ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.1; waited=$((waited + 1))
  done
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Dies when a port we are about to use is taken by a process that is not ours.
port_free_or_die() {  # port what variable
  port_open "$1" && die "port $1 for $2 is in use by another process; set $3 to another port"
  return 0
}

wait_port() {  # port timeout-s what
  local i
  for ((i = 0; i < $2 * 10; i++)); do port_open "$1" && return 0; sleep 0.1; done
  die "$3 did not open port $1 within $2 s (logs: $LOGS)"
}

# --- Kafka ---------------------------------------------------------------

kafka_java() {  # main-class args...
  [ -d "$KAFKA_LIB" ] || die "Kafka jars missing: run 'make deps'"
  java -Xms64m -Xmx512m -cp "$KAFKA_LIB/*" \
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.yaml" -Dticketing.kafka.log.level=WARN \
    "$@"
}

# Kafka authentication and ACLs (issue 17): mutual TLS. Listeners of node n,
# all SSL on 127.0.0.1 with a client certificate required (no listener takes
# an anonymous client):
#   CLIENT      kafka_port n       services, tools, tests
#   INTERNAL    internal_port n    replication between brokers
#   CONTROLLER  controller_port n  KRaft
# The stack's own CA ($KAFKA_TLS/ca.pem) signs one certificate per principal:
# "broker" (the nodes, also their server certificate for 127.0.0.1), "admin"
# (operators, tools and tests; a super user) and each service. The principal
# is the certificate's CN; ACLs from deploy/kafka-acls.tsv. Not SASL/SCRAM:
# librdkafka < 2.6.1 (Debian 12 has 2.0.2) fails SCRAM against Kafka >= 4.0
# (it repeats its own nonce; confluentinc/librdkafka#4895).
KAFKA_INTERNAL_PORT_BASE=${KAFKA_INTERNAL_PORT_BASE:-19292}
internal_port() { echo $((KAFKA_INTERNAL_PORT_BASE + $1 - 1)); }
KAFKA_PRINCIPALS=(admin "${SERVICES[@]}")  # client principals; "broker" is the nodes'
KAFKA_ACLS=$ROOT/deploy/kafka-acls.tsv
KAFKA_TLS=$DATA/kafka-tls

# Makes the CA and every principal's key and certificate when missing: <name>.key
# (PKCS#8, mode 600), <name>.pem (certificate) and <name>.keystore.pem (both, for
# Java's PEM keystore). RSA 2048; the CA for 10 years, the others for 825 days.
ensure_kafka_tls() {
  local p log=$LOGS/kafka-tls.log
  mkdir -p "$KAFKA_TLS"
  chmod 700 "$KAFKA_TLS"
  if [ ! -s "$KAFKA_TLS/ca.pem" ] || [ ! -s "$KAFKA_TLS/ca.key" ]; then
    rm -f "$KAFKA_TLS"/*.pem "$KAFKA_TLS"/*.key  # certificates of another CA are useless
    (umask 077; openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ticketing local stack CA" \
      -keyout "$KAFKA_TLS/ca.key" -out "$KAFKA_TLS/ca.pem" >>"$log" 2>&1) ||
      die "making the Kafka CA failed: $(tail -3 "$log")"
  fi
  for p in broker "${KAFKA_PRINCIPALS[@]}"; do
    [ -s "$KAFKA_TLS/$p.keystore.pem" ] || issue_kafka_cert "$p"
  done
}

issue_kafka_cert() {  # principal
  local n=$1 log=$LOGS/kafka-tls.log ext
  ext=$(mktemp)
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    if [ "$n" = broker ]; then echo "subjectAltName=IP:127.0.0.1,DNS:localhost"; fi
  } >"$ext"
  (
    umask 077
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$n" -keyout "$KAFKA_TLS/$n.key" \
      -out "$KAFKA_TLS/$n.csr" &&
      openssl x509 -req -in "$KAFKA_TLS/$n.csr" -CA "$KAFKA_TLS/ca.pem" -CAkey "$KAFKA_TLS/ca.key" \
        -CAcreateserial -days 825 -extfile "$ext" -out "$KAFKA_TLS/$n.pem" &&
      cat "$KAFKA_TLS/$n.key" "$KAFKA_TLS/$n.pem" >"$KAFKA_TLS/$n.keystore.pem"
  ) >>"$log" 2>&1 || { rm -f "$ext"; die "making the Kafka certificate of $n failed: $(tail -3 "$log")"; }
  rm -f "$ext" "$KAFKA_TLS/$n.csr"
}

write_kafka_config() {  # node
  local n=$1 dir=$DATA/kafka-$1 voters=() v
  for v in "${NODES[@]}"; do voters+=("$v@127.0.0.1:$(controller_port "$v")"); done
  mkdir -p "$dir"
  cat >"$dir/server.properties" <<EOF
# Generated by scripts/stack.sh; edits are overwritten.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=CLIENT://127.0.0.1:$(kafka_port "$n"),INTERNAL://127.0.0.1:$(internal_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=CLIENT://127.0.0.1:$(kafka_port "$n"),INTERNAL://127.0.0.1:$(internal_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=CLIENT:SSL,INTERNAL:SSL,CONTROLLER:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS/broker.keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.pem
ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([A-Za-z0-9._-]+)$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:broker
allow.everyone.if.no.acl.found=false
log.dirs=$dir/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
}

format_kafka() {
  local cluster_id_file=$DATA/kafka-cluster-id n
  if [ ! -s "$cluster_id_file" ]; then
    kafka_java kafka.tools.StorageTool random-uuid >"$cluster_id_file"
  fi
  ensure_kafka_tls
  for n in "${NODES[@]}"; do
    write_kafka_config "$n"
    if [ ! -f "$DATA/kafka-$n/data/meta.properties" ]; then
      kafka_java kafka.tools.StorageTool format -t "$(cat "$cluster_id_file")" \
        -c "$DATA/kafka-$n/server.properties" >"$LOGS/kafka-$n-format.log" 2>&1 ||
        die "formatting Kafka node $n failed: $(tail -3 "$LOGS/kafka-$n-format.log")"
    fi
  done
}

start_kafka_node() {
  local n=$1
  running_pid "kafka-$n" >/dev/null && return 0
  port_free_or_die "$(kafka_port "$n")" "kafka-$n" KAFKA_PORT_BASE
  port_free_or_die "$(controller_port "$n")" "kafka-$n controller" KAFKA_CONTROLLER_PORT_BASE
  port_free_or_die "$(internal_port "$n")" "kafka-$n inter-broker" KAFKA_INTERNAL_PORT_BASE
  write_kafka_config "$n"
  # setsid: the node must outlive the shell (and make) that started it.
  # shellcheck disable=SC2086
  setsid java $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$DATA/kafka-$n/server.properties" \
    >>"$LOGS/kafka-$n.log" 2>&1 </dev/null &
  echo $! >"$PIDS/kafka-$n.pid"
}

# Waits until all nodes are registered brokers (metadata lists them).
wait_brokers() {  # count timeout-s
  local i count=0
  for ((i = 0; i < $2 * 2; i++)); do
    # `|| true`: under set -e and pipefail a failed kcat would end the script.
    count=$(kcat -F "$DATA/kafka-admin.kcat" -b "$(bootstrap)" -L -m 2 2>/dev/null |
      sed -n 's/^ *\([0-9]*\) brokers:$/\1/p' | head -1) || true
    [ "${count:-0}" -ge "$1" ] && return 0
    sleep 0.5
  done
  die "only ${count:-0} of $1 Kafka brokers registered within $2 s (logs: $LOGS/kafka-*.log)"
}

# The admin principal's client settings: for Kafka's Java tools
# (--command-config) and for kcat (-F).
write_kafka_admin_clients() {
  cat >"$DATA/kafka-admin.properties" <<EOF
security.protocol=SSL
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS/admin.keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS/ca.pem
EOF
  cat >"$DATA/kafka-admin.kcat" <<EOF
security.protocol=ssl
ssl.ca.location=$KAFKA_TLS/ca.pem
ssl.certificate.location=$KAFKA_TLS/admin.pem
ssl.key.location=$KAFKA_TLS/admin.key
EOF
}

# Creates the ACLs of $KAFKA_ACLS as admin (existing ones are kept; one
# CreateAcls request through librdkafka's Admin API).
create_kafka_acls() {
  admin_tool create-acls --bootstrap "$(bootstrap)" --acls "$KAFKA_ACLS" >"$LOGS/kafka-acls.log" 2>&1 ||
    die "creating Kafka ACLs failed: $(tail -5 "$LOGS/kafka-acls.log")"
}

# Principal $1's settings, as libs/events and ticketing-admin read them.
kafka_client_env() {  # principal
  echo "KAFKA_SECURITY_PROTOCOL=SSL"
  echo "KAFKA_SSL_CA_LOCATION=$KAFKA_TLS/ca.pem"
  echo "KAFKA_SSL_CERTIFICATE_LOCATION=$KAFKA_TLS/$1.pem"
  echo "KAFKA_SSL_KEY_LOCATION=$KAFKA_TLS/$1.key"
}

ADMIN_BIN=$BUILD_DIR/tools/admin/ticketing-admin
# ticketing-admin as the admin principal.
admin_tool() { env $(kafka_client_env admin) "$ADMIN_BIN" "$@"; }

# --- MariaDB / Redis -----------------------------------------------------

mysql_socket() { echo "$DATA/mariadb/mysqld.sock"; }

start_mariadb() {
  running_pid mariadb >/dev/null && return 0
  port_free_or_die "$MYSQL_PORT" mariadb MYSQL_PORT
  local dir=$DATA/mariadb
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
      --auth-root-authentication-method=normal --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed: $(tail -3 "$LOGS/mariadb-install.log")"
  fi
  setsid mariadbd --no-defaults --datadir="$dir/data" --socket="$(mysql_socket)" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 --user=root --skip-name-resolve \
    --pid-file="$dir/mariadbd.pid" --log-error="$LOGS/mariadb.log" \
    --innodb-buffer-pool-size=256M --max-connections=1000 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_unicode_ci --innodb-lock-wait-timeout=10 \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$PIDS/mariadb.pid"
}

# --- credentials ---------------------------------------------------------
# Made once per stack (random, in $DATA/credentials, mode 600): a password for
# each service's own MariaDB and Redis user, and Redis' admin ("default") one.
CREDENTIALS=$DATA/credentials
DB_SERVICES=(reservation-api payment-api)  # services with a MariaDB schema
REDIS_SERVICES=(reservation-api seat-expiry-scheduler dataplatform-relay notification-worker)

ensure_credentials() {
  [ -s "$CREDENTIALS" ] && return 0
  mkdir -p "$DATA"
  local s
  (
    umask 077
    {
      echo "REDIS_ADMIN_PASSWORD=$(random_password)"
      for s in "${SERVICES[@]}"; do echo "$(url_var "$s")_PASSWORD=$(random_password)"; done
    } >"$CREDENTIALS"
  )
}
random_password() { head -c 18 /dev/urandom | base64 | tr '+/' 'AB'; }  # URL-safe, 24 chars
credential() { [ -f "$CREDENTIALS" ] && sed -n "s/^$1=//p" "$CREDENTIALS"; }
db_user() { echo "$1" | tr '-' '_'; }  # reservation-api -> reservation_api
db_schema() { echo "${1%%-*}"; }      # reservation-api -> reservation

# The connection URLs of service $1: its own user, or the admin URL when it
# has no MariaDB schema / Redis keys.
service_mysql_url() {
  echo "mysql://$(db_user "$1"):$(credential "$(url_var "$1")_PASSWORD")@127.0.0.1:$MYSQL_PORT/"
}
service_redis_url() {
  echo "redis://$1:$(credential "$(url_var "$1")_PASSWORD")@127.0.0.1:$REDIS_PORT/0"
}

init_mariadb_user() {
  local i s user pw schema
  for ((i = 0; i < 300; i++)); do
    mariadb --no-defaults -uroot --socket="$(mysql_socket)" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  {
    # The operators' and tests' user (all privileges; development only).
    cat <<'SQL'
CREATE USER IF NOT EXISTS 'ticketing'@'127.0.0.1' IDENTIFIED BY 'ticketing';
CREATE USER IF NOT EXISTS 'ticketing'@'localhost' IDENTIFIED BY 'ticketing';
GRANT ALL PRIVILEGES ON *.* TO 'ticketing'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'ticketing'@'localhost' WITH GRANT OPTION;
SQL
    # One user per service, with rights on its own schema only (and on the
    # <schema>_<run> copies of RUN_ID runs such as the demo's).
    for s in "${DB_SERVICES[@]}"; do
      user=$(db_user "$s") pw=$(credential "$(url_var "$s")_PASSWORD") schema=$(db_schema "$s")
      echo "CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$pw';"
      echo "ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '$pw';"
      echo "GRANT ALL PRIVILEGES ON \`$schema\`.* TO '$user'@'127.0.0.1';"
      echo "GRANT ALL PRIVILEGES ON \`${schema}\\_%\`.* TO '$user'@'127.0.0.1';"
    done
  } | mariadb --no-defaults -uroot --socket="$(mysql_socket)" || die "could not create the MariaDB users"
}

# Redis' users: "default" (operators, tests) and one per service, limited to
# its key prefix (and to <run>:<service>: of RUN_ID runs) and to ordinary
# commands. In a config file, so that they survive a restart.
write_redis_config() {
  local s
  (
    umask 077
    {
      echo "user default on >$(credential REDIS_ADMIN_PASSWORD) ~* &* +@all"
      for s in "${REDIS_SERVICES[@]}"; do
        echo "user $s on >$(credential "$(url_var "$s")_PASSWORD") ~$(redis_prefix "$s")* ~*:$s:* resetchannels +@all -@dangerous"
      done
    } >"$DATA/redis/redis.conf"
  )
}
redis_prefix() {  # the service's default REDIS_PREFIX
  case "$1" in
    reservation-api) echo "reservation:" ;;
    seat-expiry-scheduler) echo "scheduler:" ;;
    dataplatform-relay) echo "relay:" ;;
    notification-worker) echo "notify:" ;;
  esac
}

start_redis() {
  running_pid redis >/dev/null && return 0
  port_free_or_die "$REDIS_PORT" redis REDIS_PORT
  mkdir -p "$DATA/redis"
  ensure_credentials
  write_redis_config
  # Append-only file, fsync every second: timers and dedupe keys survive a restart.
  setsid redis-server "$DATA/redis/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis" \
    --save "" --appendonly yes --appendfsync everysec --daemonize no \
    --logfile "$LOGS/redis.log" --maxclients 4000 </dev/null >/dev/null 2>&1 &
  echo $! >"$PIDS/redis.pid"
}

# --- development identity provider ---------------------------------------

idp_url() { echo "http://127.0.0.1:$IDP_PORT"; }

start_dev_idp() {
  running_pid dev-idp >/dev/null && return 0
  port_free_or_die "$IDP_PORT" dev-idp IDP_PORT
  local bin=$BUILD_DIR/tools/dev-idp/dev-idp
  [ -x "$bin" ] || die "$bin not built: run 'make build'"
  # A new signing key at every start; services fetch it from the JWKS URL.
  setsid "$bin" --port "$IDP_PORT" --host 127.0.0.1 --issuer "$(idp_url)" --audience ticketing \
    >>"$LOGS/dev-idp.log" 2>&1 </dev/null &
  echo $! >"$PIDS/dev-idp.pid"
}

# --- monitoring: Prometheus, Alertmanager, the operations channel ----------

# Prometheus scrapes every service instance `run` started (file_sd: one file
# per instance in $DATA/prometheus/targets, job = the service) and evaluates
# deploy/prometheus/rules; Alertmanager sends what fires to the operations
# channel, a Discord webhook: OPS_DISCORD_WEBHOOK_URL, else a fake one
# (tools/fake-peer as "ops-webhook"; its control port shows what arrived).
ops_webhook_url() {
  echo "${OPS_DISCORD_WEBHOOK_URL:-http://127.0.0.1:$OPS_WEBHOOK_PORT/api/webhooks/ops/stack}"
}

write_monitoring_config() {
  local dir=$DATA/prometheus
  mkdir -p "$dir/targets" "$DATA/alertmanager"
  cat >"$dir/prometheus.yml" <<EOF
# Generated by scripts/stack.sh; edits are overwritten.
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
rule_files:
  - $ROOT/deploy/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$ALERTMANAGER_PORT"]
scrape_configs:
  - job_name: services  # each target file sets job to its service
    file_sd_configs:
      - files: ["$dir/targets/*.json"]
        refresh_interval: 5s
EOF
  (
    umask 077  # the webhook URL is a secret
    cat >"$DATA/alertmanager/alertmanager.yml" <<EOF
# Generated by scripts/stack.sh; edits are overwritten.
route:
  receiver: ops
  group_by: [alertname, job]
  group_wait: 5s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: ops
    discord_configs:
      - webhook_url: "$(ops_webhook_url)"
EOF
  )
}

# The scrape target of one service instance: `run` adds it, services-down
# removes it (file name: the instance's name).
add_scrape_target() {  # service instance-name admin-port
  local dir=$DATA/prometheus/targets
  mkdir -p "$dir"
  printf '[{"targets":["127.0.0.1:%s"],"labels":{"job":"%s","instance_name":"%s"}}]\n' "$3" "$1" "$2" >"$dir/$2.json.tmp"
  mv "$dir/$2.json.tmp" "$dir/$2.json"
}

start_monitoring() {
  command -v prometheus >/dev/null && command -v prometheus-alertmanager >/dev/null ||
    die "prometheus or prometheus-alertmanager missing: run 'make deps'"
  write_monitoring_config
  [ -n "${OPS_DISCORD_WEBHOOK_URL:-}" ] || start_fake_peer ops-webhook "$OPS_WEBHOOK_PORT" "$OPS_WEBHOOK_CONTROL_PORT"
  if ! running_pid alertmanager >/dev/null; then
    port_free_or_die "$ALERTMANAGER_PORT" alertmanager ALERTMANAGER_PORT
    # No cluster listener: one local instance, nobody to gossip with.
    setsid prometheus-alertmanager --config.file="$DATA/alertmanager/alertmanager.yml" \
      --storage.path="$DATA/alertmanager/data" --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
      --cluster.listen-address= --web.external-url="http://127.0.0.1:$ALERTMANAGER_PORT" \
      >>"$LOGS/alertmanager.log" 2>&1 </dev/null &
    echo $! >"$PIDS/alertmanager.pid"
  fi
  if ! running_pid prometheus >/dev/null; then
    port_free_or_die "$PROMETHEUS_PORT" prometheus PROMETHEUS_PORT
    setsid prometheus --config.file="$DATA/prometheus/prometheus.yml" \
      --storage.tsdb.path="$DATA/prometheus/data" --storage.tsdb.retention.time=7d \
      --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.external-url="http://127.0.0.1:$PROMETHEUS_PORT" \
      >>"$LOGS/prometheus.log" 2>&1 </dev/null &
    echo $! >"$PIDS/prometheus.pid"
  fi
}

# --- environment shared with services and tests --------------------------

print_env() {
  echo "KAFKA_BOOTSTRAP_SERVERS=$(bootstrap)"
  # The topic namespace of this environment (libs/events namespace.hpp): make
  # test uses "test.", make demo "demo.", make run none.
  [ -z "${TOPIC_PREFIX:-}" ] || echo "TOPIC_PREFIX=$TOPIC_PREFIX"
  echo "MYSQL_URL=mysql://ticketing:ticketing@127.0.0.1:$MYSQL_PORT/"
  echo "REDIS_URL=redis://:$(credential REDIS_ADMIN_PASSWORD)@127.0.0.1:$REDIS_PORT/0"
  # Each service's own users (make run uses them; tests check their limits).
  local s
  for s in "${DB_SERVICES[@]}"; do echo "$(url_var "$s")_MYSQL_URL=$(service_mysql_url "$s")"; done
  for s in "${REDIS_SERVICES[@]}"; do echo "$(url_var "$s")_REDIS_URL=$(service_redis_url "$s")"; done
  # Kafka as the admin principal (a super user); Kafka's Java tools take
  # --command-config "$KAFKA_ADMIN_PROPERTIES", kcat -F "$KAFKA_ADMIN_KCAT".
  # KAFKA_TLS_DIR has every principal's <name>.pem and <name>.key.
  kafka_client_env admin
  echo "KAFKA_ADMIN_PROPERTIES=$DATA/kafka-admin.properties"
  echo "KAFKA_ADMIN_KCAT=$DATA/kafka-admin.kcat"
  echo "KAFKA_TLS_DIR=$KAFKA_TLS"
  # Development only: POST $IDP_URL/v1/id-tokens {"userId": n} -> {"idToken"}.
  echo "IDP_URL=$(idp_url)"
  echo "ID_TOKEN_ISSUER=$(idp_url)"
  echo "ID_TOKEN_AUDIENCE=ticketing"
  echo "ID_TOKEN_JWKS=$(idp_url)/.well-known/jwks.json"
  echo "PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT"
  echo "ALERTMANAGER_URL=http://127.0.0.1:$ALERTMANAGER_PORT"
  # A file <name>.json here adds a scrape target (tests add their own instances).
  echo "PROMETHEUS_TARGETS_DIR=$DATA/prometheus/targets"
  echo "OPS_DISCORD_WEBHOOK_URL=$(ops_webhook_url)"
  [ -n "${OPS_DISCORD_WEBHOOK_URL:-}" ] || echo "OPS_WEBHOOK_CONTROL_URL=http://127.0.0.1:$OPS_WEBHOOK_CONTROL_PORT"
}

service_url() {  # name
  local port=${HTTP_PORTS[$1]:-${ADMIN_PORTS[$1]}}
  echo "http://127.0.0.1:$port"
}

url_var() { echo "$1" | tr 'a-z-' 'A-Z_'; }

# --- commands ------------------------------------------------------------

cmd_up() {
  command -v java >/dev/null || die "java not found: run 'make deps'"
  command -v mariadbd >/dev/null || die "mariadbd not found: run 'make deps'"
  [ -x "$ADMIN_BIN" ] || die "$ADMIN_BIN not built: run 'make build'"
  mkdir -p "$PIDS" "$LOGS"
  local started=$SECONDS n
  ensure_credentials
  start_mariadb
  start_redis
  start_dev_idp
  start_monitoring
  format_kafka
  for n in "${NODES[@]}"; do start_kafka_node "$n"; done
  wait_port "$REDIS_PORT" 30 redis
  wait_port "$IDP_PORT" 30 dev-idp
  wait_port "$PROMETHEUS_PORT" 60 prometheus
  wait_port "$ALERTMANAGER_PORT" 30 alertmanager
  wait_port "$MYSQL_PORT" 60 mariadb
  init_mariadb_user
  for n in "${NODES[@]}"; do wait_port "$(kafka_port "$n")" 90 "kafka-$n"; done
  write_kafka_admin_clients
  wait_brokers 3 90
  create_kafka_acls
  admin_tool create-topics --bootstrap "$(bootstrap)" --manifest "$ROOT/deploy/topics.manifest" >"$LOGS/topics.log" 2>&1 ||
    die "topic creation failed: $(tail -5 "$LOGS/topics.log")"
  log "up in $((SECONDS - started)) s"
  cmd_status
}

cmd_down() {
  mkdir -p "$PIDS"
  local names=()
  for s in "${SERVICES[@]}"; do for f in "$PIDS/$s"*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done; done
  for f in "$PIDS"/fake-*.pid "$PIDS"/haproxy.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
  [ ${#names[@]} -gt 0 ] && stop_all 15 "${names[@]}"
  # All Kafka nodes at once: stopped one by one, the last one waits for a
  # quorum that is gone.
  stop_all 30 kafka-1 kafka-2 kafka-3 mariadb redis dev-idp prometheus alertmanager ops-webhook
  rm -f "$DATA"/prometheus/targets/*.json
  log "down"
}

cmd_status() {
  local name pid any_down=0
  echo "# processes"
  for name in kafka-1 kafka-2 kafka-3 mariadb redis dev-idp prometheus alertmanager; do
    if pid=$(running_pid "$name"); then echo "#   $name running (pid $pid)"; else echo "#   $name stopped"; any_down=1; fi
  done
  echo "# connection settings"
  print_env
  for s in "${SERVICES[@]}"; do
    if running_pid "$s" >/dev/null; then
      echo "$(url_var "$s")_URL=$(service_url "$s")"
      # The APIs' health and metrics are on their admin port only.
      if [ -n "${HTTP_PORTS[$s]:-}" ]; then
        echo "$(url_var "$s")_ADMIN_URL=http://127.0.0.1:${ADMIN_PORTS[$s]}"
      fi
    fi
    # More instances (INSTANCES=N run): every URL, first one first.
    if running_pid "$s-2" >/dev/null; then
      local urls=() admins=() n port
      for ((n = 1; n <= 9; n++)); do
        running_pid "$(instance_name "$s" "$n")" >/dev/null || continue
        port=$(instance_port "${HTTP_PORTS[$s]:-${ADMIN_PORTS[$s]}}" "$n")
        urls+=("http://127.0.0.1:$port")
        admins+=("http://127.0.0.1:$(instance_port "${ADMIN_PORTS[$s]}" "$n")")
      done
      echo "$(url_var "$s")_URLS=$(IFS=,; echo "${urls[*]}")"
      echo "$(url_var "$s")_ADMIN_URLS=$(IFS=,; echo "${admins[*]}")"
    fi
  done
  if running_pid haproxy >/dev/null; then
    for s in reservation-api payment-api; do echo "$(url_var "$s")_LB_URL=http://127.0.0.1:${LB_PORTS[$s]}"; done
    echo "LB_STATS_URL=http://127.0.0.1:$LB_STATS_PORT/stats"
  fi
  if running_pid fake-dataplatform >/dev/null; then
    echo "DATAPLATFORM_URL=http://127.0.0.1:$FAKE_DATAPLATFORM_PORT"
    echo "FAKE_DATAPLATFORM_CONTROL_URL=http://127.0.0.1:$FAKE_DATAPLATFORM_CONTROL_PORT"
  fi
  if running_pid fake-webhook >/dev/null; then
    echo "WEBHOOK_URL=http://127.0.0.1:$FAKE_WEBHOOK_PORT/webhook"
    echo "FAKE_WEBHOOK_CONTROL_URL=http://127.0.0.1:$FAKE_WEBHOOK_CONTROL_PORT"
  fi
  if [ "$any_down" = 0 ] && [ -x "$ADMIN_BIN" ]; then
    echo "# kafka"
    admin_tool describe --bootstrap "$(bootstrap)" --manifest "$ROOT/deploy/topics.manifest" | sed 's/^/#   /'
  fi
  # The container mode's URLs too, when its compose project runs (scripts/containers.sh).
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then bash "$ROOT/scripts/containers.sh" status --if-running; fi
}


cmd_start_broker() {
  local n=${1:?node number}
  mkdir -p "$PIDS" "$LOGS"
  start_kafka_node "$n"
  wait_port "$(kafka_port "$n")" 90 "kafka-$n"
  wait_brokers 3 90
  log "kafka-$n running"
}

# Fault injection for the fault suite (tests/faults): one component of the
# stack, by name (kafka-N, mariadb, redis, dev-idp).
component_pid() {
  case "$1" in kafka-[1-3] | mariadb | redis | dev-idp) ;; *) die "unknown component '$1' (kafka-N, mariadb, redis, dev-idp)" ;; esac
  running_pid "$1" || die "$1 is not running"
}
cmd_kill() {  # SIGKILL, as a crash would
  local pid
  pid=$(component_pid "${1:?component}")
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$PIDS/$1.pid"
  log "$1 killed (SIGKILL)"
}
cmd_start() {
  mkdir -p "$PIDS" "$LOGS"
  case "${1:?component}" in
    kafka-[1-3])  # does not wait for the other nodes: two may be starting again
      start_kafka_node "${1#kafka-}" && wait_port "$(kafka_port "${1#kafka-}")" 90 "$1" && log "$1 running" ;;
    mariadb) start_mariadb && wait_port "$MYSQL_PORT" 120 mariadb && log "mariadb running" ;;
    redis) start_redis && wait_port "$REDIS_PORT" 60 redis && log "redis running" ;;
    dev-idp) start_dev_idp && wait_port "$IDP_PORT" 30 dev-idp && log "dev-idp running" ;;
    *) die "unknown component '$1' (kafka-N, mariadb, redis, dev-idp)" ;;
  esac
}
cmd_pause() {  # SIGSTOP: the process holds its sockets but answers nothing
  kill -STOP "$(component_pid "${1:?component}")" && log "$1 paused (SIGSTOP)"
}
cmd_resume() {
  kill -CONT "$(component_pid "${1:?component}")" && log "$1 resumed (SIGCONT)"
}

# Starts the five services in the background with the stack's settings; any
# variable already set by the caller wins. INSTANCES=N starts N of each
# (instance n > 1 is named <service>-n, its ports are the first's + 100*(n-1)).
# LB=1 puts HAProxy in front of the API instances (start_haproxy).
# RUN_ID=x gives this run its own databases, Redis prefixes and consumer
# groups (new groups start at the end of the topics), as the demo does.
cmd_run() {
  cmd_up >/dev/null
  local s bin n name ISO
  # Each service connects as its own MariaDB and Redis user, unless the
  # caller gave URLs of its own.
  local own_users=1
  [ -n "${MYSQL_URL:-}${REDIS_URL:-}" ] && own_users=0
  # The shared settings only: no service gets the others' credentials (with
  # own_users, each gets its own through isolation_env, Kafka principal too).
  local private='^([A-Z_]+_(MYSQL_URL|REDIS_URL)|KAFKA_TLS_DIR|KAFKA_ADMIN_[A-Z]+)='
  [ "$own_users" = 1 ] &&
    private='^(([A-Z_]+_)?(MYSQL_URL|REDIS_URL)|KAFKA_SSL_(CERTIFICATE|KEY)_LOCATION|KAFKA_TLS_DIR|KAFKA_ADMIN_[A-Z]+)='
  eval "$(print_env | grep -vE "$private" | sed 's/^\([A-Z_]*\)=\(.*\)$/export \1="${\1:-\2}"/')"
  # Development mode: the known development secret is accepted (a service
  # refuses it, and any secret under 32 bytes, without TICKETING_DEV_MODE).
  export TICKETING_DEV_MODE=${TICKETING_DEV_MODE:-true}
  export TOKEN_SECRET=${TOKEN_SECRET:-insecure-development-token-secret-make-run}
  # No data platform given: the fake one (tools/fake-peer) stands in for it.
  if [ -z "${DATAPLATFORM_URL:-}" ]; then
    start_fake_peer fake-dataplatform "$FAKE_DATAPLATFORM_PORT" "$FAKE_DATAPLATFORM_CONTROL_PORT"
    export DATAPLATFORM_URL=http://127.0.0.1:$FAKE_DATAPLATFORM_PORT
  fi
  # No webhook given: a fake one receives the generic webhook messages, and
  # the Discord messages too unless a real DISCORD_WEBHOOK_URL is set.
  if [ -z "${WEBHOOK_URL:-}" ]; then
    start_fake_peer fake-webhook "$FAKE_WEBHOOK_PORT" "$FAKE_WEBHOOK_CONTROL_PORT"
    export WEBHOOK_URL=http://127.0.0.1:$FAKE_WEBHOOK_PORT/webhook
    export DISCORD_WEBHOOK_URL=${DISCORD_WEBHOOK_URL:-http://127.0.0.1:$FAKE_WEBHOOK_PORT/api/webhooks/0/fake}
  fi
  # The demo catalogue (idempotent).
  isolation_env reservation-api
  env "${ISO[@]}" "$BUILD_DIR/services/reservation-api/reservation-api" seed >>"$LOGS/reservation-api-seed.log" 2>&1 ||
    die "seeding the catalogue failed: $(tail -3 "$LOGS/reservation-api-seed.log")"
  for ((n = 1; n <= ${INSTANCES:-1}; n++)); do
    for s in "${SERVICES[@]}"; do
      name=$(instance_name "$s" "$n")
      running_pid "$name" >/dev/null && continue
      bin=$BUILD_DIR/services/$s/$s
      [ -x "$bin" ] || die "$bin not built: run 'make build'"
      # HTTP_PORT only for the API services; the others have no public port.
      isolation_env "$s"
      env "${ISO[@]}" HTTP_PORT="$(instance_port "${HTTP_PORTS[$s]:-0}" "$n")" \
        ADMIN_PORT="$(instance_port "${ADMIN_PORTS[$s]}" "$n")" \
        setsid "$bin" >>"$LOGS/$name.log" 2>&1 </dev/null &
      echo $! >"$PIDS/$name.pid"
      add_scrape_target "$s" "$name" "$(instance_port "${ADMIN_PORTS[$s]}" "$n")"
    done
  done
  for ((n = 1; n <= ${INSTANCES:-1}; n++)); do
    for s in "${SERVICES[@]}"; do wait_ready "$s" "$n" 60; done
  done
  [ "${LB:-0}" = 1 ] && start_haproxy "${INSTANCES:-1}"
  log "services running (logs: $LOGS)"
  cmd_status
}

instance_name() { if [ "$2" = 1 ]; then echo "$1"; else echo "$1-$2"; fi; }
instance_port() { if [ "$1" = 0 ]; then echo 0; else echo $(($1 + 100 * ($2 - 1))); fi; }

# Sets ISO to the env assignments of RUN_ID's isolation for service $1 (none
# without RUN_ID). An array, not a wrapper function: the pid recorded for a
# background `env ... setsid bin &` must be the service's own.
# Under cmd_run's own_users=1, also the service's own MariaDB and Redis URLs.
isolation_env() {
  ISO=()
  if [ "${own_users:-0}" = 1 ]; then
    [[ " ${DB_SERVICES[*]} " == *" $1 "* ]] && ISO+=("MYSQL_URL=$(service_mysql_url "$1")")
    [[ " ${REDIS_SERVICES[*]} " == *" $1 "* ]] && ISO+=("REDIS_URL=$(service_redis_url "$1")")
    local line
    while read -r line; do ISO+=("$line"); done < <(kafka_client_env "$1")
  fi
  [ -n "${RUN_ID:-}" ] || return 0
  case "$1" in
    reservation-api) ISO+=("MYSQL_DATABASE=reservation_$RUN_ID") ;;
    payment-api) ISO+=("MYSQL_DATABASE=payment_$RUN_ID") ;;
  esac
  ISO+=("REDIS_PREFIX=$RUN_ID:$1:" "KAFKA_CONSUMER_GROUP=$1-$RUN_ID" KAFKA_AUTO_OFFSET_RESET=latest)
}

# HAProxy (Debian's package) in front of the N instances of each API: one
# address per API, every instance checked on /health/ready of its admin port
# (every 500 ms, out after 2 failures, back after 2 successes), a request that
# cannot connect retried on another instance. Long polls last up to 20 s.
start_haproxy() {  # instances
  running_pid haproxy >/dev/null && return 0
  command -v haproxy >/dev/null || die "haproxy not found: run 'make deps'"
  local cfg=$DATA/haproxy/haproxy.cfg s n
  mkdir -p "$DATA/haproxy"
  {
    cat "$ROOT/deploy/haproxy/defaults.cfg"
    printf 'frontend stats\n  bind 127.0.0.1:%s\n  stats enable\n  stats uri /stats\n' "$LB_STATS_PORT"
    for s in reservation-api payment-api; do
      port_free_or_die "${LB_PORTS[$s]}" "haproxy $s" "$(url_var "$s")_LB_PORT"
      printf 'frontend %s\n  bind 127.0.0.1:%s\n  default_backend %s\n' "$s" "${LB_PORTS[$s]}" "$s"
      printf 'backend %s\n  balance roundrobin\n  option httpchk GET /health/ready\n' "$s"
      printf '  default-server inter 500ms fall 2 rise 2\n'
      for ((n = 1; n <= $1; n++)); do
        printf '  server %s 127.0.0.1:%s check port %s\n' "$(instance_name "$s" "$n")" \
          "$(instance_port "${HTTP_PORTS[$s]}" "$n")" "$(instance_port "${ADMIN_PORTS[$s]}" "$n")"
      done
    done
  } >"$cfg"
  haproxy -c -q -f "$cfg" || die "bad HAProxy configuration $cfg"
  setsid haproxy -db -f "$cfg" >>"$LOGS/haproxy.log" 2>&1 </dev/null &
  echo $! >"$PIDS/haproxy.pid"
  for s in reservation-api payment-api; do wait_port "${LB_PORTS[$s]}" 10 "haproxy $s"; done
}

start_fake_peer() {  # name port control-port
  running_pid "$1" >/dev/null && return 0
  port_free_or_die "$2" "$1" "$(url_var "$1")_PORT"
  local bin=$BUILD_DIR/tools/fake-peer/fake-peer
  [ -x "$bin" ] || die "$bin not built: run 'make build'"
  setsid "$bin" --port "$2" --control-port "$3" >>"$LOGS/$1.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$1.pid"
  wait_port "$3" 10 "$1"
}

wait_ready() {  # service instance timeout-s
  local url i name
  name=$(instance_name "$1" "$2")
  url="http://127.0.0.1:$(instance_port "${ADMIN_PORTS[$1]}" "$2")/health/ready"
  for ((i = 0; i < $3 * 5; i++)); do
    curl -fsS -m 1 "$url" >/dev/null 2>&1 && return 0
    running_pid "$name" >/dev/null || die "$name exited at start: $(tail -5 "$LOGS/$name.log")"
    sleep 0.2
  done
  die "$name not ready within $3 s: $(tail -5 "$LOGS/$name.log")"
}

cmd_services_down() {
  local names=() f
  for s in "${SERVICES[@]}"; do for f in "$PIDS/$s"*.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done; done
  for f in "$PIDS"/fake-*.pid "$PIDS"/haproxy.pid; do [ -e "$f" ] && names+=("$(basename "$f" .pid)"); done
  [ ${#names[@]} -gt 0 ] && stop_all 15 "${names[@]}"
  rm -f "$DATA"/prometheus/targets/*.json
  log "services stopped"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  run) cmd_run ;;
  services-down) cmd_services_down ;;
  kill-broker) cmd_kill "kafka-${2:?node number}" ;;
  start-broker) cmd_start_broker "${2:-}" ;;
  kill) cmd_kill "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  pause) cmd_pause "${2:-}" ;;
  resume) cmd_resume "${2:-}" ;;
  kafka-java) shift; kafka_java "$@" ;;
  *) echo "usage: $0 up|down|status|env|run|services-down|kill-broker N|start-broker N|kill|start|pause|resume kafka-N|mariadb|redis|kafka-java CLASS ARGS" >&2; exit 2 ;;
esac
