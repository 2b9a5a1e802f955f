#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ticketing/common/config.hpp"
#include "ticketing/service/health.hpp"
#include "ticketing/service/infra.hpp"
#include "ticketing/service/runtime.hpp"

namespace ticketing::http {
class Router;
}
namespace ticketing::events {
class StallBoard;
}

namespace ticketing::service {

// What a service is, fixed in its code.
struct HostSpec {
  std::string service;                  // also the consumer group id
  std::uint16_t default_admin_port;     // ADMIN_PORT
  std::uint16_t default_http_port = 0;  // HTTP_PORT of a public API; 0: none
  InfraNeeds needs;
};

struct HostConfig {
  CommonConfig common;
  InfraConfig infra;
  std::string http_host;
  std::uint16_t http_port = 0;
  int http_threads = 0;
  bool public_api = false;

  static HostConfig read(EnvReader& env, const HostSpec& spec);
};

// The process shell of a service: its infrastructure clients, readiness
// probes, the admin endpoint and, for an API service, the public HTTP server
// (which serves the health and metrics routes too). Domain code adds its
// routes to router() before start().
class ServiceHost {
 public:
  explicit ServiceHost(const HostConfig& config);
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  Infra& infra();
  HealthChecks& health();
  // Partitions whose head record keeps failing, for every consumer of the
  // process; listed in /health/ready's body as "stalled" once older than
  // CONSUMER_STALLED_AFTER_S (readiness itself does not change).
  const std::shared_ptr<events::StallBoard>& stalls();
  http::Router& router();  // public routes; only before start()
  [[nodiscard]] const HostConfig& config() const;

  void start();
  // Public server first (in-flight requests finish), then the admin endpoint.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole life of a service: `configure` reads the service's own variables
// and returns its setup; every missing or malformed variable (the host's and
// the service's) is reported at once before anything connects. Then the host
// is built, `setup` adds routes and starts workers (returning how to stop
// them), the process serves until SIGTERM, and stops. Returns the exit code.
using Teardown = std::function<void()>;
using Setup = std::function<Teardown(ServiceHost&)>;
int run_service(const HostSpec& spec, const std::function<Setup(EnvReader&)>& configure);

}  // namespace ticketing::service
