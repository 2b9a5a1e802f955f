#include <catch2/catch.hpp>

#include <string>

#include "ticketing/common/ids.hpp"
#include "ticketing/events/dlq.hpp"

using namespace ticketing::events;

TEST_CASE("dlq_topic_for follows the manifest's naming", "[dlq]") {
  CHECK(dlq_topic_for("reservation.held") == "reservation.held.dlq");
  CHECK(dlq_topic_for("reservation.confirmed") == "reservation.confirmed.dlq");
  CHECK(dlq_topic_for("seats.expired") == "seats.expired.dlq");
  CHECK(dlq_topic_for("payment.completed") == "payment.completed.dlq");
  CHECK(dlq_topic_for("notifications.payment-completed") == "notifications.dlq");
  CHECK(dlq_topic_for("notifications.reservation-completed") == "notifications.dlq");
  CHECK(dlq_topic_for("notifications.payment-refunded") == "notifications.dlq");
  CHECK(dlq_topic_for("notificationsX") == "notificationsX.dlq");
  CHECK(dlq_topic_for("it_topic_1") == "it_topic_1.dlq");
}

TEST_CASE("a dead letter keeps key, value and headers and adds dlq-* headers", "[dlq]") {
  Message m;
  m.topic = "payment.completed";
  m.partition = 2;
  m.offset = 41;
  m.key = "1042";
  m.has_key = true;
  m.value = "{broken";
  m.headers = {{"event-type", "payment.completed"}, {"traceparent", "00-abc"}};
  Record r = make_dead_letter(m, "poison: not JSON", 1, "reservation-api");
  CHECK(r.topic == "payment.completed.dlq");
  CHECK(r.key == "1042");
  CHECK(r.value == "{broken");
  CHECK(r.partition == -1);
  auto header = [&r](std::string_view k) -> std::string {
    for (const auto& h : r.headers) {
      if (h.key == k) return h.value;
    }
    return "<absent>";
  };
  CHECK(header("event-type") == "payment.completed");
  CHECK(header("traceparent") == "00-abc");
  CHECK(header("dlq-original-topic") == "payment.completed");
  CHECK(header("dlq-original-partition") == "2");
  CHECK(header("dlq-original-offset") == "41");
  CHECK(header("dlq-original-key") == "1042");
  CHECK(header("dlq-error") == "poison: not JSON");
  CHECK(header("dlq-attempts") == "1");
  CHECK(header("dlq-consumer-group") == "reservation-api");
  CHECK(ticketing::parse_rfc3339(header("dlq-failed-at")).has_value());

  Record custom = make_dead_letter(m, std::string(10000, 'x'), 5, "g", "elsewhere");
  CHECK(custom.topic == "elsewhere");
  for (const auto& h : custom.headers) {
    if (h.key == "dlq-error") CHECK(h.value.size() == 4096);
  }
}

TEST_CASE("retry backoff grows exponentially up to the cap", "[dlq]") {
  RetryPolicy p;
  p.initial_backoff = std::chrono::milliseconds(100);
  p.max_backoff = std::chrono::milliseconds(1000);
  p.multiplier = 2.0;
  CHECK(p.backoff(1).count() == 100);
  CHECK(p.backoff(2).count() == 200);
  CHECK(p.backoff(3).count() == 400);
  CHECK(p.backoff(4).count() == 800);
  CHECK(p.backoff(5).count() == 1000);
  CHECK(p.backoff(50).count() == 1000);
}

TEST_CASE("retry jitter draws each delay from [(1 - jitter) * backoff, backoff]", "[dlq]") {
  RetryPolicy p;
  p.initial_backoff = std::chrono::milliseconds(1000);
  p.max_backoff = std::chrono::milliseconds(4000);
  p.jitter = 0.5;
  std::minstd_rand rng(7);
  std::int64_t lo = 1'000'000, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    auto d = p.jittered(3, rng).count();  // backoff(3) = 4000
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(lo >= 2000);
  CHECK(hi <= 4000);
  CHECK(hi - lo > 1500);  // really spread, not a constant
  p.jitter = 0;
  CHECK(p.jittered(2, rng).count() == 2000);
}

TEST_CASE("the stall board lists partitions stalled longer than a threshold, longest first",
          "[dlq]") {
  StallBoard board;
  const auto now = StallBoard::Clock::now();
  board.update({"a", 0}, now - std::chrono::seconds(40), 9, "db: down");
  board.update({"b", 2}, now - std::chrono::seconds(90), 30, "redis: down");
  board.update({"c", 1}, now - std::chrono::seconds(2), 1, "db: deadlock");
  auto over = board.longer_than(std::chrono::seconds(30));
  REQUIRE(over.size() == 2);
  CHECK(over[0].partition.topic == "b");
  CHECK(over[0].attempts == 30);
  CHECK(over[1].partition.topic == "a");
  CHECK(over[1].error == "db: down");
  board.clear({"b", 2});
  CHECK(board.longer_than(std::chrono::seconds(30)).size() == 1);
}

TEST_CASE("Message::header returns the last occurrence", "[dlq]") {
  Message m;
  m.headers = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  REQUIRE(m.header("a") != nullptr);
  CHECK(*m.header("a") == "3");
  CHECK(*m.header("b") == "2");
  CHECK(m.header("c") == nullptr);
}
