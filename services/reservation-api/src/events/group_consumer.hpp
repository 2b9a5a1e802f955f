#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/events/dlq.hpp"

namespace ticketing::service {
class ServiceHost;
}

namespace ticketing::reservation {

// service::ConsumerWorker with a configurable group id and offset reset
// (KAFKA_CONSUMER_GROUP, KAFKA_CONSUMER_OFFSET_RESET): black-box tests run
// their own instance on the shared cluster without joining the real
// `reservation-api` group. Same loop otherwise: HandlingLoop with
// retry-then-DLQ, offsets stored after handling, rejoin after a fatal error.
// (Workaround until ConsumerWorker takes these options.)
class GroupConsumer {
 public:
  GroupConsumer(service::ServiceHost& host, std::string group_id, std::string offset_reset,
                std::vector<std::string> topics, events::EventHandler handler);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  void start();
  void stop();

 private:
  void run();

  service::ServiceHost& host_;
  std::string group_id_;
  std::string offset_reset_;
  std::vector<std::string> topics_;
  events::EventHandler handler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ticketing::reservation
