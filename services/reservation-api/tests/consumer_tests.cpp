// The consumers of payment.completed and seats.expired, fed through Kafka.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <thread>

#include "store/reservation_store.hpp"
#include "support.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/db/pool.hpp"
#include "ticketing/events/schema.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;

namespace {

std::string hold_body(std::int64_t schedule, int seat) {
  return R"({"scheduleId":)" + std::to_string(schedule) + R"(,"seatNo":)" + std::to_string(seat) +
         "}";
}

std::int64_t hold(rt::Service& svc, const std::string& token, std::int64_t schedule, int seat,
                  const std::string& trace = {}) {
  auto r = svc.call("POST", "/v1/reservations", hold_body(schedule, seat), token,
                    trace.empty() ? "" : rt::traceparent(trace));
  if (r.status != 201) throw std::runtime_error("hold: " + r.body);
  return rt::json(r.body)["reservationId"].GetInt64();
}

std::string status_of(rt::Service& svc, std::int64_t id) {
  auto row = svc.db().query_one("SELECT status FROM reservations WHERE id = ?", {id});
  return row ? row->str("status") : "";
}

bool wait_until(const std::function<bool()>& cond, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return cond();
}

// Moves a hold's expiry `ago` into the past (default: beyond the release
// grace, as if its five minutes and the grace had passed).
void age_hold(rt::Service& svc, std::int64_t id, std::chrono::seconds ago = 3600s) {
  svc.db().exec("UPDATE reservations SET expires_at = NOW(3) - INTERVAL ? SECOND WHERE id = ?",
                {static_cast<std::int64_t>(ago.count()), id});
  svc.db().exec(
      "UPDATE seats s JOIN reservations r ON r.schedule_id = s.schedule_id AND r.seat_no = "
      "s.seat_no"
      " SET s.hold_expires_at = r.expires_at WHERE r.id = ?",
      {id});
}

std::int64_t price_of(rt::Service& svc, std::int64_t reservation) {
  auto row = svc.db().query_one("SELECT price FROM reservations WHERE id = ?", {reservation});
  return row ? row->i64("price") : 1;
}

// A payment of the reservation's price unless `amount` is given.
std::string payment_json(rt::Service& svc, std::int64_t payment, std::int64_t reservation,
                         std::int64_t user, const std::string& paid_at = ticketing::now_rfc3339(),
                         std::optional<std::int64_t> amount = std::nullopt) {
  if (!amount) amount = price_of(svc, reservation);
  return R"({"paymentId":)" + std::to_string(payment) + R"(,"reservationId":)" +
         std::to_string(reservation) + R"(,"userId":)" + std::to_string(user) + R"(,"amount":)" +
         std::to_string(*amount) + R"(,"paidAt":")" + paid_at + "\"}";
}

// The hold's expiresAt as stored, minus `before`, in RFC 3339.
std::string before_expiry(rt::Service& svc, std::int64_t id, std::chrono::milliseconds before) {
  auto row = svc.db().query_one(
      "SELECT DATE_FORMAT(expires_at - INTERVAL ? MICROSECOND, '%Y-%m-%dT%H:%i:%s.%fZ') AS t"
      " FROM reservations WHERE id = ?",
      {static_cast<std::int64_t>(before.count()) * 1000, id});
  auto t = row->str("t");
  return t.substr(0, 23) + "Z";  // microseconds to milliseconds
}

void check_valid(const std::vector<std::string>& records, const std::string& type) {
  for (const auto& r : records)
    CHECK_NOTHROW(ticketing::events::SchemaRegistry::builtin().validate(type, r));
}

}  // namespace

TEST_CASE("payment.completed: one confirmation however often delivered; late payment fails") {
  rt::Service svc("consumers");
  auto user = rt::unique_user();
  auto token = svc.token(user);
  auto id = hold(svc, token, 7, 21);
  auto payment = svc.id_base() + 77;
  auto trace = rt::new_trace();
  auto event_id = ticketing::new_uuid();

  // The same event twice, then the same payment under a new event id.
  rt::publish("payment.completed", payment_json(svc, payment, id, user), std::to_string(id), trace,
              event_id);
  rt::publish("payment.completed", payment_json(svc, payment, id, user), std::to_string(id), trace,
              event_id);
  auto second_id = ticketing::new_uuid();
  rt::publish("payment.completed", payment_json(svc, payment, id, user), std::to_string(id), trace,
              second_id);
  REQUIRE(wait_until([&] { return status_of(svc, id) == "CONFIRMED"; }, 60s));
  REQUIRE(wait_until(
      [&] {
        return svc.db()
                   .query_one("SELECT COUNT(*) AS n FROM processed_events WHERE event_id IN (?, ?)",
                              {event_id, second_id})
                   ->i64("n") == 2;
      },
      30s));

  auto confirmed = rt::collect({"reservation.confirmed"}, trace, 1, 30s, 3s);
  CHECK(confirmed.size() == 1);
  check_valid(confirmed, "reservation.confirmed");
  auto notes = rt::collect({"notifications.reservation-confirmed"}, trace, 1, 30s, 1s);
  CHECK(notes.size() == 1);
  check_valid(notes, "notifications.reservation-confirmed");
  auto failed = rt::collect({"reservation.confirmation-failed"}, trace, 1, 5s);
  CHECK(failed.empty());
  if (!confirmed.empty()) {
    auto d = rt::json(confirmed[0]);
    CHECK(d["data"]["paymentId"].GetInt64() == payment);
    CHECK(d["data"]["seatNo"].GetInt() == 21);
    CHECK(std::string(d["data"]["concertTitle"].GetString()).size() > 0);
  }
  CHECK(svc.db()
            .query_one("SELECT status FROM seats WHERE schedule_id = 7 AND seat_no = 21")
            ->str("status") == "RESERVED");
  CHECK(svc.db()
            .query_one("SELECT payment_id FROM reservations WHERE id = ?", {id})
            ->i64("payment_id") == payment);
  // The queue token ended with the payment; the reservation stays visible and cannot be released.
  CHECK(svc.call("GET", "/v1/queue/status", "", token).status == 401);
  auto view = svc.call("GET", "/v1/reservations/" + std::to_string(id), "", token);
  CHECK(view.status == 200);
  CHECK(std::string(rt::json(view.body)["status"].GetString()) == "CONFIRMED");
  CHECK(svc.call("DELETE", "/v1/reservations/" + std::to_string(id), "", token).status == 409);

  // A payment for a hold that has run out: confirmation-failed, nothing confirmed.
  auto late_user = rt::unique_user();
  auto late_token = svc.token(late_user);
  auto late = hold(svc, late_token, 7, 22);
  age_hold(svc, late);
  auto late_trace = rt::new_trace();
  rt::publish("payment.completed", payment_json(svc, payment + 1, late, late_user),
              std::to_string(late), late_trace);
  auto late_failed = rt::collect({"reservation.confirmation-failed"}, late_trace, 1, 60s, 2s);
  REQUIRE(late_failed.size() == 1);
  check_valid(late_failed, "reservation.confirmation-failed");
  auto f = rt::json(late_failed[0]);
  CHECK(std::string(f["data"]["reason"].GetString()) == "HOLD_EXPIRED");
  CHECK(f["data"]["amount"].GetInt64() == price_of(svc, late));
  CHECK(f["data"]["paymentId"].GetInt64() == payment + 1);
  CHECK(status_of(svc, late) == "HELD");  // stored as is; seats.expired ends it
  CHECK(svc.db()
            .query_one("SELECT status FROM seats WHERE schedule_id = 7 AND seat_no = 22")
            ->str("status") == "HELD");
  CHECK(rt::collect({"reservation.confirmed"}, late_trace, 1, 3s).empty());
}

TEST_CASE("confirm_all: a batch of payments decided as one by one, in one transaction") {
  namespace r = ticketing::reservation;
  rt::Service svc("batch");
  // Confirmed: ok1, ok2 (another show). Failed: late (HOLD_EXPIRED), cheap
  // (PAYMENT_MISMATCH), unknown (NOT_FOUND).
  auto u = rt::unique_user();
  auto ok1 = hold(svc, svc.token(u), 7, 41);
  auto ok2 = hold(svc, svc.token(u + 1), 8, 42);
  auto late = hold(svc, svc.token(u + 2), 7, 43);
  age_hold(svc, late);
  auto cheap = hold(svc, svc.token(u + 3), 8, 44);
  const std::int64_t unknown = svc.id_base() + 999'999;
  const auto pay = svc.id_base() + 500;
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  auto payment = [&](std::int64_t n, std::int64_t id, std::int64_t user, std::int64_t amount) {
    return r::PaymentCompleted{ticketing::new_uuid(), pay + n, id, user, amount, now};
  };
  std::vector<r::PaymentCompleted> batch{
      payment(1, ok1, u, price_of(svc, ok1)), payment(2, late, u + 2, price_of(svc, late)),
      payment(3, ok2, u + 1, price_of(svc, ok2)),
      payment(4, cheap, u + 3, price_of(svc, cheap) - 1), payment(5, unknown, u + 4, 100)};
  std::vector<std::string> traces;
  for (std::size_t i = 0; i < batch.size(); ++i) traces.push_back(rt::new_trace());

  // The store the service's consumer uses, on the service's database; the
  // service relays what it appends to the outbox.
  auto opts = ticketing::db::parse_url(ticketing::testing::mysql_url());
  opts.database = svc.database();
  ticketing::db::Pool pool(opts, 2);
  r::ReservationStore store(pool, {}, "batch-test");
  auto processed = [&](const std::vector<r::PaymentCompleted>& ps) {
    std::int64_t n = 0;
    for (const auto& p : ps) {
      n += svc.db()
               .query_one("SELECT COUNT(*) AS n FROM processed_events WHERE event_id = ?",
                          {p.event_id})
               ->i64("n");
    }
    return n;
  };

  // One reservation twice cannot share a transaction: declined, nothing written.
  auto twice = batch;
  twice.push_back(payment(6, ok1, u, price_of(svc, ok1)));
  auto twice_traces = traces;
  twice_traces.push_back(rt::new_trace());
  CHECK_FALSE(store.confirm_all(twice, twice_traces).has_value());
  CHECK(processed(twice) == 0);
  CHECK(status_of(svc, ok1) == "HELD");

  auto outcomes = store.confirm_all(batch, traces);
  REQUIRE(outcomes.has_value());
  CHECK(*outcomes == std::vector<r::ConfirmOutcome>{
                         r::ConfirmOutcome::kConfirmed, r::ConfirmOutcome::kHoldExpired,
                         r::ConfirmOutcome::kConfirmed, r::ConfirmOutcome::kPaymentMismatch,
                         r::ConfirmOutcome::kNotFound});
  CHECK(processed(batch) == 5);
  CHECK(status_of(svc, ok1) == "CONFIRMED");
  CHECK(status_of(svc, ok2) == "CONFIRMED");
  CHECK(status_of(svc, late) == "HELD");
  CHECK(status_of(svc, cheap) == "HELD");
  CHECK(svc.db()
            .query_one("SELECT payment_id FROM reservations WHERE id = ?", {ok2})
            ->i64("payment_id") == pay + 3);
  CHECK(svc.db()
            .query_one("SELECT COUNT(*) AS n FROM seats WHERE status = 'RESERVED' AND "
                       "((schedule_id = 7 AND seat_no = 41) OR (schedule_id = 8 AND seat_no = 42))")
            ->i64("n") == 2);
  CHECK(svc.db()
            .query_one("SELECT status FROM seats WHERE schedule_id = 8 AND seat_no = 44")
            ->str("status") == "HELD");

  // Each payment's events, under its own trace.
  auto confirmed = rt::collect({"reservation.confirmed"}, traces[2], 1, 30s, 1s);
  REQUIRE(confirmed.size() == 1);
  check_valid(confirmed, "reservation.confirmed");
  CHECK(rt::json(confirmed[0])["data"]["paymentId"].GetInt64() == pay + 3);
  CHECK(rt::collect({"notifications.reservation-confirmed"}, traces[0], 1, 30s).size() == 1);
  for (std::size_t i : {1, 3, 4}) {
    auto failed = rt::collect({"reservation.confirmation-failed"}, traces[i], 1, 30s);
    REQUIRE(failed.size() == 1);
    check_valid(failed, "reservation.confirmation-failed");
  }
  CHECK(std::string(rt::json(rt::collect({"reservation.confirmation-failed"}, traces[3], 1,
                                         30s)[0])["data"]["reason"]
                        .GetString()) == "PAYMENT_MISMATCH");

  // Delivered again: declined as a batch (already handled), then one by one
  // each is already handled and nothing changes.
  CHECK_FALSE(store.confirm_all(batch, traces).has_value());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    CHECK(store.confirm(batch[i], traces[i]) == r::ConfirmOutcome::kAlreadyHandled);
  }
  CHECK(rt::collect({"reservation.confirmed"}, traces[0], 2, 5s).size() == 1);
}

TEST_CASE("seats.expired: restores expired holds only, twice changes nothing") {
  rt::Service svc("consumers");
  auto u1 = rt::unique_user();
  auto u2 = u1 + 1;
  auto u3 = u1 + 2;
  auto r1 = hold(svc, svc.token(u1), 8, 1);
  auto r2 = hold(svc, svc.token(u2), 8, 2);
  auto r3 = hold(svc, svc.token(u3), 8, 3);  // still live
  age_hold(svc, r1);
  age_hold(svc, r2);
  auto trace = rt::new_trace();
  auto seats_json = [&] {
    auto at = ticketing::now_rfc3339();
    return R"({"scheduleId":8,"seats":[{"reservationId":)" + std::to_string(r1) +
           R"(,"seatNo":1,"expiresAt":")" + at + R"("},{"reservationId":)" + std::to_string(r2) +
           R"(,"seatNo":2,"expiresAt":")" + at + R"("},{"reservationId":)" + std::to_string(r3) +
           R"(,"seatNo":3,"expiresAt":")" + at + "\"}]}";
  }();
  auto event_id = ticketing::new_uuid();
  rt::publish("seats.expired", seats_json, "8", trace, event_id);
  REQUIRE(wait_until(
      [&] { return status_of(svc, r1) == "EXPIRED" && status_of(svc, r2) == "EXPIRED"; }, 60s));
  auto seat_states = [&] {
    std::string s;
    for (const auto& row : svc.db().query("SELECT status, version FROM seats WHERE schedule_id = 8 "
                                          "AND seat_no <= 3 ORDER BY seat_no")) {
      s += row.str("status") + "/" + std::to_string(row.i64("version")) + " ";
    }
    return s;
  };
  auto after_first = seat_states();
  CHECK(after_first.find("AVAILABLE") == 0);
  CHECK(svc.db()
            .query_one("SELECT status FROM seats WHERE schedule_id = 8 AND seat_no = 3")
            ->str("status") == "HELD");
  CHECK(status_of(svc, r3) == "HELD");

  // Delivered again (same event) and re-announced (new event id): no change.
  rt::publish("seats.expired", seats_json, "8", trace, event_id);
  auto again_id = ticketing::new_uuid();
  rt::publish("seats.expired", seats_json, "8", trace, again_id);
  REQUIRE(wait_until(
      [&] {
        return svc.db()
                   .query_one("SELECT COUNT(*) AS n FROM processed_events WHERE event_id = ?",
                              {again_id})
                   ->i64("n") == 1;
      },
      60s));
  CHECK(seat_states() == after_first);
  CHECK(status_of(svc, r1) == "EXPIRED");
  CHECK(status_of(svc, r3) == "HELD");

  auto cancelled = rt::collect({"reservation.cancelled"}, trace, 2, 30s, 3s);
  CHECK(cancelled.size() == 2);
  check_valid(cancelled, "reservation.cancelled");
  for (const auto& c : cancelled) {
    auto d = rt::json(c);
    CHECK(std::string(d["data"]["reason"].GetString()) == "EXPIRED");
    auto rid = d["data"]["reservationId"].GetInt64();
    CHECK((rid == r1 || rid == r2));
  }

  // Payment arriving after the expiry: confirmation-failed HOLD_EXPIRED.
  auto pay_trace = rt::new_trace();
  rt::publish("payment.completed", payment_json(svc, svc.id_base() + 5, r1, u1), std::to_string(r1),
              pay_trace);
  auto failed = rt::collect({"reservation.confirmation-failed"}, pay_trace, 1, 60s);
  REQUIRE(failed.size() == 1);
  CHECK(std::string(rt::json(failed[0])["data"]["reason"].GetString()) == "HOLD_EXPIRED");
  CHECK(status_of(svc, r1) == "EXPIRED");
}

TEST_CASE("a new hold takes over an expired one and ends it with reservation.cancelled") {
  rt::Service svc("takeover");
  auto first = rt::unique_user();
  auto old_id = hold(svc, svc.token(first), 9, 5);
  age_hold(svc, old_id);
  auto trace = rt::new_trace();
  auto new_id = hold(svc, svc.token(first + 1), 9, 5, trace);
  CHECK(new_id != old_id);
  CHECK(status_of(svc, old_id) == "EXPIRED");
  CHECK(status_of(svc, new_id) == "HELD");
  CHECK(
      svc.db()
          .query_one("SELECT held_by_reservation FROM seats WHERE schedule_id = 9 AND seat_no = 5")
          ->i64("held_by_reservation") == new_id);
  auto cancelled = rt::collect({"reservation.cancelled"}, trace, 1, 30s);
  REQUIRE(cancelled.size() == 1);
  auto d = rt::json(cancelled[0]);
  CHECK(d["data"]["reservationId"].GetInt64() == old_id);
  CHECK(std::string(d["data"]["reason"].GetString()) == "EXPIRED");
  CHECK(rt::collect({"reservation.held"}, trace, 1, 30s).size() == 1);
}

TEST_CASE("a payment made before expiresAt confirms its hold even when its event comes later") {
  rt::Service svc("late-event");
  auto user = rt::unique_user();
  auto id = hold(svc, svc.token(user), 10, 31);
  age_hold(svc, id, 30s);  // past expiresAt and past the grace; nobody took the seat yet
  auto trace = rt::new_trace();
  rt::publish("payment.completed",
              payment_json(svc, svc.id_base() + 31, id, user, before_expiry(svc, id, 5ms)),
              std::to_string(id), trace);
  REQUIRE(wait_until([&] { return status_of(svc, id) == "CONFIRMED"; }, 60s));
  CHECK(svc.db()
            .query_one("SELECT status FROM seats WHERE schedule_id = 10 AND seat_no = 31")
            ->str("status") == "RESERVED");
  CHECK(rt::collect({"reservation.confirmed"}, trace, 1, 30s).size() == 1);
  CHECK(rt::collect({"reservation.confirmation-failed"}, trace, 1, 3s).empty());
}

TEST_CASE("within the release grace a hold's seat is neither taken over nor released") {
  rt::Service svc("grace");
  auto user = rt::unique_user();
  auto id = hold(svc, svc.token(user), 10, 32);
  age_hold(svc, id, 1s);  // expired 1 s ago; the grace is 10 s
  // Nobody else gets the seat: it stays HELD for everyone.
  auto other = svc.token(user + 1);
  auto taken = svc.call("POST", "/v1/reservations", hold_body(10, 32), other);
  CHECK(taken.status == 409);
  auto seats = rt::json(svc.call("GET", "/v1/schedules/10/seats", "", other).body);
  std::string seat_status;
  for (const auto& s : seats["seats"].GetArray())
    if (s["seatNo"].GetInt() == 32) seat_status = s["status"].GetString();
  CHECK(seat_status == "HELD");
  // seats.expired for it (e.g. a scheduler with a shorter grace) releases
  // nothing yet: the event is retried until the hold is past the grace.
  auto trace = rt::new_trace();
  auto event_id = ticketing::new_uuid();
  rt::publish("seats.expired",
              R"({"scheduleId":10,"seats":[{"reservationId":)" + std::to_string(id) +
                  R"(,"seatNo":32,"expiresAt":")" + ticketing::now_rfc3339() + "\"}]}",
              "10", trace, event_id);
  std::this_thread::sleep_for(3s);
  CHECK(status_of(svc, id) == "HELD");
  CHECK(svc.db()
            .query_one("SELECT COUNT(*) AS n FROM processed_events WHERE event_id = ?", {event_id})
            ->i64("n") == 0);
  // Past the grace the retried event releases it, and the seat is free for
  // the next buyer.
  age_hold(svc, id, 11s);
  REQUIRE(wait_until([&] { return status_of(svc, id) == "EXPIRED"; }, 30s));
  CHECK(svc.db()
            .query_one("SELECT COUNT(*) AS n FROM processed_events WHERE event_id = ?", {event_id})
            ->i64("n") == 1);
  CHECK(rt::collect({"reservation.cancelled"}, trace, 1, 30s).size() == 1);
  CHECK(svc.call("POST", "/v1/reservations", hold_body(10, 32), other).status == 201);
}

TEST_CASE("a payment of another amount than the hold's price does not confirm it") {
  rt::Service svc("mismatch");
  auto user = rt::unique_user();
  auto id = hold(svc, svc.token(user), 10, 33);
  auto price =
      svc.db().query_one("SELECT price FROM reservations WHERE id = ?", {id})->i64("price");
  auto trace = rt::new_trace();
  rt::publish("payment.completed",
              payment_json(svc, svc.id_base() + 33, id, user, ticketing::now_rfc3339(), price - 1),
              std::to_string(id), trace);
  auto failed = rt::collect({"reservation.confirmation-failed"}, trace, 1, 60s);
  REQUIRE(failed.size() == 1);
  check_valid(failed, "reservation.confirmation-failed");
  CHECK(std::string(rt::json(failed[0])["data"]["reason"].GetString()) == "PAYMENT_MISMATCH");
  CHECK(status_of(svc, id) == "HELD");
  CHECK(rt::collect({"reservation.confirmed"}, trace, 1, 2s).empty());
}

// The hold path takes a seat and then the expired hold it replaces, while
// seats.expired, a confirmation and a cancel each start from a reservation.
// Here takeovers and the expiry of the very holds they replace run at the
// same time, round after round. Every new hold must succeed (the old ones
// are past their grace), none may answer 5xx, every old hold ends exactly
// once, and the service must not have met a single deadlock (it would have
// retried it, unseen from outside, so the metric is asked).
TEST_CASE("takeovers racing the expiry of the holds they replace: no deadlock, no 5xx") {
  rt::Service svc("lockorder", {{"QUEUE_MAX_ACTIVE", "100000"}});
  constexpr std::int64_t kSchedule = 12;
  constexpr int kSeats = 40;
  constexpr int kRounds = 4;
  std::vector<std::string> old_tokens(kSeats);
  std::vector<std::string> new_tokens(kSeats);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::int64_t> old_ids(kSeats);
    rt::parallel(kSeats, 8, [&](int i) {
      if (round == 0) old_tokens[i] = svc.token(rt::unique_user());
      new_tokens[i] = svc.token(rt::unique_user());
    });
    if (round == 0) {
      rt::parallel(kSeats, 8,
                   [&](int i) { old_ids[i] = hold(svc, old_tokens[i], kSchedule, i + 1); });
    } else {
      // Last round's takers hold the seats now; their holds are the old ones.
      for (int i = 0; i < kSeats; ++i) {
        old_ids[i] = svc.db()
                         .query_one(
                             "SELECT held_by_reservation FROM seats WHERE schedule_id = ? "
                             "AND seat_no = ?",
                             {kSchedule, i + 1})
                         ->i64("held_by_reservation");
      }
    }
    for (auto id : old_ids) age_hold(svc, id);

    auto trace = rt::new_trace();
    std::string seats_json = R"({"scheduleId":)" + std::to_string(kSchedule) + R"(,"seats":[)";
    for (int i = 0; i < kSeats; ++i) {
      seats_json += (i ? "," : "") + std::string(R"({"reservationId":)") +
                    std::to_string(old_ids[i]) + R"(,"seatNo":)" + std::to_string(i + 1) +
                    R"(,"expiresAt":")" + ticketing::now_rfc3339() + "\"}";
    }
    seats_json += "]}";
    std::vector<int> statuses(kSeats);
    // The event is in Kafka when publish returns; the service handles it a
    // few milliseconds later. The takeovers are spread over that time, in
    // an order that meets the expiry's ascending one half way.
    rt::publish("seats.expired", seats_json, "12", trace);
    rt::parallel(kSeats, kSeats, [&](int i) {
      std::this_thread::sleep_for(std::chrono::milliseconds((kSeats - 1 - i) * 2));
      statuses[i] = svc.call("POST", "/v1/reservations", hold_body(kSchedule, i + 1), new_tokens[i],
                             rt::traceparent(trace))
                        .status;
    });
    for (int i = 0; i < kSeats; ++i) {
      INFO("round " << round << " seat " << i + 1);
      CHECK(statuses[i] == 201);
    }
    // Each old hold ended once: one reservation.cancelled (EXPIRED) for it,
    // from the takeover or from the expiry, never both.
    auto cancelled = rt::collect({"reservation.cancelled"}, trace, kSeats, 60s, 2s);
    std::map<std::int64_t, int> ended;
    for (const auto& c : cancelled) ++ended[rt::json(c)["data"]["reservationId"].GetInt64()];
    CHECK(cancelled.size() == static_cast<std::size_t>(kSeats));
    for (auto id : old_ids) {
      INFO("reservation " << id);
      CHECK(ended[id] == 1);
      CHECK(status_of(svc, id) == "EXPIRED");
    }
    // The seat event was handled (recorded), so both sides really ran.
    REQUIRE(wait_until(
        [&] {
          return svc.db()
                     .query_one(
                         "SELECT COUNT(*) AS n FROM seats WHERE schedule_id = ? AND "
                         "status = 'HELD' AND seat_no <= ?",
                         {kSchedule, kSeats})
                     ->i64("n") == kSeats;
        },
        30s));
  }
  auto metrics = svc.metrics();
  CHECK(metrics.find("db_transaction_retries_total{reason=\"deadlock\"}") == std::string::npos);
  CHECK(metrics.find("db_transaction_retries_total{reason=\"lock_wait_timeout\"}") ==
        std::string::npos);
}
