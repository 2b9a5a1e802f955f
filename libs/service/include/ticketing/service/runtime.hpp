#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ticketing/common/config.hpp"
#include "ticketing/service/health.hpp"

namespace ticketing::http {
class Router;
}

namespace ticketing::service {

// Settings every service reads from the environment.
struct CommonConfig {
  std::string service;
  std::string admin_host;
  std::uint16_t admin_port = 0;
  std::string kafka_bootstrap;
  // Consumer group of every ConsumerWorker (KAFKA_CONSUMER_GROUP, default the
  // service name) and where a new group starts (KAFKA_AUTO_OFFSET_RESET,
  // earliest|latest). Tests give each run its own group on the shared cluster.
  std::string consumer_group;
  std::string auto_offset_reset;
  std::string log_level;
  // A partition whose head record has failed for this long shows as stalled
  // in /health/ready's body (CONSUMER_STALLED_AFTER_S).
  int stalled_after_s = 30;
  // KAFKA_LAG_INTERVAL_MS: how often kafka_consumer_lag is refreshed (0: off).
  int lag_interval_ms = 5000;
  // TOPIC_PREFIX: this environment's topic namespace (ticketing/events/namespace.hpp).
  std::string topic_prefix;

  static CommonConfig read(EnvReader& env, std::string service, std::uint16_t default_admin_port);
};

// The admin endpoint of a service: GET /health/live, /health/ready and
// /metrics on ADMIN_PORT, never on the public port. With `public_routes`, also
// GET /routes: {"service","routes":[{"method","pattern"}]}, the routes that
// router serves (read when asked; the router must outlive this server and not
// change once started). docs/openapi.yaml is checked against it.
class AdminServer {
 public:
  AdminServer(const CommonConfig& config, HealthChecks& checks,
              const http::Router* public_routes = nullptr);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void start();
  void stop();
  [[nodiscard]] std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void add_admin_routes(http::Router& router, HealthChecks& checks);

// Blocks SIGTERM and SIGINT in the calling thread (call first in main, before
// any thread starts, so every thread inherits the mask).
void block_shutdown_signals();
// Waits for SIGTERM or SIGINT; returns the signal number.
int wait_for_shutdown_signal();

// Runs `body` and turns a configuration error or any escaping exception into a
// clear log line and exit code 2 or 1, never an abort.
int guarded_main(const std::string& service, const std::function<int()>& body);

}  // namespace ticketing::service
