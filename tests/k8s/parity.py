#!/usr/bin/env python3
"""Checks a rendered overlay against the compose files and the Kafka sources
(tests/k8s/run.sh).

    parity.py --overlay NAME RENDERED.yaml

What must hold, for every overlay:
  - each of the five services of deploy/docker-compose.yml has a Deployment of the
    same name, and compose's one-shot "seed" job has reservation-api's migration Job;
  - every environment variable that compose gives a service (or the seed job) is set
    in that workload: its env, or a key of a ConfigMap it loads with envFrom; the few
    exceptions are in ENV_EXCEPTIONS below, each with its reason;
  - readiness and liveness probes on the admin port (/health/ready, /health/live),
    requests and limits, a non-root, read-only-root-filesystem security context, and
    a PodDisruptionBudget, for each service; a Service and an autoscaling/v2 CPU
    HorizontalPodAutoscaler for each API;
  - every topic of deploy/topics.manifest is a KafkaTopic with its partitions,
    replication factor and configs; every principal of deploy/kafka-acls.tsv is a
    KafkaUser; the Kafka resource runs KRaft with node pools, a TLS listener with tls
    client authentication and simple authorization;
  - each consumer service has a KEDA ScaledObject whose kafka triggers use the
    service's group and cover exactly the non-DLQ topics it may read
    (deploy/kafka-acls.tsv), and maxReplicaCount <= the partitions of each of them;
  - no Secret with real values: production renders none, local only development
    values (marked "insecure-development").
"""
import argparse
import base64
import os
import sys

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy", "k8s"))
import generate  # noqa: E402  (the same readers of topics.manifest and kafka-acls.tsv)

SERVICES = ["reservation-api", "payment-api", "seat-expiry-scheduler", "dataplatform-relay",
            "notification-worker"]
APIS = ["reservation-api", "payment-api"]
CONSUMERS = ["seat-expiry-scheduler", "dataplatform-relay", "notification-worker"]
# compose one-shot job -> the Kubernetes workload that does its work.
JOBS = {"seed": ("Job", "reservation-api-migrate")}
ADMIN_PORT = 9000

# (workload, variable) -> why compose's variable is not set in Kubernetes.
ENV_EXCEPTIONS = {
    ("seat-expiry-scheduler", "TOKEN_SECRET"):
        "compose gives every service the shared x-service environment; only the two APIs "
        "read TOKEN_SECRET (services/*/src: env.secret(\"TOKEN_SECRET\")), so the secret is "
        "not handed to the workers",
    ("dataplatform-relay", "TOKEN_SECRET"): "as for seat-expiry-scheduler",
    ("notification-worker", "TOKEN_SECRET"): "as for seat-expiry-scheduler",
}

problems = []


def fail(msg):
    problems.append(msg)


def compose_env():
    """{service or job: set of variable names} from deploy/docker-compose.yml
    (YAML merge keys resolved by the loader)."""
    with open(os.path.join(ROOT, "deploy", "docker-compose.yml"), encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    out = {}
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        out[name] = set(env)
    return out


def index(docs):
    by = {}
    for d in docs:
        by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    return by


def workload_env(by, pod_spec, what):
    """Variable names a pod's first container gets."""
    c = pod_spec["containers"][0]
    names = {e["name"] for e in c.get("env", [])}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            cm = by.get("ConfigMap", {}).get(src["configMapRef"]["name"])
            if cm is None:
                fail(f"{what}: envFrom ConfigMap {src['configMapRef']['name']} is not rendered")
                continue
            names |= set((cm.get("data") or {}).keys())
        elif "secretRef" in src:
            fail(f"{what}: envFrom secretRef hides which variables it sets; name each key in env")
    return names


def configmap_value(by, pod_spec, var):
    c = pod_spec["containers"][0]
    for e in c.get("env", []):
        if e["name"] == var:
            return e.get("value")
    value = None
    for src in c.get("envFrom", []):
        cm = by.get("ConfigMap", {}).get(src.get("configMapRef", {}).get("name"))
        if cm is not None and var in (cm.get("data") or {}):
            value = cm["data"][var]
    return value


def check_env(by, cenv):
    for svc in SERVICES:
        dep = by.get("Deployment", {}).get(svc)
        if dep is None:
            fail(f"compose service {svc} has no Deployment")
            continue
        have = workload_env(by, dep["spec"]["template"]["spec"], f"Deployment {svc}")
        prefix = configmap_value(by, dep["spec"]["template"]["spec"], "TOPIC_PREFIX")
        if prefix:
            fail(f"Deployment {svc}: TOPIC_PREFIX={prefix!r}; the KafkaTopics, ACLs and KEDA "
                 "triggers name unprefixed topics (one Kafka cluster per environment)")
        for var in sorted(cenv.get(svc, set()) - have):
            if (svc, var) not in ENV_EXCEPTIONS:
                fail(f"Deployment {svc}: compose sets {var}, the Deployment does not")
    for job, (kind, name) in JOBS.items():
        w = by.get(kind, {}).get(name)
        if w is None:
            fail(f"compose job {job} has no {kind} {name}")
            continue
        have = workload_env(by, w["spec"]["template"]["spec"], f"{kind} {name}")
        for var in sorted(cenv.get(job, set()) - have):
            if (job, var) not in ENV_EXCEPTIONS:
                fail(f"{kind} {name}: compose's {job} sets {var}, the {kind} does not")
    for (w, var), why in ENV_EXCEPTIONS.items():
        if var not in cenv.get(w, set()):
            fail(f"stale exception: compose no longer gives {w} {var} ({why[:40]}...)")


def probe_ok(probe, path):
    if not probe or "httpGet" not in probe:
        return False
    g = probe["httpGet"]
    return g.get("path") == path and g.get("port") in ("admin", ADMIN_PORT)


def check_services(by):
    pdbs = by.get("PodDisruptionBudget", {}).values()
    for svc in SERVICES:
        dep = by.get("Deployment", {}).get(svc)
        if dep is None:
            continue
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("admin") != ADMIN_PORT:
            fail(f"Deployment {svc}: no container port 'admin' = {ADMIN_PORT}")
        if not probe_ok(c.get("readinessProbe"), "/health/ready"):
            fail(f"Deployment {svc}: readinessProbe is not GET /health/ready on the admin port")
        if not probe_ok(c.get("livenessProbe"), "/health/live"):
            fail(f"Deployment {svc}: livenessProbe is not GET /health/live on the admin port")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            if "memory" not in res.get(part, {}):
                fail(f"Deployment {svc}: no memory {part}")
        if "cpu" not in res.get("requests", {}):
            fail(f"Deployment {svc}: no cpu request")
        psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            fail(f"Deployment {svc}: runAsNonRoot is not true")
        if csc.get("readOnlyRootFilesystem") is not True:
            fail(f"Deployment {svc}: readOnlyRootFilesystem is not true")
        if csc.get("allowPrivilegeEscalation") is not False:
            fail(f"Deployment {svc}: allowPrivilegeEscalation is not false")
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        if not any(all(pod_labels.get(k) == v for k, v in
                       p["spec"]["selector"].get("matchLabels", {}).items()) for p in pdbs):
            fail(f"Deployment {svc}: no PodDisruptionBudget selects its pods")
        if svc in APIS:
            service = by.get("Service", {}).get(svc)
            if service is None or not any(p.get("targetPort") in ("http", 8080)
                                          for p in service["spec"]["ports"]):
                fail(f"API {svc}: no Service with its http port")
            hpa = by.get("HorizontalPodAutoscaler", {}).get(svc)
            if hpa is None or hpa["apiVersion"] != "autoscaling/v2":
                fail(f"API {svc}: no autoscaling/v2 HorizontalPodAutoscaler")
            else:
                ref = hpa["spec"]["scaleTargetRef"]
                if (ref.get("kind"), ref.get("name")) != ("Deployment", svc):
                    fail(f"HPA {svc}: scales {ref}, not Deployment {svc}")
                if not any(m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
                           for m in hpa["spec"].get("metrics", [])):
                    fail(f"HPA {svc}: no cpu metric")


def check_kafka(by):
    topics = generate.read_manifest()
    rendered = by.get("KafkaTopic", {})
    for name, parts, rf, config in topics:
        t = rendered.get(name)
        if t is None:
            fail(f"topic {name} of deploy/topics.manifest has no KafkaTopic")
            continue
        spec = t["spec"]
        if spec.get("topicName", name) != name:
            fail(f"KafkaTopic {name}: topicName {spec.get('topicName')}")
        if spec.get("partitions") != parts or spec.get("replicas") != rf:
            fail(f"KafkaTopic {name}: {spec.get('partitions')}x{spec.get('replicas')}, "
                 f"manifest {parts}x{rf}")
        have = {k: str(v).lower() for k, v in (spec.get("config") or {}).items()}
        if have != {k: v.lower() for k, v in config.items()}:
            fail(f"KafkaTopic {name}: config {have}, manifest {config}")
    for extra in sorted(set(rendered) - {t[0] for t in topics}):
        fail(f"KafkaTopic {extra} is not in deploy/topics.manifest")
    users = by.get("KafkaUser", {})
    for principal in generate.read_acls():
        u = users.get(principal)
        if u is None:
            fail(f"principal {principal} of deploy/kafka-acls.tsv has no KafkaUser")
        elif u["spec"].get("authentication", {}).get("type") != "tls":
            fail(f"KafkaUser {principal}: authentication is not tls")
    kafkas = list(by.get("Kafka", {}).values())
    if len(kafkas) != 1:
        fail(f"{len(kafkas)} Kafka resources, want 1")
        return
    k = kafkas[0]
    ann = k["metadata"].get("annotations", {})
    if ann.get("strimzi.io/kraft") != "enabled" or ann.get("strimzi.io/node-pools") != "enabled":
        fail("Kafka: strimzi.io/kraft and strimzi.io/node-pools must be 'enabled'")
    if "zookeeper" in k["spec"]:
        fail("Kafka: zookeeper section in a KRaft cluster")
    listeners = k["spec"]["kafka"].get("listeners", [])
    if not listeners or not all(l.get("tls") is True and
                                l.get("authentication", {}).get("type") == "tls"
                                for l in listeners):
        fail("Kafka: every listener must be TLS with tls client authentication")
    if k["spec"]["kafka"].get("authorization", {}).get("type") != "simple":
        fail("Kafka: authorization is not simple")
    pools = [p for p in by.get("KafkaNodePool", {}).values()
             if p["metadata"].get("labels", {}).get("strimzi.io/cluster") == k["metadata"]["name"]]
    if not pools:
        fail("Kafka: no KafkaNodePool for the cluster")
    max_rf = max(t[2] for t in topics)
    if sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) < max_rf:
        fail(f"KafkaNodePool: fewer brokers than the replication factor {max_rf}")


def check_keda(by):
    partitions = {t[0]: t[1] for t in generate.read_manifest()}
    acls = generate.read_acls()
    scaled = by.get("ScaledObject", {})
    for svc in CONSUMERS:
        so = scaled.get(svc)
        if so is None:
            fail(f"consumer {svc}: no KEDA ScaledObject")
            continue
        if so["spec"]["scaleTargetRef"].get("name") != svc:
            fail(f"ScaledObject {svc}: scales {so['spec']['scaleTargetRef']}")
        if svc in by.get("HorizontalPodAutoscaler", {}):
            fail(f"{svc}: both a ScaledObject and a HorizontalPodAutoscaler")
        reads = {n for ops, rtype, _, names in acls.get(svc, []) if rtype == "topic" and "Read" in ops
                 for n in names if not n.endswith(".dlq")}
        triggers = [t for t in so["spec"].get("triggers", []) if t.get("type") == "kafka"]
        topics = set()
        for t in triggers:
            md = t.get("metadata", {})
            if md.get("consumerGroup") != svc:
                fail(f"ScaledObject {svc}: trigger group {md.get('consumerGroup')}, want {svc}")
            topic = md.get("topic")
            if topic not in partitions:
                fail(f"ScaledObject {svc}: trigger topic {topic} is not in deploy/topics.manifest")
                continue
            topics.add(topic)
            maxrc = so["spec"].get("maxReplicaCount", 100)  # KEDA's default is 100
            if maxrc > partitions[topic]:
                fail(f"ScaledObject {svc}: maxReplicaCount {maxrc} > {partitions[topic]} "
                     f"partitions of {topic}")
            if not t.get("authenticationRef") or md.get("tls") != "enable":
                fail(f"ScaledObject {svc}: trigger on {topic} without TLS authentication")
            elif t["authenticationRef"]["name"] not in by.get("TriggerAuthentication", {}):
                fail(f"ScaledObject {svc}: TriggerAuthentication {t['authenticationRef']['name']} "
                     "is not rendered")
        if topics != reads:
            fail(f"ScaledObject {svc}: triggers on {sorted(topics)}, but the service reads "
                 f"{sorted(reads)} (deploy/kafka-acls.tsv)")
        if so["spec"].get("minReplicaCount", 0) < 1:
            fail(f"ScaledObject {svc}: minReplicaCount below 1 (the service must always run)")


def check_secrets(by, overlay):
    secrets = by.get("Secret", {})
    if overlay != "local" and secrets:
        fail(f"production renders Secrets {sorted(secrets)}: values must not be committed")
    for name, s in secrets.items():
        for key, value in (s.get("data") or {}).items():
            v = base64.b64decode(value).decode("utf-8", "replace")
            sensitive = any(w in key for w in ("PASSWORD", "SECRET")) or \
                ("://" in v and "@" in v.split("://", 1)[1])
            if sensitive and "insecure-development" not in v:
                fail(f"Secret {name}/{key}: not a development value (no 'insecure-development')")


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--overlay", required=True)
    p.add_argument("rendered")
    args = p.parse_args(argv)
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by = index(docs)
    check_env(by, compose_env())
    check_services(by)
    check_kafka(by)
    check_keda(by)
    check_secrets(by, args.overlay)
    for m in problems:
        print(f"parity[{args.overlay}]: {m}")
    print(f"parity[{args.overlay}]: {len(docs)} documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
