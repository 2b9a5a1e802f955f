// 10,000 events through libs/events (EventProducer -> Kafka -> HandlingLoop)
// across 3 partitions and 100 keys: all consumed, per-key order kept.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <set>

#include "kafka_fixture.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;

TEST_CASE("10,000 events over 3 partitions: all consumed, per-key order kept", "[stream]") {
  constexpr int kEvents = 10000;
  constexpr int kKeys = 100;
  evtest::TempTopics topics({ticketing::testing::unique_name("it_stream")});
  const std::string topic = topics[0];

  // produce: paymentId is the global sequence number, reservationId the key
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  const auto t0 = std::chrono::steady_clock::now();
  {
    ev::Producer producer(evtest::producer_options("it-stream-producer"));
    ev::EventProducer events(producer);
    for (int i = 0; i < kEvents; ++i) {
      const std::int64_t key = 1 + i % kKeys;
      events.publish(
          evtest::payment_completed(i + 1, key), ev::event_key(key),
          [&](const ev::DeliveryReport& r) { (r.ok ? ok : failed).fetch_add(1); }, topic);
    }
    REQUIRE(producer.flush(60s));
  }
  const double produce_s = evtest::seconds_since(t0);
  REQUIRE(ok.load() == kEvents);
  REQUIRE(failed.load() == 0);

  // consume through the handling loop (envelope parse + schema check)
  ev::Producer dlq_producer(evtest::producer_options("it-stream-dlq"));
  const std::string group = ticketing::testing::unique_name("it_stream_group");
  ev::Consumer consumer(evtest::consumer_options(group, {topic}));
  std::map<std::int64_t, std::vector<std::int64_t>> seq_by_key;
  std::map<std::int64_t, std::set<std::int32_t>> partitions_by_key;
  std::set<std::int32_t> partitions;
  int handled = 0;
  ev::HandlingLoop loop(consumer, dlq_producer, [&](const ev::Event& e) {
    REQUIRE(e.envelope != nullptr);
    const std::int64_t key = std::stoll(e.message.key);
    seq_by_key[key].push_back(evtest::json_int(e.envelope->data_json, "paymentId"));
    CHECK(evtest::json_int(e.envelope->data_json, "reservationId") == key);
    CHECK(e.trace_id == e.envelope->trace_id);
    partitions_by_key[key].insert(e.message.partition);
    partitions.insert(e.message.partition);
    ++handled;
  });
  const auto t1 = std::chrono::steady_clock::now();
  while (handled < kEvents && evtest::seconds_since(t1) < 120) loop.poll_once(100ms);
  const double consume_s = evtest::seconds_since(t1);
  consumer.commit();
  consumer.close();

  ticketing::log::info("stream test", {{"events", std::to_string(kEvents)},
                                       {"produce_s", std::to_string(produce_s)},
                                       {"consume_s", std::to_string(consume_s)}});
  REQUIRE(handled == kEvents);
  CHECK(loop.stats().handled == static_cast<std::uint64_t>(kEvents));
  CHECK(loop.stats().dead_lettered == 0);
  CHECK(partitions.size() == 3);
  REQUIRE(seq_by_key.size() == static_cast<std::size_t>(kKeys));
  std::set<std::int64_t> all;
  for (const auto& [key, seqs] : seq_by_key) {
    INFO("key " << key);
    CHECK(partitions_by_key[key].size() == 1);  // one key, one partition
    CHECK(seqs.size() == static_cast<std::size_t>(kEvents / kKeys));
    // strictly increasing: produced order, no repeats
    CHECK(std::adjacent_find(seqs.begin(), seqs.end(), std::greater_equal<>()) == seqs.end());
    all.insert(seqs.begin(), seqs.end());
  }
  CHECK(all.size() == static_cast<std::size_t>(kEvents));  // no duplicates, none lost
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kEvents);
}

TEST_CASE("warm_up learns the partitions of existing topics only", "[stream]") {
  evtest::TempTopics topics({ticketing::testing::unique_name("it_warm")});
  ev::Producer producer(evtest::producer_options("it-warm-producer"));
  // The broker creates no topic on request (auto.create.topics.enable=false).
  const std::string missing = ticketing::testing::unique_name("it_warm_missing");
  CHECK(producer.warm_up({topics[0]}, 10s) == 1);
  CHECK(producer.warm_up({topics[0], missing}, 3s) == 1);
  // Produced to at once afterwards.
  ev::Record record;
  record.topic = topics[0];
  record.key = "k";
  record.value = "{}";
  auto report = producer.produce(std::move(record)).get();
  CHECK(report.ok);
}
