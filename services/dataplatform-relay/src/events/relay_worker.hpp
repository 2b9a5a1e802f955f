#pragma once
// The relay's own consumer loop over reservation.confirmed (one thread):
// a per-partition state machine (send -> mark delivered -> store offset, or
// -> dead letter -> store offset) under a circuit breaker that pauses every
// assigned partition while the platform is down. See README.md.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "domain/delivery.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::events {
class Producer;
}

namespace ticketing::relay {

class DedupeStore;

struct RelayConfig {
  std::string bootstrap_servers;
  std::string consumer_group = "dataplatform-relay";
  std::string auto_offset_reset = "earliest";
  std::string topic = std::string(events::topics::kReservationConfirmed);
  std::string dlq_topic = events::dlq_topic_for(events::topics::kReservationConfirmed);
  std::string endpoint;  // DATAPLATFORM_URL + "/reservations"
  std::chrono::milliseconds timeout{5000};
  bool tls_verify = true;
  std::string ca_file;
  int max_attempts = 8;
  BackoffPolicy backoff;
  BreakerOptions breaker;
  // Wait before retrying a Redis or DLQ hand-off failure (not platform
  // attempts: they never send a record to the DLQ).
  std::chrono::milliseconds infra_retry{1000};
};

class RelayWorker {
 public:
  RelayWorker(RelayConfig config, events::Producer& dlq_producer, DedupeStore& dedupe);
  ~RelayWorker();  // stop()
  RelayWorker(const RelayWorker&) = delete;
  RelayWorker& operator=(const RelayWorker&) = delete;

  void start();
  // Leaves the group after committing what was handled. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ticketing::relay
