#!/usr/bin/env bash
# libs/events against Kafka's own Java tools, side by side on the same cluster,
# same topic settings, record size and producer settings (acks=all,
# enable.idempotence=true, linger.ms=5, batch.size=131072 for throughput;
# linger 0 for latency). Prints each figure and the ratio; saves the report
# in .local/bench/. Starts the stack if needed and stops it again after.
#   RECORDS=300000 SIZE=512 MESSAGES=5000 bash bench/bench-events.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STACK="bash $ROOT/scripts/stack.sh"
RECORDS=${RECORDS:-300000}
SIZE=${SIZE:-512}
MESSAGES=${MESSAGES:-5000}
OUT=$ROOT/.local/bench
mkdir -p "$OUT"

before=$($STACK status 2>/dev/null || true)
started=0
grep -q ' stopped$' <<<"$before" && started=1
cleanup() {
  if [ -n "${run_id:-}" ]; then
    $STACK kafka-java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
      --command-config "$KAFKA_ADMIN_PROPERTIES" --delete --topic "bench\\..*\\.$run_id" >/dev/null 2>&1 || true
  fi
  if [ "$started" = 1 ]; then $STACK down >/dev/null; fi
}
trap cleanup EXIT
$STACK up >/dev/null
# Kafka as the stack's admin principal: libs/events and ticketing-admin read
# KAFKA_SECURITY_PROTOCOL/KAFKA_SSL_*, Kafka's Java tools the properties file.
eval "$($STACK env | grep '^KAFKA_' | sed 's/^/export /')"
BOOTSTRAP=$KAFKA_BOOTSTRAP_SERVERS

run_id=$(date +%s)
manifest=$OUT/bench-topics-$run_id.manifest
for t in java-produce ours-produce java-latency ours-latency; do
  echo "bench.$t.$run_id 3 3 min.insync.replicas=2"
done >"$manifest"
"$BUILD_DIR/tools/admin/ticketing-admin" create-topics --bootstrap "$BOOTSTRAP" --manifest "$manifest" >/dev/null

echo "bench-events: $RECORDS records of $SIZE bytes, acks=all, idempotence on, 3 brokers, RF 3, min ISR 2"

echo "bench-events: [1/4] Kafka ProducerPerformance"
java_prod=$($STACK kafka-java org.apache.kafka.tools.ProducerPerformance \
  --topic "bench.java-produce.$run_id" --num-records "$RECORDS" --record-size "$SIZE" --throughput -1 \
  --producer.config "$KAFKA_ADMIN_PROPERTIES" \
  --producer-props bootstrap.servers="$BOOTSTRAP" acks=all enable.idempotence=true linger.ms=5 batch.size=131072 \
  2>/dev/null | tail -1)
echo "  $java_prod"

echo "bench-events: [2/4] libs/events producer"
ours_prod=$("$BUILD_DIR/bench/events/events_bench" produce "$BOOTSTRAP" "bench.ours-produce.$run_id" "$RECORDS" "$SIZE" 5 131072 2>>"$OUT/events_bench.log")
echo "  $ours_prod"

echo "bench-events: [3/4] Kafka EndToEndLatency ($MESSAGES messages)"
java_lat=$($STACK kafka-java org.apache.kafka.tools.EndToEndLatency \
  "$BOOTSTRAP" "bench.java-latency.$run_id" "$MESSAGES" all "$SIZE" "$KAFKA_ADMIN_PROPERTIES" 2>/dev/null | tail -2 | tr '\n' ' ')
echo "  $java_lat"

echo "bench-events: [4/4] libs/events producer + consumer round trip ($MESSAGES messages)"
ours_lat=$("$BUILD_DIR/bench/events/events_bench" latency "$BOOTSTRAP" "bench.ours-latency.$run_id" "$MESSAGES" "$SIZE" 2>>"$OUT/events_bench.log")
echo "  $ours_lat"

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
java_rate=$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$java_prod")
java_p99_send=$(sed -n 's/.* \([0-9]*\) ms 99th.*/\1/p' <<<"$java_prod")
java_avg=$(sed -n 's/.*Avg latency: \([0-9.]*\) ms.*/\1/p' <<<"$java_lat")
java_p50=$(sed -n 's/.*50th = \([0-9]*\),.*/\1/p' <<<"$java_lat")
java_p99=$(sed -n 's/.*99th = \([0-9]*\),.*/\1/p' <<<"$java_lat")
ours_rate=$(field rate "$ours_prod")
ours_p99_send=$(field p99_ms "$ours_prod")
ours_avg=$(field avg_ms "$ours_lat")
ours_p50=$(field p50_ms "$ours_lat")
ours_p99=$(field p99_ms "$ours_lat")

report=$OUT/bench-events-$run_id.txt
python3 - "$java_rate" "$ours_rate" "$java_p99_send" "$ours_p99_send" "$java_avg" "$ours_avg" \
  "$java_p50" "$ours_p50" "$java_p99" "$ours_p99" <<'PY' | tee "$report"
import sys
jr, orate, jps, ops, ja, oa, j50, o50, j99, o99 = map(float, sys.argv[1:])
print()
print(f"{'figure':44} {'Kafka tool':>12} {'libs/events':>12} {'ratio':>8}")
print(f"{'producer throughput (records/s, higher better)':44} {jr:12.0f} {orate:12.0f} {orate/jr:8.2f}")
print(f"{'producer send->ack p99 (ms, lower better)':44} {jps:12.0f} {ops:12.1f} {ops/max(jps,1e-9):8.2f}")
print(f"{'end-to-end latency avg (ms)':44} {ja:12.2f} {oa:12.2f} {oa/max(ja,1e-9):8.2f}")
print(f"{'end-to-end latency p50 (ms)':44} {j50:12.0f} {o50:12.2f} {o50/max(j50,1e-9):8.2f}")
print(f"{'end-to-end latency p99 (ms, lower better)':44} {j99:12.0f} {o99:12.2f} {o99/max(j99,1e-9):8.2f}")
print()
print("targets: throughput ratio >= 1.0:", "met" if orate >= jr else "NOT met",
      "| e2e p99 ratio <= 1.2:", "met" if o99 <= 1.2 * j99 else "NOT met")
print("(Kafka's EndToEndLatency prints whole milliseconds; ratios on a 2-core machine are noisy: rerun to compare)")
PY
echo "bench-events: report saved to $report"
