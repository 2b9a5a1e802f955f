// Admin API against the real cluster: create (idempotently), describe with
// ISR and min.insync.replicas, check, delete.

#include <catch2/catch.hpp>

#include <thread>

#include "kafka_fixture.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace ev = ticketing::events;
using namespace std::chrono_literals;

TEST_CASE("create, describe, check and delete topics", "[admin]") {
  const std::string a = ticketing::testing::unique_name("it_admin_a");
  const std::string b = ticketing::testing::unique_name("it_admin_b");
  const ev::Manifest m = ev::parse_manifest(a + " 3 3 min.insync.replicas=2\n" + b +
                                            " 3 3 min.insync.replicas=2 retention.ms=3600000\n");
  REQUIRE(ev::wait_for_brokers(evtest::bootstrap(), 3, 60s) == 3);

  const auto created = ev::create_topics(evtest::bootstrap(), m);
  REQUIRE(created.size() == 2);
  for (const auto& r : created) {
    INFO(r.topic << " " << r.detail);
    CHECK(r.status == ev::TopicStatus::kCreated);
  }
  const auto again = ev::create_topics(evtest::bootstrap(), m);
  REQUIRE(again.size() == 2);
  for (const auto& r : again) CHECK(r.status == ev::TopicStatus::kExists);

  const ev::Manifest more = ev::parse_manifest(a + " 6 3 min.insync.replicas=2\n");
  const auto mismatch = ev::create_topics(evtest::bootstrap(), more);
  REQUIRE(mismatch.size() == 1);
  CHECK(mismatch[0].status == ev::TopicStatus::kExistsMismatch);
  CHECK(mismatch[0].detail.find("partitions 3 (manifest 6)") != std::string::npos);

  const ev::ClusterInfo info = ev::describe(evtest::bootstrap(), {a, b});
  CHECK(info.brokers.size() == 3);
  CHECK(info.controller_id >= 1);
  for (const auto& br : info.brokers) {
    CHECK(br.host == "127.0.0.1");
    CHECK(br.port > 0);
  }
  REQUIRE(info.topics.size() == 2);
  for (const auto& t : info.topics) {
    INFO(t.name);
    CHECK(t.error.empty());
    CHECK(t.partitions.size() == 3);
    CHECK(t.replication_factor == 3);
    CHECK(t.min_insync_replicas == std::optional<int>(2));
    for (const auto& p : t.partitions) {
      CHECK(p.leader >= 1);
      CHECK(p.replicas.size() == 3);
      CHECK(p.isr.size() == 3);
    }
  }
  const auto check = ev::check_manifest(info, m);
  CHECK(check.errors.empty());
  CHECK(check.warnings.empty());

  // a topic created with the broker default min.insync.replicas still reports it
  const auto deleted = ev::delete_topics(evtest::bootstrap(), {a, b});
  REQUIRE(deleted.size() == 2);
  for (const auto& r : deleted) CHECK(r.status != ev::TopicStatus::kFailed);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    const auto after = ev::describe(evtest::bootstrap(), {a});
    gone = after.topics.size() == 1 && after.topics[0].partitions.empty();
    if (!gone) std::this_thread::sleep_for(200ms);
  }
  CHECK(gone);
  CHECK_FALSE(ev::check_manifest(ev::describe(evtest::bootstrap(), {a}), m).errors.empty());
}

TEST_CASE("an unreachable cluster is reported, not hung on", "[admin]") {
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(ev::wait_for_brokers("127.0.0.1:1", 1, 1500ms) == 0);
  CHECK(evtest::seconds_since(t0) < 10);
  CHECK_THROWS_AS(ev::describe("127.0.0.1:1", {}, 1500ms), ticketing::KafkaError);
}
