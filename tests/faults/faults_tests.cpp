// The fault suite (issue 16): a rush of a few hundred buyers against two
// instances of every service, with one fault injected while payments and
// confirmations are in flight. Afterwards the demo's invariants must hold (no
// seat sold twice, every accepted payment confirmed or refunded and never
// both, points conserved, every group's lag 0, no dead letters but the poison
// the test itself sent), and during the fault every call answered either
// normally or 503 with an error code: never another 5xx, never a hang, and
// liveness stayed up.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "report.hpp"
#include "rush.hpp"
#include "system.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/testing/identity.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace rush = ticketing::rush;
namespace ev = ticketing::events;

namespace {

void say(const std::string& line) {
  fmt::print("faults: {}\n", line);
}

// scripts/stack.sh <args>; REQUIREs success.
void stack(const std::string& args) {
  auto cmd = "bash '" + ticketing::testing::stack_script() + "' " + args + " >/dev/null";
  say(args);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

rush::RushConfig fault_rush(e2e::System& sys, int users) {
  auto cfg = sys.rush_config(users);
  cfg.time_limit = 200s;
  // A buyer waits an outage out (retrying 503s every 250 ms), and a payer
  // watches for its outcome well past the outage.
  cfg.max_errors = 400;
  cfg.confirm_wait = 150s;
  return cfg;
}

e2e::SystemOptions two_of_each() {
  return {.instances = 2,
          .hold_ttl_seconds = 8,
          .queue_max_active = 120,
          .queue_active_ttl_seconds = 60,
          .hold_release_grace_seconds = 3};
}

// Calls that need each dependency, on every instance, every 250 ms while a
// fault lasts: what they answered.
class Prober {
 public:
  Prober(e2e::System& sys, const std::string& token) : token_(token) {
    for (auto& i : sys.instances()) {
      if (i.service == "reservation-api")
        targets_.push_back({i.process->http_port(), "/v1/queue/status"});  // Redis
      if (i.service == "payment-api")
        targets_.push_back({i.process->http_port(), "/v1/points"});  // MariaDB
      admin_ports_.push_back(i.process->admin_port());
    }
    thread_ = std::thread([this] { run(); });
  }
  ~Prober() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  struct Tally {
    int ok = 0, unavailable = 0, other_5xx = 0, no_code = 0, hung = 0, live_down = 0;
    std::string first_bad;
    std::chrono::steady_clock::time_point last_unavailable{};  // last answer that was not 2xx/4xx
  };
  Tally tally() {
    std::lock_guard lock(mutex_);
    return tally_;
  }

 private:
  struct Target {
    unsigned short port;
    std::string path;
  };

  // A request deadline of 10 s, as the rush's buyers have.
  ticketing::http::ClientResponse get(unsigned short port, const std::string& path,
                                      const std::string& token) {
    ticketing::http::ClientRequest req;
    req.method = "GET";
    req.url = fmt::format("http://127.0.0.1:{}{}", port, path);
    req.total_timeout = 10s;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    return client_.send(req);
  }

  void note(Tally& t, const std::string& what) {
    if (t.first_bad.empty()) t.first_bad = what;
  }

  void run() {
    while (!stop_) {
      for (const auto& t : targets_) {
        Tally add;
        try {
          auto r = get(t.port, t.path, token_);
          if (r.status >= 500) add.last_unavailable = std::chrono::steady_clock::now();
          if (r.status == 503) {
            ++add.unavailable;
            if (r.body.find("\"code\"") == std::string::npos) {
              ++add.no_code;
              note(add, fmt::format("{} 503 without a code: {}", t.path, r.body));
            }
          } else if (r.status >= 500) {
            ++add.other_5xx;
            note(add, fmt::format("{} {}: {}", t.path, r.status, r.body.substr(0, 200)));
          } else {
            ++add.ok;
          }
        } catch (const std::exception& e) {
          ++add.hung;
          note(add, fmt::format("{}: {}", t.path, e.what()));
        }
        merge(add);
      }
      for (auto port : admin_ports_) {
        Tally add;
        try {
          auto r = get(port, "/health/live", {});
          if (r.status != 200) {
            ++add.live_down;
            note(add, fmt::format("/health/live {}: {}", r.status, r.body));
          }
        } catch (const std::exception& e) {
          ++add.live_down;
          note(add, fmt::format("/health/live: {}", e.what()));
        }
        merge(add);
      }
      std::this_thread::sleep_for(250ms);
    }
  }

  void merge(const Tally& a) {
    std::lock_guard lock(mutex_);
    tally_.ok += a.ok;
    tally_.unavailable += a.unavailable;
    tally_.other_5xx += a.other_5xx;
    tally_.no_code += a.no_code;
    tally_.hung += a.hung;
    tally_.live_down += a.live_down;
    tally_.last_unavailable = std::max(tally_.last_unavailable, a.last_unavailable);
    if (tally_.first_bad.empty()) tally_.first_bad = a.first_bad;
  }

  std::string token_;
  std::vector<Target> targets_;
  std::vector<unsigned short> admin_ports_;
  ticketing::http::Client client_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  Tally tally_;
};

// A queue token of a user who never buys, for the prober.
std::string probe_token(e2e::System& sys) {
  auto& api = sys.first("reservation-api");
  auto user = 9'000'000 + static_cast<std::int64_t>(std::random_device{}() % 1'000'000);
  auto r = e2e::call(api.http_port(), "POST", "/v1/queue/tokens", {},
                     ticketing::testing::id_token(user));
  REQUIRE(r.status / 100 == 2);
  return e2e::json(r.body)["token"].GetString();
}

// Settles, prints the report, checks every invariant; `dead_letters` is the
// poison the test sent itself (DLQ topic -> records), everything else must be 0.
rush::Tally require_invariants(e2e::System& sys, const rush::RushConfig& cfg,
                               const rush::RushResult& r,
                               const std::map<std::string, std::int64_t>& dead_letters = {}) {
  auto tally =
      rush::settle(sys.sut(), sys.baseline(), r, 180s, [](const std::string& l) { say(l); });
  auto checks = rush::check_invariants(tally, r);
  fmt::print("{}", rush::text_report(cfg, r, tally, checks));
  for (const auto& c : checks) {
    if (c.name == "nothing in any DLQ") continue;  // checked below against what was sent
    INFO(c.name << ": " << c.detail);
    CHECK(c.ok);
  }
  for (const auto& [topic, n] : tally.dead_letters) {
    auto it = dead_letters.find(topic);
    INFO("new dead letters in " << topic);
    CHECK(n == (it == dead_letters.end() ? 0 : it->second));
  }
  CHECK_FALSE(r.timed_out);
  CHECK(r.counters.confirmed > 0);
  CHECK(r.counters.payments > 0);
  return tally;
}

// The buyers saw no 5xx but 503 and, with every service instance up, no
// transport error (no hang past the 10 s deadline).
void require_clean_answers(const rush::RushResult& r, bool instances_stayed_up = true) {
  INFO("5xx other than 503 seen by the buyers");
  CHECK(r.counters.server_errors_not_503 == 0);
  if (instances_stayed_up) {
    INFO("transport errors (hangs past 10 s, refused connections) seen by the buyers");
    CHECK(r.counters.transport_errors == 0);
  }
}

void require_clean_probes(const Prober::Tally& p, bool expect_unavailable) {
  say(
      fmt::format("probes: {} ok, {} 503, {} other 5xx, {} 503 without code, {} hung, {} liveness "
                  "down {}",
                  p.ok, p.unavailable, p.other_5xx, p.no_code, p.hung, p.live_down, p.first_bad));
  INFO(p.first_bad);
  CHECK(p.other_5xx == 0);
  CHECK(p.no_code == 0);
  CHECK(p.hung == 0);
  CHECK(p.live_down == 0);
  if (expect_unavailable) CHECK(p.unavailable > 0);  // the fault really was felt
}

// Runs a rush; `fault` runs on its own thread from the rush's start.
rush::RushResult rush_with(const rush::RushConfig& cfg, const std::function<void()>& fault) {
  std::exception_ptr failed;
  std::thread t([&] {
    try {
      fault();
    } catch (...) {
      failed = std::current_exception();
    }
  });
  auto r = rush::run_rush(cfg);
  t.join();
  if (failed) std::rethrow_exception(failed);
  return r;
}

// Runs `outage` while the prober watches; the fault begins `after` into the rush.
void outage_case(int users, std::chrono::seconds after, bool expect_unavailable,
                 const std::function<void(e2e::System&)>& begin,
                 const std::function<void(e2e::System&)>& end, std::chrono::seconds lasting) {
  e2e::System sys(two_of_each());
  auto cfg = fault_rush(sys, users);
  auto token = probe_token(sys);
  std::optional<Prober::Tally> probes;
  auto r = rush_with(cfg, [&] {
    std::this_thread::sleep_for(after);
    Prober prober(sys, token);
    begin(sys);
    std::this_thread::sleep_for(lasting);
    end(sys);
    const auto ended = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(5s);  // the first answers after the recovery
    prober.stop();
    probes = prober.tally();
    say(fmt::format("API calls answered normally again {} ms after the dependency was back",
                    std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  probes->last_unavailable - ended)
                                                  .count())));
  });
  REQUIRE(probes);
  require_clean_probes(*probes, expect_unavailable);
  require_clean_answers(r);
  require_invariants(sys, cfg, r);
}

// Whether the instance leads its outbox relay (false while it does not answer).
bool leads(e2e::ServiceProcess& p) {
  try {
    return p.metric("outbox_is_leader") == 1;
  } catch (const std::exception&) {
    return false;  // killed or frozen
  }
}

// The instance of `service` that leads its outbox relay (waits for one).
e2e::ServiceProcess& outbox_leader(e2e::System& sys, const std::string& service) {
  e2e::ServiceProcess* leader = nullptr;
  REQUIRE(e2e::eventually(
      [&] {
        for (auto& i : sys.instances()) {
          if (i.service == service && leads(*i.process)) {
            leader = i.process.get();
            return true;
          }
        }
        return false;
      },
      30s));
  return *leader;
}

}  // namespace

TEST_CASE("MariaDB SIGKILLed for 20 s while payments and confirmations are in flight",
          "[faults][mariadb]") {
  outage_case(
      300, 3s, true, [](e2e::System&) { stack("kill mariadb"); },
      [](e2e::System&) { stack("start mariadb"); }, 20s);
}

TEST_CASE("Redis SIGKILLed for 20 s during a rush", "[faults][redis]") {
  outage_case(
      300, 3s, true, [](e2e::System&) { stack("kill redis"); },
      [](e2e::System&) { stack("start redis"); }, 20s);
}

TEST_CASE("one Kafka broker SIGSTOPped for 15 s during a rush", "[faults][broker-stop]") {
  outage_case(
      300, 6s, false, [](e2e::System&) { stack("pause kafka-2"); },
      [](e2e::System&) { stack("resume kafka-2"); }, 15s);
}

TEST_CASE("two Kafka brokers down for 20 s (below min.insync.replicas) during a rush",
          "[faults][brokers-down]") {
  outage_case(
      300, 6s, false,
      [](e2e::System&) {
        stack("kill kafka-2");
        stack("kill kafka-3");
      },
      [](e2e::System&) {
        std::thread other([] { stack("start kafka-3"); });
        stack("start kafka-2");
        other.join();
      },
      20s);
}

TEST_CASE("the data platform down for 60 s during a rush", "[faults][platform]") {
  outage_case(
      250, 4s, false,
      [](e2e::System& sys) {
        auto r =
            e2e::call(sys.platform_control_port(), "POST", "/_control/config", R"({"down":true})");
        REQUIRE(r.status == 200);
      },
      [](e2e::System& sys) {
        auto r =
            e2e::call(sys.platform_control_port(), "POST", "/_control/config", R"({"down":false})");
        REQUIRE(r.status == 200);
      },
      60s);
}

TEST_CASE("the outbox leaders SIGKILLed, then frozen while they hold the leader lock",
          "[faults][outbox-leader]") {
  e2e::System sys(two_of_each());
  auto cfg = fault_rush(sys, 300);
  bool killed = false, took_over_from_kill = false, took_over_from_freeze = false;
  auto r = rush_with(cfg, [&] {
    std::this_thread::sleep_for(5s);
    // reservation-api's leader crashes: the other instance takes over once
    // the server drops the dead session's lock.
    auto& dead = outbox_leader(sys, "reservation-api");
    dead.process().signal(SIGKILL);
    killed = true;
    say("reservation-api outbox leader SIGKILLed");
    took_over_from_kill = e2e::eventually(
        [&] {
          for (auto& i : sys.instances())
            if (i.service == "reservation-api" && i.process.get() != &dead && leads(*i.process))
              return true;
          return false;
        },
        15s);
    dead.restart();
    std::this_thread::sleep_for(4s);
    // payment-api's leader freezes with the lock held (its session stays
    // open): the other must take over within seconds, not hours.
    auto& frozen = outbox_leader(sys, "payment-api");
    frozen.process().signal(SIGSTOP);
    say("payment-api outbox leader SIGSTOPped");
    const auto t0 = std::chrono::steady_clock::now();
    took_over_from_freeze = e2e::eventually(
        [&] {
          for (auto& i : sys.instances())
            if (i.service == "payment-api" && i.process.get() != &frozen && leads(*i.process))
              return true;
          return false;
        },
        20s);
    say(fmt::format(
        "payment-api standby took over after {} ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count()));
    std::this_thread::sleep_for(8s);
    frozen.process().signal(SIGCONT);
    say("payment-api old leader resumed");
  });
  CHECK(killed);
  CHECK(took_over_from_kill);
  CHECK(took_over_from_freeze);
  for (auto& i : sys.instances()) i.process->wait_ready();
  // Killed and frozen instances cost buyers connections (they retry the
  // other instance), never a 5xx other than 503.
  require_clean_answers(r, false);
  require_invariants(sys, cfg, r);
}

TEST_CASE(
    "a poison record on every consumed topic: only it is dead-lettered; a fixed copy "
    "replays",
    "[faults][poison]") {
  e2e::System sys(two_of_each());
  auto cfg = fault_rush(sys, 200);
  ev::ProducerOptions po;
  po.bootstrap_servers = ticketing::testing::kafka_bootstrap();
  po.client_id = "faults-poison";
  ev::Producer producer(po);
  // Every topic a service of the system consumes, and how many groups read it.
  std::map<std::string, int> readers;
  for (const auto& [service, topics] : rush::subscriptions())
    for (const auto& t : topics) ++readers[t];
  std::map<std::string, std::int64_t> expected;  // DLQ topic -> dead letters
  const std::string broken_key = ticketing::new_uuid();
  // A notification whose data breaks its schema (amount < 0), as a buggy
  // producer might send it; fixed (same eventId) and replayed afterwards.
  const std::int64_t user = 8'000'000 + static_cast<std::int64_t>(std::random_device{}() % 100000);
  const auto fixed = ev::Envelope::make(
      "notifications.payment-completed", "payment-api",
      fmt::format(R"({{"userId":{},"paymentId":1,"reservationId":1,"amount":700,"balance":0,)"
                  R"("paidAt":"{}"}})",
                  user, ticketing::now_rfc3339()));
  auto broken = ev::make_event_record(fixed, std::to_string(user));
  REQUIRE(broken.value.find(R"("amount":700)") != std::string::npos);
  broken.value.replace(broken.value.find(R"("amount":700)"), 12, R"("amount":-5)");
  auto r = rush_with(cfg, [&] {
    std::this_thread::sleep_for(5s);
    for (const auto& [topic, n] : readers) {
      ev::Record rec{topic, broken_key, "not json {", {}, -1};
      REQUIRE(producer.produce(std::move(rec)).get().ok);
      expected[ev::dlq_topic_for(topic)] += n;
    }
    REQUIRE(producer.produce(broken).get().ok);
    expected[ev::dlq_topic_for(broken.topic)] += 1;
    say("poison sent to every consumed topic");
  });
  require_clean_answers(r);
  require_invariants(sys, cfg, r, expected);

  // The operator fixes the notification (same eventId) and replays it with
  // ticketing-admin from its dead-letter topic: the webhook gets it once.
  auto dead = ev::make_event_record(fixed, std::to_string(user), "notifications.dlq");
  dead.headers.push_back({"dlq-original-topic", "notifications.payment-completed"});
  auto ack = producer.produce(std::move(dead)).get();
  REQUIRE(ack.ok);
  auto cmd = fmt::format(
      "'{}' dlq replay notifications.dlq --bootstrap '{}' --partition {} --from-offset {} "
      "--to-offset {} --group faults-replay-{} >/dev/null",
      ticketing::testing::build_path("tools/admin/ticketing-admin"),
      ticketing::testing::kafka_bootstrap(), ack.partition, ack.offset, ack.offset,
      ticketing::new_uuid());
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(e2e::eventually(
      [&] {
        auto q = e2e::call(sys.webhook_control_port(), "GET", "/_control/requests?path=/webhook");
        return q.body.find(fixed.event_id) != std::string::npos;
      },
      60s));
  auto q = e2e::call(sys.webhook_control_port(), "GET", "/_control/requests?path=/webhook");
  auto d = e2e::json(q.body);
  int delivered = 0;
  for (auto& req : d["requests"].GetArray())
    if (std::string(req["body"].GetString()).find(fixed.event_id) != std::string::npos &&
        req["status"].GetInt() / 100 == 2)
      ++delivered;
  CHECK(delivered == 1);
}
