#include "ticketing/service/runtime.hpp"

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <exception>

#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/namespace.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::service {

CommonConfig CommonConfig::read(EnvReader& env, std::string service,
                                std::uint16_t default_admin_port) {
  CommonConfig c;
  c.service = std::move(service);
  c.admin_host = env.str("ADMIN_HOST", "127.0.0.1");
  c.admin_port =
      static_cast<std::uint16_t>(env.integer("ADMIN_PORT", default_admin_port, 0, 65535));
  c.kafka_bootstrap = env.required("KAFKA_BOOTSTRAP_SERVERS");
  c.consumer_group = env.str("KAFKA_CONSUMER_GROUP", c.service);
  c.auto_offset_reset = env.choice("KAFKA_AUTO_OFFSET_RESET", "earliest", {"earliest", "latest"});
  c.log_level = env.str("LOG_LEVEL", "info");
  c.stalled_after_s = static_cast<int>(env.integer("CONSUMER_STALLED_AFTER_S", 30, 1, 86400));
  c.lag_interval_ms = static_cast<int>(env.integer("KAFKA_LAG_INTERVAL_MS", 5000, 0, 3600000));
  // Applied by libs/events itself (namespace.hpp); checked here so that a bad
  // value is reported at start with every other problem.
  c.topic_prefix = env.str("TOPIC_PREFIX", "");
  if (!events::valid_topic_prefix(c.topic_prefix))
    env.fail("TOPIC_PREFIX", "at most 64 of [A-Za-z0-9._-]");
  return c;
}

void add_admin_routes(http::Router& router, HealthChecks& checks) {
  router.add("GET", "/health/live", [&checks](const http::Request&) {
    auto result = checks.run_liveness();
    return http::Response::json(result.ready ? 200 : 503,
                                HealthChecks::to_json(result, "live", "not_live"));
  });
  router.add("GET", "/health/ready", [&checks](const http::Request&) {
    auto result = checks.run();
    return http::Response::json(result.ready ? 200 : 503, HealthChecks::to_json(result));
  });
  router.add("GET", "/metrics", [&checks](const http::Request&) {
    // Readiness as series too, so that Prometheus sees it (probes are cached).
    const auto result = checks.run();
    auto& r = metrics::global();
    r.gauge("health_ready", "1 while /health/ready answers 200").set(result.ready ? 1 : 0);
    for (const auto& [name, up] : result.checks) {
      r.gauge("health_check_up", "1 while the dependency answers its readiness probe",
              {{"check", name}})
          .set(up ? 1 : 0);
    }
    return http::Response::text(200, metrics::global().render(),
                                "text/plain; version=0.0.4; charset=utf-8");
  });
}

struct AdminServer::Impl {
  std::unique_ptr<http::Server> server;
};

AdminServer::AdminServer(const CommonConfig& config, HealthChecks& checks,
                         const http::Router* public_routes)
    : impl_(std::make_unique<Impl>()) {
  http::Router router;
  add_admin_routes(router, checks);
  if (public_routes != nullptr) {
    router.add("GET", "/routes", [public_routes, service = config.service](const http::Request&) {
      ticketing::JsonWriter w;
      w.start_object().key("service").string(service).key("routes").start_array();
      for (const auto& r : public_routes->routes()) {
        w.start_object()
            .key("method")
            .string(r.method)
            .key("pattern")
            .string(r.pattern)
            .end_object();
      }
      w.end_array().end_object();
      return http::Response::json(200, w.str());
    });
  }
  http::ServerOptions options;
  options.host = config.admin_host;
  options.port = config.admin_port;
  options.threads = 1;
  options.name = "admin";
  impl_->server = std::make_unique<http::Server>(options, std::move(router));
}

AdminServer::~AdminServer() = default;

void AdminServer::start() {
  impl_->server->start();
}
void AdminServer::stop() {
  impl_->server->stop();
}
std::uint16_t AdminServer::port() const {
  return impl_->server->port();
}

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer closing a socket must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
}

int wait_for_shutdown_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int guarded_main(const std::string& service, const std::function<int()>& body) {
  log::init(service);
  try {
    return body();
  } catch (const ConfigError& e) {
    log::error("configuration is invalid; not starting", {{"error", e.what()}});
    std::fprintf(stderr, "%s: %s\n", service.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    log::error("fatal error; stopping", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace ticketing::service
