#!/bin/bash
# ctest k8s.manifests (label unit): the Kubernetes manifests of deploy/k8s, checked
# offline (no cluster):
#   1. the generated KafkaTopic / KafkaUser files equal a fresh generation from
#      deploy/topics.manifest and deploy/kafka-acls.tsv (deploy/k8s/generate.py);
#   2. every overlay renders with `kubectl kustomize`;
#   3. every rendered document is valid against its schema: Kubernetes' own (the
#      JSON schemas bundled with PyPI kubernetes-validate), KEDA's CRDs (from the
#      KEDA Go module), Strimzi's API model (Maven io.strimzi:api); unknown fields
#      are errors, and a kind without a schema is an error;
#   4. parity with the compose files and the Kafka sources (tests/k8s/parity.py);
#   5. the checks can fail: broken copies (a wrong field type, an unknown field, a
#      dropped topic, a dropped environment variable, too many consumer replicas ...)
#      must each be rejected.
# The tools are installed by this script, pinned, into .local/k8s-tools (override with
# K8S_TOOLS_DIR) and reused by later runs. Exit 77 (skipped) when a needed program is
# missing (kubectl, python3, go, mvn, javac), unless CI is set: then it fails.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/k8s
TOOLS=${K8S_TOOLS_DIR:-$ROOT/.local/k8s-tools}
# base too: a value an overlay happens to override (a KEDA maximum, say) must be
# right in base as well, for the next overlay.
OVERLAYS=(base local production)
# Kubernetes version the manifests are checked against (schemas of kubernetes-validate).
K8S_VERSION=1.32.0
KEDA_MODULE=github.com/kedacore/keda/v2
KEDA_VERSION=v2.16.1
STRIMZI_VERSION=0.49.0   # also in schema/pom.xml
export PATH=$PATH:/usr/local/go/bin

say() { printf 'k8s: %s\n' "$*"; }
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); say "ok: $*"; }
bad() { FAILED=$((FAILED + 1)); say "FAIL: $*"; }
finish() {
  say "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
die() { say "FAIL: $*"; FAILED=$((FAILED + 1)); finish; }

need() {  # program hint
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ -n "${CI:-}" ]; then die "$1 missing ($2)"; fi
  say "skipped: $1 missing ($2)"
  exit 77
}
# The Go toolchain of this machine class lives in /usr/local/go (not always on PATH).
[ -x /usr/local/go/bin/go ] && PATH=$PATH:/usr/local/go/bin
need kubectl "kubectl with kustomize"
need python3 "CPython 3"
need go "the Go toolchain, for KEDA's CRDs from the Go module proxy"
need mvn "Maven, for Strimzi's API model"
need javac "a JDK (17+), for Strimzi's API model"
need java "a JDK (17+)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TOOLS"
START=$(date +%s)

# ---- tools --------------------------------------------------------------------
# Python: a venv per requirements.txt content.
REQ_HASH=$(sha256sum "$HERE/requirements.txt" | cut -c1-12)
VENV=$TOOLS/venv-$REQ_HASH
PY=$VENV/bin/python
if [ ! -f "$VENV/.complete" ]; then
  say "installing the Python tools into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv"
  "$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" \
    || die "pip install -r tests/k8s/requirements.txt"
  touch "$VENV/.complete"
fi

# Schemas: rebuilt when a version or the converter changes.
SCHEMAS=$TOOLS/schemas
STAMP="k8s=$K8S_VERSION keda=$KEDA_VERSION strimzi=$STRIMZI_VERSION $(cat "$HERE/schema/StrimziSchema.java" \
  "$HERE/schema/pom.xml" "$HERE/validate.py" | sha256sum | cut -c1-16)"
if [ "$(cat "$SCHEMAS/.stamp" 2>/dev/null)" != "$STAMP" ]; then
  say "building the CRD schemas into $SCHEMAS"
  rm -rf "$SCHEMAS" "$TOOLS/strimzi-classes"
  mkdir -p "$SCHEMAS/kafka.strimzi.io/v1beta2" "$TOOLS/strimzi-classes"
  # KEDA: its CRDs are in the module (config/crd/bases).
  KEDA_DIR=$(GOMODCACHE=$TOOLS/gomod GOFLAGS=-modcacherw GO111MODULE=on \
    go mod download -json "$KEDA_MODULE@$KEDA_VERSION" |
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir","")); sys.exit(1 if d.get("Error") else 0)') \
    || die "go mod download $KEDA_MODULE@$KEDA_VERSION"
  "$PY" "$HERE/validate.py" crd2schema "$KEDA_DIR"/config/crd/bases/keda.sh_*.yaml --out "$SCHEMAS" \
    || die "KEDA CRDs -> JSON schema"
  # Strimzi: schemas derived from its API model (schema/StrimziSchema.java says why).
  mvn -q -B -Dmaven.repo.local="$TOOLS/m2" -f "$HERE/schema/pom.xml" dependency:build-classpath \
    -Dmdep.outputFile="$TOOLS/strimzi-classpath.txt" >"$TMP/mvn.log" 2>&1 \
    || { cat "$TMP/mvn.log"; die "mvn dependency:build-classpath (io.strimzi:api:$STRIMZI_VERSION)"; }
  CP=$(cat "$TOOLS/strimzi-classpath.txt")
  javac -nowarn -d "$TOOLS/strimzi-classes" -cp "$CP" "$HERE/schema/StrimziSchema.java" 2>"$TMP/javac.log" \
    || { cat "$TMP/javac.log"; die "javac StrimziSchema.java"; }
  java -cp "$TOOLS/strimzi-classes:$CP" StrimziSchema "$SCHEMAS/kafka.strimzi.io/v1beta2" \
    Kafka=io.strimzi.api.kafka.model.kafka.Kafka \
    KafkaNodePool=io.strimzi.api.kafka.model.nodepool.KafkaNodePool \
    KafkaTopic=io.strimzi.api.kafka.model.topic.KafkaTopic \
    KafkaUser=io.strimzi.api.kafka.model.user.KafkaUser 2>"$TMP/java.log" \
    || { cat "$TMP/java.log"; die "StrimziSchema"; }
  echo "$STAMP" >"$SCHEMAS/.stamp"
fi
say "tools ready ($(( $(date +%s) - START )) s): kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}'), kubernetes schemas $K8S_VERSION, KEDA $KEDA_VERSION, Strimzi $STRIMZI_VERSION"

# ---- 1. generated files ----------------------------------------------------------
if "$PY" "$ROOT/deploy/k8s/generate.py" --check; then
  ok "base/kafka/topics.yaml and users.yaml equal a fresh generation"
else
  bad "generated files are stale: run python3 deploy/k8s/generate.py"
fi

# ---- 2. render ------------------------------------------------------------------
for o in "${OVERLAYS[@]}"; do
  dir=$ROOT/deploy/k8s/overlays/$o
  [ "$o" = base ] && dir=$ROOT/deploy/k8s/base
  if kubectl kustomize "$dir" >"$TMP/$o.yaml" 2>"$TMP/$o.err"; then
    ok "overlay $o renders ($(grep -c '^kind:' "$TMP/$o.yaml") documents)"
  else
    cat "$TMP/$o.err"
    bad "overlay $o does not render"
  fi
done

# ---- 3. schemas -----------------------------------------------------------------
for o in "${OVERLAYS[@]}"; do
  [ -s "$TMP/$o.yaml" ] || continue
  if "$PY" "$HERE/validate.py" check --schemas "$SCHEMAS" --k8s-version "$K8S_VERSION" "$TMP/$o.yaml"; then
    ok "overlay $o is valid against the Kubernetes, Strimzi and KEDA schemas"
  else
    bad "overlay $o has invalid documents"
  fi
done

# ---- 4. parity ------------------------------------------------------------------
for o in "${OVERLAYS[@]}"; do
  [ -s "$TMP/$o.yaml" ] || continue
  if "$PY" "$HERE/parity.py" --overlay "$o" "$TMP/$o.yaml"; then
    ok "overlay $o matches the compose files, topics.manifest and kafka-acls.tsv"
  else
    bad "overlay $o: parity"
  fi
done

# ---- 5. the checks can fail ---------------------------------------------------------
# 5a. The schema validator rejects broken copies of the production documents.
if [ -s "$TMP/production.yaml" ]; then
  if "$PY" "$HERE/validate.py" selftest --schemas "$SCHEMAS" --k8s-version "$K8S_VERSION" \
      "$TMP/production.yaml" >"$TMP/selftest.log" 2>&1; then
    ok "the schema validator rejects each of $(grep -c 'rejected as expected' "$TMP/selftest.log") broken documents"
  else
    cat "$TMP/selftest.log"
    bad "the schema validator accepted a broken document"
  fi
fi

# 5b. parity.py rejects broken copies of the rendered local overlay.
mutate() {  # name python-expression-on-docs
  "$PY" - "$TMP/local.yaml" "$TMP/mut.yaml" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def find(kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
def drop(kind, name):
    docs.remove(find(kind, name))
def cm_of(dep, i):
    ref = find("Deployment", dep)["spec"]["template"]["spec"]["containers"][0]["envFrom"][i]
    return find("ConfigMap", ref["configMapRef"]["name"])
exec(sys.argv[3])
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
}
PARITY_MUTATIONS=(
  "a topic dropped|drop('KafkaTopic', 'seats.expired.dlq')"
  "a topic's partitions changed|find('KafkaTopic', 'payment.completed')['spec']['partitions'] = 6"
  "an env var dropped (ConfigMap)|del cm_of('payment-api', 1)['data']['TRUSTED_EVENT_PRODUCERS']"
  "an env var dropped (Secret ref)|c = find('Deployment', 'reservation-api')['spec']['template']['spec']['containers'][0]; c['env'] = [e for e in c['env'] if e['name'] != 'REDIS_URL']"
  "a Deployment dropped|drop('Deployment', 'dataplatform-relay')"
  "KEDA maxReplicaCount above the partitions|find('ScaledObject', 'notification-worker')['spec']['maxReplicaCount'] = 4"
  "KEDA trigger for an input topic dropped|t = find('ScaledObject', 'notification-worker')['spec']['triggers']; t.pop()"
  "readiness probe on the wrong path|find('Deployment', 'payment-api')['spec']['template']['spec']['containers'][0]['readinessProbe']['httpGet']['path'] = '/health/live'"
  "root filesystem writable|find('Deployment', 'seat-expiry-scheduler')['spec']['template']['spec']['containers'][0]['securityContext']['readOnlyRootFilesystem'] = False"
  "a KafkaUser dropped|drop('KafkaUser', 'notification-worker')"
  "listener without client authentication|find('Kafka', 'ticketing')['spec']['kafka']['listeners'][0].pop('authentication')"
  "an HPA dropped|drop('HorizontalPodAutoscaler', 'payment-api')"
  "a TOPIC_PREFIX set|cm_of('dataplatform-relay', 0)['data']['TOPIC_PREFIX'] = 'staging.'"
)
if [ -s "$TMP/local.yaml" ]; then
  caught=0
  for m in "${PARITY_MUTATIONS[@]}"; do
    name=${m%%|*}
    expr=${m#*|}
    if ! mutate "$name" "$expr"; then
      bad "mutation '$name' could not be applied"
      continue
    fi
    if "$PY" "$HERE/parity.py" --overlay local "$TMP/mut.yaml" >"$TMP/mut.log" 2>&1; then
      bad "parity.py accepted: $name"
    else
      caught=$((caught + 1))
    fi
  done
  [ "$caught" -eq "${#PARITY_MUTATIONS[@]}" ] && ok "parity.py rejects each of $caught broken copies"
fi

# 5c. generate.py --check notices a hand edit of the generated files (in a copy).
mkdir -p "$TMP/gen/deploy/k8s/base"
cp "$ROOT/deploy/topics.manifest" "$ROOT/deploy/kafka-acls.tsv" "$TMP/gen/deploy/"
cp "$ROOT/deploy/k8s/generate.py" "$TMP/gen/deploy/k8s/"
cp -r "$ROOT/deploy/k8s/base/kafka" "$TMP/gen/deploy/k8s/base/"
"$PY" - "$TMP/gen/deploy/k8s/base/kafka/topics.yaml" <<'PY'
import sys
p = sys.argv[1]
parts = open(p).read().split("---\n")
open(p, "w").write("---\n".join(p for p in parts if "name: notifications.dlq\n" not in p))
PY
if "$PY" "$TMP/gen/deploy/k8s/generate.py" --check >/dev/null 2>&1; then
  bad "generate.py --check accepted a topics.yaml with a topic removed by hand"
else
  ok "generate.py --check rejects a hand-edited topics.yaml"
fi

say "took $(( $(date +%s) - START )) s"
finish
