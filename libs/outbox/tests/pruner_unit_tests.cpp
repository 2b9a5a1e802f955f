#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "ticketing/common/config.hpp"
#include "ticketing/outbox/pruner.hpp"

using namespace ticketing;
using namespace std::chrono_literals;

namespace {

EnvReader env_of(std::map<std::string, std::string> vars) {
  return EnvReader([vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace

TEST_CASE("prune settings: defaults outlast the topics' retention") {
  auto env = env_of({});
  auto s = outbox::PruneSettings::read(env);
  env.finish();
  CHECK(s.dedupe_retention == std::chrono::seconds(15 * 86400));
  CHECK(s.dedupe_retention > std::chrono::seconds(14 * 86400));  // retention.ms + segment.ms
  CHECK(s.interval == 3600s);
  CHECK(s.batch_size == 1000);
}

TEST_CASE("prune settings: a retention below one day is refused, naming the variable") {
  auto env = env_of({{"DEDUPE_RETENTION_S", "3600"}, {"IDEMPOTENCY_KEY_RETENTION_S", "60"}});
  (void)outbox::PruneSettings::read(env);
  (void)outbox::read_retention(env, "IDEMPOTENCY_KEY_RETENTION_S", 7 * 24h);
  try {
    env.finish();
    FAIL("finish() accepted a retention of one hour");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 2);
    CHECK(e.problems()[0].rfind("DEDUPE_RETENTION_S:", 0) == 0);
    CHECK(e.problems()[0].find("at least 86400") != std::string::npos);
    CHECK(e.problems()[1].rfind("IDEMPOTENCY_KEY_RETENTION_S:", 0) == 0);
  }
}

TEST_CASE("prune settings: one day and more are accepted") {
  auto env = env_of({{"DEDUPE_RETENTION_S", "86400"}, {"PRUNE_INTERVAL_S", "60"}});
  auto s = outbox::PruneSettings::read(env);
  env.finish();
  CHECK(s.dedupe_retention == 24h);
  CHECK(s.interval == 60s);
}

TEST_CASE("a pruner refuses a table whose database it cannot tell") {
  outbox::PrunerOptions o;
  o.tables.push_back({"processed_events", "processed_at"});
  CHECK_THROWS_AS(outbox::Pruner(o), std::invalid_argument);
  o.tables[0].table = "svc.processed_events";
  CHECK_NOTHROW(outbox::Pruner(o));
}
