// rush: the ticket-open rush of `make demo`. Drives N buyers through the
// public HTTP APIs, waits until the system is quiet, checks the invariants
// and writes the report (text, JSON) and a chart (SVG).
// Exit: 0 every invariant holds, 1 one does not, 2 bad arguments.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "checks.hpp"
#include "pipeline.hpp"
#include "report.hpp"
#include "rush.hpp"

namespace {

using namespace ticketing::rush;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

void usage() {
  std::cerr
      << "usage: rush [init-groups] --reservation-urls URL[,URL] --payment-urls URL[,URL] "
         "--idp-url URL\n"
         "            --mysql-url URL\n"
         "            --kafka BOOTSTRAP [--dataplatform-control URL] [--webhook-control URL]\n"
         "            [--users N] [--threads N] [--first-user-id N] [--never-pay SHARE] "
         "[--late-pay SHARE]\n"
         "            [--late-window-ms N] [--poll-ms N] [--long-poll-s N (0: poll)] "
         "[--max-long-polls N]\n"
         "            [--patience-s N] [--time-limit-s N] "
         "[--seed N]\n"
         "            [--reservation-db NAME] [--payment-db NAME] [--group SERVICE=GROUP]...\n"
         "            [--settle-s N] [--report FILE] [--json FILE] [--chart FILE.svg]\n"
         "            [--metrics SERVICE=ADMIN_URL[,ADMIN_URL]]... [--kafka-e2e-ms P50,P99]\n";
}

bool write_file(const std::string& path, const std::string& text) {
  if (path.empty()) return true;
  std::ofstream f(path, std::ios::binary);
  f << text;
  return static_cast<bool>(f);
}

struct Options {
  RushConfig cfg;
  SystemUnderTest sut;
  std::string report_path, json_path, chart_path;
  int settle_s = 120;
  std::map<std::string, std::string> named_groups;          // the --group options
  std::map<std::string, std::vector<std::string>> metrics;  // the --metrics options
  std::optional<KafkaReference> kafka_e2e;
  // `rush init-groups ...`: only commit the topics' current ends for the
  // groups (run before the services start), then exit.
  bool init_groups = false;
  bool help = false;
};

// Throws std::invalid_argument for a bad command line.
Options parse_options(int argc, char** argv) {
  Options o;
  o.init_groups = argc > 1 && std::string(argv[1]) == "init-groups";
  for (int i = o.init_groups ? 2 : 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      o.help = true;
      return o;
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + a);
    std::string v = argv[++i];
    if (a == "--reservation-urls")
      o.cfg.reservation_urls = split(v);
    else if (a == "--payment-urls")
      o.cfg.payment_urls = split(v);
    else if (a == "--idp-url")
      o.cfg.idp_url = v;
    else if (a == "--users")
      o.cfg.users = std::stoi(v);
    else if (a == "--threads")
      o.cfg.threads = std::stoi(v);
    else if (a == "--first-user-id")
      o.cfg.first_user_id = std::stoll(v);
    else if (a == "--never-pay")
      o.cfg.never_pay_share = std::stod(v);
    else if (a == "--late-pay")
      o.cfg.late_pay_share = std::stod(v);
    else if (a == "--late-window-ms")
      o.cfg.late_window = std::chrono::milliseconds(std::stoll(v));
    else if (a == "--poll-ms")
      o.cfg.poll_interval = std::chrono::milliseconds(std::stoll(v));
    else if (a == "--long-poll-s")
      o.cfg.long_poll = std::chrono::seconds(std::stoll(v));
    else if (a == "--max-long-polls")
      o.cfg.max_long_polls = static_cast<std::size_t>(std::stoull(v));
    else if (a == "--patience-s")
      o.cfg.patience = std::chrono::seconds(std::stoll(v));
    else if (a == "--time-limit-s")
      o.cfg.time_limit = std::chrono::seconds(std::stoll(v));
    else if (a == "--seed")
      o.cfg.seed = std::stoull(v);
    else if (a == "--mysql-url")
      o.sut.mysql_url = v;
    else if (a == "--reservation-db")
      o.sut.reservation_db = v;
    else if (a == "--payment-db")
      o.sut.payment_db = v;
    else if (a == "--kafka")
      o.sut.kafka_bootstrap = v;
    else if (a == "--dataplatform-control")
      o.sut.dataplatform_control_url = v;
    else if (a == "--webhook-control")
      o.sut.webhook_control_url = v;
    else if (a == "--group") {
      auto eq = v.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--group wants SERVICE=GROUP");
      o.sut.groups[v.substr(0, eq)] = v.substr(eq + 1);
      o.named_groups[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (a == "--settle-s")
      o.settle_s = std::stoi(v);
    else if (a == "--report")
      o.report_path = v;
    else if (a == "--json")
      o.json_path = v;
    else if (a == "--chart")
      o.chart_path = v;
    else if (a == "--metrics") {
      // SERVICE=URL[,URL]: the admin base URLs of a service's instances.
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument("--metrics wants SERVICE=URL[,URL]");
      for (auto& url : split(v.substr(eq + 1))) o.metrics[v.substr(0, eq)].push_back(url);
    } else if (a == "--kafka-e2e-ms") {
      // P50,P99 of Kafka's EndToEndLatency on the same cluster.
      auto parts = split(v);
      if (parts.size() != 2) throw std::invalid_argument("--kafka-e2e-ms wants P50,P99");
      o.kafka_e2e = KafkaReference{std::stod(parts[0]), std::stod(parts[1])};
    } else
      throw std::invalid_argument("unknown option " + a);
  }
  if (o.init_groups && (o.sut.kafka_bootstrap.empty() || o.named_groups.empty()))
    throw std::invalid_argument("init-groups needs --kafka and at least one --group");
  if (!o.init_groups &&
      (o.cfg.reservation_urls.empty() || o.cfg.payment_urls.empty() || o.cfg.idp_url.empty() ||
       o.sut.mysql_url.empty() || o.sut.kafka_bootstrap.empty()))
    throw std::invalid_argument(
        "--reservation-urls, --payment-urls, --idp-url, --mysql-url and --kafka are required");
  if (o.cfg.users < 1 || o.cfg.users > 1'000'000)
    throw std::invalid_argument("--users must be in 1..1000000");
  if (o.cfg.threads < 1 || o.cfg.threads > 1024)
    throw std::invalid_argument("--threads must be in 1..1024");
  if (o.cfg.never_pay_share < 0 || o.cfg.late_pay_share < 0 ||
      o.cfg.never_pay_share + o.cfg.late_pay_share > 1)
    throw std::invalid_argument("--never-pay and --late-pay are shares in 0..1 with a sum <= 1");
  return o;
}

// The services' admission and hold settings as the rush's environment has
// them (make demo exports them to the services and to the rush alike).
std::vector<std::pair<std::string, std::string>> admission_settings() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const char* name : {"QUEUE_MAX_ACTIVE", "QUEUE_ADMIT_PER_SECOND", "QUEUE_ACTIVE_TTL_SECONDS",
                           "QUEUE_MAX_WAITING", "HOLD_TTL_SECONDS", "MAX_HOLDS_PER_USER",
                           "INSTANCES", "CONSUMER_THREADS", "CONSUMER_CONCURRENCY"}) {
    if (const char* v = std::getenv(name)) out.emplace_back(name, v);
  }
  return out;
}

int start_groups(Options& o) {
  auto& sut = o.sut;
  try {
    sut.groups = o.named_groups;  // only the groups named: never the services' default ones
    start_groups_at_end(sut);
    std::cout << "rush: consumer groups start at the topics' current ends:";
    for (const auto& [service, group] : sut.groups) std::cout << " " << group;
    std::cout << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rush: " << e.what() << "\n";
    return 1;
  }
}

int run(Options& o) {
  auto& cfg = o.cfg;
  auto& sut = o.sut;
  try {
    auto say = [](const std::string& line) { std::cout << "rush: " << line << std::endl; };
    cfg.total_seats = count_seats(sut);
    auto baseline = take_baseline(sut);
    say(fmt::format("{} buyers, {} seats, {} threads; never pay {:.0f}%, pay late {:.0f}%",
                    cfg.users, cfg.total_seats, cfg.threads, cfg.never_pay_share * 100,
                    cfg.late_pay_share * 100));
    cfg.on_progress = say;
    auto result = run_rush(cfg);
    say(fmt::format("buyers done after {:.1f} s; waiting for the system to settle (at most {} s)",
                    result.seconds, o.settle_s));
    auto tally = settle(sut, baseline, result, std::chrono::seconds(o.settle_s), say);
    auto checks = check_invariants(tally, result);
    ReportContext ctx;
    ctx.settings = admission_settings();
    ctx.pipeline = read_pipeline(o.metrics);
    ctx.pipeline.kafka = o.kafka_e2e;
    auto text = text_report(cfg, result, tally, checks, ctx);
    std::cout << text;
    bool written = write_file(o.report_path, text) &&
                   write_file(o.json_path, json_report(cfg, result, tally, checks, ctx)) &&
                   write_file(o.chart_path, svg_chart(result));
    if (!written) std::cerr << "rush: could not write a report file\n";
    for (const auto& p : {o.report_path, o.json_path, o.chart_path})
      if (!p.empty()) say("wrote " + p);
    for (const auto& c : checks)
      if (!c.ok) return 1;
    return written ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "rush: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_options(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "rush: " << e.what() << "\n";
    usage();
    return 2;
  }
  if (o.help) {
    usage();
    return 0;
  }
  return o.init_groups ? start_groups(o) : run(o);
}
