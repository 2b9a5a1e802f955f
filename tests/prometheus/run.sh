#!/bin/bash
# ctest prometheus.rules (label unit): the alert rules and the monitoring
# configs of deploy/prometheus.
#   1. promtool check rules / check config, amtool check-config
#   2. promtool test rules: the unit tests of every alert
#   3. the tests can fail: each mutation below breaks one rule in a copy,
#      and promtool test rules must then FAIL.
# Exit 77 (skipped) when promtool is missing, unless CI is set: then it fails.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROM=$ROOT/deploy/prometheus
RULES=rules/ticketing-alerts.yml
TESTS=tests/ticketing-alerts.test.yml

say() { printf 'prometheus.rules: %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }

# A tool from `make deps` (Debian's prometheus / prometheus-alertmanager).
need() {  # tool package
  command -v "$1" >/dev/null && return 0
  if [ -n "${CI:-}" ]; then fail "$1 missing (package $2; 'make deps' installs it)"; fi
  return 1
}
if ! need promtool prometheus; then
  say "skipped: promtool missing (package prometheus; 'make deps' installs it)"
  exit 77
fi

say "$(promtool --version 2>&1 | head -1)"
promtool check rules "$PROM/$RULES" || fail "promtool check rules"
promtool check config "$PROM/prometheus.yml" || fail "promtool check config"
if need amtool prometheus-alertmanager; then
  amtool check-config "$PROM/alertmanager.compose.yml" || fail "amtool check-config"
else
  say "amtool missing: alertmanager.compose.yml not checked"
fi
promtool test rules "$PROM/$TESTS" || fail "promtool test rules"

# Mutations: "name|sed expression". Each one must change the rules and keep
# them valid, and then the tests must fail.
MUTATIONS=(
  "lag threshold raised|s/kafka_consumer_lag > 100\$/kafka_consumer_lag > 100000/"
  "lag age threshold raised|s/kafka_consumer_lag_seconds > 60\$/kafka_consumer_lag_seconds > 600/"
  "5xx ratio threshold raised|s/^          ) > 0.01\$/          ) > 0.05/"
  "admin server counted in the 5xx ratio|/HighErrorRate/,/for:/s/server=\"public\", //"
  "parked long polls counted in latency|s/, route!~\".*\\\\\\\\(parked\\\\\\\\)\"//"
  "breaker alert only on state 1|s/relay_breaker_state > 0/relay_breaker_state == 1/"
  "dead letters counted twice|s/or on (job, instance)/or/"
  "outbox backlog reset by a leader's short 0|s/max_over_time(outbox_pending\\[1m\\])/outbox_pending/"
  "not ready for 2 minutes|/alert: NotReady/,/for:/s/for: 1m/for: 2m/"
)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A copy of the rules (changed by a sed expression) and of the tests, in the
# same layout: the test file names the rules by a relative path.
copy() {  # sed-expression
  rm -rf "$TMP/p"
  mkdir -p "$TMP/p/rules" "$TMP/p/tests"
  cp "$PROM/$TESTS" "$TMP/p/tests/"
  sed -e "$1" "$PROM/$RULES" >"$TMP/p/$RULES"
}
# Unchanged, the copy passes: a failure below comes from the mutation.
copy ""
promtool test rules "$TMP/p/$TESTS" >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "the unchanged copy fails"; }
for m in "${MUTATIONS[@]}"; do
  name=${m%%|*}
  expr=${m#*|}
  copy "$expr"
  cmp -s "$PROM/$RULES" "$TMP/p/$RULES" && fail "mutation '$name' changed nothing (sed: $expr)"
  promtool check rules "$TMP/p/$RULES" >/dev/null 2>&1 || fail "mutation '$name' made the rules invalid"
  if promtool test rules "$TMP/p/$TESTS" >"$TMP/out" 2>&1; then
    fail "mutation '$name' was not caught: the tests pass with it"
  fi
  say "mutation caught: $name"
done
say "ok (${#MUTATIONS[@]} mutations caught)"
