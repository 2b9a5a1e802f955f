#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "ticketing/events/admin.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/namespace.hpp"
#include "ticketing/events/schema.hpp"
#include "ticketing/events/topics.hpp"

using namespace ticketing::events;

TEST_CASE("manifest lines parse into topic specs", "[manifest]") {
  const Manifest m = parse_manifest(
      "# comment\n"
      "\n"
      "a.topic   3 3 min.insync.replicas=2 retention.ms=1000  # trailing comment\n"
      "   b_topic-2 12 1\n");
  REQUIRE(m.topics.size() == 2);
  CHECK(m.topics[0].name == "a.topic");
  CHECK(m.topics[0].partitions == 3);
  CHECK(m.topics[0].replication_factor == 3);
  REQUIRE(m.topics[0].configs.size() == 2);
  CHECK(m.topics[0].config("min.insync.replicas") == std::optional<std::string>("2"));
  CHECK(m.topics[0].config("retention.ms") == std::optional<std::string>("1000"));
  CHECK_FALSE(m.topics[0].config("nope").has_value());
  CHECK(m.topics[1].name == "b_topic-2");
  CHECK(m.topics[1].partitions == 12);
  CHECK(m.topics[1].configs.empty());
  CHECK(m.find("b_topic-2") == &m.topics[1]);
  CHECK(m.find("c") == nullptr);
  CHECK(parse_manifest("").topics.empty());
}

TEST_CASE("manifest errors name every bad line", "[manifest]") {
  try {
    parse_manifest(
        "ok 3 3\n"
        "short 3\n"
        "bad/name 3 3\n"
        "zero 0 3\n"
        "rf x3 3\n"
        "cfg 3 3 novalue\n"
        "ok 3 3\n");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("line 2:") != std::string::npos);
    CHECK(m.find("line 3:") != std::string::npos);
    CHECK(m.find("line 4:") != std::string::npos);
    CHECK(m.find("line 5:") != std::string::npos);
    CHECK(m.find("line 6:") != std::string::npos);
    CHECK(m.find("line 7:") != std::string::npos);  // duplicate
    CHECK(m.find("line 1:") == std::string::npos);
  }
  CHECK_THROWS_AS(load_manifest("/nonexistent/topics.manifest"), std::invalid_argument);
}

TEST_CASE("the project's manifest: event topics, their DLQs, and safe settings", "[manifest]") {
  const Manifest m = load_manifest(TICKETING_TOPIC_MANIFEST);
  const auto& reg = SchemaRegistry::builtin();
  std::set<std::string> event_topics;
  for (const auto& t : m.topics) {
    INFO(t.name);
    CHECK(t.partitions >= 3);
    CHECK(t.replication_factor == 3);
    CHECK(t.config("min.insync.replicas") == std::optional<std::string>("2"));
    const bool is_dlq = t.name.size() > 4 && t.name.substr(t.name.size() - 4) == ".dlq";
    if (is_dlq) continue;
    event_topics.insert(t.name);
    // every event topic has its dead-letter topic in the manifest
    CHECK(m.find(dlq_topic_for(t.name)) != nullptr);
    // and a schema for the event type it is named after
    CHECK(reg.knows(t.name));
  }
  // every schema'd event type has a topic
  for (const auto& type : reg.types()) CHECK(event_topics.count(type) == 1);
  // and topics.hpp names each once, no more and no fewer
  std::set<std::string> named;
  for (auto t : topics::kAll) named.emplace(t);
  CHECK(named == event_topics);
  CHECK(named.size() == topics::kAll.size());
  CHECK(m.find(std::string(topics::kNotificationsDlq)) != nullptr);
}

TEST_CASE("check_manifest flags missing topics, low RF and wrong min.insync.replicas",
          "[manifest]") {
  const Manifest m = parse_manifest(
      "good 3 3 min.insync.replicas=2\n"
      "missing 3 3 min.insync.replicas=2\n"
      "lowrf 3 3 min.insync.replicas=2\n"
      "badisr 3 3 min.insync.replicas=2\n"
      "short 3 3 min.insync.replicas=2\n");
  auto topic = [](std::string name, int parts, int rf, std::optional<int> min_isr) {
    TopicInfo t;
    t.name = std::move(name);
    for (int p = 0; p < parts; ++p) {
      PartitionInfo pi;
      pi.id = p;
      pi.leader = 1;
      for (int r = 1; r <= rf; ++r) pi.replicas.push_back(r);
      pi.isr = pi.replicas;
      t.partitions.push_back(pi);
    }
    t.replication_factor = rf;
    t.min_insync_replicas = min_isr;
    return t;
  };
  ClusterInfo c;
  c.topics.push_back(topic("good", 3, 3, 2));
  c.topics.push_back(topic("lowrf", 3, 1, 2));
  c.topics.push_back(topic("badisr", 3, 3, 1));
  c.topics.push_back(topic("short", 3, 3, 2));
  c.topics.back().partitions[1].isr = {1, 2};
  const ManifestCheck check = check_manifest(c, m);
  INFO(check.errors.size());
  REQUIRE(check.errors.size() == 3);
  CHECK(check.errors[0].rfind("missing:", 0) == 0);
  CHECK(check.errors[1].rfind("lowrf:", 0) == 0);
  CHECK(check.errors[2].rfind("badisr:", 0) == 0);
  REQUIRE(check.warnings.size() == 1);
  CHECK(check.warnings[0].rfind("short[1]", 0) == 0);
}

TEST_CASE("ACL table lines parse into rules", "[acls]") {
  const auto rules = parse_acl_table(
      "# principal ops type pattern names\n"
      "\n"
      "payment-api  Write,describe\tTopic literal a.topic b_topic  # trailing\n"
      "payment-api  READ group PREFIXED payment-api\n");
  REQUIRE(rules.size() == 2);
  CHECK(rules[0].principal == "payment-api");
  CHECK(rules[0].operations == std::vector<std::string>{"Write", "describe"});
  CHECK(rules[0].resource_type == "topic");
  CHECK(rules[0].pattern_type == "literal");
  CHECK(rules[0].names == std::vector<std::string>{"a.topic", "b_topic"});
  CHECK(rules[0].line == 3);
  CHECK(rules[1].resource_type == "group");
  CHECK(rules[1].pattern_type == "prefixed");
  CHECK(parse_acl_table("").empty());
}

TEST_CASE("ACL table errors name every bad line", "[acls]") {
  try {
    parse_acl_table(
        "ok Read topic literal t\n"
        "short Read topic literal\n"
        "p Fly topic literal t\n"
        "p Read cluster literal t\n"
        "p Read topic match t\n"
        "p Read topic literal bad/name\n");
    FAIL("no error");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    CHECK(msg.find("line 1") == std::string::npos);
    for (const char* want : {"line 2", "line 3: unknown operation 'Fly'", "line 4", "line 5",
                             "line 6: bad topic name 'bad/name'"}) {
      INFO(want);
      CHECK(msg.find(want) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(load_acl_table("/nonexistent/acls.tsv"), std::invalid_argument);
}

// deploy/kafka-acls.tsv against deploy/topics.manifest: only known topics;
// whoever reads an event topic may write its dead-letter topic (a consumer
// dead-letters what it cannot handle); nobody may create, delete or alter.
TEST_CASE("deploy/kafka-acls.tsv fits the topic manifest", "[acls]") {
  const Manifest m = load_manifest(TICKETING_TOPIC_MANIFEST);
  const auto rules = load_acl_table(TICKETING_KAFKA_ACLS);
  REQUIRE_FALSE(rules.empty());
  std::map<std::string, std::set<std::string>> reads;   // principal -> topics
  std::map<std::string, std::set<std::string>> writes;  // principal -> topics
  for (const auto& r : rules) {
    INFO("line " << r.line);
    for (const auto& op : r.operations) {
      CHECK((op == "Read" || op == "Write" || op == "Describe"));
    }
    if (r.resource_type == "group") {
      // a service's groups only: "<principal>" and "<principal>-..."
      CHECK(r.pattern_type == "prefixed");
      CHECK(r.names == std::vector<std::string>{r.principal});
      continue;
    }
    CHECK(r.pattern_type == "literal");
    for (const auto& name : r.names) {
      INFO(name);
      CHECK(m.find(name) != nullptr);
      for (const auto& op : r.operations) {
        if (op == "Read") reads[r.principal].insert(name);
        if (op == "Write") writes[r.principal].insert(name);
      }
    }
  }
  for (const auto& [principal, topics] : reads) {
    for (const auto& t : topics) {
      const bool is_dlq = t.size() > 4 && t.substr(t.size() - 4) == ".dlq";
      if (is_dlq) continue;
      INFO(principal << " reads " << t);
      CHECK(writes[principal].count(dlq_topic_for(t)) == 1);
    }
  }
}

TEST_CASE("topic namespaces: a prefix on the way to Kafka, none on the way back") {
  using namespace ticketing::events;
  CHECK(valid_topic_prefix(""));
  CHECK(valid_topic_prefix("test."));
  CHECK(valid_topic_prefix("staging_2-a."));
  CHECK_FALSE(valid_topic_prefix("a b"));
  CHECK_FALSE(valid_topic_prefix("x/y"));
  CHECK_FALSE(valid_topic_prefix(std::string(65, 'a')));
  CHECK(kafka_topic("reservation.held", "test.") == "test.reservation.held");
  CHECK(kafka_topic("reservation.held", "") == "reservation.held");
  // Whatever this process's TOPIC_PREFIX (make test sets "test."), a name
  // survives the round trip, and a group gets the same prefix as a topic.
  for (auto t : topics::kAll) {
    const std::string topic(t);
    CHECK(kafka_topic(topic) == topic_prefix() + topic);
    CHECK(local_topic(kafka_topic(topic)) == topic);
  }
  CHECK(kafka_group("payment-api") == topic_prefix() + "payment-api");
  if (!topic_prefix().empty()) {
    // Another environment's topic is not one of ours.
    CHECK_FALSE(local_topic("reservation.held"));
    CHECK(local_topic_or_same("reservation.held") == "reservation.held");
  }
}
