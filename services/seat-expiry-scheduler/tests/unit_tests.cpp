// Pure rules of the scheduler: timer payloads and seats.expired batching.
#include <catch2/catch.hpp>

#include <set>

#include "domain/timer.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"

using namespace ticketing::scheduler;

namespace {

Timer timer(std::int64_t id, std::int64_t schedule, std::int64_t expires_ms = 1000) {
  Timer t;
  t.reservation_id = id;
  t.bucket = static_cast<std::int32_t>(id % 3);
  t.schedule_id = schedule;
  t.seat_no = static_cast<std::int32_t>(id % 50 + 1);
  t.expires_at = "2026-11-24T05:33:04.123Z";
  t.expires_ms = expires_ms;
  return t;
}

}  // namespace

TEST_CASE("payload round-trips and rejects foreign text") {
  auto t = timer(42, 7);
  t.expires_at = "2026-11-24T05:33:04.5+02:00";
  auto decoded = decode_payload(42, encode_payload(t));
  REQUIRE(decoded);
  CHECK(decoded->reservation_id == 42);
  CHECK(decoded->bucket == t.bucket);
  CHECK(decoded->schedule_id == 7);
  CHECK(decoded->seat_no == t.seat_no);
  CHECK(decoded->expires_at == t.expires_at);
  CHECK(decoded->expires_ms == 1795491184500);  // 03:33:04.5Z

  CHECK_FALSE(decode_payload(1, ""));
  CHECK_FALSE(decode_payload(1, "0|1|2"));
  CHECK_FALSE(decode_payload(1, "x|1|2|2026-11-24T05:33:04Z"));
  CHECK_FALSE(decode_payload(1, "0|1|2|yesterday"));
  CHECK_FALSE(decode_payload(1, "0|1|2 |2026-11-24T05:33:04Z"));
  CHECK(decode_payload(1, "0|1|50|2026-11-24T05:33:04Z"));
  CHECK_FALSE(decode_payload(1, "0|1|0|2026-11-24T05:33:04Z"));
  CHECK_FALSE(decode_payload(1, "0|1|51|2026-11-24T05:33:04Z"));
  CHECK_FALSE(decode_payload(1, "0|0|5|2026-11-24T05:33:04Z"));
  CHECK_FALSE(decode_payload(0, "0|1|5|2026-11-24T05:33:04Z"));
}

TEST_CASE("due timers are batched per schedule, at most max seats a record") {
  std::vector<Timer> due;
  for (int i = 1; i <= 1203; ++i) due.push_back(timer(i, 100));
  for (int i = 2000; i < 2010; ++i) due.push_back(timer(i, 5, 2000 - i));
  auto batches = plan_batches(due, 500);
  REQUIRE(batches.size() == 4);
  CHECK(batches[0].schedule_id == 5);
  CHECK(batches[0].timers.size() == 10);
  CHECK(batches[0].timers.front().reservation_id == 2009);  // earliest first
  CHECK(batches[1].timers.size() == 500);
  CHECK(batches[2].timers.size() == 500);
  CHECK(batches[3].timers.size() == 203);
  std::set<std::int64_t> seen;
  for (const auto& b : batches) {
    for (const auto& t : b.timers) {
      CHECK(t.schedule_id == b.schedule_id);
      seen.insert(t.reservation_id);
    }
  }
  CHECK(seen.size() == due.size());
  CHECK(plan_batches({}, 500).empty());
  CHECK_THROWS(plan_batches(due, 0));
}

TEST_CASE("seats.expired data validates against the schema, up to 500 seats") {
  std::vector<Timer> due;
  for (int i = 1; i <= 501; ++i) due.push_back(timer(i, 9));
  auto batches = plan_batches(due, 500);
  REQUIRE(batches.size() == 2);
  for (const auto& b : batches) {
    auto env = ticketing::events::make_envelope(to_event(b), "seat-expiry-scheduler");
    auto record = ticketing::events::make_event_record(env, "9");
    CHECK(record.topic == "seats.expired");
    CHECK(record.key == "9");
  }
  // 501 seats in one record is over the schema's limit: never produced.
  ExpiryBatch too_big{9, due};
  auto env = ticketing::events::make_envelope(to_event(too_big), "seat-expiry-scheduler");
  CHECK_THROWS_AS(ticketing::events::make_event_record(env, "9"), ticketing::PoisonError);
}
