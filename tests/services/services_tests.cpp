// The five executables as black boxes: started as processes with the stack's
// settings, probed over HTTP, stopped with SIGTERM.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <thread>

#include "ticketing/http/client.hpp"
#include "ticketing/testing/process.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;

namespace {

struct Svc {
  std::string name;
  bool mysql;
  bool redis;
  bool public_api;
};

const Svc kServices[] = {
    {"reservation-api", true, true, true},         {"payment-api", true, false, true},
    {"seat-expiry-scheduler", false, true, false}, {"dataplatform-relay", false, true, false},
    {"notification-worker", false, true, false},
};

std::map<std::string, std::string> stack_env(unsigned short admin_port, unsigned short http_port) {
  auto env = tt::id_token_env();
  env.insert({{"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
              {"MYSQL_URL", tt::mysql_url()},
              {"REDIS_URL", tt::redis_url()},
              {"TOKEN_SECRET", "services-blackbox-test-secret-0123456789"},
              // Nothing listens there: the relay starts, its breaker holds records back.
              {"DATAPLATFORM_URL", "http://127.0.0.1:1"},
              // Its own group, from the log end: these probes never take work
              // from (or commit offsets for) real instances on the shared cluster.
              {"KAFKA_CONSUMER_GROUP", tt::unique_name("blackbox")},
              {"KAFKA_AUTO_OFFSET_RESET", "latest"},
              {"ADMIN_PORT", std::to_string(admin_port)},
              {"HTTP_PORT", std::to_string(http_port)}});
  return env;
}

ticketing::http::ClientResponse get(unsigned short port, const std::string& path) {
  ticketing::http::Client client;
  ticketing::http::ClientRequest req;
  req.method = "GET";
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  req.total_timeout = 3s;
  return client.send(req);
}

// Polls until GET answers `status` (or the deadline passes); returns the last answer.
std::optional<ticketing::http::ClientResponse> wait_for(unsigned short port,
                                                        const std::string& path, int status,
                                                        std::chrono::seconds limit) {
  std::optional<ticketing::http::ClientResponse> last;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      last = get(port, path);
      if (last->status == status) return last;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

std::string log_path(const std::string& name) {
  return tt::build_path("tests/services/" + name + ".log");
}

}  // namespace

TEST_CASE("each service serves health and metrics and stops on SIGTERM") {
  for (const auto& svc : kServices) {
    DYNAMIC_SECTION(svc.name) {
      auto admin = tt::free_port();
      auto http = tt::free_port();
      tt::ChildProcess proc(tt::build_path("services/" + svc.name + "/" + svc.name), {},
                            stack_env(admin, http), log_path(svc.name));
      auto ready = wait_for(admin, "/health/ready", 200, 30s);
      INFO(proc.log());
      REQUIRE(ready);
      REQUIRE(ready->status == 200);
      CHECK(ready->body.find(R"("kafka":"up")") != std::string::npos);
      CHECK((ready->body.find(R"("mysql":"up")") != std::string::npos) == svc.mysql);
      CHECK((ready->body.find(R"("redis":"up")") != std::string::npos) == svc.redis);

      auto live = get(admin, "/health/live");
      CHECK(live.status == 200);
      auto metrics = get(admin, "/metrics");
      CHECK(metrics.status == 200);
      CHECK(metrics.header("content-type").value_or("").find("text/plain") == 0);
      // The probe just made shows up in the server's own request counter.
      CHECK(metrics.body.find("http_requests_total{") != std::string::npos);

      if (svc.public_api) {
        // Operations routes live on the admin port only.
        for (const char* path : {"/health/ready", "/health/live", "/metrics", "/routes"}) {
          INFO(svc.name << " public port " << path);
          CHECK(get(http, path).status == 404);
        }
        auto missing = get(http, "/v1/no-such-route");
        CHECK(missing.status == 404);
        CHECK(missing.body.find(R"("code":"NOT_FOUND")") != std::string::npos);
      }

      proc.signal(SIGTERM);
      auto code = proc.wait(15s);
      REQUIRE(code);
      CHECK(*code == 0);
      CHECK(proc.log().find(R"("msg":"stopped")") != std::string::npos);
    }
  }
}

TEST_CASE("readiness reports a dependency that is down, liveness does not") {
  // Nothing listens on these ports: the service starts, stays live, and is
  // not ready, naming the dependency.
  auto dead = tt::free_port();
  auto admin = tt::free_port();
  auto env = stack_env(admin, tt::free_port());
  env["REDIS_URL"] = "redis://127.0.0.1:" + std::to_string(dead) + "/0";
  env["MYSQL_URL"] = "mysql://ticketing:ticketing@127.0.0.1:" + std::to_string(dead) + "/";
  tt::ChildProcess proc(tt::build_path("services/reservation-api/reservation-api"), {}, env,
                        log_path("reservation-api-deps-down"));
  auto live = wait_for(admin, "/health/live", 200, 30s);
  REQUIRE(live);
  REQUIRE(live->status == 200);
  auto ready = wait_for(admin, "/health/ready", 503, 10s);
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(ready->body.find(R"("redis":"down")") != std::string::npos);
  CHECK(ready->body.find(R"("mysql":"down")") != std::string::npos);
  CHECK(ready->body.find(R"("kafka":"up")") != std::string::npos);
  proc.signal(SIGTERM);
  auto code = proc.wait(15s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("bad configuration is reported all at once and the service does not start") {
  std::map<std::string, std::string> env = {
      {"KAFKA_BOOTSTRAP_SERVERS", ""}, {"ADMIN_PORT", "not-a-port"}, {"MYSQL_URL", ""},
      {"REDIS_URL", tt::redis_url()},  {"HTTP_PORT", "70000"},       {"ID_TOKEN_ISSUER", ""}};
  tt::ChildProcess proc(tt::build_path("services/reservation-api/reservation-api"), {}, env,
                        log_path("reservation-api-bad-config"));
  auto code = proc.wait(15s);
  REQUIRE(code);
  CHECK(*code == 2);
  auto log = proc.log();
  CHECK(log.find("KAFKA_BOOTSTRAP_SERVERS is required") != std::string::npos);
  CHECK(log.find("ADMIN_PORT='not-a-port' is not an integer") != std::string::npos);
  CHECK(log.find("MYSQL_URL is required") != std::string::npos);
  CHECK(log.find("HTTP_PORT=70000 is outside") != std::string::npos);
  CHECK(log.find("ID_TOKEN_ISSUER is required") != std::string::npos);
}

TEST_CASE(
    "an API service refuses a missing, short or development secret outside development mode") {
  struct Case {
    std::optional<std::string> secret;
    bool dev_mode;
    std::string expect;  // in the log; empty: starts
  };
  const std::vector<Case> cases = {
      {std::nullopt, false, "TOKEN_SECRET is required"},
      {"only-twenty-bytes-ok", false, "TOKEN_SECRET must be at least 32 bytes"},
      {"insecure-development-token-secret-make-run", false, "TOKEN_SECRET is a development value"},
      {"insecure-development-token-secret-make-run", true, ""},
  };
  for (const char* service : {"reservation-api", "payment-api"}) {
    for (const auto& c : cases) {
      INFO(service << " secret " << c.secret.value_or("(none)") << " dev mode " << c.dev_mode);
      const auto admin = tt::free_port();
      auto env = stack_env(admin, tt::free_port());
      env.erase("TOKEN_SECRET");
      if (c.secret) env["TOKEN_SECRET"] = *c.secret;
      if (c.dev_mode) env["TICKETING_DEV_MODE"] = "true";
      tt::ChildProcess proc(tt::build_path(std::string("services/") + service + "/" + service), {},
                            env, log_path(std::string(service) + "-secret"));
      if (c.expect.empty()) {
        auto live = wait_for(admin, "/health/live", 200, 30s);
        CHECK((live && live->status == 200));
        proc.signal(SIGTERM);
        CHECK(proc.wait(20s) == std::optional<int>(0));
      } else {
        auto code = proc.wait(15s);
        REQUIRE(code);
        CHECK(*code == 2);
        CHECK(proc.log().find(c.expect) != std::string::npos);
      }
    }
  }
}
