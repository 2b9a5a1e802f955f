#!/usr/bin/env python3
"""One ticket buyer through the whole system, over the public HTTP APIs only.

queue token -> concerts, dates, seats -> hold -> charge points -> pay
-> reservation CONFIRMED (reservation-api consumed payment.completed)
-> the data platform received it (dataplatform-relay)
-> the user was notified (notification-worker, log channel)

Exits non-zero, naming the step, when one does not happen in time.
Settings come from the environment printed by `scripts/stack.sh status`.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

RES = os.environ["RESERVATION_API_URL"]
PAY = os.environ["PAYMENT_API_URL"]
PLATFORM_CONTROL = os.environ.get("FAKE_DATAPLATFORM_CONTROL_URL", "")
NOTIFY_LOG = os.environ.get("NOTIFICATION_LOG", "")


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def step(name, ok, detail=""):
    print(f"demo:   {'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}", flush=True)
    if not ok:
        sys.exit(1)


def wait_for(check, limit_s):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    return check()


user = int(time.time() * 1000) % 1_000_000_000 + 1
status, tok = call("POST", f"{RES}/v1/queue/tokens", {"userId": user})
step("queue token", status in (200, 201) and tok.get("status") == "ACTIVE", f"user {user}, {tok.get('status')}")
token = tok["token"]

_, concerts = call("GET", f"{RES}/v1/concerts", token=token)
concert = concerts["concerts"][0]
_, schedules = call("GET", f"{RES}/v1/concerts/{concert['id']}/schedules", token=token)
schedule = schedules["schedules"][0]
_, seats = call("GET", f"{RES}/v1/schedules/{schedule['id']}/seats", token=token)
free = [s for s in seats["seats"] if s["status"] == "AVAILABLE"]
step("catalogue", bool(free), f"{concert['title']}, {schedule['startsAt']}, {len(free)} seats free")

hold = None
for seat in free[:10]:  # another buyer may take a seat first: try the next
    status, body = call("POST", f"{RES}/v1/reservations",
                        {"scheduleId": schedule["id"], "seatNo": seat["seatNo"]}, token)
    if status == 201:
        hold = body
        break
step("hold", hold is not None, hold and f"reservation {hold['reservationId']}, seat {hold['seatNo']}, "
     f"{hold['price']} points, until {hold['expiresAt']}")

status, wallet = call("POST", f"{PAY}/v1/points/charge", {"amount": hold["price"]}, token)
step("charge", status == 200, f"balance {wallet.get('balance')}")

started = time.time()
status, payment = call("POST", f"{PAY}/v1/payments", {"reservationId": hold["reservationId"]}, token)
step("payment", status == 201, f"payment {payment.get('paymentId')}, {payment.get('status')}")

def confirmed():
    s, r = call("GET", f"{RES}/v1/reservations/{hold['reservationId']}", token=token)
    return r if s == 200 and r.get("status") == "CONFIRMED" else None

r = wait_for(confirmed, 30)
step("confirmed", r is not None, f"{time.time() - started:.2f} s after payment")

if PLATFORM_CONTROL:
    def delivered():
        _, got = call("GET", f"{PLATFORM_CONTROL}/_control/requests?path=/reservations")
        key = f"reservation-{hold['reservationId']}"
        return [q for q in got["requests"] if q["idempotencyKey"] == key and 200 <= q["status"] < 300]
    d = wait_for(delivered, 30)
    step("data platform", bool(d), f"{len(d)} delivery, {time.time() - started:.2f} s after payment")

if NOTIFY_LOG:
    def notified():
        with open(NOTIFY_LOG, encoding="utf-8") as f:
            lines = [l for l in f if '"msg":"notification"' in l and f'"userId":"{user}"' in l]
        types = {json.loads(l).get("eventType") for l in lines}
        need = {"notifications.payment-completed", "notifications.reservation-completed"}
        return types if need <= types else None
    n = wait_for(notified, 30)
    step("notifications", n is not None, ", ".join(sorted(n or [])))

# The payment ended the buyer's queue place: a second visitor looks at the seat map.
_, other = call("POST", f"{RES}/v1/queue/tokens", {"userId": user + 1})
status, after = call("GET", f"{RES}/v1/schedules/{schedule['id']}/seats", token=other["token"])
step("seat map", status == 200, f"HTTP {status}")
sold = [s for s in after["seats"] if s["seatNo"] == hold["seatNo"]][0]
step("seat sold", sold["status"] == "RESERVED", f"seat {hold['seatNo']} is {sold['status']}")
