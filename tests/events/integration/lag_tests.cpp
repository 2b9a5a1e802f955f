// Consumer lag in /metrics: kafka_consumer_lag counts the records a group has
// not handled yet (a paused partition too), kafka_consumer_lag_seconds how
// long the oldest held record has waited; both go to 0 when the records are
// handled or the partition is given up, and a new member starts from the
// group's committed offset.

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "kafka_fixture.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The value of one series of metrics::global(), or nullopt while absent.
std::optional<double> gauge(const std::string& name, const std::string& group,
                            const std::string& topic) {
  const std::string series =
      name + "{group=\"" + group + "\",partition=\"0\",topic=\"" + topic + "\"} ";
  const std::string text = ticketing::metrics::global().render();
  const auto at = text.find(series);
  if (at == std::string::npos) return std::nullopt;
  return std::stod(text.substr(at + series.size()));
}

// Waits up to 20 s for the lag gauge to read `expected`; returns what it read last.
double wait_for_lag(const std::string& group, const std::string& topic, double expected) {
  std::optional<double> v;
  const auto t0 = Clock::now();
  while (evtest::seconds_since(t0) < 20) {
    v = gauge("kafka_consumer_lag", group, topic);
    if (v && *v == expected) break;
    std::this_thread::sleep_for(50ms);
  }
  return v.value_or(-1);
}

void produce(ev::Producer& p, const std::string& topic, std::int64_t first_id, int n) {
  for (int i = 0; i < n; ++i) {
    ev::Record r = ev::make_event_record(evtest::payment_completed(first_id + i, 7), "7", topic);
    r.partition = 0;
    const ev::DeliveryReport rep = p.produce(std::move(r)).get();
    INFO(rep.error);
    REQUIRE(rep.ok);
  }
}

std::vector<ev::Message> poll_n(ev::Consumer& c, std::size_t n) {
  std::vector<ev::Message> out;
  const auto t0 = Clock::now();
  while (out.size() < n && evtest::seconds_since(t0) < 30) {
    if (auto m = c.poll(100ms)) out.push_back(std::move(*m));
  }
  REQUIRE(out.size() == n);
  return out;
}

}  // namespace

TEST_CASE("consumer lag: rises while a partition is paused, drops when handled or given up",
          "[lag]") {
  evtest::TempTopics topics({ticketing::testing::unique_name("it_lag")}, 1);
  const std::string topic = topics[0];
  const std::string group = ticketing::testing::unique_name("it_lag_group");
  ev::Producer producer(evtest::producer_options("it-lag-producer"));
  auto options = evtest::consumer_options(group, {topic});
  options.lag_interval = 100ms;

  produce(producer, topic, 1, 5);
  {
    ev::Consumer first(options);
    const auto held = poll_n(first, 5);
    REQUIRE(first.store(held[1]));  // two handled: the group's next record is offset 2
    first.pause(topic, 0);
    produce(producer, topic, 6, 3);  // arrive while nobody reads the partition
    CHECK(wait_for_lag(group, topic, 6) == 6);
    std::this_thread::sleep_for(300ms);
    const auto waited = gauge("kafka_consumer_lag_seconds", group, topic);
    REQUIRE(waited.has_value());
    CHECK(*waited >= 0.2);  // offset 2 was produced before the sleep
    CHECK(*waited < 60);
    first.close();  // gives the partition up, committing offset 2
    CHECK(gauge("kafka_consumer_lag", group, topic) == 0);
    CHECK(gauge("kafka_consumer_lag_seconds", group, topic) == 0);
  }
  ev::Consumer second(options);
  // Nothing stored by this member yet: measured from the committed offset.
  const auto first_seen = poll_n(second, 1);
  CHECK(first_seen[0].offset == 2);
  CHECK(wait_for_lag(group, topic, 6) == 6);
  const auto rest = poll_n(second, 5);
  REQUIRE(second.store(rest.back()));
  CHECK(wait_for_lag(group, topic, 0) == 0);
  CHECK(gauge("kafka_consumer_lag_seconds", group, topic) == 0);
}
