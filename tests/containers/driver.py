#!/usr/bin/env python3
"""The containerised system, driven through its published ports only.

Environment (set by run.sh): RESERVATION_API_URL, PAYMENT_API_URL,
FAKE_PEER_CONTROL_URL, COMPOSE_PROJECT_NAME. Docker is used only to look at
Kafka (consumer groups, DLQ end offsets) and to kill one relay replica.

1. one buyer: queue token -> hold -> charge -> pay; the data platform fake got
   the reservation exactly once, the webhook fake each notification once;
2. both replicas of notification-worker and dataplatform-relay own partitions;
3. 200 payments, one relay replica killed (SIGKILL) half-way: every
   confirmation reaches the data platform exactly once in effect, DLQs empty.
Exits 1 naming the first check that failed.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

RES = os.environ["RESERVATION_API_URL"]
PAY = os.environ["PAYMENT_API_URL"]
PEER = os.environ["FAKE_PEER_CONTROL_URL"]
IDP = os.environ["IDP_URL"]
PROJECT = os.environ["COMPOSE_PROJECT_NAME"]
BURST = int(os.environ.get("CONTAINERS_TEST_PAYMENTS", "200"))
BOOTSTRAP = "kafka-1:9092,kafka-2:9092,kafka-3:9092"


def say(msg):
    print(f"containers-test: {msg}", flush=True)


def check(name, ok, detail="", quiet=False):
    if not ok or not quiet:
        say(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}")
    if not ok:
        sys.exit(1)


def call(method, url, body=None, token=None, key=None, timeout=15):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"{}")
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}


def wait_for(probe, limit_s, every=0.5):
    deadline = time.time() + limit_s
    while True:
        got = probe()
        if got or time.time() > deadline:
            return got
        time.sleep(every)


def containers(service):
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
                          "--filter", f"label=com.docker.compose.service={service}"],
                         check=True, capture_output=True, text=True).stdout.split()
    return out


# Kafka's own tools in the kafka-1 container, as the admin principal (every
# listener wants a client certificate): the image writes their settings from
# the admin certificate mounted into the node.
ADMIN_CONFIG = "/opt/kafka/config/admin.properties"


def kafka_tool(tool, *args):
    kafka = containers("kafka-1")[0]
    r = subprocess.run(["docker", "exec", kafka, tool, "--command-config", ADMIN_CONFIG, *args],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def container_ips(ids):
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", *ids],
                         check=True, capture_output=True, text=True).stdout
    return {ip for ip in out.split()}


def group_owners(group):
    """partition -> client host (container address) of the group's members."""
    rc, out, err = kafka_tool("/opt/kafka/bin/kafka-consumer-groups.sh", "--bootstrap-server", BOOTSTRAP,
                              "--describe", "--group", group)
    owners = {}
    if rc != 0:
        return owners
    for line in out.splitlines():
        cols = line.split()
        # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        if len(cols) >= 9 and cols[0] == group and cols[2].isdigit() and cols[6] != "-":
            owners[f"{cols[1]}-{cols[2]}"] = cols[7].lstrip("/")
    return owners


def requests_at(path):
    s, got = call("GET", f"{PEER}/_control/requests?path={path}")
    assert s == 200, f"fake-peer control answered {s}"
    return got["requests"]


def id_token(user_id):
    """An ID token from the compose project's development identity provider."""
    s, got = call("POST", f"{IDP}/v1/id-tokens", {"userId": user_id})
    assert s == 200, f"dev-idp answered {s}: {got}"
    return got["idToken"]


def new_user(user_id):
    s, tok = wait_for(lambda: (lambda r: r if r[0] in (200, 201) and r[1].get("status") == "ACTIVE" else None)(
        call("POST", f"{RES}/v1/queue/tokens", token=id_token(user_id))), 30) or (0, {})
    return tok.get("token")


def free_seats(token):
    """(scheduleId, seatNo, price) of every AVAILABLE seat."""
    out = []
    _, concerts = call("GET", f"{RES}/v1/concerts", token=token)
    for c in concerts.get("concerts", []):
        _, sch = call("GET", f"{RES}/v1/concerts/{c['id']}/schedules", token=token)
        for s in sch.get("schedules", []):
            _, seats = call("GET", f"{RES}/v1/schedules/{s['id']}/seats", token=token)
            out += [(s["id"], x["seatNo"], x["price"]) for x in seats.get("seats", []) if x["status"] == "AVAILABLE"]
    return out


# --- 1. one buyer --------------------------------------------------------------
base_user = int(time.time()) % 100_000_000 * 10
user = base_user + 1
token = new_user(user)
check("queue token", token is not None, f"user {user}")
seats = free_seats(token)
check("catalogue", len(seats) >= BURST + 1, f"{len(seats)} seats free")
hold = None
for sch, seat, _ in seats[:5]:
    s, body = call("POST", f"{RES}/v1/reservations", {"scheduleId": sch, "seatNo": seat}, token)
    if s == 201:
        hold = body
        break
check("hold", hold is not None, hold and f"reservation {hold['reservationId']}")
used = {(hold["scheduleId"], hold["seatNo"])}
s, wallet = call("POST", f"{PAY}/v1/points/charge", {"amount": hold["price"]}, token, key=f"charge-{user}")
check("charge", s == 200, f"balance {wallet.get('balance')}")
s, payment = call("POST", f"{PAY}/v1/payments",
                  {"reservationId": hold["reservationId"], "holdReceipt": hold["holdReceipt"]}, token,
                  key=f"pay-{user}")
check("pay", s == 201 and payment.get("status") == "COMPLETED", f"HTTP {s} {payment}")


def confirmed(rid, tok):
    s, r = call("GET", f"{RES}/v1/reservations/{rid}", token=tok)
    return s == 200 and r.get("status") == "CONFIRMED"


check("confirmed", wait_for(lambda: confirmed(hold["reservationId"], token), 60))
key = f"reservation-{hold['reservationId']}"
got = wait_for(lambda: [q for q in requests_at("/reservations") if q["idempotencyKey"] == key], 60)
time.sleep(3)  # a second delivery, if any, would arrive now
got = [q for q in requests_at("/reservations") if q["idempotencyKey"] == key]
check("data platform received the reservation once", len(got) == 1 and 200 <= got[0]["status"] < 300,
      f"{len(got)} request(s)")


def notifications_for(uid):
    out = {}
    for q in requests_at("/webhook"):
        try:
            b = json.loads(q["body"])
        except ValueError:
            continue
        if b.get("userId") == uid:
            out.setdefault(b.get("eventType"), []).append(q)
    return out


want = {"notifications.reservation-completed", "notifications.payment-completed", "notifications.reservation-confirmed"}
wait_for(lambda: want <= set(notifications_for(user)), 60)
time.sleep(2)
n = notifications_for(user)
check("webhook received each notification once", set(n) == want and all(len(v) == 1 for v in n.values()),
      ", ".join(f"{k}: {len(v)}" for k, v in sorted(n.items())))

# --- 2. consumer-group scaling ---------------------------------------------------
for service, group in (("notification-worker", "notification-worker"), ("dataplatform-relay", "dataplatform-relay")):
    ids = containers(service)
    ips = container_ips(ids)

    def spread():
        owners = group_owners(group)
        hosts = set(owners.values())
        return owners if len(ids) == 2 and hosts == ips else None

    owners = wait_for(spread, 90, every=2) or group_owners(group)
    per_host = {}
    for part, host in owners.items():
        per_host[host] = per_host.get(host, 0) + 1
    check(f"{service}: both replicas own partitions", len(ids) == 2 and set(per_host) == ips,
          f"{len(ids)} replicas, partitions per member {sorted(per_host.values())}")

# --- 3. burst of payments, one relay replica killed half-way -----------------------
say(f"preparing {BURST} holds")
users = []  # (user id, token)
holds = []  # (reservation id, token, price)
free = [x for x in seats if (x[0], x[1]) not in used]
per_user = 4  # MAX_HOLDS_PER_USER
i = 0
while len(holds) < BURST:
    uid = base_user + 2 + len(users)
    tok = new_user(uid)
    check("queue token for a burst buyer", tok is not None, str(uid), quiet=True)
    users.append((uid, tok))
    total = 0
    mine = 0
    while mine < per_user and len(holds) < BURST and i < len(free):
        sch, seat, price = free[i]
        i += 1
        s, body = call("POST", f"{RES}/v1/reservations", {"scheduleId": sch, "seatNo": seat}, tok)
        check("hold for the burst", s == 201, f"HTTP {s} {body}", quiet=True)
        holds.append((body["reservationId"], tok, body["price"], body["holdReceipt"]))
        total += body["price"]
        mine += 1
    s, _ = call("POST", f"{PAY}/v1/points/charge", {"amount": total}, tok, key=f"charge-{uid}")
    check("charge for the burst", s == 200, f"HTTP {s}", quiet=True)
say(f"{len(holds)} holds by {len(users)} buyers; paying them, killing one relay replica half-way")

done = 0
done_lock = threading.Lock()
half = threading.Event()


def pay(h):
    global done
    rid, tok, _, receipt = h
    s, body = call("POST", f"{PAY}/v1/payments", {"reservationId": rid, "holdReceipt": receipt}, tok,
                   key=f"pay-{rid}", timeout=30)
    with done_lock:
        done += 1
        if done >= len(holds) // 2:
            half.set()
    return rid, s, body


victim = containers("dataplatform-relay")[0]
started = time.time()
# Few clients, so that the burst lasts a few seconds and the relay is busy
# delivering when its replica dies.
with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    futures = [pool.submit(pay, h) for h in holds]
    half.wait(120)
    at = done
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
    say(f"killed dataplatform-relay replica {victim[:12]} (SIGKILL) after {at} payments")
    results = [f.result() for f in futures]
bad = [(rid, s, b) for rid, s, b in results if s != 201]
check(f"{len(holds)} payments", not bad, f"{time.time() - started:.1f} s; failures {bad[:3]}")

all_ids = {rid for rid, _, _, _ in holds}
tokens = {rid: tok for rid, tok, _, _ in holds}


def delivered():
    per_key = {}
    for q in requests_at("/reservations"):
        if 200 <= q["status"] < 300 and not q["duplicate"]:
            per_key[q["idempotencyKey"]] = per_key.get(q["idempotencyKey"], 0) + 1
    return per_key


def all_delivered():
    per_key = delivered()
    return per_key if all(f"reservation-{rid}" in per_key for rid in all_ids) else None


per_key = wait_for(all_delivered, 180, every=1) or delivered()
missing = [rid for rid in all_ids if f"reservation-{rid}" not in per_key]
check("every confirmation reached the data platform", not missing,
      f"{len(all_ids) - len(missing)}/{len(all_ids)} in {time.time() - started:.1f} s")
time.sleep(5)  # late redeliveries after the rebalance, if any, would land now
per_key = delivered()
twice = {k: v for k, v in per_key.items() if v != 1}
stats = call("GET", f"{PEER}/_control/stats")[1]
check("exactly once in effect (one accepted delivery per reservation)", not twice and len(per_key) == len(all_ids) + 1,
      f"{len(per_key)} keys accepted; fake-peer stats {stats}")
not_confirmed = [rid for rid in all_ids if not confirmed(rid, tokens[rid])]
check("every burst reservation CONFIRMED", not not_confirmed, f"{len(not_confirmed)} not confirmed")

rc, out, err = kafka_tool("/opt/kafka/bin/kafka-get-offsets.sh", "--bootstrap-server", BOOTSTRAP,
                          "--topic", r".*\.dlq", "--time", "-1")
dlq = {}
for line in out.splitlines():
    parts = line.strip().split(":")
    if len(parts) == 3 and parts[2].isdigit():
        dlq[f"{parts[0]}-{parts[1]}"] = int(parts[2])
check("nothing in a DLQ", rc == 0 and len(dlq) >= 8 * 3 and sum(dlq.values()) == 0,
      f"{len(dlq)} DLQ partitions, {sum(dlq.values())} records{('; ' + err.strip()[-300:]) if rc else ''}")
say("all checks passed")
