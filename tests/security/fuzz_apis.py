#!/usr/bin/python3
"""Fuzzes reservation-api and payment-api against docs/openapi.yaml (ctest security.fuzz).

schemathesis (PyPI; the version is pinned in scripts/deps.sh, which installs it in
.deps/venv-fuzz) generates requests from the spec: valid ones, boundary values,
schema-violating ones, then short stateful sequences (hold -> read -> release,
charge -> pay -> read). This driver starts both services the way
tests/openapi/check_openapi.py does (own databases, Redis prefix and consumer groups
on the running stack; QUEUE_MAX_ACTIVE large so a queue token is ACTIVE at once;
every RATE_LIMIT_* setting generous: a fuzzer is not a flood), creates a few objects
(holds, a payment) for the fuzzed user and for another user, then runs two passes
per API:

  valid    a real ID token for POST /v1/queue/tokens and a real queue token for the
           rest (auth.openapi, per security scheme of the spec).
  invalid  every request carries a bad credential, rotated per request and operation:
           none, empty, garbage, another scheme, the other kind of token, a queue
           token altered (MAC, user, time, version), truncated, extended, signed with
           another secret or expired, a JWT with alg none, an HS256 JWT keyed with
           TOKEN_SECRET, a JWT with another sub or an altered signature. Each request
           names its variant in the header X-Fuzz-Credential. Afterwards every variant
           is also sent once to every operation (a sweep, not left to chance) and must
           get a documented 401.

Checks (schemathesis's; the first four are the contract):
  not_a_server_error            no 5xx.
  status_code_conformance       the status is documented for the operation.
  content_type_conformance      the Content-Type is documented for that status.
  response_schema_conformance   the body matches that status's schema.
  response_headers_conformance  documented response headers match their schemas.
  negative_data_rejection       a schema-violating request is refused with a 4xx.
  missing_required_header       a request without a required header is refused.
  unsupported_method            a method the path does not have answers 405 ...
  allow_header_conformance      ... with Allow listing the path's methods (the spec's
                                description promises both).
  ignored_auth                  (valid pass) a request that succeeded is sent again
                                without its credential and with a random one: both
                                must be refused.
  ensure_resource_availability  (valid pass) what a POST created can be read back.
and three defined here (this file is also loaded into schemathesis as its hooks):
  error_code_documented         an error's code is one the answer lists in
                                x-error-codes, or the HTTP server's own code for that
                                status (the spec's description lists those).
  foreign_objects_hidden        (valid pass) no 2xx answer carries another user's
                                reservation or payment (ids created in setup, which
                                the fuzzer's small ids hit), or a userId other than
                                the caller's.
  credentials_refused           (invalid pass) a bad credential never gets past
                                authentication: the answer is 401, or a refusal that
                                comes before it (400, 405, 413, 415, 429, 431, a 404
                                NOT_FOUND of the router); 2xx, 402, 403, 409 or a
                                resource's own 404 fail.
Left out, and why:
  use_after_free                DELETE /v1/reservations/{id} releases a hold; the
                                reservation stays readable with status CANCELLED, as
                                the spec says, which this check calls a failure.
  positive_data_acceptance      schema-valid input is refused, rightly, by rules a
                                schema cannot state: a holdReceipt must be signed for
                                this user's hold (400 INVALID_HOLD_RECEIPT), amount is
                                capped by MAX_CHARGE (400), seats and balances run out.
  object_level_authorization    tried with two users: it only probes objects created
                                in the same run through links (0-1 probes here) and
                                calls the public catalogue a leak; foreign_objects_hidden
                                checks the same property against known owners.
  max_response_time             timing on a shared 2-core machine would be flaky.

After every pass both services must still be running and answer 200 on their admin
GET /health/live, and every operation of a valid pass must have answered something
other than 401 at least once (the credentials really worked). Bounded and
reproducible: seed FUZZ_SEED (default 17), FUZZ_MAX_EXAMPLES per operation (default
100; the invalid pass uses half), one worker, PASS_TIMEOUT seconds (default 120) per
pass. The run's databases are dropped and its Redis keys deleted at the end.
Everything each pass sent and got (HAR), its configuration and output are kept in
<build>/tests/security/last/.

Usage: fuzz_apis.py <spec> <build dir> <schemathesis executable>
"""

import base64
import collections
import glob
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid

SERVICES = ("reservation-api", "payment-api")
SEED = int(os.environ.get("FUZZ_SEED", "17"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
PASS_TIMEOUT = int(os.environ.get("PASS_TIMEOUT", "120"))
GENEROUS_RATE = "10000/s:100000"
# Answers a request with a bad credential may get: refusals that come before or at
# authentication. A 404 only from the router (NOT_FOUND), not a resource's own 404.
REFUSED_STATUSES = {400, 401, 405, 413, 415, 429, 431}
CREDENTIAL_HEADER = "X-Fuzz-Credential"
HOOKS_ENV = "FUZZ_HOOKS_CONFIG"  # a JSON file: what install_hooks registers
# Answers of the HTTP server itself, which the spec allows on any request.
SERVER_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
                431: "HEADERS_TOO_LARGE", 503: "TOO_MANY_CONNECTIONS"}


# ---- inside schemathesis: this file loaded as its hooks module -------------------------


def install_hooks(path):
    import schemathesis

    with open(path) as f:
        config = json.load(f)

    @schemathesis.check
    def error_code_documented(ctx, response, case):
        code = error_code(response.content)
        if response.status_code < 400 or code is None or SERVER_CODES.get(response.status_code) == code:
            return None
        codes = documented_codes(case.operation, response.status_code)
        if codes is not None and code not in codes:
            raise AssertionError(f"error code {code} is not documented for {response.status_code} "
                                 f"(x-error-codes: {', '.join(codes)})")

    if "bad_credentials" in config:
        variants = config["bad_credentials"]  # {scheme: [[name, Authorization or null]]}
        turns = collections.Counter()

        def scheme_of(operation):
            for requirement in operation.definition.raw.get("security") or [{}]:
                for name in requirement:
                    return name
            return "queueToken"

        @schemathesis.auth(refresh_interval=None, retry_on=[])
        class BadCredentials:
            def get(self, case, context):  # None would mean: no credential to set
                pool = variants[scheme_of(context.operation)]
                label = context.operation.label
                turns[label] += 1
                return pool[(turns[label] - 1) % len(pool)]

            def set(self, case, data, context):
                name, value = data
                headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
                if value is not None:
                    headers["Authorization"] = value
                headers[CREDENTIAL_HEADER] = name
                case.headers = headers

        @schemathesis.check
        def credentials_refused(ctx, response, case):
            status = response.status_code
            if status in REFUSED_STATUSES or (status == 404 and error_code(response.content) == "NOT_FOUND"):
                return None
            name = (case.headers or {}).get(CREDENTIAL_HEADER, "as generated by schemathesis")
            raise AssertionError(f"{status} to a request with an invalid credential ({name}): "
                                 "it got past authentication")

    if "owner" in config:
        owner = config["owner"]  # {"user": id, "foreign": {"reservationId": [...], ...}}
        foreign = {k: set(v) for k, v in owner["foreign"].items()}

        @schemathesis.check
        def foreign_objects_hidden(ctx, response, case):
            if not 200 <= response.status_code < 300:
                return None
            try:
                body = json.loads(response.content)
            except ValueError:
                return None
            leaks = []

            def walk(node):
                if isinstance(node, dict):
                    for k, v in node.items():
                        if k == "userId" and v != owner["user"]:
                            leaks.append(f"userId {v}")
                        elif isinstance(v, int) and v in foreign.get(k, ()):
                            leaks.append(f"{k} {v}")
                        walk(v)
                elif isinstance(node, list):
                    for v in node:
                        walk(v)

            walk(body)
            if leaks:
                raise AssertionError(f"{response.status_code} to user {owner['user']} carries another "
                                     f"user's {', '.join(leaks)}")


def error_code(raw):
    try:
        return json.loads(raw)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def documented_codes(operation, status):
    """The x-error-codes of the operation's answer `status` (None: not listed)."""
    root = operation.schema.raw_schema

    def deref(node):
        while isinstance(node, dict) and "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    answer = deref(deref(operation.definition.raw.get("responses", {})).get(str(status)))
    media = deref((answer or {}).get("content", {}).get("application/json"))
    return media.get("x-error-codes") if isinstance(media, dict) else None


# ---- credentials ----------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip(text, at):
    """`text` with the character at `at` replaced by another of the base64url alphabet."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def forge_queue_token(key, user, issued_at):
    """A queue token in the services' format (see check_openapi.forged_token), signed with `key`."""
    token_id = uuid.UUID(int=random.Random(issued_at).getrandbits(128), version=4)
    head = f"v1.{token_id}.{user}.{issued_at}"
    return head + "." + b64url(hmac.new(key, head.encode(), hashlib.sha256).digest())


def bad_credentials(id_token, queue_token, other_user, secret):
    """{security scheme: [(variant, Authorization header or None)]}: none of them is valid there."""
    now = int(time.time())
    ver, token_id, user, issued, mac = queue_token.split(".")
    head, payload, signature = id_token.split(".")
    claims = json.loads(unb64url(payload))
    kid = json.loads(unb64url(head)).get("kid", "")
    hs_head = b64url_json({"alg": "HS256", "typ": "JWT", "kid": kid})
    hs_mac = hmac.new(secret.encode(), f"{hs_head}.{payload}".encode(), hashlib.sha256).digest()
    common = [
        ("no-header", None),
        ("empty-bearer", "Bearer "),
        ("garbage", "Bearer not-a-token"),
        ("basic-scheme", "Basic " + base64.b64encode(b"user:password").decode()),
        ("long-garbage", "Bearer " + "A" * 8000),
        ("queue-mac-altered", f"Bearer {ver}.{token_id}.{user}.{issued}.{flip(mac, len(mac) // 2)}"),
        ("queue-user-swapped", f"Bearer {ver}.{token_id}.{other_user}.{issued}.{mac}"),
        ("queue-issued-later", f"Bearer {ver}.{token_id}.{user}.{int(issued) + 3600}.{mac}"),
        ("queue-version-changed", f"Bearer v2.{token_id}.{user}.{issued}.{mac}"),
        ("queue-truncated", f"Bearer {queue_token[:-1]}"),
        ("queue-extended", f"Bearer {queue_token}A"),
        ("queue-wrong-secret", "Bearer " + forge_queue_token(b"not-the-secret-0123456789", user, now)),
        ("queue-expired", "Bearer " + forge_queue_token(secret.encode(), user, now - 40 * 86400)),
        ("jwt-alg-none", f"Bearer {b64url_json({'alg': 'none', 'typ': 'JWT'})}.{payload}."),
        ("jwt-hs256-token-secret", f"Bearer {hs_head}.{payload}.{b64url(hs_mac)}"),
        ("jwt-sub-changed", f"Bearer {head}.{b64url_json(dict(claims, sub=str(other_user)))}.{signature}"),
        ("jwt-signature-altered", f"Bearer {head}.{payload}.{flip(signature, len(signature) // 2)}"),
        ("jwt-unsigned-part", f"Bearer {head}.{payload}"),
    ]
    return {
        "idToken": common + [("queue-token-as-id-token", f"Bearer {queue_token}")],
        "queueToken": common + [("id-token-as-queue-token", f"Bearer {id_token}")],
    }


# ---- passes ---------------------------------------------------------------------------------

CONTRACT = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
            "missing_required_header", "unsupported_method", "allow_header_conformance",
            "error_code_documented"]


def toml_str(s):
    return json.dumps(s)  # a JSON string of ASCII is a TOML basic string


class Pass:
    def __init__(self, service, kind, checks, max_examples, operations, auth="", hooks=None):
        self.service, self.kind, self.label = service, kind, f"{service} {kind}"
        self.checks, self.max_examples, self.operations = checks, max_examples, operations
        self.auth = auth  # TOML [auth...] tables
        self.hooks = hooks or {}  # for install_hooks: the checks' data
        self.problems = []
        self.seconds = 0.0
        self.statuses = {}  # (METHOD, path) -> Counter of statuses

    def config(self):
        lines = [f"seed = {SEED}", "request-timeout = 10", f"hooks = {toml_str(os.path.abspath(__file__))}"]
        if self.kind == "invalid":
            lines.append("warnings = false  # it would say that authentication failed")
        lines += ["", "[generation]", f"max-examples = {self.max_examples}", 'database = "none"', "",
                  "[checks]", "enabled = false"]
        for check in self.checks:
            lines += [f"[checks.{check}]", "enabled = true"]
        return "\n".join(lines) + "\n" + self.auth

    def run(self, spec_path, schemathesis, base_url, out_dir):
        tag = self.label.replace(" ", "-")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        env[HOOKS_ENV] = os.path.join(out_dir, f"{tag}.hooks.json")
        with open(env[HOOKS_ENV], "w") as f:
            json.dump(self.hooks, f)
        cfg = os.path.join(out_dir, f"{tag}.toml")
        with open(cfg, "w") as f:
            f.write(self.config())
        har = os.path.join(out_dir, f"{tag}.har.json")
        cmd = [schemathesis, "--config-file", cfg, "--no-color", "run", spec_path, "--url", base_url,
               "--workers", "1", "--output-sanitize", "false", "--report", "har", "--report-har-path", har]
        for path in sorted({path for _, path in self.operations}):
            cmd += ["--include-path", path]
        print(f"\n===== {self.label}: {len(self.operations)} operations; checks {', '.join(self.checks)}",
              flush=True)
        started = time.time()
        try:
            res = subprocess.run(cmd, cwd=out_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=PASS_TIMEOUT)
            output, code = res.stdout, res.returncode
        except subprocess.TimeoutExpired as e:
            output = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            code = None
            self.problems.append(f"{self.label}: did not finish in {PASS_TIMEOUT}s")
        self.seconds = time.time() - started
        with open(os.path.join(out_dir, f"{tag}.log"), "w") as f:
            f.write(output)
        start = output.find("Loaded specification")  # the banner before it says nothing
        print(output[output.rfind("\n", 0, start) + 1:] if start >= 0 else output, flush=True)
        if code not in (0, None):
            self.problems.append(f"{self.label}: schemathesis found failures or errors "
                                 f"(exit status {code}; see above)")
        self.statuses = har_statuses(har, self.operations)


def har_statuses(har, operations):
    """{(METHOD, path): Counter(status)} of every exchange in a HAR file, by spec path."""
    patterns = [(m, path, re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$"))
                for m, path in operations]
    out = {op: collections.Counter() for op in operations}
    if not os.path.exists(har):
        return out
    try:
        with open(har) as f:
            entries = json.load(f)["log"]["entries"]
    except (ValueError, KeyError):  # cut short by a timeout
        return out
    for e in entries:
        method = e["request"]["method"]
        url_path = "/" + e["request"]["url"].split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        for m, path, rx in patterns:
            if m == method and rx.match(url_path):
                out[(m, path)][e["response"]["status"]] += 1
                break
    return out


# ---- the run --------------------------------------------------------------------------------


def check_alive(co, svc, after):
    """None if the process runs and its admin port answers GET /health/live with 200."""
    if svc.proc.poll() is not None:
        return f"{svc.name} exited (status {svc.proc.returncode}) during {after}:\n{svc.log_text()[-3000:]}"
    try:
        status, _, _ = co.request(svc.admin_port, "GET", "/health/live", timeout=5)
    except OSError as e:
        return f"{svc.name}: admin GET /health/live failed after {after}: {e}"
    return None if status == 200 else f"{svc.name}: admin GET /health/live answered {status} after {after}"


def rate_limit_settings(source_dir):
    """Every RATE_LIMIT_* setting the two services read, set generously."""
    names = set()
    for name in SERVICES:
        pattern = os.path.join(source_dir, "services", name, "src", "**", "*.cpp")
        for src in glob.glob(pattern, recursive=True):
            with open(src, errors="replace") as f:
                names |= set(re.findall(r'"(RATE_LIMIT_[A-Z0-9_]+)"', f.read()))
    return {n: GENEROUS_RATE for n in sorted(names)}


def delete_redis_keys(redis_url, prefixes):
    """The run's Redis keys go away (redis-cli from redis-tools). None, or what went wrong."""
    url = urllib.parse.urlsplit(redis_url)
    cmd = ["redis-cli", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 6379),
           "-n", url.path.strip("/") or "0"]
    if url.username:
        cmd += ["--user", urllib.parse.unquote(url.username)]
    env = dict(os.environ)  # the password not on a command line
    env.pop("REDISCLI_AUTH", None)
    if url.password:
        env["REDISCLI_AUTH"] = urllib.parse.unquote(url.password)
    try:
        for prefix in prefixes:
            scan = subprocess.run(cmd + ["--scan", "--pattern", prefix + "*"], env=env,
                                  capture_output=True, text=True, timeout=60)
            if scan.returncode != 0:
                return f"redis-cli --scan: {scan.stdout}{scan.stderr}".strip()
            keys = scan.stdout.split()
            for i in range(0, len(keys), 500):
                subprocess.run(cmd + ["unlink", *keys[i:i + 500]], env=env, capture_output=True, timeout=60)
            left = subprocess.run(cmd + ["--scan", "--pattern", prefix + "*"], env=env,
                                  capture_output=True, text=True, timeout=60).stdout.split()
            if left:
                return f"{len(left)} keys {prefix}* left"
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None


def sweep(co, spec, services, variants):
    """Every bad credential once to every operation: a documented 401 each time."""
    contract = co.Contract(spec, services)
    for svc, method, path in co.operations(spec):
        op = co.resolve(spec, spec["paths"][path][method.lower()])
        scheme = next(iter((op.get("security") or [{"queueToken": []}])[0]))
        for name, value in variants[scheme]:
            headers = {CREDENTIAL_HEADER: name}
            if value is not None:
                headers["Authorization"] = value
            before = len(contract.failures)
            contract.call(svc, method, path, 401, {"id": 1}, body=co.SAMPLE_BODIES.get((method, path)),
                          headers=headers)
            contract.failures[before:] = [f"[{name}] {f}" for f in contract.failures[before:]]
    print(f"\n===== sweep: {contract.checked} requests, each bad credential to each operation: "
          f"{'ok' if not contract.failures else 'FAILED'}")
    return [f"sweep: {f}" for f in contract.failures]


def setup_objects(co, R, P, tokens):
    """For each user: a paid hold and a payable one, and points. {user: {kind: [ids]}}."""
    def call(port, method, path, token, body=None):
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body), "application/json"
        status, _, raw = co.request(port, method, path, data, headers)
        if status >= 300:
            raise co.Failure(f"setup: {method} {path} answered {status} {raw[:300]!r}")
        return json.loads(raw)

    any_token = next(iter(tokens.values()))
    concert = call(R, "GET", "/v1/concerts", any_token)["concerts"][0]["id"]
    schedule = call(R, "GET", f"/v1/concerts/{concert}/schedules", any_token)["schedules"][0]["id"]
    seat = 50
    owned = {}
    for user, token in tokens.items():
        holds = []
        for _ in range(2):
            holds.append(call(R, "POST", "/v1/reservations", token, {"scheduleId": schedule, "seatNo": seat}))
            seat -= 1
        call(P, "POST", "/v1/points/charge", token, {"amount": 1_000_000})
        paid = call(P, "POST", "/v1/payments", token,
                    {"reservationId": holds[0]["reservationId"], "holdReceipt": holds[0]["holdReceipt"]})
        owned[user] = {"reservationId": [h["reservationId"] for h in holds], "paymentId": [paid["paymentId"]]}
    return owned


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    spec_path, build, schemathesis = (os.path.abspath(a) for a in sys.argv[1:4])
    source_dir = os.path.dirname(os.path.dirname(spec_path))
    sys.path.insert(0, os.path.join(source_dir, "tests", "openapi"))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import check_openapi as co
    import yaml

    if not os.access(schemathesis, os.X_OK):
        print(f"FAILED: {schemathesis} is missing: run scripts/deps.sh (it installs schemathesis)")
        return 1
    version = subprocess.run([schemathesis, "--version"], capture_output=True, text=True).stdout.strip()
    with open(spec_path) as f:
        spec = yaml.safe_load(f)

    run = f"fuzz_{int(time.time()) % 100000000}_{random.randint(0, 99999)}"
    out_dir = os.path.join(build, "tests", "security", "last")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    stack = {
        # Kafka's client security of the stack (the admin principal), if any, and
        # the topic namespace of `make test` (TOPIC_PREFIX).
        **{k: v for k, v in os.environ.items()
           if k in ("KAFKA_SECURITY_PROTOCOL", "TOPIC_PREFIX") or k.startswith(("KAFKA_SASL_", "KAFKA_SSL_"))},
        "KAFKA_BOOTSTRAP_SERVERS": os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"),
        "MYSQL_URL": os.environ.get("MYSQL_URL", "mysql://root@127.0.0.1:13306/"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0"),
        "TOKEN_SECRET": co.SECRET,
        "ID_TOKEN_ISSUER": os.environ.get("ID_TOKEN_ISSUER", co.IDP_URL),
        "ID_TOKEN_AUDIENCE": os.environ.get("ID_TOKEN_AUDIENCE", "ticketing"),
        "ID_TOKEN_JWKS": os.environ.get("ID_TOKEN_JWKS", co.IDP_URL + "/.well-known/jwks.json"),
        # A new group starts at the log end: the topics' history belongs to other runs.
        "KAFKA_AUTO_OFFSET_RESET": "latest",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **rate_limit_settings(source_dir),
    }
    res_env = dict(stack, MYSQL_DATABASE=f"{run}_res", REDIS_PREFIX=f"{run}:",
                   KAFKA_CONSUMER_GROUP=f"{run}_res", QUEUE_MAX_ACTIVE="100000", MAX_HOLDS_PER_USER="50",
                   IGNORE_UNKNOWN_RESERVATIONS="true")
    # payment-api has no Redis today; the prefix keeps it in the run's keys if it gets one.
    pay_env = dict(stack, MYSQL_DATABASE=f"{run}_pay", REDIS_PREFIX=f"{run}-pay:",
                   KAFKA_CONSUMER_GROUP=f"{run}_pay", TRUSTED_EVENT_PRODUCERS="reservation-api")
    limits = [k for k in stack if k.startswith("RATE_LIMIT_")]
    print(f"{version}; seed {SEED}; max examples {MAX_EXAMPLES}; run {run}")
    print(f"rate limits: {', '.join(limits)} = {GENEROUS_RATE}" if limits else "rate limits: none found")

    started_at = time.time()
    services, passes, problems = {}, [], []
    try:
        seed = subprocess.run([os.path.join(build, "services/reservation-api/reservation-api"), "seed"],
                              env=res_env, capture_output=True, text=True, timeout=120)
        if seed.returncode != 0:
            raise co.Failure(f"reservation-api seed failed: {seed.stdout}{seed.stderr}")
        for name, env in (("reservation-api", res_env), ("payment-api", pay_env)):
            services[name] = co.Service(build, name, f"{run}-{name}", env, out_dir)
        for svc in services.values():
            svc.wait()
        R, P = (services[n].http_port for n in SERVICES)

        # res fuzzes reservation-api, pay fuzzes payment-api, other owns objects nobody else may see.
        base = random.randint(10**9, 2 * 10**9)
        users = {name: base + i for i, name in enumerate(("res", "pay", "other"))}
        ids = {name: co.id_token(u) for name, u in users.items()}
        queue = {}
        for name in users:
            status, _, raw = co.request(R, "POST", "/v1/queue/tokens",
                                        headers={"Authorization": f"Bearer {ids[name]}"})
            if status != 201:
                raise co.Failure(f"setup: POST /v1/queue/tokens answered {status} {raw[:300]!r}")
            queue[name] = json.loads(raw)["token"]
        owned = setup_objects(co, R, P, {"other": queue["other"], "pay": queue["pay"]})
        print(f"setup: users {users}; objects {owned}")

        def ops(service):
            return [(m, p) for s, m, p in co.operations(spec) if s == service]

        def bearer(user):
            return "".join(f"\n[auth.openapi.{scheme}]\nbearer = {toml_str(token)}\n"
                           for scheme, token in (("idToken", ids[user]), ("queueToken", queue[user])))

        def foreign_to(user):
            out = collections.defaultdict(list)
            for owner, objects in owned.items():
                if owner != user:
                    for kind, values in objects.items():
                        out[kind] += values
            return {"owner": {"user": users[user], "foreign": dict(out)}}

        variants = bad_credentials(ids["res"], queue["res"], users["other"], co.SECRET)
        valid_checks = CONTRACT + ["ignored_auth", "ensure_resource_availability", "foreign_objects_hidden"]
        for service, user in (("reservation-api", "res"), ("payment-api", "pay")):
            passes += [
                Pass(service, "valid", valid_checks, MAX_EXAMPLES, ops(service), auth=bearer(user),
                     hooks=foreign_to(user)),
                Pass(service, "invalid", CONTRACT + ["credentials_refused"], max(1, MAX_EXAMPLES // 2),
                     ops(service), hooks={"bad_credentials": variants}),
            ]
        for p in passes:
            p.run(spec_path, schemathesis, f"http://127.0.0.1:{services[p.service].http_port}", out_dir)
            if p.kind == "valid":
                for (m, path), counts in p.statuses.items():
                    if set(counts) <= {401}:
                        p.problems.append(f"{p.label}: {m} {path} never got past authentication "
                                          f"({dict(counts)}): the valid credentials did not work")
            p.problems += filter(None, (check_alive(co, s, p.label) for s in services.values()))
            problems += p.problems
            if any(s.proc.poll() is not None for s in services.values()):
                break
        else:
            problems += sweep(co, spec, services, variants)
            problems += filter(None, (check_alive(co, s, "the sweep") for s in services.values()))
    except co.Failure as e:
        problems.append(str(e))
    finally:
        for svc in services.values():
            svc.stop()
        co.drop_databases(stack["MYSQL_URL"], [res_env["MYSQL_DATABASE"], pay_env["MYSQL_DATABASE"]])
        left = delete_redis_keys(stack["REDIS_URL"], [res_env["REDIS_PREFIX"], pay_env["REDIS_PREFIX"]])
        if left:
            problems.append(f"cleanup: the run's Redis keys could not be deleted: {left}")

    print("\n===== summary: answers by status, from each pass's HAR")
    for p in passes:
        total = sum(sum(c.values()) for c in p.statuses.values())
        print(f"{p.label}: {p.seconds:.1f}s, {total} requests, {'FAILED' if p.problems else 'ok'}")
        for (m, path), counts in p.statuses.items():
            print(f"    {m:6} {path:30} " + " ".join(f"{s}:{n}" for s, n in sorted(counts.items())))
    print(f"total {time.time() - started_at:.1f}s; reports in {out_dir}")
    if problems:
        print(f"FAILED: {len(problems)} problem(s):")
        for problem in problems:
            print("  " + problem)
        return 1
    print("OK: no 5xx, no answer outside the spec, no other user's object, bad credentials refused, "
          "both services alive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
elif os.environ.get(HOOKS_ENV):
    install_hooks(os.environ[HOOKS_ENV])
