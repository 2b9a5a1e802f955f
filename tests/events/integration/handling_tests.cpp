// The HandlingLoop's finer tools for a handler that knows more than an
// exception type says: HandlingError kinds, dead-letter headers and the
// dead-letter hook, the gate that holds every partition back, and handling
// several keys at once (concurrency), and several records in one call
// (batch handler).

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kafka_fixture.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Kind = ev::HandlingError::Kind;

namespace {

// Produces payment.completed events 1..n for `key` on `partition`; their
// paymentIds are first_id, first_id + 1, ...
std::vector<ev::Envelope> produce_events(ev::Producer& p, const std::string& topic,
                                         std::int32_t partition, std::int64_t first_id, int n) {
  std::vector<ev::Envelope> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(evtest::payment_completed(first_id + i, 40 + partition));
    ev::Record r = ev::make_event_record(out.back(), std::to_string(40 + partition), topic);
    r.partition = partition;
    const ev::DeliveryReport rep = p.produce(std::move(r)).get();
    INFO(rep.error);
    REQUIRE(rep.ok);
  }
  return out;
}

// n payment.completed records on partition 0 of `topic`, six keys taking
// turns; paymentId 100 + offset. Returns each paymentId's key.
std::map<std::int64_t, std::string> produce_keyed(ev::Producer& p, const std::string& topic,
                                                  int n) {
  std::map<std::int64_t, std::string> key_of;
  for (int i = 0; i < n; ++i) {
    const std::int64_t id = 100 + i;
    key_of[id] = "k" + std::to_string(i % 6);
    ev::Record r = ev::make_event_record(evtest::payment_completed(id, 500 + i), key_of[id], topic);
    r.partition = 0;
    const ev::DeliveryReport rep = p.produce(std::move(r)).get();
    INFO(rep.error);
    REQUIRE(rep.ok);
  }
  return key_of;
}

// poll_once until `done` (asked between polls) or 60 s.
void poll_until(ev::HandlingLoop& loop, const std::function<bool()>& done) {
  const auto t0 = Clock::now();
  while (!done() && evtest::seconds_since(t0) < 60) loop.poll_once(100ms);
}

std::string header(const ev::Message& m, std::string_view name) {
  const std::string* v = m.header(name);
  return v != nullptr ? *v : std::string("<absent>");
}

std::int64_t payment_id(const ev::Event& e) {
  return evtest::json_int(e.envelope->data_json, "paymentId");
}

}  // namespace

TEST_CASE(
    "HandlingError: transient waits for its retry_after, unavailable is not counted, "
    "dead letters carry the error's headers and reach the hook",
    "[handling]") {
  const std::string base = ticketing::testing::unique_name("it_kinds");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  ev::Producer producer(evtest::producer_options("it-kinds-producer"));
  // partition 0: a (transient with Retry-After until exhausted), b (fine)
  // partition 1: c (unavailable 4 times, transient once, then handled)
  // partition 2: d (permanent), e (poison from the handler)
  const auto p0 = produce_events(producer, base, 0, 1, 2);
  const auto p1 = produce_events(producer, base, 1, 10, 1);
  const auto p2 = produce_events(producer, base, 2, 20, 2);

  const std::string group = ticketing::testing::unique_name("it_kinds_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  ev::HandlingOptions opts;
  opts.retry.max_attempts = 3;
  opts.retry.initial_backoff = 10ms;
  opts.retry.max_backoff = 20ms;
  opts.retry.jitter = 0;
  std::vector<std::pair<std::int64_t, ev::DeadLetterCause>> hooked;
  opts.on_dead_lettered = [&](const ev::Message& m, ev::DeadLetterCause cause) {
    hooked.emplace_back(evtest::json_int(ev::parse_envelope(m.value).data_json, "paymentId"),
                        cause);
  };
  std::map<std::int64_t, std::vector<std::pair<int, Clock::time_point>>> calls;
  std::vector<std::int64_t> handled;
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        const auto id = payment_id(e);
        auto& mine = calls[id];
        mine.emplace_back(e.attempt, Clock::now());
        const std::vector<ev::Header> status = {{"dlq-http-status", "429"}};
        if (id == 1) throw ev::HandlingError(Kind::kTransient, "busy", 1000ms, status);
        if (id == 10 && mine.size() <= 4) throw ev::HandlingError(Kind::kUnavailable, "down", 20ms);
        if (id == 10 && mine.size() == 5) throw ev::HandlingError(Kind::kTransient, "flaky");
        if (id == 20) {
          throw ev::HandlingError(Kind::kPermanent, "refused", std::nullopt,
                                  {{"dlq-http-status", "400"}});
        }
        if (id == 21) throw ev::HandlingError(Kind::kPoison, "unreadable");
        handled.push_back(id);
      },
      opts);
  const auto t0 = Clock::now();
  while ((handled.size() < 2 || hooked.size() < 3) && evtest::seconds_since(t0) < 60) {
    loop.poll_once(100ms);
  }
  CHECK(handled == std::vector<std::int64_t>{10, 2});
  const auto stats = loop.stats();
  CHECK(stats.dead_lettered == 3);
  CHECK(stats.poison == 1);
  // the hook ran once per acknowledged dead letter, with its cause
  std::map<std::int64_t, ev::DeadLetterCause> causes(hooked.begin(), hooked.end());
  CHECK(causes == std::map<std::int64_t, ev::DeadLetterCause>{{1, ev::DeadLetterCause::kExhausted},
                                                              {20, ev::DeadLetterCause::kRejected},
                                                              {21, ev::DeadLetterCause::kPoison}});

  // a: three counted attempts, each retry not before the Retry-After
  REQUIRE(calls[1].size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(calls[1][i].first == static_cast<int>(i + 1));
  CHECK(calls[1][1].second - calls[1][0].second >= 1000ms);
  CHECK(calls[1][2].second - calls[1][1].second >= 1000ms);
  // c: the four unavailable calls did not count: attempt 1 five times, then 2
  std::vector<int> c_attempts;
  for (const auto& [attempt, at] : calls[10]) c_attempts.push_back(attempt);
  CHECK(c_attempts == std::vector<int>{1, 1, 1, 1, 1, 2});
  CHECK(calls[20].size() == 1);
  CHECK(calls[21].size() == 1);

  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(2));
  CHECK(consumer.committed(base, 1, 10s) == std::optional<std::int64_t>(1));
  CHECK(consumer.committed(base, 2, 10s) == std::optional<std::int64_t>(2));
  consumer.close();

  const auto letters = evtest::read_all({ev::dlq_topic_for(base)}, 3, 5s, 60s);
  REQUIRE(letters.size() == 3);
  std::map<std::int64_t, ev::Message> by_id;
  for (const auto& m : letters) {
    by_id[evtest::json_int(ev::parse_envelope(m.value).data_json, "paymentId")] = m;
  }
  REQUIRE(by_id.count(1) == 1);
  CHECK(header(by_id[1], "dlq-attempts") == "3");
  CHECK(header(by_id[1], "dlq-error") == "busy");
  CHECK(header(by_id[1], "dlq-http-status") == "429");
  CHECK(header(by_id[1], "dlq-consumer-group") == group);
  REQUIRE(by_id.count(20) == 1);
  CHECK(header(by_id[20], "dlq-attempts") == "1");
  CHECK(header(by_id[20], "dlq-http-status") == "400");
  REQUIRE(by_id.count(21) == 1);
  CHECK(header(by_id[21], "dlq-error") == "poison: unreadable");
  CHECK(header(by_id[21], "dlq-http-status") == "<absent>");
}

TEST_CASE(
    "a closed gate pauses every partition and calls no handler; records polled meanwhile "
    "are handled, in order, once it opens",
    "[handling]") {
  const std::string base = ticketing::testing::unique_name("it_gate");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)});
  ev::Producer producer(evtest::producer_options("it-gate-producer"));
  constexpr int kPerPartition = 20;
  std::map<std::int32_t, std::vector<std::int64_t>> produced;
  for (std::int32_t p = 0; p < 3; ++p) {
    for (const auto& e : produce_events(producer, base, p, 100 * (p + 1), kPerPartition)) {
      produced[p].push_back(evtest::json_int(e.data_json, "paymentId"));
    }
  }

  const std::string group = ticketing::testing::unique_name("it_gate_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  // Closed from the handler, like a circuit breaker that a failure opens;
  // reopened by the test.
  std::optional<Clock::time_point> closed_until;
  bool close_on_first = true;
  std::size_t calls_while_closed = 0;
  std::vector<std::size_t> assignments;
  std::pair<std::size_t, std::size_t> polled{0, 0};  // last (assigned, paused)
  ev::HandlingOptions opts;
  opts.gate = [&](Clock::time_point) { return closed_until; };
  opts.on_assignment = [&](const std::vector<ev::TopicPartition>& parts) {
    assignments.push_back(parts.size());
  };
  opts.on_polled = [&](const ev::HandlingLoop& l) {
    polled = {l.assigned_partitions(), l.paused_partitions()};
  };
  std::map<std::int32_t, std::vector<std::int64_t>> handled;
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        if (closed_until) ++calls_while_closed;
        if (close_on_first) {
          close_on_first = false;
          closed_until = Clock::now() + 1h;
          throw ev::HandlingError(Kind::kUnavailable, "peer down");
        }
        handled[e.message.partition].push_back(payment_id(e));
      },
      opts);

  // Until the first call closes the gate, then a while longer: every
  // partition gets paused and nothing else is handled.
  const auto t0 = Clock::now();
  while (!closed_until && evtest::seconds_since(t0) < 60) loop.poll_once(100ms);
  REQUIRE(closed_until);
  const auto closed_at = Clock::now();
  while (Clock::now() - closed_at < 3s) loop.poll_once(100ms);
  CHECK(calls_while_closed == 0);
  CHECK(handled.empty());
  CHECK(polled == std::pair<std::size_t, std::size_t>{3, 3});
  CHECK(loop.paused_partitions() == 3);
  CHECK(loop.stats().dead_lettered == 0);
  consumer.commit();
  for (std::int32_t p = 0; p < 3; ++p) CHECK_FALSE(consumer.committed(base, p, 10s).has_value());

  closed_until.reset();
  const auto t1 = Clock::now();
  auto total = [&] {
    std::size_t n = 0;
    for (const auto& [p, ids] : handled) n += ids.size();
    return n;
  };
  while (total() < 3 * kPerPartition && evtest::seconds_since(t1) < 60) loop.poll_once(100ms);
  CHECK(handled == produced);  // every record once, in partition order, none skipped
  CHECK(loop.paused_partitions() == 0);
  CHECK(polled == std::pair<std::size_t, std::size_t>{3, 0});
  CHECK(loop.stats().handled == 3 * kPerPartition);
  consumer.commit();
  for (std::int32_t p = 0; p < 3; ++p) {
    CHECK(consumer.committed(base, p, 10s) == std::optional<std::int64_t>(kPerPartition));
  }
  REQUIRE_FALSE(assignments.empty());
  CHECK(assignments.back() == 3);
  consumer.close();
  CHECK(assignments.back() == 0);  // the revoke on leaving reported an empty assignment
}

TEST_CASE("a record polled just as the gate closes waits for it to open; none is skipped",
          "[handling]") {
  const std::string base = ticketing::testing::unique_name("it_gate_hold");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)}, 1);
  ev::Producer producer(evtest::producer_options("it-gate-hold-producer"));
  std::vector<std::int64_t> produced;
  for (const auto& e : produce_events(producer, base, 0, 500, 10)) {
    produced.push_back(evtest::json_int(e.data_json, "paymentId"));
  }
  const std::string group = ticketing::testing::unique_name("it_gate_hold_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  // Each poll_once asks the gate twice before it polls (no record is
  // blocked here) and once more for a polled record: the gate closes at
  // that third question, after the partition was left running.
  int asked_this_round = 0;
  bool armed = false;
  bool closed = false;
  bool last_answer_closed = false;
  ev::HandlingOptions opts;
  opts.gate = [&](Clock::time_point now) -> std::optional<Clock::time_point> {
    if (armed && ++asked_this_round == 3) closed = true;
    last_answer_closed = closed;
    return closed ? std::optional<Clock::time_point>(now + 1h) : std::nullopt;
  };
  opts.on_polled = [&](const ev::HandlingLoop&) { asked_this_round = 0; };
  std::vector<std::int64_t> handled;
  std::size_t calls_while_closed = 0;
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        if (last_answer_closed) ++calls_while_closed;
        handled.push_back(payment_id(e));
        armed = handled.size() == 1;  // the next record polled meets a closing gate
      },
      opts);
  const auto t0 = Clock::now();
  while (!closed && evtest::seconds_since(t0) < 60) loop.poll_once(100ms);
  REQUIRE(closed);
  for (int i = 0; i < 20; ++i) loop.poll_once(100ms);
  CHECK(calls_while_closed == 0);
  CHECK(handled.size() == 1);
  CHECK(loop.paused_partitions() == 1);  // held with its record

  armed = false;
  closed = false;
  const auto t1 = Clock::now();
  while (handled.size() < produced.size() && evtest::seconds_since(t1) < 60) loop.poll_once(100ms);
  CHECK(handled == produced);
  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(10));
  consumer.close();
}

TEST_CASE(
    "concurrency: records of different keys overlap, one key's records never overtake each "
    "other, and a failed record leaves the rest of its partition to be read again",
    "[handling]") {
  const std::string base = ticketing::testing::unique_name("it_lanes");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)}, 1);
  ev::Producer producer(evtest::producer_options("it-lanes-producer"));
  constexpr int kRecords = 24;
  const auto key_of = produce_keyed(producer, base, kRecords);
  constexpr std::int64_t kFailsOnce = 110;

  const std::string group = ticketing::testing::unique_name("it_lanes_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  ev::HandlingOptions opts;
  opts.concurrency = 4;
  opts.retry.initial_backoff = 10ms;
  opts.retry.max_backoff = 20ms;
  std::mutex mutex;
  std::set<std::int64_t> succeeded;
  std::map<std::int64_t, int> calls;
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<std::string> overtaken;
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        const auto id = payment_id(e);
        {
          std::lock_guard lock(mutex);
          // Every earlier record of this key must be done before this call.
          for (std::int64_t earlier = 100; earlier < id; ++earlier) {
            if (key_of.at(earlier) == e.message.key && succeeded.count(earlier) == 0) {
              overtaken.push_back(std::to_string(id) + " before " + std::to_string(earlier));
            }
          }
          most_in_flight = std::max(most_in_flight, ++in_flight);
          ++calls[id];
        }
        std::this_thread::sleep_for(30ms);
        std::lock_guard lock(mutex);
        --in_flight;
        if (id == kFailsOnce && calls[id] == 1) throw std::runtime_error("first call fails");
        succeeded.insert(id);
      },
      opts);
  poll_until(loop, [&] {
    std::lock_guard lock(mutex);
    return static_cast<int>(succeeded.size()) == kRecords;
  });
  std::lock_guard lock(mutex);
  CHECK(static_cast<int>(succeeded.size()) == kRecords);
  CHECK(overtaken.empty());
  CHECK(most_in_flight >= 2);
  CHECK(most_in_flight <= 4);
  CHECK(calls[kFailsOnce] == 2);
  const auto stats = loop.stats();
  CHECK(stats.retries == 1);
  CHECK(stats.dead_lettered == 0);
  CHECK(stats.handled >= static_cast<std::uint64_t>(kRecords));
  // Every record was stored, up to the end of the partition.
  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(kRecords));
  consumer.close();
}

TEST_CASE(
    "batch handler: a lane's records share one call in key order; a batch that fails or is "
    "declined is handled one record at a time",
    "[handling]") {
  const std::string base = ticketing::testing::unique_name("it_batch");
  evtest::TempTopics topics({base, ev::dlq_topic_for(base)}, 1);
  ev::Producer producer(evtest::producer_options("it-batch-producer"));
  constexpr int kRecords = 24;
  const auto key_of = produce_keyed(producer, base, kRecords);
  constexpr std::int64_t kBatchThrows = 110;    // its batch throws: one by one
  constexpr std::int64_t kBatchDeclines = 115;  // its batch returns false: one by one

  const std::string group = ticketing::testing::unique_name("it_batch_group");
  ev::Consumer consumer(evtest::consumer_options(group, {base}));
  ev::HandlingOptions opts;
  opts.concurrency = 4;
  std::mutex mutex;
  std::set<std::int64_t> done;
  std::map<std::int64_t, int> single_calls;
  std::vector<std::vector<std::int64_t>> batches;  // handled ones
  std::vector<std::string> problems;
  // Every earlier record of this key must be done before `id` is handled.
  auto check_order = [&](std::int64_t id, const std::string& key) {
    for (std::int64_t earlier = 100; earlier < id; ++earlier) {
      if (key_of.at(earlier) == key && done.count(earlier) == 0) {
        problems.push_back(std::to_string(id) + " before " + std::to_string(earlier));
      }
    }
  };
  opts.batch_handler = [&](const std::vector<ev::Event>& evs) {
    std::lock_guard lock(mutex);
    std::vector<std::int64_t> ids;
    for (const auto& e : evs) ids.push_back(payment_id(e));
    if (std::count(ids.begin(), ids.end(), kBatchThrows) > 0) {
      throw std::runtime_error("batch with 110 fails");
    }
    if (std::count(ids.begin(), ids.end(), kBatchDeclines) > 0) return false;
    for (std::size_t i = 0; i < evs.size(); ++i) {
      check_order(ids[i], evs[i].message.key);
      if (!done.insert(ids[i]).second) problems.push_back("twice " + std::to_string(ids[i]));
    }
    batches.push_back(ids);
    return true;
  };
  ev::HandlingLoop loop(
      consumer, producer,
      [&](const ev::Event& e) {
        std::lock_guard lock(mutex);
        const auto id = payment_id(e);
        check_order(id, e.message.key);
        ++single_calls[id];
        done.insert(id);
      },
      opts);
  poll_until(loop, [&] {
    std::lock_guard lock(mutex);
    return static_cast<int>(done.size()) == kRecords;
  });
  std::lock_guard lock(mutex);
  CHECK(static_cast<int>(done.size()) == kRecords);
  CHECK(problems.empty());
  for (const auto& p : problems) UNSCOPED_INFO(p);
  // Batches were used, and a record was handled by a batch or alone, never both.
  REQUIRE_FALSE(batches.empty());
  std::size_t batched = 0;
  for (const auto& b : batches) {
    CHECK(b.size() >= 2);
    for (auto id : b) CHECK(single_calls.count(id) == 0);
    batched += b.size();
  }
  CHECK(batched + single_calls.size() == static_cast<std::size_t>(kRecords));
  // The records of the failing and the declining batch went one by one.
  CHECK(single_calls[kBatchThrows] == 1);
  CHECK(single_calls[kBatchDeclines] == 1);
  const auto stats = loop.stats();
  CHECK(stats.handled == static_cast<std::uint64_t>(kRecords));
  CHECK(stats.retries == 0);
  consumer.commit();
  CHECK(consumer.committed(base, 0, 10s) == std::optional<std::int64_t>(kRecords));
  consumer.close();
}
