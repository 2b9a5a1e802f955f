#pragma once
// The relay's consumer: a service::ConsumerWorker over reservation.confirmed
// whose handler sends a record to the platform, marks it delivered in Redis
// and returns (the loop then stores its offset), or throws an
// events::HandlingError that tells the loop what the failure means. The
// circuit breaker is the loop's gate: while it is open every assigned
// partition is paused. See README.md.

#include <chrono>
#include <memory>
#include <string>

#include "domain/delivery.hpp"

namespace ticketing::service {
class ConsumerWorker;
class ServiceHost;
}  // namespace ticketing::service

namespace ticketing::relay {

class DedupeStore;

struct RelayOptions {
  std::string endpoint;  // DATAPLATFORM_URL + "/reservations"
  std::chrono::milliseconds timeout{5000};
  bool tls_verify = true;
  std::string ca_file;
  int max_attempts = 0;  // counted platform attempts before the DLQ; 0 = no limit
  BackoffPolicy backoff;
  BreakerOptions breaker;
  // Wait before retrying a Redis failure (never a platform attempt).
  std::chrono::milliseconds infra_retry{1000};
};

class RelayWorker {
 public:
  // Joins the host's consumer group; `dedupe` must outlive the worker.
  RelayWorker(service::ServiceHost& host, RelayOptions config, DedupeStore& dedupe);
  ~RelayWorker();  // stop()
  RelayWorker(const RelayWorker&) = delete;
  RelayWorker& operator=(const RelayWorker&) = delete;

  void start();
  // Leaves the group after committing what was handled. Idempotent.
  void stop();

 private:
  class Delivery;
  std::unique_ptr<Delivery> delivery_;  // used by worker_'s thread: declared first, freed last
  std::unique_ptr<service::ConsumerWorker> worker_;
};

}  // namespace ticketing::relay
