#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/events/dlq.hpp"

namespace ticketing::service {

class ServiceHost;

// One member of the service's consumer group (KAFKA_CONSUMER_GROUP, by
// default the service name; KAFKA_AUTO_OFFSET_RESET for a new group) on its
// own thread: polls `topics`, validates each event, runs `handler` with
// retry-then-DLQ (events::HandlingLoop), stores offsets only after a record is
// handled. A fatal consumer error is logged and the member rejoins after a
// pause instead of taking the process down. Any number of instances of a
// service may run: partitions are shared through the group.
class ConsumerWorker {
 public:
  ConsumerWorker(ServiceHost& host, std::vector<std::string> topics, events::EventHandler handler,
                 events::HandlingOptions options = {});
  ~ConsumerWorker();  // stop()
  ConsumerWorker(const ConsumerWorker&) = delete;
  ConsumerWorker& operator=(const ConsumerWorker&) = delete;

  void start();
  // Leaves the group after committing what was handled. Idempotent.
  void stop();

 private:
  void run();

  ServiceHost& host_;
  std::vector<std::string> topics_;
  events::EventHandler handler_;
  events::HandlingOptions options_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ticketing::service
