#include "kafka_fixture.hpp"

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <stdexcept>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace evtest {

namespace ev = ticketing::events;

std::string bootstrap() {
  return ticketing::testing::kafka_bootstrap();
}

TempTopics::TempTopics(std::vector<std::string> names, int partitions) : names_(std::move(names)) {
  REQUIRE(ev::wait_for_brokers(bootstrap(), 3, std::chrono::seconds(60)) >= 3);
  ev::Manifest m;
  for (const auto& n : names_) {
    m.topics.push_back({n, partitions, 3, {{"min.insync.replicas", "2"}}});
  }
  const auto results = ev::create_topics(bootstrap(), m, std::chrono::seconds(60));
  REQUIRE(results.size() == names_.size());
  for (const auto& r : results) {
    INFO(r.topic << ": " << ev::to_string(r.status) << " " << r.detail);
    REQUIRE(r.status == ev::TopicStatus::kCreated);
    REQUIRE(r.detail.empty());
  }
}

TempTopics::~TempTopics() {
  try {
    (void)ev::delete_topics(bootstrap(), names_, std::chrono::seconds(30));
  } catch (const std::exception& e) {
    ticketing::log::warn("could not delete test topics", {{"error", e.what()}});
  }
}

ev::ProducerOptions producer_options(const std::string& client_id) {
  ev::ProducerOptions o;
  o.bootstrap_servers = bootstrap();
  o.client_id = client_id;
  o.linger_ms = 5;
  return o;
}

ev::ConsumerOptions consumer_options(const std::string& group, std::vector<std::string> topics) {
  ev::ConsumerOptions o;
  o.bootstrap_servers = bootstrap();
  o.group_id = group;
  o.topics = std::move(topics);
  o.client_id = group;
  o.session_timeout_ms = 6000;  // the brokers' group.min.session.timeout.ms
  o.auto_commit_interval_ms = 200;
  return o;
}

ev::Envelope payment_completed(std::int64_t payment_id, std::int64_t reservation_id,
                               std::int64_t amount) {
  const std::string data = "{\"paymentId\":" + std::to_string(payment_id) +
                           ",\"reservationId\":" + std::to_string(reservation_id) +
                           ",\"userId\":" + std::to_string(reservation_id % 1000 + 1) +
                           ",\"amount\":" + std::to_string(amount) + ",\"paidAt\":\"" +
                           ticketing::now_rfc3339() + "\"}";
  return ev::Envelope::make("payment.completed", "events-test", data);
}

std::vector<ev::Message> read_all(const std::vector<std::string>& topics, std::size_t expected,
                                  std::chrono::milliseconds idle, std::chrono::milliseconds limit) {
  ev::Consumer c(consumer_options(ticketing::testing::unique_name("it_reader"), topics));
  std::vector<ev::Message> out;
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  while (out.size() < expected) {
    const auto now = std::chrono::steady_clock::now();
    if (now - start > limit) break;
    // `idle` counts only once something arrived: joining the group takes a while
    if (!out.empty() && now - last > idle) break;
    if (auto m = c.poll(std::chrono::milliseconds(200))) {
      out.push_back(std::move(*m));
      last = std::chrono::steady_clock::now();
    }
  }
  c.close();
  return out;
}

int stack(const std::string& args) {
  const std::string cmd = "bash '" + ticketing::testing::stack_script() + "' " + args;
  const int rc = std::system(cmd.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

BrokerKiller::~BrokerKiller() {
  if (!killed_) return;
  try {
    restart();
  } catch (...) {
    ticketing::log::error("could not restart killed broker", {{"node", std::to_string(node_)}});
  }
}

void BrokerKiller::kill() {
  REQUIRE(stack("kill-broker " + std::to_string(node_)) == 0);
  killed_ = true;
}

void BrokerKiller::restart() {
  if (!killed_) return;
  const int rc = stack("start-broker " + std::to_string(node_));
  killed_ = false;
  if (rc != 0) throw std::runtime_error("start-broker failed");
}

std::int64_t json_int(const std::string& json, const char* field) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("not a JSON object");
  auto it = d.FindMember(field);
  if (it == d.MemberEnd() || !it->value.IsInt64()) throw std::runtime_error("no integer field");
  return it->value.GetInt64();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace evtest
