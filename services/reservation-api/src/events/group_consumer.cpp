#include "events/group_consumer.hpp"

#include "ticketing/common/log.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/service/host.hpp"

namespace ticketing::reservation {

GroupConsumer::GroupConsumer(service::ServiceHost& host, std::string group_id,
                             std::string offset_reset, std::vector<std::string> topics,
                             events::EventHandler handler)
    : host_(host),
      group_id_(std::move(group_id)),
      offset_reset_(std::move(offset_reset)),
      topics_(std::move(topics)),
      handler_(std::move(handler)) {}

GroupConsumer::~GroupConsumer() {
  stop();
}

void GroupConsumer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void GroupConsumer::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void GroupConsumer::run() {
  const auto& common = host_.config().common;
  while (!stop_.load()) {
    try {
      events::ConsumerOptions options;
      options.bootstrap_servers = common.kafka_bootstrap;
      options.group_id = group_id_;
      options.client_id = common.service;
      options.topics = topics_;
      options.auto_offset_reset = offset_reset_;
      events::Consumer consumer(options);
      events::HandlingOptions handling;
      handling.consumer_group = group_id_;
      events::HandlingLoop loop(consumer, host_.infra().producer(), handler_, handling);
      loop.run(stop_);
      consumer.close();
    } catch (const std::exception& e) {
      log::error("consumer failed; rejoining the group shortly", {{"error", e.what()}});
      for (int i = 0; i < 20 && !stop_.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace ticketing::reservation
