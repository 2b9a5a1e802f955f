// reservation-api as a black box over HTTP, MariaDB rows and Kafka records.
#include <catch2/catch.hpp>

#include <future>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "support.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/schema.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;

namespace {
std::string hold_body(std::int64_t schedule, int seat) {
  return R"({"scheduleId":)" + std::to_string(schedule) + R"(,"seatNo":)" + std::to_string(seat) +
         "}";
}
std::string error_code(const rt::Response& r) {
  try {
    auto d = rt::json(r.body);
    if (d.IsObject() && d.HasMember("error")) return d["error"]["code"].GetString();
  } catch (const std::exception&) {
  }
  return "";
}
}  // namespace

TEST_CASE("1000 users race for one seat: exactly one hold") {
  // One user's 10 parallel holds meet MAX_HOLDS_PER_USER, not the rate limit.
  rt::Service svc("race", {{"QUEUE_MAX_ACTIVE", "5000"}, {"RATE_LIMIT_HOLD_USER", "off"}});
  constexpr int kUsers = 1000;
  std::vector<std::string> tokens(kUsers);
  auto base = rt::unique_user();
  rt::parallel(kUsers, 32,
               [&](int i) { tokens[static_cast<std::size_t>(i)] = svc.token(base + i); });

  std::atomic<int> created{0}, conflict{0}, other{0};
  std::mutex m;
  std::map<int, int> statuses;
  auto started = std::chrono::steady_clock::now();
  rt::parallel(kUsers, 64, [&](int i) {
    auto r =
        svc.call("POST", "/v1/reservations", hold_body(5, 17), tokens[static_cast<std::size_t>(i)]);
    if (r.status == 201) {
      ++created;
    } else if (r.status == 409 && error_code(r) == "SEAT_UNAVAILABLE") {
      ++conflict;
    } else {
      ++other;
      std::lock_guard lock(m);
      ++statuses[r.status];
    }
  });
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN("1000 concurrent holds of one seat took " << took << " s");
  for (const auto& [status, n] : statuses) UNSCOPED_INFO(status << ": " << n);
  CHECK(created == 1);
  CHECK(conflict == kUsers - 1);
  CHECK(other == 0);
  auto held = svc.db().query_one(
      "SELECT COUNT(*) AS n FROM reservations WHERE schedule_id = 5 AND seat_no = 17 AND status = "
      "'HELD'");
  CHECK(held->i64("n") == 1);
  auto total = svc.db().query_one("SELECT COUNT(*) AS n FROM reservations");
  CHECK(total->i64("n") == 1);
  auto seat = svc.db().query_one(
      "SELECT s.status, s.held_by_reservation = r.id AS same FROM seats s JOIN reservations r"
      " ON r.schedule_id = s.schedule_id AND r.seat_no = s.seat_no WHERE s.schedule_id = 5 AND "
      "s.seat_no = 17");
  CHECK(seat->str("status") == "HELD");
  CHECK(seat->i64("same") == 1);

  // One user firing 10 holds at once gets MAX_HOLDS_PER_USER (4) of them.
  auto greedy = svc.token(rt::unique_user());
  std::atomic<int> ok{0}, limited{0};
  rt::parallel(10, 10, [&](int i) {
    auto r = svc.call("POST", "/v1/reservations", hold_body(6, 1 + i), greedy);
    if (r.status == 201) ++ok;
    if (r.status == 409 && error_code(r) == "HOLD_LIMIT") ++limited;
  });
  CHECK(ok == 4);
  CHECK(limited == 6);
  CHECK(svc.db()
            .query_one("SELECT COUNT(*) AS n FROM reservations WHERE schedule_id = 6")
            ->i64("n") == 4);
}

TEST_CASE("200 users hold 200 different seats: 200 schema-valid reservation.held records") {
  rt::Service svc("holds200", {{"QUEUE_MAX_ACTIVE", "1000"}});
  constexpr int kUsers = 200;
  auto base = rt::unique_user();
  auto trace = rt::new_trace();
  std::vector<std::string> tokens(kUsers);
  rt::parallel(kUsers, 32,
               [&](int i) { tokens[static_cast<std::size_t>(i)] = svc.token(base + i); });
  std::atomic<int> created{0};
  std::mutex m;
  std::vector<std::string> failures;
  auto started = std::chrono::steady_clock::now();
  rt::parallel(kUsers, 64, [&](int i) {
    // Schedules 1..4, seats 1..50.
    rt::Response r;
    try {
      r = svc.call("POST", "/v1/reservations", hold_body(1 + i / 50, 1 + i % 50),
                   tokens[static_cast<std::size_t>(i)], rt::traceparent(trace));
    } catch (const std::exception& e) {
      r.body = e.what();
    }
    if (r.status == 201) {
      ++created;
    } else {
      std::lock_guard lock(m);
      failures.push_back(std::to_string(r.status) + " " + r.body);
    }
  });
  for (const auto& f : failures) UNSCOPED_INFO(f);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN("200 concurrent holds of different seats took " << took << " s");
  CHECK(created == kUsers);
  CHECK(svc.db()
            .query_one("SELECT COUNT(*) AS n FROM reservations WHERE status = 'HELD'")
            ->i64("n") == kUsers);
  CHECK(svc.db().query_one("SELECT COUNT(*) AS n FROM seats WHERE status = 'HELD'")->i64("n") ==
        kUsers);

  auto records = rt::collect({"reservation.held"}, trace, kUsers, 45s, 2s);
  CHECK(records.size() == static_cast<std::size_t>(kUsers));
  std::set<std::int64_t> ids;
  std::set<std::pair<std::int64_t, int>> seats;
  for (const auto& v : records) {
    CHECK_NOTHROW(ticketing::events::SchemaRegistry::builtin().validate("reservation.held", v));
    auto d = rt::json(v);
    ids.insert(d["data"]["reservationId"].GetInt64());
    seats.insert({d["data"]["scheduleId"].GetInt64(), d["data"]["seatNo"].GetInt()});
    CHECK(d["data"]["userId"].GetInt64() >= base);
    CHECK(d["data"]["userId"].GetInt64() < base + kUsers);
  }
  CHECK(ids.size() == static_cast<std::size_t>(kUsers));
  CHECK(seats.size() == static_cast<std::size_t>(kUsers));
}

TEST_CASE("waiting queue: strict arrival order, the active cap is never exceeded") {
  constexpr int kCap = 3;
  constexpr int kUsers = 12;
  // Polls every user in a tight loop: no polling limit here.
  rt::Service svc("fifo", {{"QUEUE_MAX_ACTIVE", std::to_string(kCap)},
                           {"QUEUE_ACTIVE_TTL_SECONDS", "1"},
                           {"RATE_LIMIT_STATUS_USER", "off"}});
  auto base = rt::unique_user();
  std::vector<std::string> tokens;
  for (int i = 0; i < kUsers; ++i) {
    auto r = svc.enter(base + i);
    REQUIRE(r.status == 201);
    auto d = rt::json(r.body);
    tokens.emplace_back(d["token"].GetString());
    if (i < kCap) {
      CHECK(std::string(d["status"].GetString()) == "ACTIVE");
    } else {
      CHECK(std::string(d["status"].GetString()) == "WAITING");
      CHECK(d["position"].GetInt64() == i - kCap + 1);
      CHECK(d["estimatedWaitSeconds"].GetInt64() > 0);
    }
  }
  // Asking again: the same token, the same place.
  auto again = svc.enter(base + 5);
  CHECK(again.status == 200);
  CHECK(std::string(rt::json(again.body)["token"].GetString()) == tokens[5]);
  CHECK(svc.redis_int({"ZCARD", svc.prefix() + "waiting"}) == kUsers - kCap);

  std::atomic<bool> done{false};
  std::atomic<std::int64_t> max_active{0};
  std::thread sampler([&] {
    while (!done) {
      auto n = svc.redis_int({"ZCARD", svc.prefix() + "active"});
      if (n > max_active) max_active = n;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<bool> admitted(kUsers, false);
  std::vector<std::int64_t> last_position(kUsers, 1 << 30);
  bool order_ok = true;
  auto deadline = std::chrono::steady_clock::now() + 25s;
  while (std::chrono::steady_clock::now() < deadline) {
    // Newest first: if a later user is already in, everyone before must be too.
    bool later_admitted = false;
    for (int i = kUsers - 1; i >= 0; --i) {
      auto r = svc.call("GET", "/v1/queue/status", "", tokens[static_cast<std::size_t>(i)]);
      bool in = false;
      if (r.status == 401) {
        in = true;  // was active and lapsed
      } else {
        REQUIRE(r.status == 200);
        auto d = rt::json(r.body);
        std::string st = d["status"].GetString();
        if (st == "ACTIVE") {
          in = true;
        } else {
          auto pos = d["position"].GetInt64();
          if (pos > last_position[static_cast<std::size_t>(i)])
            order_ok = false;  // never moves back
          last_position[static_cast<std::size_t>(i)] = pos;
        }
      }
      if (later_admitted && !in) order_ok = false;
      if (in) {
        later_admitted = true;
        admitted[static_cast<std::size_t>(i)] = true;
      }
    }
    if (std::all_of(admitted.begin(), admitted.end(), [](bool b) { return b; })) break;
    std::this_thread::sleep_for(50ms);
  }
  done = true;
  sampler.join();
  CHECK(order_ok);
  CHECK(std::all_of(admitted.begin(), admitted.end(), [](bool b) { return b; }));
  CHECK(max_active <= kCap);
  CHECK(max_active == kCap);
}

TEST_CASE("waiting queue: a user let in after waiting is told once, one let in at once is not") {
  // A reader of notifications.queue-admitted from its end now.
  const std::string readers = tt::unique_name("rt-admitted");
  ticketing::events::commit_group_at_end(tt::kafka_bootstrap(), readers,
                                         {"notifications.queue-admitted"});
  rt::Service svc("admitted", {{"QUEUE_MAX_ACTIVE", "1"},
                               {"QUEUE_ACTIVE_TTL_SECONDS", "1"},
                               {"RATE_LIMIT_STATUS_USER", "off"}});
  const auto first = rt::unique_user();
  const auto second = first + 1;
  auto a = rt::json(svc.enter(first).body);
  REQUIRE(std::string(a["status"].GetString()) == "ACTIVE");  // let in at once: the answer says so
  auto b = rt::json(svc.enter(second).body);
  REQUIRE(std::string(b["status"].GetString()) == "WAITING");
  const std::string token = b["token"].GetString();
  // The first place lapses after 1 s; the service's promotion lets the second in.
  bool active = false;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (!active && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
    auto r = svc.call("GET", "/v1/queue/status", "", token);
    active = r.status == 200 && std::string(rt::json(r.body)["status"].GetString()) == "ACTIVE";
  }
  REQUIRE(active);

  std::map<std::int64_t, std::vector<ticketing::events::Envelope>> notes;
  {
    ticketing::events::ConsumerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.group_id = readers;
    o.topics = {"notifications.queue-admitted"};
    ticketing::events::Consumer reader(o);
    // Until the second user's note came, then 2 s more for any duplicate.
    std::optional<std::chrono::steady_clock::time_point> linger;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline &&
           (!linger || std::chrono::steady_clock::now() < *linger)) {
      auto m = reader.poll(200ms);
      if (!m) continue;
      auto env = ticketing::events::parse_envelope(m->value);
      auto note = ticketing::events::decode<ticketing::events::QueueAdmittedNote>(env);
      if (note.user_id != first && note.user_id != second) continue;
      CHECK(m->key == std::to_string(note.user_id));
      notes[note.user_id].push_back(env);
      if (note.user_id == second && !linger) linger = std::chrono::steady_clock::now() + 2s;
    }
  }
  CHECK(notes.count(first) == 0);
  REQUIRE(notes[second].size() == 1);
  const auto note =
      ticketing::events::decode<ticketing::events::QueueAdmittedNote>(notes[second][0]);
  const auto admitted_at = ticketing::parse_rfc3339(note.admitted_at);
  const auto active_until = ticketing::parse_rfc3339(note.active_until);
  REQUIRE(admitted_at);
  REQUIRE(active_until);
  CHECK(*active_until - *admitted_at == std::chrono::seconds(1));  // QUEUE_ACTIVE_TTL_SECONDS
  // Published and deleted: nothing left in the stream.
  CHECK(svc.redis_int({"XLEN", svc.prefix() + "admitted"}) == 0);
}

TEST_CASE("waiting queue: bounded length, and a waiting place lapses when nobody asks for it") {
  rt::Service svc(
      "qbound",
      {{"QUEUE_MAX_ACTIVE", "1"}, {"QUEUE_MAX_WAITING", "3"}, {"QUEUE_WAITING_TTL_SECONDS", "3"}});
  auto base = rt::unique_user();
  auto enter = [&](std::int64_t user) { return svc.enter(user); };
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) {  // one active, three waiting
    auto r = enter(base + i);
    REQUIRE(r.status == 201);
    tokens.emplace_back(rt::json(r.body)["token"].GetString());
  }
  auto full = enter(base + 4);
  CHECK(full.status == 503);
  CHECK(full.body.find(R"("code":"QUEUE_FULL")") != std::string::npos);
  CHECK(svc.redis_int({"ZCARD", svc.prefix() + "waiting"}) == 3);
  // Someone already queued still gets their place back.
  CHECK(enter(base + 2).status == 200);

  // Users 1 and 2 keep asking for their place; user 3 walks away.
  for (int round = 0; round < 9; ++round) {
    for (int i : {1, 2})
      CHECK(svc.call("GET", "/v1/queue/status", "", tokens[static_cast<std::size_t>(i)]).status ==
            200);
    std::this_thread::sleep_for(500ms);
  }
  CHECK(svc.call("GET", "/v1/queue/status", "", tokens[3]).status == 401);  // lapsed
  CHECK(svc.redis_int({"ZCARD", svc.prefix() + "waiting"}) == 2);
  // Room again for a newcomer.
  CHECK(enter(base + 5).status == 201);
  // The user's key and token carry a TTL: nothing stays in Redis for ever.
  CHECK(svc.redis_int({"TTL", svc.prefix() + "user:" + std::to_string(base + 5)}) > 0);
}

TEST_CASE("waiting queue: admissions paced by QUEUE_ADMIT_PER_SECOND, never faster") {
  constexpr int kRate = 4;
  constexpr int kUsers = 12;
  rt::Service svc("admitrate", {{"QUEUE_MAX_ACTIVE", "50"},
                                {"QUEUE_ADMIT_PER_SECOND", std::to_string(kRate)},
                                {"QUEUE_PROMOTE_INTERVAL_MS", "50"}});
  auto base = rt::unique_user();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kUsers; ++i) svc.token(base + i);
  // Places for all, but one second's worth at once, then kRate a second.
  std::int64_t active = 0;
  bool within_rate = true;
  auto deadline = t0 + 10s;
  while (active < kUsers && std::chrono::steady_clock::now() < deadline) {
    active = svc.redis_int({"ZCARD", svc.prefix() + "active"});
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (static_cast<double>(active) > kRate + kRate * elapsed + 1) within_rate = false;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(within_rate);
  CHECK(active == kUsers);
  // Twelve at four a second, four at once: at least two seconds.
  CHECK(std::chrono::steady_clock::now() - t0 >= 1800ms);
}

TEST_CASE("waiting queue: long polls answer on admission, on a move or at their deadline") {
  // One place, lapsing after 4 s; the queue routes' lane has two handler
  // threads for three parked polls.
  rt::Service svc("longpoll", {{"QUEUE_MAX_ACTIVE", "1"},
                               {"QUEUE_ACTIVE_TTL_SECONDS", "4"},
                               {"RATE_LIMIT_STATUS_USER", "off"},
                               {"QUEUE_HTTP_THREADS", "2"}});
  auto base = rt::unique_user();
  std::vector<std::string> tokens;
  for (int i = 0; i < 6; ++i) tokens.push_back(svc.token(base + i));  // 0 active, 1-5 waiting
  using Clock = std::chrono::steady_clock;
  struct Polled {
    rt::Response r;
    double seconds = 0;
    int order = 0;
  };
  std::atomic<int> answered{0};
  auto poll = [&](std::size_t user, const std::string& query) {
    return std::async(std::launch::async, [&, user, query] {
      auto t0 = Clock::now();
      Polled p{svc.call("GET", "/v1/queue/status" + query, "", tokens[user])};
      p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      p.order = ++answered;
      return p;
    });
  };
  auto admission = poll(1, "?waitSeconds=12&position=1");  // only when admitted
  auto any_move = poll(2, "?waitSeconds=12");              // on any move of the place
  auto deadline = poll(5, "?waitSeconds=2&position=1");    // nothing moves within 2 s
  std::this_thread::sleep_for(300ms);
  // The parked polls hold no handler thread: a plain status call is served meanwhile.
  auto now = svc.call("GET", "/v1/queue/status", "", tokens[4]);
  REQUIRE(now.status == 200);
  CHECK(rt::json(now.body)["position"].GetInt64() == 4);
  CHECK(answered == 0);
  // A client whose last position is stale (larger) is answered at once.
  auto stale = svc.call("GET", "/v1/queue/status?waitSeconds=12&position=9", "", tokens[3]);
  REQUIRE(stale.status == 200);
  CHECK(rt::json(stale.body)["position"].GetInt64() == 3);
  CHECK(answered == 0);
  CHECK(svc.metrics().find("reservation_queue_long_polls 3") != std::string::npos);

  auto d = deadline.get();
  REQUIRE(d.r.status == 200);
  CHECK(std::string(rt::json(d.r.body)["status"].GetString()) == "WAITING");
  CHECK(rt::json(d.r.body)["position"].GetInt64() == 5);
  CHECK(d.seconds >= 1.8);
  CHECK(d.order == 1);

  // User 0's place lapses after 4 s: user 1 is admitted, everyone moves up one.
  auto a = admission.get();
  auto m = any_move.get();
  REQUIRE(a.r.status == 200);
  CHECK(std::string(rt::json(a.r.body)["status"].GetString()) == "ACTIVE");
  REQUIRE(m.r.status == 200);
  CHECK(std::string(rt::json(m.r.body)["status"].GetString()) == "WAITING");
  CHECK(rt::json(m.r.body)["position"].GetInt64() == 1);
  CHECK(a.seconds < 10);  // on the move, not at the 12 s deadline
  CHECK(m.seconds < 10);
  auto text = svc.metrics();
  CHECK(text.find(R"(reservation_queue_long_poll_answers_total{reason="deadline"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(reservation_queue_long_poll_answers_total{reason="state"} 1)") !=
        std::string::npos);
  CHECK(text.find(R"(reservation_queue_long_poll_answers_total{reason="position"} 1)") !=
        std::string::npos);

  // Bad parameters: 400 VALIDATION_FAILED naming the parameter.
  for (const char* q : {"?waitSeconds=abc", "?waitSeconds=-1", "?waitSeconds=301",
                        "?waitSeconds=99999999999999999999", "?waitSeconds=5&position=0",
                        "?waitSeconds=5&position=x"}) {
    auto r = svc.call("GET", std::string("/v1/queue/status") + q, "", tokens[4]);
    CHECK(r.status == 400);
    CHECK(r.body.find("VALIDATION_FAILED") != std::string::npos);
  }
}

TEST_CASE("authorization: owner only, signed tokens, active queue place") {
  rt::Service svc("authz", {{"QUEUE_MAX_ACTIVE", "2"}});
  auto base = rt::unique_user();
  auto alice = svc.token(base);
  auto bob = svc.token(base + 1);
  auto carol = svc.token(base + 2);  // third: WAITING

  // Read the seats first so the cache holds them, then hold one.
  auto before = svc.call("GET", "/v1/schedules/2/seats", "", alice);
  REQUIRE(before.status == 200);
  auto r =
      svc.call("POST", "/v1/reservations",
               R"({"scheduleId":2,"seatNo":9,"price":1,"status":"CONFIRMED","userId":1})", alice);
  REQUIRE(r.status == 201);
  auto held = rt::json(r.body);
  auto id = std::to_string(held["reservationId"].GetInt64());
  CHECK(std::string(held["status"].GetString()) == "HELD");
  CHECK(held["price"].GetInt64() == 150000);  // the catalogue's, not the client's
  CHECK(held["seatNo"].GetInt() == 9);
  auto row =
      svc.db().query_one("SELECT user_id, price, status FROM reservations WHERE id = ?", {id});
  CHECK(row->i64("user_id") == base);
  CHECK(row->i64("price") == 150000);

  // The cached seat list shows the hold at once.
  auto seats = rt::json(svc.call("GET", "/v1/schedules/2/seats", "", bob).body);
  CHECK(std::string(seats["seats"][8]["status"].GetString()) == "HELD");
  CHECK(seats["seats"][8]["seatNo"].GetInt() == 9);
  CHECK(seats["seats"].Size() == 50);

  CHECK(svc.call("GET", "/v1/reservations/" + id, "", alice).status == 200);
  auto other = svc.call("GET", "/v1/reservations/" + id, "", bob);
  CHECK(other.status == 404);
  CHECK(error_code(other) == "RESERVATION_NOT_FOUND");
  CHECK(svc.call("DELETE", "/v1/reservations/" + id, "", bob).status == 404);
  CHECK(svc.db().query_one("SELECT status FROM reservations WHERE id = ?", {id})->str("status") ==
        "HELD");

  // Altered token: flip one character of the signature, and of the user id.
  auto forged = alice;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  auto f = svc.call("GET", "/v1/queue/status", "", forged);
  CHECK(f.status == 401);
  CHECK(error_code(f) == "INVALID_TOKEN");
  CHECK(svc.call("GET", "/v1/concerts", "", forged).status == 401);
  CHECK(svc.call("GET", "/v1/reservations/" + id, "", forged).status == 401);
  auto other_user = alice;
  auto pos = other_user.find('.' + std::to_string(base) + '.');
  REQUIRE(pos != std::string::npos);
  other_user.replace(pos + 1, std::to_string(base).size(), std::to_string(base + 1));
  CHECK(svc.call("GET", "/v1/reservations/" + id, "", other_user).status == 401);
  CHECK(svc.call("GET", "/v1/concerts", "", "").status == 401);

  // WAITING: no catalogue, no holds.
  auto w = svc.call("GET", "/v1/concerts", "", carol);
  CHECK(w.status == 403);
  CHECK(error_code(w) == "QUEUE_NOT_ACTIVE");
  CHECK(svc.call("POST", "/v1/reservations", hold_body(2, 10), carol).status == 403);
  CHECK(svc.call("GET", "/v1/schedules/2/seats", "", carol).status == 403);

  // Catalogue for an active user.
  auto concerts = rt::json(svc.call("GET", "/v1/concerts", "", bob).body);
  CHECK(concerts["concerts"].Size() >= 3);
  auto schedules = svc.call("GET", "/v1/concerts/1/schedules", "", bob);
  REQUIRE(schedules.status == 200);
  auto sd = rt::json(schedules.body);
  CHECK(sd["schedules"].Size() >= 2);
  CHECK(svc.call("GET", "/v1/concerts/999999/schedules", "", bob).status == 404);
  CHECK(svc.call("GET", "/v1/schedules/999999/seats", "", bob).status == 404);

  // Hold rules.
  auto unknown = svc.call("POST", "/v1/reservations", hold_body(999999, 1), bob);
  CHECK(unknown.status == 404);
  CHECK(error_code(unknown) == "SCHEDULE_NOT_FOUND");
  auto taken = svc.call("POST", "/v1/reservations", hold_body(2, 9), bob);
  CHECK(taken.status == 409);
  CHECK(error_code(taken) == "SEAT_UNAVAILABLE");
  for (int seat = 1; seat <= 3; ++seat)
    CHECK(svc.call("POST", "/v1/reservations", hold_body(3, seat), alice).status == 201);
  auto limit = svc.call("POST", "/v1/reservations", hold_body(3, 4), alice);  // fifth live hold
  CHECK(limit.status == 409);
  CHECK(error_code(limit) == "HOLD_LIMIT");

  // Release: the seat is free again, the event says USER_CANCELLED.
  auto trace = rt::new_trace();
  auto del = svc.call("DELETE", "/v1/reservations/" + id, "", alice, rt::traceparent(trace));
  CHECK(del.status == 200);
  CHECK(std::string(rt::json(del.body)["status"].GetString()) == "CANCELLED");
  CHECK(svc.call("DELETE", "/v1/reservations/" + id, "", alice).status == 409);
  auto seat_row =
      svc.db().query_one("SELECT status FROM seats WHERE schedule_id = 2 AND seat_no = 9");
  CHECK(seat_row->str("status") == "AVAILABLE");
  auto after = rt::json(svc.call("GET", "/v1/schedules/2/seats", "", bob).body);
  CHECK(std::string(after["seats"][8]["status"].GetString()) == "AVAILABLE");
  auto cancelled = rt::collect({"reservation.cancelled"}, trace, 1, 30s);
  REQUIRE(cancelled.size() == 1);
  auto c = rt::json(cancelled[0]);
  CHECK(std::string(c["data"]["reason"].GetString()) == "USER_CANCELLED");
  CHECK(std::to_string(c["data"]["reservationId"].GetInt64()) == id);
}

TEST_CASE("identity: a queue token only for the ID token's subject, never for a body's userId") {
  rt::Service svc("identity");
  auto alice = rt::unique_user();
  auto mallory = alice + 1;
  // Mallory's own ID token with Alice's id in the body: Mallory's place, not Alice's.
  auto r = svc.enter(mallory, R"({"userId":)" + std::to_string(alice) + "}");
  REQUIRE(r.status == 201);
  CHECK(rt::json(r.body)["userId"].GetInt64() == mallory);
  CHECK(svc.redis_int({"EXISTS", svc.prefix() + "user:" + std::to_string(alice)}) == 0);
  // Alice's own place, asked twice: the same token.
  auto a1 = svc.enter(alice);
  auto a2 = svc.enter(alice);
  REQUIRE(a1.status == 201);
  REQUIRE(a2.status == 200);
  CHECK(std::string(rt::json(a1.body)["token"].GetString()) ==
        std::string(rt::json(a2.body)["token"].GetString()));
  CHECK(rt::json(a2.body)["userId"].GetInt64() == alice);

  auto refused = [&](const std::string& bearer, const char* code) {
    INFO(code << " " << bearer.substr(0, 40));
    auto x = svc.call("POST", "/v1/queue/tokens", R"({"userId":1})", bearer);
    CHECK(x.status == 401);
    CHECK(error_code(x) == code);
    CHECK(x.header("www-authenticate").value_or("") == "Bearer");
  };
  refused("", "UNAUTHORIZED");
  refused("not-a-jwt", "INVALID_ID_TOKEN");
  // A queue token is no ID token, nor is an unsigned JWT.
  refused(rt::json(a1.body)["token"].GetString(), "INVALID_ID_TOKEN");
  refused("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI0MiJ9.", "INVALID_ID_TOKEN");
  // Alice's ID token with one signature character changed.
  auto forged = rt::id_token(alice);
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  refused(forged, "INVALID_ID_TOKEN");
  // Signed by another provider (its own key) that claims the same issuer.
  {
    rt::OtherIdp other;
    refused(other.id_token(alice), "INVALID_ID_TOKEN");
  }
  CHECK(svc.redis_int({"ZCARD", svc.prefix() + "active"}) +
            svc.redis_int({"ZCARD", svc.prefix() + "waiting"}) ==
        2);
}

TEST_CASE("identity: keys of the identity provider unreachable -> 503 IDENTITY_UNAVAILABLE") {
  rt::Service svc("idpdown", {{"ID_TOKEN_JWKS", "http://127.0.0.1:9/jwks.json"}});
  auto r = svc.enter(rt::unique_user());
  CHECK(r.status == 503);
  CHECK(error_code(r) == "IDENTITY_UNAVAILABLE");
  CHECK(r.header("retry-after").has_value());
  // Everything else still answers.
  CHECK(svc.call("GET", "/v1/queue/status").status == 401);
}

TEST_CASE("rate limits: a user hammering holds, polls or tokens gets 429 with Retry-After") {
  rt::Service svc("ratelimit", {{"RATE_LIMIT_HOLD_USER", "2/s:3"},
                                {"RATE_LIMIT_STATUS_USER", "1/s:2"},
                                {"RATE_LIMIT_TOKEN_CLIENT", "1/s:2"},
                                {"TRUSTED_PROXIES", "127.0.0.1"}});
  auto base = rt::unique_user();
  auto hammer = svc.token(base);
  auto calm = svc.token(base + 1);
  const auto held_rows = [&] {
    return svc.db().query_one("SELECT COUNT(*) AS n FROM reservations")->i64("n");
  };

  // Ten holds at once by one user: three reach the store, the rest are 429.
  int limited = 0, reached = 0;
  std::string retry_after;
  for (int i = 0; i < 10; ++i) {
    auto r = svc.call("POST", "/v1/reservations", hold_body(1, 7), hammer);
    if (r.status == 429) {
      ++limited;
      CHECK(error_code(r) == "RATE_LIMITED");
      retry_after = r.header("retry-after").value_or("");
    } else {
      ++reached;
      CHECK((r.status == 201 || r.status == 409));
    }
  }
  CHECK(reached >= 3);
  CHECK(reached <= 4);  // 2/s refill: at most one more during the loop
  CHECK(limited == 10 - reached);
  CHECK(retry_after == "1");
  CHECK(held_rows() == 1);
  // Another user is not slowed down by the first.
  CHECK(svc.call("POST", "/v1/reservations", hold_body(1, 8), calm).status == 201);
  // The budget lives in Redis, under the service's prefix, and expires.
  auto key = svc.prefix() + "rl:hold_user:user:" + std::to_string(base);
  CHECK(svc.redis_int({"PTTL", key}) > 0);
  // After Retry-After the user is served again.
  std::this_thread::sleep_for(1100ms);
  CHECK(svc.call("POST", "/v1/reservations", hold_body(1, 9), hammer).status == 201);

  // Queue status polling: 1/s, burst 2.
  CHECK(svc.call("GET", "/v1/queue/status", "", calm).status == 200);
  CHECK(svc.call("GET", "/v1/queue/status", "", calm).status == 200);
  auto polled = svc.call("GET", "/v1/queue/status", "", calm);
  CHECK(polled.status == 429);
  CHECK(polled.header("retry-after") == std::optional<std::string>("1"));

  // Queue tokens per client address, from X-Forwarded-For through a trusted
  // proxy (loopback here): two from 198.51.100.7, then 429; another address
  // is another client.
  rt::Service::Headers from_a = {{"X-Forwarded-For", "203.0.113.66, 198.51.100.7"}};
  rt::Service::Headers from_b = {{"X-Forwarded-For", "198.51.100.8"}};
  CHECK(svc.enter(base + 10, {}, from_a).status == 201);
  CHECK(svc.enter(base + 11, {}, from_a).status == 201);
  auto third = svc.enter(base + 12, {}, from_a);
  CHECK(third.status == 429);
  CHECK(error_code(third) == "RATE_LIMITED");
  CHECK(svc.enter(base + 12, {}, from_b).status == 201);
  CHECK(svc.redis_int({"EXISTS", svc.prefix() + "rl:token_client:ip:198.51.100.7"}) == 1);
  // The left, client-written part of the header is never the client.
  CHECK(svc.redis_int({"EXISTS", svc.prefix() + "rl:token_client:ip:203.0.113.66"}) == 0);
}

TEST_CASE("bad requests answer 4xx with an error code and the service keeps serving") {
  // Many bad holds in a row by one user: that is the rate limit test's business.
  rt::Service svc("badreq", {{"RATE_LIMIT_HOLD_USER", "off"}});
  auto token = svc.token(rt::unique_user());
  struct Case {
    std::string method, path, body;
    bool auth;
    int status;
  };
  std::string huge(1024 * 1024, 'x');
  std::vector<Case> cases = {
      {"POST", "/v1/reservations", "not json", true, 400},
      {"POST", "/v1/reservations", "{}", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1})", true, 400},
      {"POST", "/v1/reservations", R"({"seatNo":1})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":"1","seatNo":1})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1,"seatNo":0})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1,"seatNo":51})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1,"seatNo":-1})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1,"seatNo":1.5})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":1,"seatNo":true})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":18446744073709551616,"seatNo":1})", true, 400},
      {"POST", "/v1/reservations", R"({"scheduleId":-1,"seatNo":1})", true, 400},
      {"POST", "/v1/reservations", huge, true, 413},
      {"GET", "/v1/reservations/abc", "", true, 400},
      {"GET", "/v1/reservations/0", "", true, 400},
      {"GET", "/v1/reservations/99999999999999999999999", "", true, 400},
      {"GET", "/v1/reservations/1.5", "", true, 400},
      {"DELETE", "/v1/reservations/-3", "", true, 400},
      {"GET", "/v1/schedules/x/seats", "", true, 400},
      {"GET", "/v1/concerts/99999999999999999999/schedules", "", true, 400},
      {"GET", "/v1/reservations/123456", "", true, 404},
      {"GET", "/v1/no-such-thing", "", true, 404},
      {"GET", "/v1/reservations", "", true, 405},
      {"PUT", "/v1/concerts", "", true, 405},
      {"DELETE", "/v1/queue/tokens", "", false, 405},
      {"POST", "/v1/queue/tokens", R"({"userId":1})", false, 401},  // no ID token
      {"GET", "/v1/queue/status", "", false, 401},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.path << " " << c.body.substr(0, 60));
    rt::Response r;
    try {
      r = svc.call(c.method, c.path, c.body, c.auth ? token : "");
    } catch (const std::exception& e) {
      FAIL("request failed: " << e.what());
    }
    CHECK(r.status == c.status);
    CHECK(r.status < 500);
    CHECK_FALSE(error_code(r).empty());
  }
  // Still serving, and nothing was held by the bad requests.
  CHECK(svc.call("GET", "/v1/concerts", "", token).status == 200);
  CHECK(svc.call("POST", "/v1/reservations", hold_body(1, 1), token).status == 201);
  CHECK(svc.db().query_one("SELECT COUNT(*) AS n FROM reservations")->i64("n") == 1);
}

TEST_CASE("two instances share one queue and one seat map") {
  constexpr int kCap = 4;
  // Polls every user every 30 ms: no polling limit here (a 429 is not an answer about order).
  std::map<std::string, std::string> env = {{"QUEUE_MAX_ACTIVE", std::to_string(kCap)},
                                            {"QUEUE_ACTIVE_TTL_SECONDS", "1"},
                                            {"RATE_LIMIT_STATUS_USER", "off"}};
  rt::Service a("multi", env);
  rt::Service b(a, env);
  const rt::Service* both[] = {&a, &b};

  // Users arrive alternately at either instance; admission follows arrival.
  constexpr int kUsers = 10;
  auto base = rt::unique_user();
  std::vector<std::string> tokens;
  for (int i = 0; i < kUsers; ++i) {
    auto r = both[i % 2]->enter(base + i);
    REQUIRE(r.status == 201);
    tokens.emplace_back(rt::json(r.body)["token"].GetString());
  }
  // The other instance knows the same user: same token, no second place.
  auto again = b.enter(base);
  CHECK(again.status == 200);
  CHECK(std::string(rt::json(again.body)["token"].GetString()) == tokens[0]);

  std::atomic<bool> done{false};
  std::atomic<std::int64_t> max_active{0};
  std::thread sampler([&] {
    while (!done) {
      auto n = a.redis_int({"ZCARD", a.prefix() + "active"});
      if (n > max_active) max_active = n;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<int> order;  // users in the order they were first seen admitted
  std::vector<bool> seen(kUsers, false);
  bool order_ok = true;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (order.size() < static_cast<std::size_t>(kUsers) &&
         std::chrono::steady_clock::now() < deadline) {
    bool later_admitted = false;
    for (int i = kUsers - 1; i >= 0; --i) {
      auto r = both[(i + 1) % 2]->call("GET", "/v1/queue/status", "",
                                       tokens[static_cast<std::size_t>(i)]);
      bool in =
          r.status == 401 ||
          (r.status == 200 && std::string(rt::json(r.body)["status"].GetString()) == "ACTIVE");
      if (later_admitted && !in) order_ok = false;
      if (in) {
        later_admitted = true;
        if (!seen[static_cast<std::size_t>(i)]) {
          seen[static_cast<std::size_t>(i)] = true;
          order.push_back(i);
        }
      }
    }
    std::this_thread::sleep_for(30ms);
  }
  done = true;
  sampler.join();
  CHECK(order_ok);
  CHECK(order.size() == static_cast<std::size_t>(kUsers));
  CHECK(max_active <= kCap);
}

TEST_CASE("two instances: a race for one seat across both has one winner") {
  rt::Service a("multirace", {{"QUEUE_MAX_ACTIVE", "1000"}});
  rt::Service b(a, {{"QUEUE_MAX_ACTIVE", "1000"}});
  const rt::Service* both[] = {&a, &b};
  constexpr int kUsers = 200;
  std::vector<std::string> racers(kUsers);
  auto base = rt::unique_user();
  rt::parallel(kUsers, 32,
               [&](int i) { racers[static_cast<std::size_t>(i)] = both[i % 2]->token(base + i); });
  std::atomic<int> created{0}, conflict{0};
  rt::parallel(kUsers, 64, [&](int i) {
    auto r = both[i % 2]->call("POST", "/v1/reservations", hold_body(11, 50),
                               racers[static_cast<std::size_t>(i)]);
    if (r.status == 201) ++created;
    if (r.status == 409 && error_code(r) == "SEAT_UNAVAILABLE") ++conflict;
  });
  CHECK(created == 1);
  CHECK(conflict == kUsers - 1);
  CHECK(
      a.db().query_one("SELECT COUNT(*) AS n FROM reservations WHERE schedule_id = 11")->i64("n") ==
      1);
}

TEST_CASE("two instances: a hold on one shows in the other's in-process seat map within 100 ms") {
  // A long Redis TTL: only the generation check can make instance b drop its copy.
  std::map<std::string, std::string> env = {{"QUEUE_MAX_ACTIVE", "1000"},
                                            {"CATALOGUE_CACHE_TTL_MS", "60000"},
                                            {"CATALOGUE_LOCAL_MAX_STALE_MS", "100"}};
  rt::Service a("localcache", env);
  rt::Service b(a, env);
  auto base = rt::unique_user();
  auto holder = a.token(base);
  auto reader = b.token(base + 1);
  auto seat7 = [&] {
    auto r = b.call("GET", "/v1/schedules/5/seats", "", reader);
    REQUIRE(r.status == 200);
    return std::string(rt::json(r.body)["seats"][6]["status"].GetString());
  };
  for (int i = 0; i < 5; ++i) CHECK(seat7() == "AVAILABLE");  // b now answers from memory

  // The holder's place would lapse in 5 s; the hold must push that out by
  // QUEUE_ACTIVE_TTL_SECONDS (600 by default).
  auto token_id = holder.substr(3, holder.find('.', 3) - 3);
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto reader_id = reader.substr(3, reader.find('.', 3) - 3);
  REQUIRE(a.redis_int({"ZADD", a.prefix() + "active", "XX", "CH", std::to_string(now_ms() + 5000),
                       token_id, std::to_string(now_ms() + 5000), reader_id}) == 2);
  REQUIRE(a.call("POST", "/v1/reservations", hold_body(5, 7), holder).status == 201);
  auto held = std::chrono::steady_clock::now();
  // Only the holder's deadline moved (reads do not refresh it).
  CHECK(a.redis_int({"ZCOUNT", a.prefix() + "active", std::to_string(now_ms() + 500000), "+inf"}) ==
        1);
  CHECK(a.redis_int({"ZCOUNT", a.prefix() + "active", "-inf", std::to_string(now_ms() + 10000)}) ==
        1);
  double seen_after = -1;
  while (std::chrono::steady_clock::now() - held < 5s) {
    if (seat7() == "HELD") {
      seen_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - held).count();
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(seen_after >= 0);
  // Bounded by CATALOGUE_LOCAL_MAX_STALE_MS (plus the answer's own time).
  CHECK(seen_after < 0.5);
  // And from then on, never AVAILABLE again.
  for (int i = 0; i < 20; ++i) CHECK(seat7() == "HELD");
}
