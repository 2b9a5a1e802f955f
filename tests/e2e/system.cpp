#include "system.hpp"

#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "ticketing/testing/stack_env.hpp"

namespace tt = ticketing::testing;
using namespace std::chrono_literals;

namespace e2e {

namespace {

const std::vector<std::string>& services() {
  static const std::vector<std::string> s = {"reservation-api", "payment-api",
                                             "seat-expiry-scheduler", "dataplatform-relay",
                                             "notification-worker"};
  return s;
}

}  // namespace

System::System(SystemOptions options)
    : options_(options),
      iso_("e2e_sys"),
      platform_("tests/e2e/" + iso_.name + "-dataplatform.log"),
      webhook_("tests/e2e/" + iso_.name + "-webhook.log") {
  sut_.mysql_url = tt::mysql_url();
  sut_.reservation_db = iso_.name + "_res";
  sut_.payment_db = iso_.name + "_pay";
  sut_.kafka_bootstrap = tt::kafka_bootstrap();
  sut_.dataplatform_control_url = platform_.control_url();
  sut_.webhook_control_url = webhook_.control_url();
  for (const auto& s : services()) sut_.groups[s] = iso_.name + "-" + s;
  ticketing::rush::start_groups_at_end(sut_);
  baseline_ = ticketing::rush::take_baseline(sut_);

  std::map<std::string, std::map<std::string, std::string>> env;
  for (const auto& s : services())
    env[s] = {{"REDIS_PREFIX", iso_.name + ":" + s + ":"},
              {"KAFKA_CONSUMER_GROUP", sut_.groups[s]}};
  env["reservation-api"].insert(
      {{"MYSQL_DATABASE", sut_.reservation_db},
       {"HOLD_TTL_SECONDS", std::to_string(options.hold_ttl_seconds)},
       {"QUEUE_MAX_ACTIVE", std::to_string(options.queue_max_active)},
       {"QUEUE_ACTIVE_TTL_SECONDS", std::to_string(options.queue_active_ttl_seconds)},
       {"IGNORE_UNKNOWN_RESERVATIONS", "true"}});
  env["payment-api"].insert({{"MYSQL_DATABASE", sut_.payment_db}});
  env["seat-expiry-scheduler"].insert({{"EXPIRY_TICK_MS", "200"}});
  for (const auto* s : {"reservation-api", "seat-expiry-scheduler"})
    env[s]["HOLD_RELEASE_GRACE_SECONDS"] = std::to_string(options.hold_release_grace_seconds);
  env["dataplatform-relay"].insert({{"DATAPLATFORM_URL", platform_.url()}});
  env["notification-worker"].insert({{"WEBHOOK_URL", webhook_.url("/webhook")}});

  run_command("reservation-api", "seed", env["reservation-api"]);
  for (int n = 1; n <= options.instances; ++n)
    for (const auto& s : services())
      instances_.push_back(
          Instance{s, std::make_unique<ServiceProcess>(
                          s, iso_.name + "-" + s + "-" + std::to_string(n), env[s])});
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
    if (i.service == service)
      out.push_back("http://127.0.0.1:" + std::to_string(i.process->http_port()));
  return out;
}

ticketing::rush::RushConfig System::rush_config(int users) const {
  ticketing::rush::RushConfig cfg;
  cfg.reservation_urls = urls("reservation-api");
  cfg.payment_urls = urls("payment-api");
  cfg.idp_url = tt::idp_url();
  cfg.users = users;
  cfg.first_user_id =
      1'000'000 + static_cast<std::int64_t>(std::random_device{}() % 1'000'000) * 1000;
  cfg.threads = 16;
  cfg.time_limit = std::chrono::seconds(240);
  cfg.total_seats = ticketing::rush::count_seats(sut_);
  cfg.on_progress = [](const std::string& line) { fmt::print("rush: {}\n", line); };
  cfg.progress_every = std::chrono::seconds(5);
  return cfg;
}

}  // namespace e2e
