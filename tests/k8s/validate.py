#!/usr/bin/env python3
"""Offline schema validation of rendered Kubernetes manifests (tests/k8s/run.sh).

    validate.py crd2schema CRD_YAML... --out DIR
        Converts each CustomResourceDefinition's openAPIV3Schema (every served
        version) into a JSON Schema file DIR/<group>/<version>/<Kind>.json.
    validate.py check --schemas DIR --k8s-version V FILE...
        Validates every document of the files: built-in kinds against the
        Kubernetes JSON schemas bundled with kubernetes-validate (strict: unknown
        fields are errors), custom resources against DIR/<group>/<version>/<Kind>.json.
        A kind with no schema is an error, never skipped.
    validate.py selftest --schemas DIR --k8s-version V FILE
        Proves the validator is live: breaks one field at a time in a copy of the
        documents (wrong type, unknown field, bad enum ...) and expects each copy
        to be rejected.

Needs PyYAML, jsonschema and kubernetes-validate (run.sh installs them).
"""
import argparse
import copy
import json
import os
import sys

import jsonschema
import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv_utils


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---------------------------------------------------------------- crd2schema

def convert(node):
    """A CRD structural schema node -> JSON Schema (strict where the CRD is)."""
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    for k, v in node.items():
        if k in ("description", "example", "externalDocs", "x-kubernetes-list-type",
                 "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
                 "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
                 "x-kubernetes-embedded-resource", "x-kubernetes-validations", "nullable"):
            continue
        if k == "properties":
            out[k] = {name: convert(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            out[k] = convert(v) if isinstance(v, dict) else v
        elif k in ("allOf", "anyOf", "oneOf"):
            out[k] = [convert(sub) for sub in v]
        else:
            out[k] = v
    if node.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("type") == "object" and "properties" in out and not preserve \
            and "additionalProperties" not in out:
        # The API server drops (or, with strict field validation, refuses) unknown
        # fields: an unknown field is a mistake in a manifest, so refuse it here.
        out["additionalProperties"] = False
    return out


def crd2schema(files, out_dir):
    n = 0
    for path in files:
        for doc in load_docs(path):
            if doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for ver in spec["versions"]:
                if not ver.get("served", True):
                    continue
                schema = convert(ver["schema"]["openAPIV3Schema"])
                schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
                props = schema.setdefault("properties", {})
                props.setdefault("metadata", {"type": "object"})
                d = os.path.join(out_dir, spec["group"], ver["name"])
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, spec["names"]["kind"] + ".json"), "w") as f:
                    json.dump(schema, f)
                n += 1
    if n == 0:
        print("crd2schema: no CustomResourceDefinition found", file=sys.stderr)
        return 1
    print(f"crd2schema: {n} schemas written to {out_dir}")
    return 0


# --------------------------------------------------------------------- check

class Checker:
    def __init__(self, schema_dir, k8s_version):
        self.schema_dir = schema_dir
        self.k8s_version = k8s_version
        self.cache = {}

    def crd_validator(self, api_version, kind):
        if "/" not in api_version:
            return None
        group, version = api_version.split("/", 1)
        path = os.path.join(self.schema_dir, group, version, kind + ".json")
        if path not in self.cache:
            if not os.path.exists(path):
                self.cache[path] = None
            else:
                with open(path, encoding="utf-8") as f:
                    schema = json.load(f)
                self.cache[path] = jsonschema.Draft202012Validator(schema)
        return self.cache[path]

    def errors(self, doc):
        """[message] for one document; empty when it is valid."""
        kind = doc.get("kind", "?")
        api = doc.get("apiVersion", "?")
        try:
            kv_utils.validate(doc, self.k8s_version, strict=True)
            return []
        except kv_utils.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            return [f"{where}: {e.message}"]
        except kv_utils.SchemaNotFoundError:
            pass
        validator = self.crd_validator(api, kind)
        if validator is None:
            return [f"no schema for {api} {kind} (neither Kubernetes nor a known CRD)"]
        out = []
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
            where = ".".join(str(p) for p in e.path)
            out.append(f"{where}: {e.message[:300]}")
        return out


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def check(args):
    checker = Checker(args.schemas, args.k8s_version)
    bad = 0
    total = 0
    for path in args.files:
        for doc in load_docs(path):
            total += 1
            errs = checker.errors(doc)
            for e in errs:
                print(f"INVALID {os.path.basename(path)} {name_of(doc)}: {e}")
            bad += bool(errs)
    print(f"check: {total} documents, {bad} invalid (Kubernetes {args.k8s_version}, "
          f"kubernetes-validate {kubernetes_validate.__version__})")
    return 1 if bad or total == 0 else 0


# ------------------------------------------------------------------ selftest

def first(docs, kind, name=None):
    for d in docs:
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
            return d
    raise SystemExit(f"selftest: no {kind} {name or ''} in the rendered output")


def mutations():
    """(description, kind, name, function changing that document)."""
    def dep_port_string(d):
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9000"

    def dep_unknown_field(d):
        d["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = d["spec"]["template"][
            "spec"]["containers"][0].pop("readinessProbe")

    def hpa_bad_target(d):
        d["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = "70%"

    def pdb_unknown(d):
        d["spec"]["maxUnavaliable"] = d["spec"].pop("maxUnavailable")

    def kafka_tls_string(d):
        d["spec"]["kafka"]["listeners"][0]["tls"] = "yes"

    def kafka_bad_auth(d):
        d["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "mtls"

    def kafka_unknown(d):
        d["spec"]["kafka"]["authorisation"] = d["spec"]["kafka"].pop("authorization")

    def pool_bad_role(d):
        d["spec"]["roles"] = ["controller", "leader"]

    def topic_partitions_string(d):
        d["spec"]["partitions"] = "three"

    def user_bad_pattern(d):
        d["spec"]["authorization"]["acls"][0]["resource"]["patternType"] = "prefixed"

    def user_bad_operation(d):
        d["spec"]["authorization"]["acls"][0]["operations"] = ["Wrte"]

    def scaled_unknown(d):
        d["spec"]["maxReplicas"] = d["spec"].pop("maxReplicaCount")

    def scaled_trigger_no_type(d):
        del d["spec"]["triggers"][0]["type"]

    def auth_bad(d):
        d["spec"]["secretTargetRef"][0]["secret"] = d["spec"]["secretTargetRef"][0].pop("name")

    return [
        ("containerPort as a string", "Deployment", "payment-api", dep_port_string),
        ("misspelled readinessProbe", "Deployment", "reservation-api", dep_unknown_field),
        ("HPA utilization as a string", "HorizontalPodAutoscaler", None, hpa_bad_target),
        ("misspelled PDB maxUnavailable", "PodDisruptionBudget", None, pdb_unknown),
        ("Kafka listener tls as a string", "Kafka", None, kafka_tls_string),
        ("Kafka listener authentication type unknown", "Kafka", None, kafka_bad_auth),
        ("misspelled Kafka authorization", "Kafka", None, kafka_unknown),
        ("KafkaNodePool role unknown", "KafkaNodePool", None, pool_bad_role),
        ("KafkaTopic partitions as a string", "KafkaTopic", None, topic_partitions_string),
        ("KafkaUser ACL patternType 'prefixed' (Strimzi says 'prefix')", "KafkaUser",
         "reservation-api", user_bad_pattern),
        ("KafkaUser ACL operation misspelled", "KafkaUser", "payment-api", user_bad_operation),
        ("ScaledObject maxReplicas (not maxReplicaCount)", "ScaledObject", None, scaled_unknown),
        ("ScaledObject trigger without type", "ScaledObject", None, scaled_trigger_no_type),
        ("TriggerAuthentication secretTargetRef without name", "TriggerAuthentication", None,
         auth_bad),
    ]


def selftest(args):
    checker = Checker(args.schemas, args.k8s_version)
    docs = load_docs(args.file)
    failed = 0
    for what, kind, name, change in mutations():
        doc = copy.deepcopy(first(docs, kind, name))
        if checker.errors(doc):
            print(f"selftest: {name_of(doc)} is invalid before the mutation")
            failed += 1
            continue
        change(doc)
        errs = checker.errors(doc)
        if errs:
            print(f"selftest: rejected as expected: {what} ({errs[0][:120]})")
        else:
            print(f"selftest: NOT rejected: {what} ({name_of(doc)})")
            failed += 1
    print(f"selftest: {len(mutations()) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crd2schema")
    c.add_argument("files", nargs="+")
    c.add_argument("--out", required=True)
    k = sub.add_parser("check")
    k.add_argument("--schemas", required=True)
    k.add_argument("--k8s-version", required=True)
    k.add_argument("files", nargs="+")
    s = sub.add_parser("selftest")
    s.add_argument("--schemas", required=True)
    s.add_argument("--k8s-version", required=True)
    s.add_argument("file")
    args = p.parse_args(argv)
    if args.cmd == "crd2schema":
        return crd2schema(args.files, args.out)
    if args.cmd == "check":
        return check(args)
    return selftest(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
