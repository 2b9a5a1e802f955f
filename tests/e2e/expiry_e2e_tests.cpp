// Hold expiry across services, with a scheduler instance SIGKILLed: every
// unpaid hold still expires and reservation-api restores exactly those seats
// (duplicate seats.expired records are allowed; a wrong seat state is not).
#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "support.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/testing/identity.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;

namespace {

constexpr int kHoldTtlSeconds = 4;

struct Hold {
  std::int64_t reservation_id;
  std::int64_t schedule_id;
  std::int64_t seat_no;
};

std::string active_token(e2e::ServiceProcess& api, std::int64_t user) {
  auto r = e2e::call(api.http_port(), "POST", "/v1/queue/tokens", {}, tt::id_token(user));
  REQUIRE((r.status == 201 || r.status == 200));
  auto doc = e2e::json(r.body);
  REQUIRE(std::string(doc["status"].GetString()) == "ACTIVE");
  return doc["token"].GetString();
}

}  // namespace

TEST_CASE("unpaid holds expire and their seats are restored although a scheduler is SIGKILLed") {
  e2e::Isolation api_iso("e2e_res");
  e2e::Isolation sched_iso("e2e_sched");
  std::map<std::string, std::string> api_env = {
      {"MYSQL_DATABASE", api_iso.name},
      {"REDIS_PREFIX", api_iso.name + ":"},
      {"KAFKA_CONSUMER_GROUP", api_iso.name},
      {"HOLD_TTL_SECONDS", std::to_string(kHoldTtlSeconds)},
      {"QUEUE_MAX_ACTIVE", "1000"},
      // seats.expired of other runs name reservations this database never had.
      {"IGNORE_UNKNOWN_RESERVATIONS", "true"}};
  e2e::run_command("reservation-api", "seed", api_env);
  auto db_options = ticketing::db::parse_url(tt::mysql_url());
  db_options.database = api_iso.name;
  ticketing::db::Connection db(db_options);

  // The groups start at the topics' ends even if the scheduler killed below
  // dies before its first commit ("latest" alone would skip what it missed).
  ticketing::events::commit_group_at_end(tt::kafka_bootstrap(), api_iso.name,
                                         {"payment.completed", "seats.expired"});
  ticketing::events::commit_group_at_end(
      tt::kafka_bootstrap(), sched_iso.name,
      {"reservation.held", "reservation.confirmed", "reservation.cancelled"});
  // A reader of the buyers' "hold expired" notes written from now on.
  const std::string notes_group = api_iso.name + "-notes";
  ticketing::events::commit_group_at_end(tt::kafka_bootstrap(), notes_group,
                                         {"notifications.hold-expired"});
  e2e::ServiceProcess api("reservation-api", api_iso.name, api_env);
  std::map<std::string, std::string> sched_env = {{"REDIS_PREFIX", sched_iso.name + ":"},
                                                  {"KAFKA_CONSUMER_GROUP", sched_iso.name},
                                                  {"EXPIRY_TICK_MS", "200"}};
  e2e::ServiceProcess sched_a("seat-expiry-scheduler", sched_iso.name + "-a", sched_env);
  e2e::ServiceProcess sched_b("seat-expiry-scheduler", sched_iso.name + "-b", sched_env);
  api.wait_ready();
  sched_a.wait_ready();
  sched_b.wait_ready();
  // Both scheduler instances serve part of the timers before one dies.
  REQUIRE(e2e::eventually(
      [&] {
        return sched_a.metric("scheduler_partitions_owned") >= 1 &&
               sched_b.metric("scheduler_partitions_owned") >= 1;
      },
      30s));

  // Two dates of the first concert, 30 seats each, one hold per user.
  auto token = active_token(api, 9'000'000'001);
  auto concerts = e2e::json(e2e::call(api.http_port(), "GET", "/v1/concerts", {}, token).body);
  auto concert_id = concerts["concerts"][0]["id"].GetInt64();
  auto schedules =
      e2e::json(e2e::call(api.http_port(), "GET",
                          "/v1/concerts/" + std::to_string(concert_id) + "/schedules", {}, token)
                    .body);
  REQUIRE(schedules["schedules"].Size() >= 2);
  std::vector<std::int64_t> schedule_ids = {schedules["schedules"][0]["id"].GetInt64(),
                                            schedules["schedules"][1]["id"].GetInt64()};

  std::vector<Hold> holds;
  std::int64_t user = 9'000'000'100;
  for (auto schedule : schedule_ids) {
    for (int seat = 1; seat <= 30; ++seat) {
      auto t = active_token(api, ++user);
      auto r = e2e::call(api.http_port(), "POST", "/v1/reservations",
                         R"({"scheduleId":)" + std::to_string(schedule) + R"(,"seatNo":)" +
                             std::to_string(seat) + "}",
                         t);
      REQUIRE(r.status == 201);
      holds.push_back({e2e::json(r.body)["reservationId"].GetInt64(), schedule, seat});
    }
  }
  // Every timer is registered before the kill: the survivor must take over
  // the dead instance's share.
  REQUIRE(e2e::eventually(
      [&] {
        return sched_a.metric("scheduler_timers_started_total") +
                   sched_b.metric("scheduler_timers_started_total") >=
               60;
      },
      20s));
  sched_a.process().signal(SIGKILL);
  REQUIRE(sched_a.process().wait(5s));

  auto count = [&](const std::string& sql) { return db.query_one(sql)->i64(0); };
  std::string ids;
  for (const auto& h : holds) ids += (ids.empty() ? "" : ",") + std::to_string(h.reservation_id);
  // Session timeout, rebalance and the hold time itself: well inside 60 s.
  bool all_expired = e2e::eventually(
      [&] {
        return count("SELECT COUNT(*) FROM reservations WHERE status = 'EXPIRED' AND id IN (" +
                     ids + ")") == 60;
      },
      60s);
  INFO("scheduler b log: " << sched_b.process().log().substr(0, 4000));
  REQUIRE(all_expired);

  // Exactly the 60 held seats were restored; nothing else in the catalogue moved.
  CHECK(count("SELECT COUNT(*) FROM seats WHERE status <> 'AVAILABLE'") == 0);
  // The public view agrees.
  auto seats =
      e2e::json(e2e::call(api.http_port(), "GET",
                          "/v1/schedules/" + std::to_string(schedule_ids[0]) + "/seats", {}, token)
                    .body);
  for (const auto& s : seats["seats"].GetArray())
    CHECK(std::string(s["status"].GetString()) == "AVAILABLE");

  // Each buyer is told once: one notifications.hold-expired per hold, keyed
  // by its user, naming the seat and the concert.
  std::map<std::int64_t, Hold> by_reservation;
  std::map<std::int64_t, std::int64_t> user_of;
  for (std::size_t i = 0; i < holds.size(); ++i) {
    by_reservation[holds[i].reservation_id] = holds[i];
    user_of[holds[i].reservation_id] = 9'000'000'101 + static_cast<std::int64_t>(i);
  }
  std::map<std::int64_t, int> told;
  {
    ticketing::events::ConsumerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.group_id = notes_group;
    o.topics = {"notifications.hold-expired"};
    ticketing::events::Consumer reader(o);
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (told.size() < holds.size() && std::chrono::steady_clock::now() < until) {
      auto m = reader.poll(200ms);
      if (!m) continue;
      auto env = ticketing::events::parse_envelope(m->value);
      auto note = ticketing::events::decode<ticketing::events::HoldExpiredNote>(env);
      auto it = by_reservation.find(note.reservation_id);
      if (it == by_reservation.end() || user_of[note.reservation_id] != note.user_id) continue;
      CHECK(note.seat_no == it->second.seat_no);
      CHECK_FALSE(note.concert_title.empty());
      CHECK(m->key == std::to_string(note.user_id));
      ++told[note.reservation_id];
    }
  }
  CHECK(told.size() == holds.size());
  for (const auto& [id, n] : told) CHECK(n == 1);

  // A freed seat can be held again, and a late duplicate seats.expired for
  // the old hold (allowed on the topic) does not touch the new one.
  auto t = active_token(api, ++user);
  auto again =
      e2e::call(api.http_port(), "POST", "/v1/reservations",
                R"({"scheduleId":)" + std::to_string(schedule_ids[0]) + R"(,"seatNo":1})", t);
  REQUIRE(again.status == 201);
  auto new_id = e2e::json(again.body)["reservationId"].GetInt64();
  std::this_thread::sleep_for(1500ms);
  CHECK(count("SELECT COUNT(*) FROM reservations WHERE status = 'HELD' AND id = " +
              std::to_string(new_id)) == 1);
  CHECK(count("SELECT COUNT(*) FROM seats WHERE status = 'HELD' AND schedule_id = " +
              std::to_string(schedule_ids[0]) + " AND seat_no = 1") == 1);

  db.exec_raw("DROP DATABASE `" + api_iso.name + "`");
}
