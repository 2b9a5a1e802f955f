// Poison pills and handler failures end in the topic's DLQ with the dlq-*
// headers; the partition keeps flowing afterwards, in order.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <vector>

#include "kafka_fixture.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;

namespace {

void produce_sync(ev::Producer& p, ev::Record r) {
  const ev::DeliveryReport rep = p.produce(std::move(r)).get();
  INFO(rep.error);
  REQUIRE(rep.ok);
}

std::string header(const ev::Message& m, std::string_view name) {
  const std::string* v = m.header(name);
  return v != nullptr ? *v : std::string("<absent>");
}

}  // namespace

TEST_CASE("poison records go to the DLQ with dlq headers; the next good record is handled",
          "[dlq]") {
  const std::string base = ticketing::testing::unique_name("it_poison");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  const std::string dlq = topics[1];
  REQUIRE(dlq == base + ".dlq");

  ev::Producer producer(evtest::producer_options("it-poison-producer"));
  // 0: not JSON at all
  produce_sync(producer, {base, "7", "{not json", {{"event-type", "payment.completed"}}, 0});
  // 1: valid JSON envelope that violates the schema (negative amount)
  ev::Envelope bad = evtest::payment_completed(1, 7, 100);
  bad.data_json =
      R"({"paymentId":1,"reservationId":7,"userId":8,"amount":-1,"paidAt":"2026-01-01T00:00:00Z"})";
  produce_sync(producer, {base,
                          "7",
                          ev::to_json(bad),
                          {{"event-type", "payment.completed"},
                           {"traceparent", ev::make_traceparent(bad.trace_id)}},
                          0});
  // 2: a well-formed envelope of a type nobody knows
  ev::Envelope unknown = evtest::payment_completed(2, 7);
  unknown.type = "payment.sideways";
  produce_sync(producer, {base, "7", ev::to_json(unknown), {}, 0});
  // 3: a good event, same key and partition
  const ev::Envelope good = evtest::payment_completed(3, 7);
  ev::Record good_record = ev::make_event_record(good, "7", base);
  good_record.partition = 0;
  produce_sync(producer, good_record);

  const std::string group = ticketing::testing::unique_name("it_poison_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  std::vector<std::string> handled_ids;
  std::string handled_trace;
  ev::HandlingLoop loop(consumer, producer, [&](const ev::Event& e) {
    handled_ids.push_back(e.envelope->event_id);
    handled_trace = e.trace_id;
    CHECK(e.attempt == 1);
  });
  const auto t0 = std::chrono::steady_clock::now();
  while ((handled_ids.empty() || loop.stats().dead_lettered < 3) &&
         evtest::seconds_since(t0) < 60) {
    loop.poll_once(100ms);
  }
  REQUIRE(handled_ids.size() == 1);
  CHECK(handled_ids[0] == good.event_id);
  CHECK(handled_trace == good.trace_id);
  CHECK(loop.stats().dead_lettered == 3);
  CHECK(loop.stats().poison == 3);
  CHECK(loop.blocked_partitions() == 0);
  auto& registry = ticketing::metrics::global();
  CHECK(registry.counter("events_dead_lettered_total", "", {{"topic", base}}).value() == 3);
  CHECK(
      registry.counter("events_consumed_total", "", {{"topic", base}, {"result", "ok"}}).value() ==
      1);
  CHECK(
      registry.counter("events_consumed_total", "", {{"topic", base}, {"result", "dead_lettered"}})
          .value() == 3);
  CHECK(registry.render().find("events_produced_total{result=\"ok\",topic=\"" + dlq + "\"} 3") !=
        std::string::npos);
  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(4));
  consumer.close();

  const auto letters = evtest::read_all({dlq}, 3, 5s, 60s);
  REQUIRE(letters.size() == 3);
  const std::vector<std::string> values = {"{not json", ev::to_json(bad), ev::to_json(unknown)};
  for (std::size_t i = 0; i < letters.size(); ++i) {
    const auto& m = letters[i];  // one key: one DLQ partition, original order
    INFO("dead letter " << i << ": " << header(m, "dlq-error"));
    CHECK(m.key == "7");
    CHECK(m.value == values[i]);
    CHECK(header(m, "dlq-original-topic") == base);
    CHECK(header(m, "dlq-original-partition") == "0");
    CHECK(header(m, "dlq-original-offset") == std::to_string(i));
    CHECK(header(m, "dlq-original-key") == "7");
    CHECK(header(m, "dlq-error").rfind("poison: ", 0) == 0);
    CHECK(header(m, "dlq-attempts") == "1");
    CHECK(header(m, "dlq-consumer-group") == group);
    CHECK(ticketing::parse_rfc3339(header(m, "dlq-failed-at")).has_value());
  }
  CHECK(header(letters[0], "event-type") == "payment.completed");  // original headers kept
  CHECK(header(letters[0], "dlq-error").find("not valid JSON") != std::string::npos);
  CHECK(header(letters[1], "dlq-error").find("'minimum'") != std::string::npos);
  CHECK(header(letters[1], "dlq-error").find("#/data/amount") != std::string::npos);
  CHECK(ev::trace_id_from_traceparent(header(letters[1], "traceparent")) == bad.trace_id);
  CHECK(header(letters[2], "dlq-error").find("unknown event type") != std::string::npos);
}

TEST_CASE(
    "an outage is retried for as long as it lasts; only permanent failures are dead-lettered; "
    "order is kept",
    "[dlq]") {
  const std::string base = ticketing::testing::unique_name("it_retry");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  ev::Producer producer(evtest::producer_options("it-retry-producer"));
  // partition 0: e1 (deadlock twice, then works), e2 (Redis down for 7
  // attempts, then works), e3 (permanent), e4 (unknown exception, always),
  // e5 (fine)
  // partition 1: other (fine) - must not wait for partition 0's backoff
  std::vector<ev::Envelope> p0;
  for (int i = 1; i <= 5; ++i) p0.push_back(evtest::payment_completed(i, 11));
  const ev::Envelope other = evtest::payment_completed(99, 12);
  for (const auto& e : p0) {
    ev::Record r = ev::make_event_record(e, "11", base);
    r.partition = 0;
    produce_sync(producer, r);
  }
  ev::Record ro = ev::make_event_record(other, "12", base);
  ro.partition = 1;
  produce_sync(producer, ro);

  const std::string group = ticketing::testing::unique_name("it_retry_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  ev::HandlingOptions opts;
  opts.retry.max_attempts = 3;  // unknown exceptions only
  opts.retry.initial_backoff = 100ms;
  opts.retry.max_backoff = 200ms;
  opts.retry.jitter = 0;
  struct Call {
    std::string id;
    int attempt;
    std::chrono::steady_clock::time_point at;
  };
  std::vector<Call> calls;
  std::size_t longest_stall_seen = 0;
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        calls.push_back({e.envelope->event_id, e.attempt, std::chrono::steady_clock::now()});
        const std::string& id = e.envelope->event_id;
        if (id == p0[0].event_id && e.attempt < 3) throw ticketing::DbError("deadlock", true);
        if (id == p0[1].event_id && e.attempt < 8)
          throw ticketing::RedisError("connection refused", true);
        if (id == p0[2].event_id) throw ticketing::DbError("constraint violated", false);
        if (id == p0[3].event_id) throw std::runtime_error("bug");
      },
      opts);
  const auto t0 = std::chrono::steady_clock::now();
  while ((loop.stats().handled < 4 || loop.stats().dead_lettered < 2) &&
         evtest::seconds_since(t0) < 60) {
    loop.poll_once(100ms);
    for (const auto& s : loop.stalls().longer_than(0ms)) {
      CHECK(s.partition.partition == 0);
      longest_stall_seen = std::max(longest_stall_seen, static_cast<std::size_t>(s.attempts));
    }
  }
  const auto stats = loop.stats();
  CHECK(stats.handled == 4);        // e1, e2, e5, other
  CHECK(stats.dead_lettered == 2);  // e3, e4
  CHECK(stats.retries == 2 + 7 + 2);
  CHECK(stats.poison == 0);
  CHECK(longest_stall_seen == 7);                 // e2's seven failed attempts were on the board
  CHECK(loop.stalls().longer_than(0ms).empty());  // flowing again

  // partition 0's calls, in order: e1 x3, e2 x8, e3 x1, e4 x3, e5 x1
  std::vector<std::pair<std::string, int>> seq0;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> times;
  for (const auto& c : calls) {
    times[c.id].push_back(c.at);
    if (c.id != other.event_id) seq0.emplace_back(c.id, c.attempt);
  }
  std::vector<std::pair<std::string, int>> want = {
      {p0[0].event_id, 1}, {p0[0].event_id, 2}, {p0[0].event_id, 3}};
  for (int i = 1; i <= 8; ++i) want.emplace_back(p0[1].event_id, i);
  want.emplace_back(p0[2].event_id, 1);
  for (int i = 1; i <= 3; ++i) want.emplace_back(p0[3].event_id, i);
  want.emplace_back(p0[4].event_id, 1);
  CHECK(seq0 == want);
  // backoff really waited (100 ms, then 200 ms, capped at 200 ms)
  REQUIRE(times[p0[0].event_id].size() == 3);
  CHECK(times[p0[0].event_id][1] - times[p0[0].event_id][0] >= 95ms);
  CHECK(times[p0[0].event_id][2] - times[p0[0].event_id][1] >= 195ms);
  // the other partition did not wait for partition 0's retries
  REQUIRE(times[other.event_id].size() == 1);
  CHECK(times[other.event_id][0] < times[p0[0].event_id][2]);

  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(5));
  CHECK(consumer.committed(base, 1, 10s) == std::optional<std::int64_t>(1));
  consumer.close();

  const auto letters = evtest::read_all({ev::dlq_topic_for(base)}, 2, 5s, 60s);
  REQUIRE(letters.size() == 2);
  CHECK(ev::parse_envelope(letters[0].value).event_id == p0[2].event_id);
  CHECK(header(letters[0], "dlq-attempts") == "1");
  CHECK(header(letters[0], "dlq-error") == "db: constraint violated");
  CHECK(header(letters[0], "event-type") == "payment.completed");
  CHECK(ev::parse_envelope(letters[1].value).event_id == p0[3].event_id);
  CHECK(header(letters[1], "dlq-attempts") == "3");
  CHECK(header(letters[1], "dlq-error") == "bug");
}

TEST_CASE("a failed DLQ produce is retried and the offset is stored only after the ack", "[dlq]") {
  // The DLQ topic does not exist at first: the dead letter cannot be
  // delivered, the record must stay unstored and its partition blocked.
  const std::string base = ticketing::testing::unique_name("it_dlqdown");
  evtest::TempTopics topics({base});
  auto popts = evtest::producer_options("it-dlqdown-producer");
  ev::Producer producer(popts);
  ev::Record poison{base, "5", "not json", {}, 0};
  produce_sync(producer, poison);
  const ev::Envelope after = evtest::payment_completed(2, 5);
  ev::Record next = ev::make_event_record(after, "5", base);
  next.partition = 0;
  produce_sync(producer, next);

  auto dlq_opts = evtest::producer_options("it-dlqdown-dlq");
  dlq_opts.delivery_timeout_ms = 3000;  // fail fast while the DLQ topic is missing
  dlq_opts.extra["topic.metadata.propagation.max.ms"] = "1000";
  ev::Producer dlq_producer(dlq_opts);
  const std::string group = ticketing::testing::unique_name("it_dlqdown_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  ev::HandlingOptions opts;
  opts.dlq_retry_backoff = 500ms;
  std::vector<std::string> handled;
  ev::HandlingLoop loop(
      consumer, dlq_producer, [&](const ev::Event& e) { handled.push_back(e.envelope->event_id); },
      opts);
  const auto t0 = std::chrono::steady_clock::now();
  while (loop.stats().dlq_failures < 2 && evtest::seconds_since(t0) < 60) loop.poll_once(100ms);
  REQUIRE(loop.stats().dlq_failures >= 2);
  CHECK(loop.stats().dead_lettered == 0);
  CHECK(handled.empty());  // the good record behind it waits: order is kept
  CHECK(loop.blocked_partitions() == 1);
  consumer.commit();
  CHECK_FALSE(consumer.committed(base, 0, 10s).has_value());

  // the DLQ comes back: the dead letter goes through, then the good record
  evtest::TempTopics dlq_topic({ev::dlq_topic_for(base)});
  const auto t1 = std::chrono::steady_clock::now();
  while (handled.empty() && evtest::seconds_since(t1) < 60) loop.poll_once(100ms);
  REQUIRE(handled.size() == 1);
  CHECK(handled[0] == after.event_id);
  CHECK(loop.stats().dead_lettered == 1);
  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(2));
  consumer.close();
  const auto letters = evtest::read_all({ev::dlq_topic_for(base)}, 1, 3s, 30s);
  REQUIRE(letters.size() >= 1);
  CHECK(letters[0].value == "not json");
}

TEST_CASE("records backing off when their partition is revoked are handled by the next owner",
          "[dlq]") {
  const std::string base = ticketing::testing::unique_name("it_rebalance");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  constexpr int kEvents = 30;
  {
    ev::Producer producer(evtest::producer_options("it-rebalance-producer"));
    ev::EventProducer events(producer);
    for (int i = 1; i <= kEvents; ++i) {
      (void)events.publish(evtest::payment_completed(i, i), ev::event_key(i), base);
    }
    REQUIRE(producer.flush(30s));
  }
  ev::Producer dlq_producer(evtest::producer_options("it-rebalance-dlq"));
  const std::string group = ticketing::testing::unique_name("it_rebalance_group");
  std::set<std::string> failed_once;
  std::set<std::string> handled;
  // The first three records of each partition fail once and back off for
  // 1.5 s, so a partition is very likely blocked when the rebalance comes.
  auto handler = [&](const ev::Event& e) {
    const std::string& id = e.envelope->event_id;
    if (e.message.offset < 3 && failed_once.insert(id).second) {
      throw ticketing::DbError("lock wait timeout", true);
    }
    handled.insert(id);
  };
  ev::HandlingOptions opts;
  opts.retry.initial_backoff = 1500ms;
  ev::Consumer c1(evtest::consumer_options(group, {base}));
  ev::HandlingLoop loop1(c1, dlq_producer, handler, opts);
  const auto t0 = std::chrono::steady_clock::now();
  while (loop1.stats().retries < 4 && evtest::seconds_since(t0) < 60) loop1.poll_once(50ms);
  REQUIRE(loop1.blocked_partitions() >= 1);

  // a second member joins: the eager rebalance revokes c1's partitions, some
  // of them with a record in backoff that was never stored
  ev::Consumer c2(evtest::consumer_options(group, {base}));
  ev::HandlingLoop loop2(c2, dlq_producer, handler, opts);
  while (handled.size() < static_cast<std::size_t>(kEvents) && evtest::seconds_since(t0) < 90) {
    loop1.poll_once(50ms);
    loop2.poll_once(50ms);
  }
  CHECK(handled.size() == static_cast<std::size_t>(kEvents));
  CHECK(loop1.stats().dead_lettered + loop2.stats().dead_lettered == 0);
  // the eager rebalance revoked c1's partitions while records were blocked
  CHECK(loop1.stats().dropped_on_revoke >= 1);
  CHECK(c1.assignment().size() + c2.assignment().size() == 3);
  c1.commit();
  c2.commit();
  std::int64_t committed = 0;
  for (std::int32_t p = 0; p < 3; ++p) committed += c1.committed(base, p, 10s).value_or(0);
  CHECK(committed == kEvents);
  c2.close();
  c1.close();
}

TEST_CASE("a group starting at latest hands a blocked record to the next owner, not past it",
          "[dlq]") {
  const std::string base = ticketing::testing::unique_name("it_revoke_latest");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  constexpr std::int32_t kPartitions = 3;
  constexpr int kEvents = 30;
  constexpr std::int64_t kWarmUp = 100000;  // payment ids of the warm-up records
  const std::string group = ticketing::testing::unique_name("it_revoke_latest_group");
  auto options = evtest::consumer_options(group, {base});
  options.auto_offset_reset = "latest";  // as the test stacks' service groups

  ev::Producer producer(evtest::producer_options("it-revoke-latest"));
  std::int64_t published = 0;
  auto publish = [&](std::int64_t id, std::int32_t partition) {
    ev::Record r =
        ev::make_event_record(evtest::payment_completed(id, id), ev::event_key(id), base);
    r.partition = partition;
    produce_sync(producer, std::move(r));
    ++published;
  };
  std::set<std::string> failed_once;
  std::set<std::string> handled;
  // Each partition's first record fails once and then waits a minute: the
  // partitions are blocked, with nothing stored, when the second member comes.
  auto handler = [&](const ev::Event& e) {
    const auto id = e.envelope->event_id;
    if (e.message.value.find("\"paymentId\":" + std::to_string(kWarmUp)) != std::string::npos) {
      return;
    }
    if (failed_once.insert(id).second) throw ticketing::DbError("lock wait timeout", true);
    handled.insert(id);
  };
  ev::HandlingOptions opts;
  opts.retry.initial_backoff = 60s;
  ev::Consumer c1(options);
  ev::HandlingLoop loop1(c1, producer, handler, opts);

  // Warm-up through the bare consumer (nothing stored): c1 has resolved
  // "latest" on every partition before the records of the test exist.
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::int32_t> seen;
  while (seen.size() < static_cast<std::size_t>(kPartitions) && evtest::seconds_since(t0) < 60) {
    for (std::int32_t p = 0; p < kPartitions; ++p) {
      if (seen.count(p) == 0) publish(kWarmUp, p);
    }
    for (int i = 0; i < 5; ++i) {
      if (auto m = c1.poll(100ms)) seen.insert(m->partition);
    }
  }
  REQUIRE(seen.size() == static_cast<std::size_t>(kPartitions));
  for (int i = 0; i < 10; ++i) (void)c1.poll(100ms);  // late warm-up copies

  for (int i = 1; i <= kEvents; ++i) publish(i, i % kPartitions);
  while (loop1.blocked_partitions() < static_cast<std::size_t>(kPartitions) &&
         evtest::seconds_since(t0) < 90) {
    loop1.poll_once(50ms);
  }
  REQUIRE(loop1.blocked_partitions() == static_cast<std::size_t>(kPartitions));
  CHECK(handled.empty());

  ev::Consumer c2(options);
  ev::HandlingLoop loop2(c2, producer, handler, opts);
  while (handled.size() < static_cast<std::size_t>(kEvents) && evtest::seconds_since(t0) < 150) {
    loop1.poll_once(50ms);
    loop2.poll_once(50ms);
  }
  CHECK(handled.size() == static_cast<std::size_t>(kEvents));
  CHECK(loop1.stats().dropped_on_revoke >= 1);
  CHECK(loop1.stats().dead_lettered + loop2.stats().dead_lettered == 0);
  // the group's committed offsets cover every record on the topic
  c1.commit();
  c2.commit();
  std::int64_t committed = 0;
  for (std::int32_t p = 0; p < kPartitions; ++p)
    committed += c1.committed(base, p, 10s).value_or(0);
  CHECK(committed == published);
  c2.close();
  c1.close();
}
