#!/usr/bin/python3
"""Checks docs/openapi.yaml against the running services (ctest openapi.contract).

1. The routes reservation-api and payment-api serve (admin GET /routes) and the
   paths of the spec are the same, both ways.
2. Every route is called with good and bad requests; each answer's status must
   be documented for that operation, its body must match that status's schema,
   and an error code must be one the response lists in x-error-codes. Each call
   also states the status it expects, so a behaviour change fails too.

Runs against the real local stack (scripts/stack.sh env); each run has its own
databases, Redis prefix and consumer groups. Needs python3-yaml and
python3-jsonschema (Debian). Usage: check_openapi.py <spec> <build dir>
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SERVICES = ("reservation-api", "payment-api")
SECRET = "openapi-contract-test-secret-0123456789"
MAX_BALANCE = 500_000


class Failure(Exception):
    pass


# ---- spec --------------------------------------------------------------------


def resolve(spec, node):
    """The node with every local $ref replaced by its target (the spec has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(spec, target)
        return {k: resolve(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(spec, v) for v in node]
    return node


def spec_routes(spec):
    """{service: {(METHOD, path)}} from each path's servers[].description."""
    out = {s: set() for s in SERVICES}
    for path, item in spec["paths"].items():
        services = [s["description"] for s in item.get("servers", spec["servers"])]
        for s in services:
            if s not in out:
                raise Failure(f"spec: path {path} names unknown service {s!r}")
        for method in METHODS:
            if method in item:
                for s in services:
                    out[s].add((method.upper(), path))
    return out


def lint(spec):
    """Every operation documents its answers; every error answer lists its codes."""
    problems = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = resolve(spec, item[method])
            if not any(code.startswith("2") for code in op.get("responses", {})):
                problems.append(f"{method.upper()} {path}: no 2xx response")
            for code, res in op.get("responses", {}).items():
                if not re.fullmatch(r"[1-5]\d\d", code):
                    problems.append(f"{method.upper()} {path}: status {code!r} is not a number")
                media = res.get("content", {}).get("application/json")
                if code >= "400" and (media is None or not media.get("x-error-codes")):
                    problems.append(f"{method.upper()} {path} {code}: no x-error-codes")
    if problems:
        raise Failure("spec: " + "; ".join(problems))


# ---- processes -----------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, build, name, label, env, log_dir):
        self.name = name
        self.http_port = free_port()
        self.admin_port = free_port()
        self.log_path = os.path.join(log_dir, f"{label}.log")
        full = dict(env, HTTP_PORT=str(self.http_port), ADMIN_PORT=str(self.admin_port))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(build, "services", name, name)], env=full,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait(self, ready=True, consuming=True, limit=60):
        """Until /health/ready answers (200 if ready) and, if consuming, partitions are assigned."""
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited at start:\n{self.log_text()[-3000:]}")
            try:
                status, _, _ = request(self.admin_port, "GET", "/health/ready")
                if (status == 200) == ready and (
                        not consuming or '"msg":"partitions assigned"' in self.log_text()):
                    # "latest" is resolved when fetching starts, just after the assignment.
                    time.sleep(1.0 if consuming else 0)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise Failure(f"{self.name} not {'ready' if ready else 'live'} in {limit}s:\n"
                      f"{self.log_text()[-3000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request(port, method, path, body=None, headers=None, timeout=20):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


# ---- the contract check ----------------------------------------------------------------


class Contract:
    def __init__(self, spec, services):
        self.spec = spec
        self.services = services  # name -> Service
        self.checked = 0
        self.covered = set()  # (METHOD, path, status)
        self.failures = []

    def operation(self, method, path):
        item = self.spec["paths"].get(path)
        if item is None or method.lower() not in item:
            raise Failure(f"test bug: {method} {path} is not in the spec")
        return resolve(self.spec, item[method.lower()])

    def call(self, service, method, path, expect, params=None, body=None, token=None,
             headers=None, content_type="application/json", query=""):
        """Calls `path` (a spec path, {name} filled from params), checks the answer, returns
        (status, headers, parsed JSON body or text)."""
        concrete = path
        for k, v in (params or {}).items():
            concrete = concrete.replace("{" + k + "}", str(v))
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if content_type:
                hdrs["Content-Type"] = content_type
        port = self.services[service].http_port
        status, res_headers, raw = request(port, method, concrete + query, data, hdrs)
        where = f"{service} {method} {concrete}{query}"
        self.checked += 1
        self.covered.add((method, path, str(status)))
        try:
            parsed = self.validate(method, path, status, res_headers, raw)
        except Failure as e:
            self.failures.append(f"{where}: {e}")
            parsed = None
        if status != expect:
            self.failures.append(f"{where}: expected {expect}, got {status} {raw[:300]!r}")
        return status, res_headers, parsed

    def validate(self, method, path, status, headers, raw):
        op = self.operation(method, path)
        documented = op.get("responses", {})
        res = documented.get(str(status))
        if res is None:
            raise Failure(f"status {status} is not documented (documented: {sorted(documented)})")
        ctype = headers.get("content-type", "").split(";")[0].strip()
        content = res.get("content", {})
        if ctype not in content:
            raise Failure(f"content type {ctype!r} is not documented for {status}")
        media = content[ctype]
        if ctype != "application/json":
            return raw.decode()
        try:
            body = json.loads(raw)
        except ValueError:
            raise Failure(f"body is not JSON: {raw[:200]!r}")
        validator = jsonschema.Draft202012Validator(media.get("schema", {}))
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            raise Failure(f"{status} body does not match the schema: {errors[0].message} "
                          f"at {list(errors[0].path)}: {raw[:300]!r}")
        codes = media.get("x-error-codes")
        if codes is not None and "error" in body and body["error"]["code"] not in codes:
            raise Failure(f"{status} error code {body['error']['code']} is not documented "
                          f"(documented: {codes})")
        return body


def compare_routes(spec, services):
    expected = spec_routes(spec)
    problems = []
    for name, svc in services.items():
        status, _, raw = request(svc.admin_port, "GET", "/routes")
        if status != 200:
            raise Failure(f"{name} admin GET /routes answered {status}")
        doc = json.loads(raw)
        if doc.get("service") != name:
            raise Failure(f"{name} admin GET /routes names service {doc.get('service')!r}")
        served = {(r["method"], r["pattern"]) for r in doc["routes"]}
        for m, p in sorted(served - expected[name]):
            problems.append(f"{name} serves {m} {p}, which the spec does not document")
        for m, p in sorted(expected[name] - served):
            problems.append(f"the spec documents {m} {p} on {name}, which it does not serve")
        print(f"routes: {name} serves {len(served)}, the spec documents {len(expected[name])}")
    if problems:
        raise Failure("\n  ".join(["route table and spec differ:"] + problems))


def drop_databases(mysql_url, names):
    """Best effort: the run's databases go away (mariadb client from mariadb-client)."""
    m = re.fullmatch(r"mysql://(?:([^:@/]*)(?::([^@/]*))?@)?([^:/]+)(?::(\d+))?/?.*", mysql_url)
    if not m:
        return
    user, password, host, port = m.groups()
    cmd = ["mariadb", "--protocol=tcp", "-h", host, "-P", port or "3306", "-u", user or "root"]
    env = dict(os.environ, MYSQL_PWD=password or "")
    sql = "".join(f"DROP DATABASE IF EXISTS `{n}`;" for n in names)
    try:
        subprocess.run(cmd + ["-e", sql], env=env, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"note: could not drop {names}: {e}")


IDP_URL = os.environ.get("IDP_URL", "http://127.0.0.1:18510")


def id_token(user):
    """An ID token for `user` from the stack's development identity provider."""
    host, port = IDP_URL.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/v1/id-tokens", body=json.dumps({"userId": user}),
                     headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        body = res.read()
        if res.status != 200:
            raise Failure(f"dev-idp at {IDP_URL}: {res.status} {body[:200]!r}")
        return json.loads(body)["idToken"]
    finally:
        conn.close()


def forged_token(user, issued_at, token_id=None):
    head = f"v1.{token_id or uuid.uuid4()}.{user}.{issued_at}"
    mac = hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def eventually(pred, limit=30, every=0.25):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return pred()


def consumed(svc, topic):
    _, _, raw = request(svc.admin_port, "GET", "/metrics")
    total = 0.0
    for line in raw.decode().splitlines():
        if line.startswith("events_consumed_total{") and f'topic="{topic}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def exercise(c, spec):
    R, P = "reservation-api", "payment-api"
    base = random.randint(10**9, 2 * 10**9)
    a, b, w = base + 1, base + 2, base + 3
    big = "x" * (70 * 1024)
    long_header = {"X-Padding": "y" * (20 * 1024)}

    # --- queue (QUEUE_MAX_ACTIVE=2: a and b active, w waits) -------------------------
    _, _, ta = c.call(R, "POST", "/v1/queue/tokens", 201, token=id_token(a))
    c.call(R, "POST", "/v1/queue/tokens", 200, token=id_token(a))
    _, _, tb = c.call(R, "POST", "/v1/queue/tokens", 201, token=id_token(b))
    _, _, tw = c.call(R, "POST", "/v1/queue/tokens", 201, token=id_token(w))
    if not (ta and tb and tw):
        raise Failure("no queue tokens; cannot go on")
    if (ta["status"], tb["status"], tw["status"]) != ("ACTIVE", "ACTIVE", "WAITING"):
        c.failures.append(f"queue states {ta['status']}, {tb['status']}, {tw['status']}")
    ta, tb, tw = ta["token"], tb["token"], tw["token"]
    c.call(R, "POST", "/v1/queue/tokens", 401, body={"userId": a})  # no ID token
    c.call(R, "POST", "/v1/queue/tokens", 401, token="not-a-jwt")
    c.call(R, "POST", "/v1/queue/tokens", 401, token=ta)  # a queue token is no ID token
    c.call(R, "POST", "/v1/queue/tokens", 413, body=big, token=id_token(a))
    c.call(R, "POST", "/v1/queue/tokens", 431, token=id_token(a), headers=long_header)

    c.call(R, "GET", "/v1/queue/status", 200, token=tw)
    c.call(R, "GET", "/v1/queue/status", 401)
    c.call(R, "GET", "/v1/queue/status", 401, token="garbage")
    c.call(R, "GET", "/v1/queue/status", 401, token=ta[:-2] + ("AA" if not ta.endswith("AA") else "BB"))
    c.call(R, "GET", "/v1/queue/status", 401, token=forged_token(a, int(time.time()) - 10 * 86400))
    c.call(R, "GET", "/v1/queue/status", 401, token=forged_token(a, int(time.time())))  # not queued

    # --- catalogue ------------------------------------------------------------------
    _, _, concerts = c.call(R, "GET", "/v1/concerts", 200, token=ta)
    c.call(R, "GET", "/v1/concerts", 403, token=tw)
    c.call(R, "GET", "/v1/concerts", 401)
    c.call(R, "GET", "/v1/concerts", 431, token=ta, headers=long_header)
    if not concerts or not concerts["concerts"]:
        raise Failure("no concerts seeded; cannot go on")
    concert = concerts["concerts"][0]["id"]
    _, _, schedules = c.call(R, "GET", "/v1/concerts/{id}/schedules", 200, {"id": concert}, token=ta)
    c.call(R, "GET", "/v1/concerts/{id}/schedules", 400, {"id": "abc"}, token=ta)
    c.call(R, "GET", "/v1/concerts/{id}/schedules", 404, {"id": 999999999}, token=ta)
    c.call(R, "GET", "/v1/concerts/{id}/schedules", 403, {"id": concert}, token=tw)
    c.call(R, "GET", "/v1/concerts/{id}/schedules", 401, {"id": concert}, token="garbage")
    schedule = schedules["schedules"][0]["id"]
    c.call(R, "GET", "/v1/schedules/{id}/seats", 200, {"id": schedule}, token=ta)
    c.call(R, "GET", "/v1/schedules/{id}/seats", 400, {"id": 0}, token=ta)
    c.call(R, "GET", "/v1/schedules/{id}/seats", 404, {"id": 999999999}, token=ta)
    c.call(R, "GET", "/v1/schedules/{id}/seats", 403, {"id": schedule}, token=tw)
    c.call(R, "GET", "/v1/schedules/{id}/seats", 401, {"id": schedule})

    # --- holds (MAX_HOLDS_PER_USER=3) --------------------------------------------------
    held = []
    receipts = []
    for seat in (1, 2, 3):
        _, _, r = c.call(R, "POST", "/v1/reservations", 201, body={"scheduleId": schedule, "seatNo": seat},
                         token=ta)
        if not r:
            raise Failure("hold failed; cannot go on")
        held.append(r["reservationId"])
        receipts.append(r.get("holdReceipt", ""))
    pay_id, cancel_id, other_id = held
    pay_receipt = receipts[0]
    c.call(R, "POST", "/v1/reservations", 409, body={"scheduleId": schedule, "seatNo": 4}, token=ta)
    c.call(R, "POST", "/v1/reservations", 409, body={"scheduleId": schedule, "seatNo": 1}, token=tb)
    _, _, rb = c.call(R, "POST", "/v1/reservations", 201, body={"scheduleId": schedule, "seatNo": 10},
                      token=tb)
    c.call(R, "POST", "/v1/reservations", 400, body={"scheduleId": schedule, "seatNo": 51}, token=ta)
    c.call(R, "POST", "/v1/reservations", 400, body={"scheduleId": schedule}, token=ta)
    c.call(R, "POST", "/v1/reservations", 400, body="{", token=ta)
    c.call(R, "POST", "/v1/reservations", 404, body={"scheduleId": 999999999, "seatNo": 5}, token=tb)
    c.call(R, "POST", "/v1/reservations", 403, body={"scheduleId": schedule, "seatNo": 5}, token=tw)
    c.call(R, "POST", "/v1/reservations", 401, body={"scheduleId": schedule, "seatNo": 5})
    c.call(R, "POST", "/v1/reservations", 415, body="x", token=ta, content_type="text/plain")
    c.call(R, "POST", "/v1/reservations", 413, body=big, token=ta)

    c.call(R, "GET", "/v1/reservations/{id}", 200, {"id": pay_id}, token=ta)
    c.call(R, "GET", "/v1/reservations/{id}", 404, {"id": pay_id}, token=tb)
    c.call(R, "GET", "/v1/reservations/{id}", 400, {"id": "-1"}, token=ta)
    c.call(R, "GET", "/v1/reservations/{id}", 401, {"id": pay_id})
    c.call(R, "DELETE", "/v1/reservations/{id}", 404, {"id": cancel_id}, token=tb)
    _, _, cancelled = c.call(R, "DELETE", "/v1/reservations/{id}", 200, {"id": cancel_id}, token=ta)
    if cancelled and cancelled["status"] != "CANCELLED":
        c.failures.append(f"DELETE answered status {cancelled['status']}")
    c.call(R, "DELETE", "/v1/reservations/{id}", 409, {"id": cancel_id}, token=ta)
    c.call(R, "DELETE", "/v1/reservations/{id}", 400, {"id": "x"}, token=ta)
    c.call(R, "DELETE", "/v1/reservations/{id}", 401, {"id": cancel_id})

    # --- points (MAX_BALANCE=500000) ----------------------------------------------------
    c.call(P, "GET", "/v1/points", 200, token=ta)
    c.call(P, "GET", "/v1/points", 401)
    c.call(P, "GET", "/v1/points", 401, token=forged_token(a, int(time.time()) - 10 * 86400))
    c.call(P, "GET", "/v1/points", 431, token=ta, headers=long_header)
    key = {"Idempotency-Key": f"charge-{base}"}
    c.call(P, "POST", "/v1/points/charge", 200, body={"amount": 200_000}, token=ta, headers=key)
    _, h, again = c.call(P, "POST", "/v1/points/charge", 200, body={"amount": 200_000}, token=ta, headers=key)
    if h.get("idempotent-replayed") != "true" or (again and again["balance"] != 200_000):
        c.failures.append(f"charge replay: header {h.get('idempotent-replayed')!r}, body {again}")
    c.call(P, "POST", "/v1/points/charge", 409, body={"amount": 5}, token=ta, headers=key)
    c.call(P, "POST", "/v1/points/charge", 409, body={"amount": MAX_BALANCE}, token=ta)
    c.call(P, "POST", "/v1/points/charge", 400, body={"amount": 5}, token=ta,
           headers={"Idempotency-Key": "has space"})
    c.call(P, "POST", "/v1/points/charge", 400, body={"amount": 0}, token=ta)
    c.call(P, "POST", "/v1/points/charge", 400, body={"amount": "5"}, token=ta)
    c.call(P, "POST", "/v1/points/charge", 400, body="nope", token=ta)
    c.call(P, "POST", "/v1/points/charge", 401, body={"amount": 5})
    c.call(P, "POST", "/v1/points/charge", 415, body="amount=5", token=ta, content_type="text/plain")
    c.call(P, "POST", "/v1/points/charge", 413, body=big, token=ta)
    c.call(P, "POST", "/v1/points/charge", 200, body={"amount": 10}, token=tb)

    # --- payments -------------------------------------------------------------------------
    pkey = {"Idempotency-Key": f"pay-{base}"}
    c.call(P, "POST", "/v1/payments", 400, body={"reservationId": pay_id, "holdReceipt": pay_receipt + "x"},
           token=ta)
    c.call(P, "POST", "/v1/payments", 400, body={"reservationId": other_id, "holdReceipt": pay_receipt},
           token=ta)
    _, _, paid = c.call(P, "POST", "/v1/payments", 201, body={"reservationId": pay_id, "holdReceipt": pay_receipt},
                        token=ta, headers=pkey)
    _, h, _ = c.call(P, "POST", "/v1/payments", 201, body={"reservationId": pay_id}, token=ta, headers=pkey)
    if h.get("idempotent-replayed") != "true":
        c.failures.append("payment replay without Idempotent-Replayed: true")
    c.call(P, "POST", "/v1/payments", 409, body={"reservationId": other_id}, token=ta, headers=pkey)
    c.call(P, "POST", "/v1/payments", 409, body={"reservationId": pay_id}, token=ta)
    c.call(P, "POST", "/v1/payments", 402,
           body={"reservationId": rb["reservationId"], "holdReceipt": rb.get("holdReceipt", "")}, token=tb)
    c.call(P, "POST", "/v1/payments", 404, body={"reservationId": other_id}, token=tb)
    if not eventually(lambda: consumed(c.services[P], "reservation.cancelled") >= 1):
        c.failures.append("payment-api never consumed reservation.cancelled")
    c.call(P, "POST", "/v1/payments", 409, body={"reservationId": cancel_id}, token=ta)
    c.call(P, "POST", "/v1/payments", 400, body={"reservationId": "1"}, token=ta)
    c.call(P, "POST", "/v1/payments", 400, body={"reservationId": 1}, token=ta,
           headers={"Idempotency-Key": "x" * 256})
    c.call(P, "POST", "/v1/payments", 401, body={"reservationId": pay_id}, token="garbage")
    c.call(P, "POST", "/v1/payments", 415, body="x", token=ta, content_type="text/plain")
    c.call(P, "POST", "/v1/payments", 413, body=big, token=ta)
    c.call(P, "POST", "/v1/payments", 404, body={"reservationId": 999999999}, token=ta)

    payment_id = paid["paymentId"] if paid else 1
    c.call(P, "GET", "/v1/payments/{id}", 200, {"id": payment_id}, token=ta)
    c.call(P, "GET", "/v1/payments/{id}", 404, {"id": payment_id}, token=tb)
    c.call(P, "GET", "/v1/payments/{id}", 404, {"id": 999999999}, token=ta)
    c.call(P, "GET", "/v1/payments/{id}", 400, {"id": "abc"}, token=ta)
    c.call(P, "GET", "/v1/payments/{id}", 401, {"id": payment_id})

    _, _, hist = c.call(P, "GET", "/v1/points/history", 200, token=ta)
    if hist and [i["kind"] for i in hist["items"]] != ["PAYMENT", "CHARGE"]:
        c.failures.append(f"history kinds {[i['kind'] for i in hist['items']]}")
    _, _, page = c.call(P, "GET", "/v1/points/history", 200, token=ta, query="?limit=1")
    if page and page["nextBefore"] is None:
        c.failures.append("a full history page has no nextBefore")
    c.call(P, "GET", "/v1/points/history", 400, token=ta, query="?limit=0")
    c.call(P, "GET", "/v1/points/history", 400, token=ta, query="?before=x")
    c.call(P, "GET", "/v1/points/history", 401)

    # --- confirmation through Kafka: payment.completed -> reservation-api -----------------
    def confirmed():
        status, _, body = request(c.services[R].http_port, "GET", f"/v1/reservations/{pay_id}",
                                  headers={"Authorization": f"Bearer {ta}"})
        return status == 200 and json.loads(body)["status"] == "CONFIRMED"
    if not eventually(confirmed, 60):
        c.failures.append("the paid reservation never became CONFIRMED")
    _, _, conf = c.call(R, "GET", "/v1/reservations/{id}", 200, {"id": pay_id}, token=ta)
    if conf and "confirmedAt" not in conf:
        c.failures.append("a CONFIRMED reservation has no confirmedAt")
    c.call(R, "DELETE", "/v1/reservations/{id}", 409, {"id": pay_id}, token=ta)
    # The payment ended a's queue place.
    c.call(R, "GET", "/v1/queue/status", 401, token=ta)
    c.call(R, "GET", "/v1/concerts", 401, token=ta)

    # --- operations routes (admin port only), unknown paths and methods ---------------------
    for svc in (R, P):
        for path in ("/health/live", "/health/ready", "/metrics", "/routes"):
            status, _, raw = request(c.services[svc].http_port, "GET", path)
            if status != 404:
                c.failures.append(f"{svc} public port GET {path} answered {status}, not 404")
            status, _, raw = request(c.services[svc].admin_port, "GET", path)
            if status != 200:
                c.failures.append(f"{svc} admin port GET {path} answered {status}")
            elif path == "/metrics" and b"http_requests_total" not in raw:
                c.failures.append(f"{svc} /metrics has no http_requests_total")
        status, _, raw = request(c.services[svc].http_port, "GET", "/v1/no-such-path")
        if status != 404 or json.loads(raw)["error"]["code"] != "NOT_FOUND":
            c.failures.append(f"{svc} unknown path answered {status} {raw[:200]!r}")
    exercise_headers_too_large(c, spec, tb)
    for path, item in spec["paths"].items():
        allowed = sorted(m.upper() for m in METHODS if m in item)
        concrete = path.replace("{id}", "1")
        for svc in [s["description"] for s in item["servers"]]:
            status, h, raw = request(c.services[svc].http_port, "PATCH", concrete)
            if status != 405 or h.get("allow") != ", ".join(allowed) or \
                    json.loads(raw)["error"]["code"] != "METHOD_NOT_ALLOWED":
                c.failures.append(f"{svc} PATCH {concrete}: expected 405 Allow: {', '.join(allowed)}, "
                                  f"got {status} Allow: {h.get('allow')}")


# A valid body for each operation that takes one.
SAMPLE_BODIES = {
    ("POST", "/v1/reservations"): {"scheduleId": 1, "seatNo": 1},
    ("POST", "/v1/points/charge"): {"amount": 1},
    ("POST", "/v1/payments"): {"reservationId": 1},
}


def operations(spec):
    for path, item in spec["paths"].items():
        for m in METHODS:
            if m in item:
                for svc in [s["description"] for s in item["servers"]]:
                    yield svc, m.upper(), path


def exercise_headers_too_large(c, spec, token):
    for svc, method, path in operations(spec):
        c.call(svc, method, path, 431, {"id": 1}, body=SAMPLE_BODIES.get((method, path)), token=token,
               headers={"X-Padding": "y" * (20 * 1024)})


def exercise_degraded(c, spec):
    """The same services with MariaDB unreachable: 503 with the documented codes."""
    R = "reservation-api"
    _, _, t = c.call(R, "POST", "/v1/queue/tokens", 201, token=id_token(42))  # Redis only
    token = t["token"] if t else "none"
    for svc, method, path in operations(spec):
        if (method, path) in (("POST", "/v1/queue/tokens"), ("GET", "/v1/queue/status")):
            continue  # Redis only
        _, h, _ = c.call(svc, method, path, 503, {"id": 1}, body=SAMPLE_BODIES.get((method, path)),
                         token=token)
        if h.get("retry-after") != "1":
            c.failures.append(f"{svc} {method} {path}: 503 without Retry-After: 1")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    spec_path, build = sys.argv[1], os.path.abspath(sys.argv[2])
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    lint(spec)

    run = f"openapi_{int(time.time()) % 100000000}_{random.randint(0, 99999)}"
    log_dir = os.path.join(build, "tests", "openapi")
    os.makedirs(log_dir, exist_ok=True)
    stack = {
        # Kafka's client security of the stack (the admin principal), if any, and
        # the topic namespace of `make test` (TOPIC_PREFIX).
        **{k: v for k, v in os.environ.items()
           if k in ("KAFKA_SECURITY_PROTOCOL", "TOPIC_PREFIX") or k.startswith(("KAFKA_SASL_", "KAFKA_SSL_"))},
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"),
        "MYSQL_URL": os.environ.get("MYSQL_URL", "mysql://root@127.0.0.1:13306/"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"),
        "TOKEN_SECRET": SECRET,
        # One client calling in quick succession: limits are provoked once, below.
        **{f"RATE_LIMIT_{k}": "100000/s:100000" for k in (
            "TOKEN_USER", "TOKEN_CLIENT", "STATUS_USER", "STATUS_CLIENT", "HOLD_USER", "HOLD_CLIENT")},
        "ID_TOKEN_ISSUER": os.environ.get("ID_TOKEN_ISSUER", IDP_URL),
        "ID_TOKEN_AUDIENCE": os.environ.get("ID_TOKEN_AUDIENCE", "ticketing"),
        "ID_TOKEN_JWKS": os.environ.get("ID_TOKEN_JWKS", IDP_URL + "/.well-known/jwks.json"),
        # A new group starts at the log end: the topics' history belongs to other runs.
        "KAFKA_AUTO_OFFSET_RESET": "latest",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    res_env = dict(stack, MYSQL_DATABASE=f"{run}_res", REDIS_PREFIX=f"{run}:", KAFKA_CONSUMER_GROUP=f"{run}_res",
                   QUEUE_MAX_ACTIVE="2", MAX_HOLDS_PER_USER="3", IGNORE_UNKNOWN_RESERVATIONS="true")
    pay_env = dict(stack, MYSQL_DATABASE=f"{run}_pay", KAFKA_CONSUMER_GROUP=f"{run}_pay",
                   MAX_BALANCE=str(MAX_BALANCE), TRUSTED_EVENT_PRODUCERS="reservation-api")
    seed = subprocess.run([os.path.join(build, "services/reservation-api/reservation-api"), "seed"],
                          env=res_env, capture_output=True, text=True, timeout=120)
    if seed.returncode != 0:
        raise Failure(f"reservation-api seed failed: {seed.stdout}{seed.stderr}")

    started = []
    try:
        services = {
            "reservation-api": Service(build, "reservation-api", f"{run}-reservation-api", res_env, log_dir),
            "payment-api": Service(build, "payment-api", f"{run}-payment-api", pay_env, log_dir),
        }
        started += services.values()
        for svc in services.values():
            svc.wait()
        compare_routes(spec, services)
        contract = Contract(spec, services)
        exercise(contract, spec)

        dead = free_port()  # nothing listens there
        down_url = f"mysql://ticketing:ticketing@127.0.0.1:{dead}/"
        degraded = {
            "reservation-api": Service(build, "reservation-api", f"{run}-reservation-api-nodb",
                                       dict(res_env, MYSQL_URL=down_url, REDIS_PREFIX=f"{run}-nodb:",
                                            KAFKA_CONSUMER_GROUP=f"{run}_res_nodb"), log_dir),
            "payment-api": Service(build, "payment-api", f"{run}-payment-api-nodb",
                                   dict(pay_env, MYSQL_URL=down_url, KAFKA_CONSUMER_GROUP=f"{run}_pay_nodb"),
                                   log_dir),
        }
        started += degraded.values()
        for svc in degraded.values():
            svc.wait(ready=False, consuming=False)
        compare_routes(spec, degraded)
        contract.services = degraded
        exercise_degraded(contract, spec)

        no_redis = Service(build, "reservation-api", f"{run}-reservation-api-noredis",
                           dict(res_env, MYSQL_URL=down_url, REDIS_URL=f"redis://127.0.0.1:{dead}/0",
                                KAFKA_CONSUMER_GROUP=f"{run}_res_noredis"), log_dir)
        started.append(no_redis)
        no_redis.wait(ready=False, consuming=False)
        contract.services = {"reservation-api": no_redis}
        contract.call("reservation-api", "POST", "/v1/queue/tokens", 503, token=id_token(42))
        contract.call("reservation-api", "GET", "/v1/queue/status", 503,
                      token=forged_token(42, int(time.time())))

        # Tight limits (one request a minute per user): the second call of each is 429.
        limited = Service(build, "reservation-api", f"{run}-reservation-api-limited",
                          dict(res_env, KAFKA_CONSUMER_GROUP=f"{run}_res_limited",
                               REDIS_PREFIX=f"{run}-limited:", QUEUE_MAX_ACTIVE="1000",
                               RATE_LIMIT_TOKEN_USER="1/m:1", RATE_LIMIT_STATUS_USER="1/m:1",
                               RATE_LIMIT_HOLD_USER="1/m:1"), log_dir)
        started.append(limited)
        limited.wait(ready=True, consuming=False)
        contract.services = {"reservation-api": limited}
        user = random.randint(3 * 10**9, 4 * 10**9)
        _, _, t = contract.call("reservation-api", "POST", "/v1/queue/tokens", 201, token=id_token(user))
        _, h, _ = contract.call("reservation-api", "POST", "/v1/queue/tokens", 429, token=id_token(user))
        if not h.get("retry-after", "").isdigit():
            contract.failures.append("429 without a Retry-After in seconds")
        token = t["token"] if t else "none"
        contract.call("reservation-api", "GET", "/v1/queue/status", 200, token=token)
        contract.call("reservation-api", "GET", "/v1/queue/status", 429, token=token)
        contract.call("reservation-api", "POST", "/v1/reservations", 201, token=token,
                      body={"scheduleId": 1, "seatNo": 40})
        contract.call("reservation-api", "POST", "/v1/reservations", 429, token=token,
                      body={"scheduleId": 1, "seatNo": 41})
    finally:
        for svc in started:
            svc.stop()
        drop_databases(stack["MYSQL_URL"], [res_env["MYSQL_DATABASE"], pay_env["MYSQL_DATABASE"]])

    documented = set()
    for path, item in spec["paths"].items():
        for m in METHODS:
            if m in item:
                documented |= {(m.upper(), path, code) for code in resolve(spec, item[m])["responses"]}
    untested = sorted(documented - contract.covered)
    print(f"calls: {contract.checked}; documented answers exercised: "
          f"{len(documented & contract.covered)} of {len(documented)}")
    if untested:
        print("not exercised (documented, not provoked here): " +
              ", ".join(f"{m} {p} {s}" for m, p, s in untested))
    if contract.failures:
        print(f"FAILED: {len(contract.failures)} problem(s):")
        for f in contract.failures:
            print("  " + f)
        return 1
    print("OK: routes match the spec both ways and every answer matches it")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"FAILED: {e}")
        sys.exit(1)
