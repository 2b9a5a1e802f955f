#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ticketing/common/config.hpp"
#include "ticketing/service/guard.hpp"
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

  // A public API: its own MariaDB schema, and Redis when `redis`.
  static HostSpec api(std::string service, std::uint16_t admin_port, std::uint16_t http_port,
                      std::string database, bool redis);
  // A background worker (no public port) that keeps its state in Redis.
  static HostSpec redis_worker(std::string service, std::uint16_t admin_port);
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

  // The start-up sequence of a service with a database, the same in every
  // service: `migrate` runs in the background and is tried again every 2 s
  // while it throws (MariaDB may come up later; "migrations failed;
  // retrying" is logged), while the process already serves; then `start`
  // runs (outbox relay, consumers) and ready_gate() opens. /health/ready
  // reports "schema" down until then. Call once, before start().
  void start_after_migrations(std::function<int()> migrate, std::function<void()> start);
  // Closed until the start-up sequence is done (open at once for a service
  // that has none). Public routes answer its 503 meanwhile.
  [[nodiscard]] const ReadyGate& ready_gate() const;
  // Ends the start-up sequence (interrupting a wait between attempts) and
  // waits for it; run_service calls it before the service's teardown.
  void stop_startup();

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
