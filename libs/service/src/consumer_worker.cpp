#include "ticketing/service/consumer_worker.hpp"

#include <chrono>

#include "ticketing/common/log.hpp"
#include "ticketing/common/stop.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/service/host.hpp"

namespace ticketing::service {

ConsumerWorker::ConsumerWorker(ServiceHost& host, ConsumerWorkerOptions options,
                               events::EventHandler handler)
    : host_(host), options_(std::move(options)), handler_(std::move(handler)) {}

namespace {

ConsumerWorkerOptions options_of(std::vector<std::string> topics,
                                 events::HandlingOptions handling) {
  ConsumerWorkerOptions o;
  o.topics = std::move(topics);
  o.handling = std::move(handling);
  return o;
}

}  // namespace

ConsumerWorker::ConsumerWorker(ServiceHost& host, std::vector<std::string> topics,
                               events::EventHandler handler, events::HandlingOptions handling)
    : ConsumerWorker(host, options_of(std::move(topics), std::move(handling)), std::move(handler)) {
}

ConsumerWorker::~ConsumerWorker() {
  stop();
}

void ConsumerWorker::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void ConsumerWorker::stop() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void ConsumerWorker::run(const std::stop_token& stop) {
  const auto& common = host_.config().common;
  auto handling = options_.handling;
  if (handling.consumer_group.empty()) handling.consumer_group = common.consumer_group;
  if (!handling.stalls) handling.stalls = host_.stalls();
  auto left_group = [&handling] {
    if (handling.on_assignment) handling.on_assignment({});
  };
  while (!stop.stop_requested()) {
    try {
      events::ConsumerOptions options;
      options.bootstrap_servers = common.kafka_bootstrap;
      options.group_id = common.consumer_group;
      options.client_id = common.service;
      options.topics = options_.topics;
      options.auto_offset_reset = common.auto_offset_reset;
      options.lag_interval = std::chrono::milliseconds(common.lag_interval_ms);
      if (options_.session_timeout_ms > 0) options.session_timeout_ms = options_.session_timeout_ms;
      options.extra = options_.consumer_extra;
      events::Consumer consumer(options);
      {
        events::HandlingLoop loop(consumer, host_.infra().producer(), handler_, handling);
        loop.run(stop);
        consumer.close();
      }
      left_group();
    } catch (const std::exception& e) {
      left_group();
      log::error("consumer failed; rejoining the group shortly", {{"error", e.what()}});
      sleep_unless_stopped(stop, std::chrono::seconds(2));
    }
  }
}

}  // namespace ticketing::service
