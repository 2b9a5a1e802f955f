#!/usr/bin/env bash
# Runs every test: unit tests, then integration tests against the real local
# stack. Starts the stack if it is not running and stops it again at the end
# (only if this script started it). Exits non-zero on any failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
STACK="bash $ROOT/scripts/stack.sh"

# Captured first: `status | grep -q` would SIGPIPE the script under pipefail.
before=$($STACK status 2>/dev/null || true)
started=0
grep -q ' stopped$' <<<"$before" && started=1
cleanup() {
  # Services a test left behind, then the stack if we started it.
  $STACK services-down >/dev/null 2>&1 || true
  if [ "$started" = 1 ]; then $STACK down; fi
}
trap cleanup EXIT

# The tests' own topic namespace (TOPIC_PREFIX, libs/events namespace.hpp):
# their records and consumer groups never reach the topics `make run` reads.
export TOPIC_PREFIX=${TOPIC_PREFIX:-test.}
$STACK up || exit 1
eval "$($STACK env | sed 's/^/export /')"
export TICKETING_STACK_SCRIPT=$ROOT/scripts/stack.sh

# Every test (labels `unit` and `integration`) in one ctest run, so that its
# closing line counts everything.
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900
