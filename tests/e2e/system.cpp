#include "system.hpp"

#include <map>
#include <stdexcept>
#include <thread>

#include "ticketing/testing/stack_env.hpp"

namespace tt = ticketing::testing;
using namespace std::chrono_literals;

namespace e2e {

namespace {

const std::vector<std::string>& services() {
  static const std::vector<std::string> s = {"reservation-api", "payment-api", "seat-expiry-scheduler",
                                             "dataplatform-relay", "notification-worker"};
  return s;
}

std::unique_ptr<tt::ChildProcess> fake_peer(const std::string& name, unsigned short port, unsigned short control) {
  auto p = std::make_unique<tt::ChildProcess>(
      tt::build_path("tools/fake-peer/fake-peer"),
      std::vector<std::string>{"--port", std::to_string(port), "--control-port", std::to_string(control)},
      std::map<std::string, std::string>{}, tt::build_path("tests/e2e/" + name + ".log"));
  for (int i = 0; i < 100; ++i) {
    try {
      if (call(control, "GET", "/_control/stats").status == 200) return p;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error(name + " did not start: " + p->log());
}

}  // namespace

System::System(SystemOptions options)
    : options_(options),
      iso_("e2e_sys"),
      platform_port_(tt::free_port()),
      platform_control_(tt::free_port()),
      webhook_port_(tt::free_port()),
      webhook_control_(tt::free_port()) {
  platform_ = fake_peer(iso_.name + "-dataplatform", platform_port_, platform_control_);
  webhook_ = fake_peer(iso_.name + "-webhook", webhook_port_, webhook_control_);

  sut_.mysql_url = tt::mysql_url();
  sut_.reservation_db = iso_.name + "_res";
  sut_.payment_db = iso_.name + "_pay";
  sut_.kafka_bootstrap = tt::kafka_bootstrap();
  sut_.dataplatform_control_url = "http://127.0.0.1:" + std::to_string(platform_control_);
  sut_.webhook_control_url = "http://127.0.0.1:" + std::to_string(webhook_control_);
  for (const auto& s : services()) sut_.groups[s] = iso_.name + "-" + s;
  baseline_ = ticketing::rush::take_baseline(sut_);
  ticketing::rush::start_groups_at(sut_, baseline_);

  std::map<std::string, std::map<std::string, std::string>> env;
  for (const auto& s : services())
    env[s] = {{"REDIS_PREFIX", iso_.name + ":" + s + ":"}, {"KAFKA_CONSUMER_GROUP", sut_.groups[s]}};
  env["reservation-api"].insert({{"MYSQL_DATABASE", sut_.reservation_db},
                                 {"HOLD_TTL_SECONDS", std::to_string(options.hold_ttl_seconds)},
                                 {"QUEUE_MAX_ACTIVE", std::to_string(options.queue_max_active)},
                                 {"QUEUE_ACTIVE_TTL_SECONDS", std::to_string(options.queue_active_ttl_seconds)},
                                 {"IGNORE_UNKNOWN_RESERVATIONS", "true"}});
  env["payment-api"].insert({{"MYSQL_DATABASE", sut_.payment_db}});
  env["seat-expiry-scheduler"].insert({{"EXPIRY_TICK_MS", "200"}});
  env["dataplatform-relay"].insert({{"DATAPLATFORM_URL", "http://127.0.0.1:" + std::to_string(platform_port_)}});
  env["notification-worker"].insert({{"WEBHOOK_URL", "http://127.0.0.1:" + std::to_string(webhook_port_) + "/webhook"}});

  run_command("reservation-api", "seed", env["reservation-api"]);
  for (int n = 1; n <= options.instances; ++n)
    for (const auto& s : services())
      instances_.push_back(Instance{
          s, std::make_unique<ServiceProcess>(s, iso_.name + "-" + s + "-" + std::to_string(n), env[s])});
  for (auto& i : instances_) i.process->wait_ready();
}

System::~System() = default;

ServiceProcess& System::first(const std::string& service) {
  for (auto& i : instances_)
    if (i.service == service) return *i.process;
  throw std::invalid_argument("no instance of " + service);
}

std::vector<std::string> System::urls(const std::string& service) const {
  std::vector<std::string> out;
  for (const auto& i : instances_)
    if (i.service == service) out.push_back("http://127.0.0.1:" + std::to_string(i.process->http_port()));
  return out;
}

}  // namespace e2e
