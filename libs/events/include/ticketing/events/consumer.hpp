#pragma once
// At-least-once Kafka consumer (librdkafka high-level consumer):
//   enable.auto.commit=true + enable.auto.offset.store=false: only offsets the
//   application stored (after a record was fully handled) are ever committed,
//   in the background every auto_commit_interval_ms;
//   on revoke, stored offsets are committed synchronously before the
//   partitions are given up; close() commits too.
// One thread polls and handles, so the records of one partition are handled
// in order. Not thread-safe: use it from the polling thread only.
// Lag: a thread of its own asks the brokers for each assigned partition's
// high watermark every `lag_interval` and exports, in metrics::global(),
//   kafka_consumer_lag{group,topic,partition}          records not yet handled
//     (high watermark - next offset to store; a paused partition counts too)
//   kafka_consumer_lag_seconds{group,topic,partition}  how long the oldest
//     record polled and not yet handled has waited (its Kafka timestamp to
//     now; 0 when this consumer holds none of that partition's records)
// Both drop to 0 for a partition this consumer gives up.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/events/producer.hpp"  // Header
#include "ticketing/events/security.hpp"

namespace ticketing::events {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct Message {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;  // empty for a null key (see has_key)
  bool has_key = false;
  std::string value;
  std::vector<Header> headers;
  std::int64_t timestamp_ms = -1;  // -1 when the broker gave none

  // Value of the last header with this name, or nullptr.
  [[nodiscard]] const std::string* header(std::string_view name) const;
};

struct ConsumerOptions {
  std::string bootstrap_servers;
  std::string group_id;  // = service name
  std::vector<std::string> topics;
  std::string client_id = "ticketing";
  std::string auto_offset_reset = "earliest";
  int session_timeout_ms = 10000;
  int max_poll_interval_ms = 300000;
  int auto_commit_interval_ms = 1000;
  // How often the lag metrics are refreshed; 0 turns them off.
  std::chrono::milliseconds lag_interval{5000};
  // Any further librdkafka property, applied last. enable.auto.offset.store
  // cannot be turned on.
  std::map<std::string, std::string> extra;
  // Unset: KafkaSecurity::from_env() when the consumer is created.
  std::optional<KafkaSecurity> security;
};

enum class RebalanceEvent { kAssigned, kRevoked };
// Runs inside poll() (and close()), on the polling thread. On kRevoked it runs
// before the stored offsets are committed and the partitions are given up.
using RebalanceListener = std::function<void(RebalanceEvent, const std::vector<TopicPartition>&)>;

class Consumer {
 public:
  // Subscribes to options.topics. Throws KafkaError on bad configuration.
  explicit Consumer(ConsumerOptions options);
  ~Consumer();  // close(), never throws
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Next record, or nullopt on timeout. Informational errors (partition EOF,
  // transient broker errors, a missing topic) are logged and swallowed; fatal
  // ones throw KafkaError.
  std::optional<Message> poll(std::chrono::milliseconds timeout);

  // Marks the record as handled: offset+1 becomes the partition's next
  // commit. False (and logged) when the partition is no longer assigned: the
  // record will then be delivered again to its new owner.
  bool store(const Message& message);
  // The same for a partition's next offset: `next` is where its next owner
  // starts (a record's own offset to have it delivered again).
  bool store(const TopicPartition& partition, std::int64_t next);

  // Commits the stored offsets now (synchronously). Throws KafkaError.
  void commit();

  // Pausing lasts until resume() or until the partition is revoked (a
  // partition assigned again starts unpaused).
  void pause(const std::string& topic, std::int32_t partition);
  void resume(const std::string& topic, std::int32_t partition);
  // Next poll of this partition starts at `offset`. Asynchronous.
  void seek(const std::string& topic, std::int32_t partition, std::int64_t offset);
  [[nodiscard]] std::vector<TopicPartition> assignment() const;
  // The group's committed offset of a partition (nullopt if none). Throws KafkaError.
  std::optional<std::int64_t> committed(const std::string& topic, std::int32_t partition,
                                        std::chrono::milliseconds timeout) const;

  void set_rebalance_listener(RebalanceListener listener);

  // Leaves the group after committing; idempotent. Throws nothing.
  void close();
  [[nodiscard]] bool closed() const;

  [[nodiscard]] const ConsumerOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::events
