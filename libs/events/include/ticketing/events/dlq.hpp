#pragma once
// Retry-then-dead-letter handling of consumed events.
//
// For each record, in partition order:
//   1. parse the envelope and validate it against its schema; a failure is a
//      poison pill and goes to the DLQ at once (dlq-attempts: 1);
//   2. call the handler; returning normally means handled;
//   3. an InfraError with retryable() (an outage: database, Redis, Kafka or a
//      peer unreachable, pool exhausted, deadlock, timeout) is retried for as
//      long as it lasts, with capped exponential backoff and jitter; while it
//      backs off the partition is paused (other partitions keep flowing and
//      the consumer keeps polling, so it stays in the group) and, past a
//      threshold, shows as stalled (StallBoard, events_partition_stalled_seconds);
//   4. a PoisonError or a non-retryable InfraError (a permanent rejection)
//      goes to the DLQ at once; any other exception (an unknown failure) is
//      retried up to RetryPolicy::max_attempts handler calls, then goes to
//      the DLQ.
// A handler that knows more throws HandlingError: kPoison and kPermanent go
// to the DLQ at once, kTransient is a counted attempt like an unknown failure
// (retried not before its retry_after), kUnavailable (the peer is down, not
// this record) is retried until it works and never counted: dlq-attempts and
// Event::attempt count only the other calls. The headers of the last failure
// go on the dead letter; on_dead_lettered hears of it after the ack.
// A gate (HandlingOptions::gate) holds everything back while a peer is known
// to be down: every assigned partition is paused, no handler runs, polling
// goes on; a record polled meanwhile is sought back, never skipped.
// The offset is stored only after the handler succeeded or the DLQ broker
// acknowledged the dead letter. A failed DLQ produce is retried (the
// partition stays paused): a record is never skipped.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/events/consumer.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/schema.hpp"

namespace ticketing::events {

// notifications.* -> notifications.dlq, anything else -> <topic>.dlq
// (the names in deploy/topics.manifest).
std::string dlq_topic_for(std::string_view topic);

// Headers added to a dead letter (the original headers are kept).
namespace dlq_header {
inline constexpr std::string_view kOriginalTopic = "dlq-original-topic";
inline constexpr std::string_view kOriginalPartition = "dlq-original-partition";
inline constexpr std::string_view kOriginalOffset = "dlq-original-offset";
inline constexpr std::string_view kOriginalKey = "dlq-original-key";
inline constexpr std::string_view kError = "dlq-error";
inline constexpr std::string_view kAttempts = "dlq-attempts";
inline constexpr std::string_view kConsumerGroup = "dlq-consumer-group";
inline constexpr std::string_view kFailedAt = "dlq-failed-at";
}  // namespace dlq_header

// The dead letter for a record: same key and value, original headers plus the
// dlq-* headers, to dlq_topic_for(message.topic) unless dlq_topic is given.
Record make_dead_letter(const Message& message, std::string_view error, int attempts,
                        std::string_view consumer_group, std::string dlq_topic = {});

// A handler failure that says more than an exception type can (see the
// contract above).
class HandlingError : public std::runtime_error {
 public:
  enum class Kind {
    kPoison,       // the record itself is unusable: DLQ at once
    kPermanent,    // refused for good (e.g. an HTTP 4xx): DLQ at once
    kTransient,    // this attempt failed: counted, retried per RetryPolicy
    kUnavailable,  // the peer is down, not this record: retried, not counted
  };
  HandlingError(Kind kind, const std::string& what,
                std::optional<std::chrono::milliseconds> retry_after = std::nullopt,
                std::vector<Header> dead_letter_headers = {})
      : std::runtime_error(what),
        kind_(kind),
        retry_after_(retry_after),
        headers_(std::move(dead_letter_headers)) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  // kTransient: the earliest retry (e.g. the peer's Retry-After; a longer
  // backoff wins). kUnavailable: when to retry instead of the backoff.
  [[nodiscard]] std::optional<std::chrono::milliseconds> retry_after() const noexcept {
    return retry_after_;
  }
  // Added to the dead letter when this is the record's last failure.
  [[nodiscard]] const std::vector<Header>& dead_letter_headers() const noexcept { return headers_; }

 private:
  Kind kind_;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::vector<Header> headers_;
};

// Why a record was dead-lettered.
enum class DeadLetterCause {
  kPoison,     // unparsable, schema-invalid, PoisonError, HandlingError::kPoison
  kRejected,   // non-retryable InfraError, HandlingError::kPermanent
  kExhausted,  // retries used up
};

struct RetryPolicy {
  // Retryable InfraError: handler calls in total before the DLQ. 0 (the
  // default) = no limit: an outage is waited out, never dead-lettered.
  int max_infra_attempts = 0;
  // Any other exception, and HandlingError::kTransient: counted handler
  // calls in total before the DLQ. 0 = no limit.
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  double multiplier = 2.0;
  // Each delay is drawn from [(1 - jitter) * backoff(n), backoff(n)], so that
  // instances that failed together do not retry in lockstep. 0..1.
  double jitter = 0.5;
  // Delay after the n-th failed attempt (n >= 1), before jitter.
  [[nodiscard]] std::chrono::milliseconds backoff(int failed_attempts) const;
  [[nodiscard]] std::chrono::milliseconds jittered(int failed_attempts,
                                                   std::minstd_rand& rng) const;
};

// Partitions whose head record keeps failing, readable from any thread (e.g.
// /health/ready) while a HandlingLoop updates it.
class StallBoard {
 public:
  using Clock = std::chrono::steady_clock;
  struct Stall {
    TopicPartition partition;
    Clock::duration stalled_for{};
    int attempts = 0;
    std::string error;
  };
  void update(const TopicPartition& tp, Clock::time_point since, int attempts,
              const std::string& error);
  void clear(const TopicPartition& tp);
  // Stalls older than threshold, longest first.
  [[nodiscard]] std::vector<Stall> longer_than(Clock::duration threshold) const;

 private:
  struct Entry {
    Clock::time_point since;
    int attempts = 0;
    std::string error;
  };
  mutable std::mutex mutex_;
  std::map<TopicPartition, Entry> entries_;
};

// What a handler sees for one record.
struct Event {
  const Message& message;
  const Envelope* envelope;  // nullptr only when parse_envelopes is false
  std::string trace_id;      // from the traceparent header, else the envelope
  int attempt;               // 1 for the first call; kUnavailable calls do not count
};

// Returns normally when the record is handled (its effects are durable).
using EventHandler = std::function<void(const Event&)>;

// Several records at once (HandlingOptions::batch_handler): true when all of
// them are handled, as one unit (every effect durable, or none: one
// transaction). False, or an exception, when it handled none of them: the
// loop then calls the EventHandler for each, in order, as usual (so a record
// that fails is retried or dead-lettered alone).
using BatchHandler = std::function<bool(const std::vector<Event>&)>;

class HandlingLoop;

struct HandlingOptions {
  // dlq-consumer-group header; empty = the consumer's group id.
  std::string consumer_group;
  RetryPolicy retry;
  // Wait before producing a dead letter again after the DLQ produce failed.
  std::chrono::milliseconds dlq_retry_backoff{1000};
  // How long the loop waits in line for a dead letter's ack before it pauses
  // the partition and goes on polling (the ack is then settled later).
  std::chrono::milliseconds dlq_ack_wait{2000};
  // false: hand raw records to the handler (e.g. a DLQ replayer); no envelope
  // parsing or schema check, envelope is then nullptr.
  bool parse_envelopes = true;
  // DLQ topic override; empty = dlq_topic_for(record topic).
  std::string dlq_topic;
  // Where the loop reports stalled partitions; null = a board of its own.
  std::shared_ptr<StallBoard> stalls;
  // Handler calls at once (1: one record after another). Above 1, the
  // records a poll finds waiting (up to 4 x concurrency) are handled as one
  // wave on this many lanes: the records of one key (topic and record key)
  // go to one lane, in offset order, so only records of different keys
  // overlap, and a burst on one partition no longer waits in single file.
  // The handler must then be safe to call from several threads at once. The
  // gate is asked once per record as the wave is gathered, not between its
  // calls. Offsets are stored after the wave, in order, up to a partition's
  // first failed record; that record is retried or dead-lettered as usual,
  // and the later ones of its partition are read again once it is settled
  // (so a handler may see a record it already handled: it must be idempotent,
  // as every handler here is).
  int concurrency = 1;
  // concurrency > 1 only: a lane with two or more records of a wave first
  // offers them here, in its order, so that they may share one commit.
  // Empty: one handler call per record.
  BatchHandler batch_handler;

  // The hooks below run on the polling thread, and must not throw.
  using Clock = std::chrono::steady_clock;
  // Closed while it returns a time (when to ask again at the latest), e.g. a
  // circuit breaker that is open; nullopt = open. Asked before each handler
  // call, so a call that closes it holds back the calls after it.
  std::function<std::optional<Clock::time_point>(Clock::time_point now)> gate;
  // The member's whole assignment, after every assign and revoke.
  std::function<void(const std::vector<TopicPartition>&)> on_assignment;
  // A dead letter was acknowledged (the record's offset is stored).
  std::function<void(const Message&, DeadLetterCause)> on_dead_lettered;
  // After every poll_once, e.g. to refresh gauges from stats() and the
  // partition counts.
  std::function<void(const HandlingLoop&)> on_polled;
};

class HandlingLoop {
 public:
  // The loop installs itself as the consumer's rebalance listener (and
  // removes itself on destruction); consumer, producer and schemas must
  // outlive it.
  HandlingLoop(Consumer& consumer, Producer& dlq_producer, EventHandler handler,
               HandlingOptions options = {},
               const SchemaRegistry& schemas = SchemaRegistry::builtin());
  ~HandlingLoop();
  HandlingLoop(const HandlingLoop&) = delete;
  HandlingLoop& operator=(const HandlingLoop&) = delete;

  // One step: settle acknowledged dead letters, run retries that are due,
  // then poll (waiting at most max_wait) and handle at most one record.
  void poll_once(std::chrono::milliseconds max_wait);

  // poll_once until `stop`; then waits (bounded by drain_timeout) for dead
  // letters in flight so that their offsets get stored. Records still backing
  // off are left unstored and will be delivered again. Throws what the
  // consumer throws (fatal KafkaError).
  void run(const std::stop_token& stop,
           std::chrono::milliseconds poll_timeout = std::chrono::milliseconds(100),
           std::chrono::milliseconds drain_timeout = std::chrono::seconds(5));

  struct Stats {
    std::uint64_t handled = 0;            // handler succeeded (offset stored)
    std::uint64_t retries = 0;            // failed attempts that were retried
    std::uint64_t dead_lettered = 0;      // acknowledged by the DLQ (offset stored)
    std::uint64_t poison = 0;             // of which: DeadLetterCause::kPoison
    std::uint64_t dlq_failures = 0;       // DLQ produce attempts that failed
    std::uint64_t dropped_on_revoke = 0;  // blocked records left to the partition's next owner
  };
  [[nodiscard]] Stats stats() const;
  // Partitions currently paused for a retry or a dead letter in flight.
  [[nodiscard]] std::size_t blocked_partitions() const;
  // Blocked ones and those held back by the gate.
  [[nodiscard]] std::size_t paused_partitions() const;
  [[nodiscard]] std::size_t assigned_partitions() const;
  [[nodiscard]] const StallBoard& stalls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::events
