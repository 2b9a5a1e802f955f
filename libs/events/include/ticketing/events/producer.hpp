#pragma once
// CONTRACT (written before the implementation): libs/outbox and the services
// code against this header. Extend it, do not break it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ticketing/events/security.hpp"

namespace ticketing::events {

struct Header {
  std::string key;
  std::string value;
};

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  std::int32_t partition = -1;  // -1: chosen by the partitioner from the key
};

struct DeliveryReport {
  bool ok = false;
  bool retryable = false;  // meaningful when !ok
  std::string error;       // empty when ok
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

using DeliveryCallback = std::function<void(const DeliveryReport&)>;

struct ProducerOptions {
  std::string bootstrap_servers;
  std::string client_id = "ticketing";
  int linger_ms = 5;
  int delivery_timeout_ms = 120000;  // message.timeout.ms
  // Any further librdkafka property; applied last. acks=all and
  // enable.idempotence=true are always set and cannot be overridden.
  std::map<std::string, std::string> extra;
  // (extension) How long produce() waits for room while librdkafka's local
  // queue is full before it throws a retryable KafkaError.
  std::chrono::milliseconds queue_full_timeout{5000};
  // (extension) How long the destructor waits for outstanding records; what
  // is left is purged, and its callbacks run with a retryable error.
  std::chrono::milliseconds close_timeout{10000};
  // (extension) Unset: KafkaSecurity::from_env() when the producer is created.
  // Applied before `extra`.
  std::optional<KafkaSecurity> security;
};

// Idempotent producer (acks=all, enable.idempotence=true). A background thread
// serves delivery reports. Thread-safe.
class Producer {
 public:
  explicit Producer(ProducerOptions options);
  ~Producer();  // flushes (bounded), never throws
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues the record (an empty key is sent as a null key). The callback runs exactly once, on
  // the producer's delivery thread, when the broker acknowledged or the record failed definitively.
  // Throws KafkaError when the record could not be enqueued (the callback is then never called).
  void produce(Record record, DeliveryCallback on_delivery);
  std::future<DeliveryReport> produce(Record record);

  // Waits for every outstanding record; false on timeout.
  bool flush(std::chrono::milliseconds timeout);

  // librdkafka raised a fatal error (e.g. idempotence guarantees broken): the
  // producer must be recreated. produce() throws once this is true.
  [[nodiscard]] bool fatal() const;
  [[nodiscard]] std::string fatal_reason() const;

  // True when cluster metadata can be fetched within the timeout (readiness).
  bool ping(std::chrono::milliseconds timeout);

  // Fetches the partitions of these topics now (each within `timeout`), so
  // that the first record for one of them is sent at once instead of waiting
  // for the client's first metadata refresh of an unknown topic (hundreds of
  // milliseconds). Returns how many topics are known; never throws.
  std::size_t warm_up(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

  // (extension) Records enqueued whose callback has not run yet.
  [[nodiscard]] std::int64_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::events
