#pragma once

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/events/dlq.hpp"

namespace ticketing::service {

class ServiceHost;

struct ConsumerWorkerOptions {
  std::vector<std::string> topics;
  // Retry policy, gate and hooks of the loop. Its on_assignment hook is also
  // called with an empty assignment whenever the member leaves the group
  // (stop, or a consumer failure before it rejoins).
  events::HandlingOptions handling;
  int session_timeout_ms = 0;  // 0: the consumer's default
  // librdkafka properties on top of the host's settings, e.g.
  // partition.assignment.strategy.
  std::map<std::string, std::string> consumer_extra;
};

// One member of the service's consumer group (KAFKA_CONSUMER_GROUP, by
// default the service name; KAFKA_AUTO_OFFSET_RESET for a new group) on its
// own thread: polls `topics`, validates each event, runs `handler` with
// retry-then-DLQ (events::HandlingLoop), stores offsets only after a record is
// handled. A fatal consumer error is logged and the member rejoins after a
// pause instead of taking the process down. Any number of instances of a
// service may run: partitions are shared through the group.
class ConsumerWorker {
 public:
  ConsumerWorker(ServiceHost& host, ConsumerWorkerOptions options, events::EventHandler handler);
  ConsumerWorker(ServiceHost& host, std::vector<std::string> topics, events::EventHandler handler,
                 events::HandlingOptions handling = {});
  ~ConsumerWorker();  // stop()
  ConsumerWorker(const ConsumerWorker&) = delete;
  ConsumerWorker& operator=(const ConsumerWorker&) = delete;

  void start();
  // Leaves the group after committing what was handled. Idempotent.
  void stop();

 private:
  void run(const std::stop_token& stop);

  ServiceHost& host_;
  ConsumerWorkerOptions options_;
  events::EventHandler handler_;
  std::jthread thread_;
};

}  // namespace ticketing::service
