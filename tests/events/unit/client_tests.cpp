// Producer and consumer behaviour that needs no broker: an unreachable
// bootstrap address (nothing listens on 127.0.0.1:1).

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "ticketing/common/error.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/producer.hpp"

using namespace ticketing::events;
using namespace std::chrono_literals;

namespace {

ProducerOptions unreachable() {
  ProducerOptions o;
  o.bootstrap_servers = "127.0.0.1:1";
  o.client_id = "unit-producer";
  o.delivery_timeout_ms = 1000;
  return o;
}

}  // namespace

TEST_CASE("acks and idempotence cannot be weakened", "[producer]") {
  auto o = unreachable();
  o.extra["acks"] = "1";
  CHECK_THROWS_AS(Producer(o), ticketing::KafkaError);
  o.extra = {{"enable.idempotence", "false"}};
  CHECK_THROWS_AS(Producer(o), ticketing::KafkaError);
  o.extra = {{"acks", "all"}, {"enable.idempotence", "true"}};
  CHECK_NOTHROW(Producer(o));
  o.extra = {{"no.such.property", "1"}};
  CHECK_THROWS_AS(Producer(o), ticketing::KafkaError);
  o = unreachable();
  o.bootstrap_servers.clear();
  CHECK_THROWS_AS(Producer(o), ticketing::KafkaError);
}

TEST_CASE("an undeliverable record gets exactly one retryable failure report", "[producer]") {
  Producer p(unreachable());
  std::atomic<int> calls{0};
  std::promise<DeliveryReport> done;
  p.produce(Record{"unit.topic", "k", "v", {{"h", "1"}}, -1}, [&](const DeliveryReport& r) {
    if (calls.fetch_add(1) == 0) done.set_value(r);
  });
  auto fut = done.get_future();
  REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  const DeliveryReport r = fut.get();
  CHECK_FALSE(r.ok);
  CHECK(r.retryable);
  CHECK_FALSE(r.error.empty());
  CHECK(r.topic == "unit.topic");
  CHECK(p.flush(5s));
  CHECK(calls.load() == 1);
  CHECK(p.in_flight() == 0);
  CHECK_FALSE(p.fatal());
  CHECK_FALSE(p.ping(200ms));
  CHECK(ticketing::metrics::global()
            .counter("events_produced_total", "", {{"topic", "unit.topic"}, {"result", "failed"}})
            .value() >= 1);
}

TEST_CASE("a full local queue makes produce throw a retryable KafkaError", "[producer]") {
  auto o = unreachable();
  o.delivery_timeout_ms = 60000;
  o.queue_full_timeout = 100ms;
  o.close_timeout = 200ms;
  o.extra["queue.buffering.max.messages"] = "2";
  std::atomic<int> reports{0};
  {
    Producer p(o);
    p.produce(Record{"unit.q", "", "1", {}, -1}, [&](const DeliveryReport&) { ++reports; });
    p.produce(Record{"unit.q", "", "2", {}, -1}, [&](const DeliveryReport&) { ++reports; });
    const auto t0 = std::chrono::steady_clock::now();
    try {
      p.produce(Record{"unit.q", "", "3", {}, -1}, [&](const DeliveryReport&) { ++reports; });
      FAIL("no exception");
    } catch (const ticketing::KafkaError& e) {
      CHECK(e.retryable());
      CHECK(std::string(e.what()).find("QUEUE_FULL") != std::string::npos);
    }
    CHECK(std::chrono::steady_clock::now() - t0 >= 100ms);
    CHECK(p.in_flight() == 2);
    CHECK_FALSE(p.flush(100ms));
  }
  // the destructor purged the two records: each callback ran once, the
  // rejected record's never
  CHECK(reports.load() == 2);
}

TEST_CASE("the future overload resolves with the report", "[producer]") {
  Producer p(unreachable());
  auto fut = p.produce(Record{"unit.f", "k", "v", {}, 0});
  REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  const auto r = fut.get();
  CHECK_FALSE(r.ok);
  CHECK(r.partition == 0);
}

TEST_CASE("consumer configuration is checked at construction", "[consumer]") {
  ConsumerOptions o;
  o.bootstrap_servers = "127.0.0.1:1";
  o.group_id = "unit-group";
  o.topics = {"unit.topic"};
  {
    Consumer c(o);
    CHECK(c.assignment().empty());
    CHECK_FALSE(c.poll(50ms).has_value());
    CHECK(c.options().group_id == "unit-group");
    c.close();
    CHECK(c.closed());
    c.close();  // idempotent
    CHECK_THROWS_AS(c.poll(10ms), ticketing::KafkaError);
  }
  auto bad = o;
  bad.group_id.clear();
  CHECK_THROWS_AS(Consumer(bad), ticketing::KafkaError);
  bad = o;
  bad.topics.clear();
  CHECK_THROWS_AS(Consumer(bad), ticketing::KafkaError);
  bad = o;
  bad.extra["enable.auto.offset.store"] = "true";
  CHECK_THROWS_AS(Consumer(bad), ticketing::KafkaError);
  bad = o;
  bad.auto_offset_reset = "sideways";
  CHECK_THROWS_AS(Consumer(bad), ticketing::KafkaError);
}
