#include "ticketing/service/consumer_worker.hpp"

#include <chrono>

#include "ticketing/common/log.hpp"
#include "ticketing/common/stop.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/service/host.hpp"

namespace ticketing::service {

ConsumerWorker::ConsumerWorker(ServiceHost& host, std::vector<std::string> topics,
                               events::EventHandler handler, events::HandlingOptions options)
    : host_(host),
      topics_(std::move(topics)),
      handler_(std::move(handler)),
      options_(std::move(options)) {}

ConsumerWorker::~ConsumerWorker() {
  stop();
}

void ConsumerWorker::start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
}

void ConsumerWorker::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ConsumerWorker::run() {
  const auto& common = host_.config().common;
  while (!stop_.load()) {
    try {
      events::ConsumerOptions options;
      options.bootstrap_servers = common.kafka_bootstrap;
      options.group_id = common.consumer_group;
      options.client_id = common.service;
      options.topics = topics_;
      options.auto_offset_reset = common.auto_offset_reset;
      events::Consumer consumer(options);
      auto handling = options_;
      if (handling.consumer_group.empty()) handling.consumer_group = common.consumer_group;
      if (!handling.stalls) handling.stalls = host_.stalls();
      events::HandlingLoop loop(consumer, host_.infra().producer(), handler_, handling);
      loop.run(stop_);
      consumer.close();
    } catch (const std::exception& e) {
      log::error("consumer failed; rejoining the group shortly", {{"error", e.what()}});
      sleep_unless_stopped(stop_, std::chrono::seconds(2));
    }
  }
}

}  // namespace ticketing::service
