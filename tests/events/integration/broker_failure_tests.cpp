// SIGKILL one of the three brokers while a stream is being produced
// (acks=all, idempotence, RF 3, min.insync.replicas=2): every record whose
// delivery report said ok must be read back, and idempotence should leave no
// duplicate.

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kafka_fixture.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;

TEST_CASE("a broker SIGKILLed mid-stream loses no acknowledged record", "[broker-failure]") {
  constexpr int kEvents = 20000;
  constexpr int kChunk = 200;          // records per 100 ms: the stream lasts ~10 s
  constexpr int kKillAfterChunk = 25;  // ~2.5 s in
  constexpr int kKeys = 100;
  evtest::TempTopics topics({ticketing::testing::unique_name("it_brokerkill")});
  const std::string topic = topics[0];

  std::mutex mu;
  std::set<std::int64_t> acked;
  std::map<std::int64_t, std::string> failed;
  std::set<std::int32_t> acked_partitions;
  double killed_at_s = 0;
  double produce_s = 0;
  double flush_s = 0;
  {
    evtest::BrokerKiller killer(2);
    {
      auto opts = evtest::producer_options("it-brokerkill-producer");
      opts.delivery_timeout_ms = 120000;
      ev::Producer producer(opts);
      ev::EventProducer events(producer);
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kEvents; ++i) {
        if (i == kKillAfterChunk * kChunk) {
          killer.kill();
          killed_at_s = evtest::seconds_since(t0);
        }
        const std::int64_t seq = i + 1;
        const std::int64_t key = 1 + i % kKeys;
        events.publish(
            evtest::payment_completed(seq, key), ev::event_key(key),
            [&, seq](const ev::DeliveryReport& r) {
              std::lock_guard lock(mu);
              if (r.ok) {
                acked.insert(seq);
                acked_partitions.insert(r.partition);
              } else {
                failed[seq] = r.error;
              }
            },
            topic);
        if ((i + 1) % kChunk == 0) std::this_thread::sleep_for(100ms);
      }
      produce_s = evtest::seconds_since(t0);
      // Partitions led by the dead node wait for a new leader (the broker's
      // session has to time out first), so give the flush time.
      CHECK(producer.flush(150s));
      flush_s = evtest::seconds_since(t0);
      CHECK_FALSE(producer.fatal());
    }
    killer.restart();  // at the end, as planned; the guard restarts it on failure too
  }
  ticketing::log::info("broker failure test: produced",
                       {{"acked", std::to_string(acked.size())},
                        {"failed", std::to_string(failed.size())},
                        {"killed_at_s", std::to_string(killed_at_s)},
                        {"produce_s", std::to_string(produce_s)},
                        {"flush_s", std::to_string(flush_s)}});
  if (!failed.empty()) {
    INFO("first failed delivery: " << failed.begin()->first << ": " << failed.begin()->second);
    CHECK(failed.empty());
  }
  REQUIRE(acked.size() + failed.size() == static_cast<std::size_t>(kEvents));
  CHECK(acked_partitions.size() == 3);

  const auto t1 = std::chrono::steady_clock::now();
  const auto records = evtest::read_all({topic}, acked.size(), 20s, 180s);
  const double read_s = evtest::seconds_since(t1);
  std::map<std::int64_t, int> seen;
  for (const auto& m : records) {
    const auto env = ev::parse_envelope(m.value);
    ++seen[evtest::json_int(env.data_json, "paymentId")];
  }
  std::size_t lost = 0;
  for (auto seq : acked) lost += seen.count(seq) == 0 ? 1 : 0;
  std::size_t duplicates = 0;
  for (const auto& [seq, n] : seen) duplicates += static_cast<std::size_t>(n - 1);
  std::size_t failed_but_present = 0;
  for (const auto& [seq, err] : failed) failed_but_present += seen.count(seq);
  ticketing::log::info("broker failure test: read back",
                       {{"records", std::to_string(records.size())},
                        {"distinct", std::to_string(seen.size())},
                        {"lost", std::to_string(lost)},
                        {"duplicates", std::to_string(duplicates)},
                        {"failed_but_present", std::to_string(failed_but_present)},
                        {"read_s", std::to_string(read_s)}});
  CHECK(lost == 0);
  CHECK(duplicates == 0);
  CHECK(seen.size() == acked.size() + failed_but_present);

  // the cluster is whole again for whoever runs next
  CHECK(ev::wait_for_brokers(evtest::bootstrap(), 3, 90s) >= 3);
}
