#include <catch2/catch.hpp>

#include <thread>

#include <chrono>

#include <map>

#include "ticketing/common/config.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/common/stop.hpp"

using namespace ticketing;

namespace {

EnvReader reader(std::map<std::string, std::string> vars) {
  return EnvReader([vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace

TEST_CASE("config reports every missing or malformed variable at once") {
  auto env = reader({{"PORT", "abc"}, {"TTL", "99999"}, {"FLAG", "maybe"}, {"RESET", "middle"}});
  env.required("KAFKA_BOOTSTRAP_SERVERS");
  env.integer("PORT", 8080, 1, 65535);
  env.integer("TTL", 300, 1, 3600);
  env.boolean("FLAG", false);
  env.secret("TOKEN_SECRET");
  CHECK(env.choice("RESET", "earliest", {"earliest", "latest"}) == "earliest");
  env.fail("HOLD_TTL_SECONDS", "must be shorter than QUEUE_ACTIVE_TTL_SECONDS");
  try {
    env.finish();
    FAIL("finish() should have thrown");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 7);
    CHECK(std::string(e.what()).find("RESET='middle' must be one of earliest|latest") !=
          std::string::npos);
    CHECK(std::string(e.what()).find("HOLD_TTL_SECONDS: must be shorter") != std::string::npos);
    std::string what = e.what();
    CHECK(what.find("KAFKA_BOOTSTRAP_SERVERS is required") != std::string::npos);
    CHECK(what.find("PORT='abc' is not an integer") != std::string::npos);
    CHECK(what.find("TTL=99999 is outside 1..3600") != std::string::npos);
    CHECK(what.find("FLAG='maybe'") != std::string::npos);
    CHECK(what.find("TOKEN_SECRET is required") != std::string::npos);
  }
}

TEST_CASE("config defaults, values and masked secrets") {
  const std::string secret = "correct-horse-battery-staple-hunter2";
  auto env = reader({{"PORT", "9090"}, {"TOKEN_SECRET", secret}, {"FLAG", "true"}});
  CHECK(env.integer("PORT", 8080, 1, 65535) == 9090);
  CHECK(env.integer("TTL", 300, 1, 3600) == 300);
  CHECK(env.secret("TOKEN_SECRET") == secret);
  CHECK(env.boolean("FLAG", false));
  CHECK(env.str("NAME", "x") == "x");
  REQUIRE_NOTHROW(env.finish());
  auto d = env.describe();
  CHECK(d.find("TOKEN_SECRET=***") != std::string::npos);
  CHECK(d.find("hunter2") == std::string::npos);
  CHECK(d.find("PORT=9090") != std::string::npos);
}

TEST_CASE("secrets: at least 32 bytes, development values only in development mode") {
  auto problems = [](std::map<std::string, std::string> vars) {
    auto env = reader(std::move(vars));
    env.secret("TOKEN_SECRET");
    try {
      env.finish();
      return std::string();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  CHECK(problems({{"TOKEN_SECRET", std::string(31, 'x')}})
            .find("TOKEN_SECRET must be at least 32 bytes") != std::string::npos);
  CHECK(problems({{"TOKEN_SECRET", std::string(32, 'x')}}).empty());
  const std::string dev = "insecure-development-token-secret-000";
  CHECK(problems({{"TOKEN_SECRET", dev}}).find("TOKEN_SECRET is a development value") !=
        std::string::npos);
  CHECK(problems({{"TOKEN_SECRET", dev}, {"TICKETING_DEV_MODE", "false"}})
            .find("development value") != std::string::npos);
  CHECK(problems({{"TOKEN_SECRET", dev}, {"TICKETING_DEV_MODE", "true"}}).empty());
}

TEST_CASE("metrics render in Prometheus text format") {
  metrics::Registry r;
  r.counter("events_total", "Events.", {{"topic", "a"}}).inc(3);
  r.counter("events_total", "Events.", {{"topic", "a"}}).inc();
  r.gauge("breaker_state", "State.").set(2);
  auto& h = r.histogram("latency_seconds", "Latency.", {}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  auto text = r.render();
  CHECK(text.find("# TYPE events_total counter\nevents_total{topic=\"a\"} 4\n") !=
        std::string::npos);
  CHECK(text.find("breaker_state 2\n") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{le=\"1\"} 2\n") != std::string::npos);
  CHECK(text.find("latency_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("latency_seconds_count 3\n") != std::string::npos);
  CHECK_THROWS_AS(r.gauge("events_total", "x"), std::logic_error);
}

TEST_CASE("ids and RFC 3339 timestamps") {
  auto a = new_uuid();
  CHECK(a.size() == 36);
  CHECK(a != new_uuid());
  CHECK(new_trace_id().size() == 32);
  // Name-based: stable for a name, different across names, version 5.
  auto n = name_uuid("reservation:admitted/1733300000000-0");
  CHECK(n == name_uuid("reservation:admitted/1733300000000-0"));
  CHECK(n != name_uuid("reservation:admitted/1733300000000-1"));
  REQUIRE(n.size() == 36);
  CHECK(n[14] == '5');
  auto t = parse_rfc3339("2026-11-24T05:33:04.123Z");
  REQUIRE(t);
  CHECK(to_rfc3339(*t) == "2026-11-24T05:33:04.123Z");
  auto with_offset = parse_rfc3339("2026-11-24T14:33:04+09:00");
  REQUIRE(with_offset);
  CHECK(to_rfc3339(*with_offset) == "2026-11-24T05:33:04.000Z");
  CHECK_FALSE(parse_rfc3339("2026-13-01T00:00:00Z"));
  CHECK_FALSE(parse_rfc3339("yesterday"));
  CHECK_FALSE(parse_rfc3339("2026-11-24T05:33:04"));
}

TEST_CASE("JSON escaping of log fields") {
  std::string out;
  log::append_json_escaped(out, "a\"b\\c\n\x01");
  CHECK(out == "a\\\"b\\\\c\\n\\u0001");
}

TEST_CASE("sleep_unless_stopped with a stop token: the whole time, or until a stop request") {
  std::stop_source source;
  const auto started = std::chrono::steady_clock::now();
  CHECK(ticketing::sleep_unless_stopped(source.get_token(), std::chrono::milliseconds(120)));
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(120));
  // A request from another thread wakes the sleeper (an hour would time the test out).
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    source.request_stop();
  });
  CHECK_FALSE(ticketing::sleep_unless_stopped(source.get_token(), std::chrono::hours(1)));
  CHECK_FALSE(ticketing::sleep_unless_stopped(source.get_token(), std::chrono::hours(1)));
}
