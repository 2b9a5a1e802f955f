#include "ticketing/service/host.hpp"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/http/server.hpp"

namespace ticketing::service {

HostSpec HostSpec::api(std::string service, std::uint16_t admin_port, std::uint16_t http_port,
                       std::string database, bool redis) {
  HostSpec s{std::move(service), admin_port, http_port, InfraNeeds{}};
  s.needs.mysql = true;
  s.needs.mysql_database = std::move(database);
  s.needs.redis = redis;
  return s;
}

HostSpec HostSpec::redis_worker(std::string service, std::uint16_t admin_port) {
  HostSpec s{std::move(service), admin_port, 0, InfraNeeds{}};
  s.needs.redis = true;
  return s;
}

HostConfig HostConfig::read(EnvReader& env, const HostSpec& spec) {
  HostConfig c;
  c.common = CommonConfig::read(env, spec.service, spec.default_admin_port);
  c.infra = InfraConfig::read(env, spec.needs);
  c.public_api = spec.default_http_port != 0;
  if (c.public_api) {
    c.http_host = env.str("HTTP_HOST", "127.0.0.1");
    c.http_port =
        static_cast<std::uint16_t>(env.integer("HTTP_PORT", spec.default_http_port, 0, 65535));
    c.http_threads = static_cast<int>(env.integer("HTTP_THREADS", 16, 1, 256));
  }
  return c;
}

struct ServiceHost::Impl {
  HostConfig config;
  HealthChecks checks;
  std::unique_ptr<Infra> infra;
  http::Router router;  // before admin: its GET /routes lists this router
  AdminServer admin;
  std::unique_ptr<http::Server> public_server;
  std::shared_ptr<events::StallBoard> stalls = std::make_shared<events::StallBoard>();
  ReadyGate gate;
  bool has_startup = false;
  std::mutex startup_mutex;
  std::condition_variable_any startup_cv;
  std::jthread startup;

  void run_startup(const std::stop_token& stop, const std::function<int()>& migrate,
                   const std::function<void()>& start) {
    const auto& database = config.infra.mysql_database;
    for (int attempt = 1; !stop.stop_requested(); ++attempt) {
      try {
        const int applied = migrate();
        log::info("migrations applied",
                  {{"database", database}, {"applied", std::to_string(applied)}});
        start();
        gate.open();
        return;
      } catch (const std::exception& e) {
        log::warn(
            "migrations failed; retrying",
            {{"database", database}, {"attempt", std::to_string(attempt)}, {"error", e.what()}});
      }
      std::unique_lock lock(startup_mutex);
      startup_cv.wait_for(lock, stop, std::chrono::seconds(2),
                          [&] { return stop.stop_requested(); });
    }
  }

  explicit Impl(const HostConfig& c)
      : config(c),
        infra(std::make_unique<Infra>(c.common, c.infra, checks)),
        admin(c.common, checks, c.public_api ? &router : nullptr) {}
};

namespace {

// [{"topic","partition","stalledSeconds","attempts","error"}], longest first.
std::string stalls_json(const events::StallBoard& board, std::chrono::seconds threshold) {
  ticketing::JsonWriter w;
  w.start_array();
  for (const auto& s : board.longer_than(threshold)) {
    w.start_object()
        .key("topic")
        .string(s.partition.topic)
        .key("partition")
        .integer(s.partition.partition)
        .key("stalledSeconds")
        .integer(std::chrono::duration_cast<std::chrono::seconds>(s.stalled_for).count())
        .key("attempts")
        .integer(s.attempts)
        .key("error")
        .string(s.error.substr(0, 300))
        .end_object();
  }
  w.end_array();
  return w.str();
}

}  // namespace

ServiceHost::ServiceHost(const HostConfig& config) : impl_(std::make_unique<Impl>(config)) {
  impl_->checks.add_detail(
      "stalled",
      [board = impl_->stalls, after = std::chrono::seconds(config.common.stalled_after_s)] {
        return stalls_json(*board, after);
      });
}

ServiceHost::~ServiceHost() {
  stop();
}

Infra& ServiceHost::infra() {
  return *impl_->infra;
}
HealthChecks& ServiceHost::health() {
  return impl_->checks;
}
const std::shared_ptr<events::StallBoard>& ServiceHost::stalls() {
  return impl_->stalls;
}
http::Router& ServiceHost::router() {
  return impl_->router;
}
const HostConfig& ServiceHost::config() const {
  return impl_->config;
}

void ServiceHost::start_after_migrations(std::function<int()> migrate,
                                         std::function<void()> start) {
  if (impl_->has_startup) throw std::logic_error("start_after_migrations called twice");
  impl_->has_startup = true;
  Impl* impl = impl_.get();
  impl_->checks.add("schema", [impl] { return impl->gate.is_open(); });
  impl_->startup =
      std::jthread([impl, migrate = std::move(migrate), start = std::move(start)](
                       const std::stop_token& stop) { impl->run_startup(stop, migrate, start); });
}

const ReadyGate& ServiceHost::ready_gate() const {
  return impl_->gate;
}

void ServiceHost::stop_startup() {
  if (!impl_->startup.joinable()) return;
  impl_->startup.request_stop();
  impl_->startup.join();
}

void ServiceHost::start() {
  if (!impl_->has_startup) impl_->gate.open();  // nothing to wait for
  impl_->admin.start();
  if (impl_->config.public_api) {
    http::ServerOptions options;
    options.host = impl_->config.http_host;
    options.port = impl_->config.http_port;
    options.threads = impl_->config.http_threads;
    options.name = "public";
    impl_->public_server = std::make_unique<http::Server>(options, impl_->router);
    impl_->public_server->start();
  }
  log::info("started",
            {{"admin_port", std::to_string(impl_->admin.port())},
             {"http_port", impl_->public_server ? std::to_string(impl_->public_server->port())
                                                : std::string("none")}});
}

void ServiceHost::stop() {
  if (impl_->public_server) {
    impl_->public_server->stop();
    impl_->public_server.reset();
  }
  impl_->admin.stop();
}

int run_service(const HostSpec& spec, const std::function<Setup(EnvReader&)>& configure) {
  block_shutdown_signals();
  return guarded_main(spec.service, [&] {
    EnvReader env;
    auto config = HostConfig::read(env, spec);
    auto setup = configure(env);
    env.finish();
    log::init(spec.service, log::parse_level(config.common.log_level, log::Level::kInfo));
    ServiceHost host(config);
    Teardown teardown = setup ? setup(host) : Teardown{};
    try {
      host.start();  // e.g. a port already taken
    } catch (...) {
      // The setup's threads must be stopped before the exception leaves:
      // destroying them while they run would abort the process.
      host.stop_startup();
      if (teardown) teardown();
      throw;
    }
    int sig = wait_for_shutdown_signal();
    log::info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    host.stop_startup();  // nothing starts once the teardown has begun
    if (teardown) teardown();
    host.stop();
    log::info("stopped");
    return 0;
  });
}

}  // namespace ticketing::service
