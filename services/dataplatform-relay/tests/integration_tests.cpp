// dataplatform-relay as a black box on the real stack with the fake data
// platform (tools/fake-peer). Each test runs its own relay process with its
// own consumer group (KAFKA_AUTO_OFFSET_RESET=latest, so it never replays
// other people's confirmations), its own Redis prefix and reservation ids far
// above anything real services hand out; assertions only look at those ids.
// reservation.confirmed and its DLQ are shared: other records may show up.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/dlq.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/testing/process.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;
namespace ev = ticketing::events;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t next_id() {
  static std::int64_t next = [] {
    std::random_device rd;
    std::mt19937_64 rng(rd());
    return 7'000'000'000'000'000'000LL +
           static_cast<std::int64_t>(rng() % 1'000'000'000ULL) * 1'000'000LL;
  }();
  return ++next;
}

std::optional<ticketing::http::ClientResponse> http_call(const std::string& method,
                                                         const std::string& url,
                                                         const std::string& body = {}) {
  try {
    ticketing::http::Client client;
    ticketing::http::ClientRequest req;
    req.method = method;
    req.url = url;
    req.body = body;
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.total_timeout = 5s;
    return client.send(req);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

struct PlatformRequest {
  std::uint64_t seq = 0;
  std::string key;
  std::string content_type;
  std::string traceparent;
  std::string body;
  int status = 0;
  bool duplicate = false;
};

struct FakePlatform {
  tt::FakePeerProcess peer{"services/dataplatform-relay/fake-platform.log"};

  [[nodiscard]] std::string url() const { return peer.url(); }
  [[nodiscard]] std::string control_url(const std::string& path) const {
    return peer.control_url(path);
  }
  void configure(const std::string& json) {
    auto r = http_call("POST", control_url("/_control/config"), json);
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  // Requests for the given keys, in arrival order.
  std::vector<PlatformRequest> requests(const std::set<std::string>& keys) {
    auto r = http_call("GET", control_url("/_control/requests?path=/reservations"));
    REQUIRE(r);
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    REQUIRE(doc.IsObject());
    std::vector<PlatformRequest> out;
    for (const auto& e : doc["requests"].GetArray()) {
      PlatformRequest p;
      p.key = e["idempotencyKey"].GetString();
      if (keys.count(p.key) == 0) continue;
      p.seq = e["seq"].GetUint64();
      p.content_type = e["contentType"].GetString();
      p.traceparent = e["traceparent"].GetString();
      p.body = e["body"].GetString();
      p.status = e["status"].GetInt();
      p.duplicate = e["duplicate"].GetBool();
      out.push_back(std::move(p));
    }
    return out;
  }
  // Keys accepted (first 2xx answer, not a replayed duplicate).
  std::map<std::string, int> accepted(const std::set<std::string>& keys) {
    std::map<std::string, int> out;
    for (const auto& r : requests(keys)) {
      if (!r.duplicate && r.status >= 200 && r.status < 300) ++out[r.key];
    }
    return out;
  }
};

struct RelayProcess {
  unsigned short admin = tt::free_port();
  std::unique_ptr<tt::ChildProcess> proc;

  RelayProcess(std::map<std::string, std::string> env, const std::string& log_name) {
    env["KAFKA_BOOTSTRAP_SERVERS"] = tt::kafka_bootstrap();
    env["REDIS_URL"] = tt::redis_url();
    env["ADMIN_PORT"] = std::to_string(admin);
    proc = std::make_unique<tt::ChildProcess>(
        tt::build_path("services/dataplatform-relay/dataplatform-relay"),
        std::vector<std::string>{}, env,
        tt::build_path("services/dataplatform-relay/" + log_name + ".log"));
  }
  std::string metrics() {
    auto r = http_call("GET", "http://127.0.0.1:" + std::to_string(admin) + "/metrics");
    return r && r->status == 200 ? r->body : std::string();
  }
  // Sum of every series of a metric family (labels ignored).
  double metric(const std::string& name) {
    std::istringstream in(metrics());
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) != 0) continue;
      const char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != ' ' && next != '{') continue;
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }
  void wait_ready() {
    const auto deadline = Clock::now() + 40s;
    while (Clock::now() < deadline) {
      REQUIRE(proc->running());
      auto r = http_call("GET", "http://127.0.0.1:" + std::to_string(admin) + "/health/ready");
      if (r && r->status == 200 && metric("relay_assigned_partitions") > 0) return;
      std::this_thread::sleep_for(200ms);
    }
    FAIL("relay not ready with partitions: " << proc->log());
  }
};

std::map<std::string, std::string> relay_env(const std::string& run, const FakePlatform& fake) {
  // The run's group starts at the topic's end even if a relay is SIGKILLed
  // before its first commit ("latest" alone would then skip records).
  ev::commit_group_at_end(tt::kafka_bootstrap(), "relay-test-" + run, {"reservation.confirmed"});
  return {{"DATAPLATFORM_URL", fake.url()},
          {"KAFKA_CONSUMER_GROUP", "relay-test-" + run},
          {"REDIS_PREFIX", "relay-test:" + run + ":"},
          {"KAFKA_AUTO_OFFSET_RESET", "latest"},
          {"DATAPLATFORM_TIMEOUT_MS", "2000"},
          {"RELAY_BACKOFF_INITIAL_MS", "50"},
          {"RELAY_BACKOFF_MAX_MS", "1000"},
          {"RELAY_DEDUPE_TTL_S", "3600"}};
}

struct Produced {
  std::int64_t id = 0;
  std::string key;  // idempotency key
  std::string event_id;
  std::string trace_id;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

std::string confirmed_data(std::int64_t id, const std::string& title) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(id)
      .key("paymentId")
      .integer(id)
      .key("userId")
      .integer(1000 + id % 997)
      .key("concertId")
      .integer(1)
      .key("concertTitle")
      .string(title)
      .key("scheduleId")
      .integer(7)
      .key("startsAt")
      .string("2026-12-24T19:00:00.000Z")
      .key("seatNo")
      .integer(1 + id % 50)
      .key("price")
      .integer(50000)
      .key("heldAt")
      .string(ticketing::now_rfc3339())
      .key("confirmedAt")
      .string(ticketing::now_rfc3339())
      .end_object();
  return w.str();
}

struct Injector {
  ev::Producer producer{[] {
    ev::ProducerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.client_id = "relay-tests";
    return o;
  }()};

  // Produces confirmations and waits for every ack.
  std::vector<Produced> produce(int n, const std::function<std::string(int)>& title = {}) {
    std::vector<Produced> out;
    std::vector<std::future<ev::DeliveryReport>> acks;
    for (int i = 0; i < n; ++i) {
      Produced p;
      p.id = next_id();
      p.key = "reservation-" + std::to_string(p.id);
      auto env = ev::Envelope::make("reservation.confirmed", "reservation-api",
                                    confirmed_data(p.id, title ? title(i) : "Relay test concert"));
      p.event_id = env.event_id;
      p.trace_id = env.trace_id;
      acks.push_back(producer.produce(ev::make_event_record(env, ev::event_key(p.id))));
      out.push_back(std::move(p));
    }
    for (std::size_t i = 0; i < acks.size(); ++i) {
      auto rep = acks[i].get();
      REQUIRE(rep.ok);
      out[i].partition = rep.partition;
      out[i].offset = rep.offset;
    }
    return out;
  }
};

std::set<std::string> keys_of(const std::vector<Produced>& ps) {
  std::set<std::string> keys;
  for (const auto& p : ps) keys.insert(p.key);
  return keys;
}

// With auto.offset.reset=latest a record produced before the relay's fetch
// position is resolved would be skipped: send canaries until one arrives.
void wait_until_consuming(Injector& in, FakePlatform& fake) {
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    auto canary = in.produce(3);
    const auto until = Clock::now() + 3s;
    while (Clock::now() < until) {
      if (fake.accepted(keys_of(canary)).size() == 3) return;
      std::this_thread::sleep_for(100ms);
    }
  }
  FAIL("the relay never delivered a canary");
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return cond();
}

// Dead letters of this run's relay (dlq-consumer-group = its group), by key.
std::map<std::string, ev::Message> read_dlq(const std::string& group,
                                            const std::set<std::string>& record_keys,
                                            std::size_t expect, std::chrono::milliseconds timeout) {
  ev::ConsumerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.group_id = tt::unique_name("relay-test-dlq-reader");
  o.topics = {"reservation.confirmed.dlq"};
  o.auto_offset_reset = "earliest";
  ev::Consumer c(o);
  std::map<std::string, ev::Message> out;
  const auto deadline = Clock::now() + timeout;
  auto idle_since = Clock::now();
  while (Clock::now() < deadline) {
    auto m = c.poll(200ms);
    if (!m) {
      // Past `expect` keep reading a little to catch extra dead letters.
      if (out.size() >= expect && Clock::now() - idle_since > 3s) break;
      continue;
    }
    idle_since = Clock::now();
    const std::string* g = m->header(ev::dlq_header::kConsumerGroup);
    if (g == nullptr || *g != group || record_keys.count(m->key) == 0) continue;
    out.emplace(m->key, *m);
  }
  return out;
}

std::string header(const ev::Message& m, std::string_view name) {
  const std::string* v = m.header(name);
  return v ? *v : std::string("<missing>");
}

}  // namespace

TEST_CASE("1,000 confirmations are delivered once each, in partition order", "[bulk]") {
  const std::string run = ticketing::new_uuid().substr(0, 8);
  FakePlatform fake;
  RelayProcess relay(relay_env(run, fake), "relay-bulk");
  relay.wait_ready();
  Injector in;
  wait_until_consuming(in, fake);

  const auto started = Clock::now();
  auto produced = in.produce(1000);
  const auto keys = keys_of(produced);
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() == 1000; }, 45s));
  const auto took = std::chrono::duration<double>(Clock::now() - started).count();
  WARN("1000 deliveries took " << took << " s");
  std::this_thread::sleep_for(1s);  // anything sent twice would show up now

  auto reqs = fake.requests(keys);
  CHECK(reqs.size() == 1000);  // no retries, no duplicates, not even idempotent ones
  std::map<std::string, const PlatformRequest*> by_key;
  for (const auto& r : reqs) by_key[r.key] = &r;
  // Order per partition (so per reservation key): arrival follows the offsets.
  std::map<std::int32_t, std::vector<const Produced*>> per_partition;
  for (const auto& p : produced) per_partition[p.partition].push_back(&p);
  for (auto& [partition, ps] : per_partition) {
    std::sort(ps.begin(), ps.end(),
              [](const Produced* a, const Produced* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < ps.size(); ++i) {
      INFO("partition " << partition << " offsets " << ps[i - 1]->offset << " < " << ps[i]->offset);
      CHECK(by_key.at(ps[i - 1]->key)->seq < by_key.at(ps[i]->key)->seq);
    }
  }
  // The body is the event's data plus eventId and occurredAt; the trace goes along.
  const Produced& sample = produced[123];
  const PlatformRequest& got = *by_key.at(sample.key);
  rapidjson::Document body;
  body.Parse(got.body.c_str());
  REQUIRE(body.IsObject());
  CHECK(body["reservationId"].GetInt64() == sample.id);
  CHECK(std::string(body["eventId"].GetString()) == sample.event_id);
  CHECK(body.HasMember("occurredAt"));
  CHECK(std::string(body["concertTitle"].GetString()) == "Relay test concert");
  CHECK(got.content_type.find("application/json") != std::string::npos);
  CHECK(ev::trace_id_from_traceparent(got.traceparent) == sample.trace_id);
  CHECK(relay.metric("relay_delivered_total") >= 1000);
  CHECK(relay.metric("relay_dead_lettered_total") == 0);
  CHECK(relay.metric("relay_delivery_latency_seconds_count") >= 1000);

  relay.proc->signal(SIGTERM);
  CHECK(relay.proc->wait(15s) == std::optional<int>(0));
}

TEST_CASE("a platform outage opens the breaker, delays delivery, dead-letters nothing",
          "[outage]") {
  // A 30 s outage. The breaker opens after 3 consecutive failures and probes
  // every 5 s (the default). RELAY_MAX_ATTEMPTS=3 would dead-letter within
  // ~1 s of retries if the breaker did not hold the records back.
  const std::string run = ticketing::new_uuid().substr(0, 8);
  FakePlatform fake;
  auto env = relay_env(run, fake);
  env["BREAKER_FAILURE_THRESHOLD"] = "3";
  env["RELAY_MAX_ATTEMPTS"] = "3";
  RelayProcess relay(env, "relay-outage");
  relay.wait_ready();
  Injector in;
  wait_until_consuming(in, fake);
  fake.configure(R"({"latencyMs":15})");

  auto produced = in.produce(400);
  const auto keys = keys_of(produced);
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() >= 100; }, 30s));
  fake.configure(R"({"down":true})");
  const auto down_at = Clock::now();
  const std::size_t before_outage = fake.accepted(keys).size();
  bool saw_open = false;
  bool saw_all_paused = false;  // open breaker: no partition is pulled
  while (Clock::now() - down_at < 30s) {
    if (relay.metric("relay_breaker_state") == 1) {
      saw_open = true;
      const double assigned = relay.metric("relay_assigned_partitions");
      if (assigned > 0 && relay.metric("relay_paused_partitions") == assigned)
        saw_all_paused = true;
    }
    std::this_thread::sleep_for(250ms);
  }
  CHECK(saw_open);
  CHECK(saw_all_paused);
  CHECK(relay.metric("relay_breaker_opened_total") >= 2);  // opened, probed, opened again
  fake.configure(R"({"down":false})");
  const auto up_at = Clock::now();
  CHECK(before_outage < 400);
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() == 400; }, 40s));
  WARN("accepted before the outage: " << before_outage << "; all 400 delivered "
                                      << std::chrono::duration<double>(Clock::now() - up_at).count()
                                      << " s after the platform came back");
  std::this_thread::sleep_for(1s);

  auto accepted = fake.accepted(keys);
  for (const auto& [k, n] : accepted) CHECK(n == 1);
  int duplicates = 0;
  for (const auto& r : fake.requests(keys)) duplicates += r.duplicate ? 1 : 0;
  CHECK(duplicates == 0);
  CHECK(relay.metric("relay_breaker_state") == 0);
  CHECK(relay.metric("relay_dead_lettered_total") == 0);
  CHECK(read_dlq(
            "relay-test-" + run,
            [&] {
              std::set<std::string> k;
              for (const auto& p : produced) k.insert(std::to_string(p.id));
              return k;
            }(),
            0, 20s)
            .empty());
}

TEST_CASE("rejected records go to the DLQ with their origin; replay delivers them once", "[dlq]") {
  const std::string run = ticketing::new_uuid().substr(0, 8);
  const std::string group = "relay-test-" + run;
  const std::string marker = "rejected-" + run;
  FakePlatform fake;
  fake.configure(R"({"failBodyContains":")" + marker + R"(","failBodyStatus":400})");
  RelayProcess relay(relay_env(run, fake), "relay-dlq");
  relay.wait_ready();
  Injector in;
  wait_until_consuming(in, fake);
  const std::string since = ticketing::now_rfc3339();

  auto produced = in.produce(
      60, [&](int i) { return i % 10 == 3 ? "Concert " + marker : std::string("Concert ok"); });
  std::set<std::string> record_keys, bad_keys;
  std::map<std::string, const Produced*> by_record_key;
  for (const auto& p : produced) {
    record_keys.insert(std::to_string(p.id));
    by_record_key[std::to_string(p.id)] = &p;
  }
  for (int i = 0; i < 60; ++i) {
    if (i % 10 == 3) bad_keys.insert(std::to_string(produced[i].id));
  }
  const auto keys = keys_of(produced);
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() == 54; }, 30s));

  auto dlq = read_dlq(group, record_keys, bad_keys.size(), 30s);
  std::set<std::string> dlq_keys;
  for (const auto& [k, m] : dlq) dlq_keys.insert(k);
  CHECK(dlq_keys == bad_keys);
  for (const auto& [k, m] : dlq) {
    const Produced& p = *by_record_key.at(k);
    CHECK(header(m, ev::dlq_header::kOriginalTopic) == "reservation.confirmed");
    CHECK(header(m, ev::dlq_header::kOriginalPartition) == std::to_string(p.partition));
    CHECK(header(m, ev::dlq_header::kOriginalOffset) == std::to_string(p.offset));
    CHECK(header(m, "dlq-http-status") == "400");
    CHECK(header(m, ev::dlq_header::kAttempts) == "1");
    CHECK(header(m, ev::dlq_header::kError).find("400") != std::string::npos);
    CHECK(header(m, ev::dlq_header::kConsumerGroup) == group);
  }
  CHECK(relay.metric("relay_dead_lettered_total") == Approx(static_cast<double>(bad_keys.size())));

  // The platform is fixed; replay with its own group, filtered to this relay's dead letters.
  fake.configure(R"({"failBodyContains":""})");
  std::map<std::string, std::string> replay_env{{"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
                                                {"KAFKA_CONSUMER_GROUP", group},
                                                {"REPLAY_GROUP", "relay-test-replay-" + run}};
  int replay_no = 0;
  auto replay = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "replay");
    if (std::find(args.begin(), args.end(), "--from-offset") == args.end()) {
      args.insert(args.end(), {"--since", since});
    }
    args.insert(args.end(), {"--idle-ms", "3000"});
    tt::ChildProcess p(tt::build_path("services/dataplatform-relay/dataplatform-relay"), args,
                       replay_env,
                       tt::build_path("services/dataplatform-relay/replay-" + run + "-" +
                                      std::to_string(++replay_no) + ".log"));
    auto code = p.wait(60s);
    INFO(p.log());
    REQUIRE(code == std::optional<int>(0));
    return p.log();
  };
  auto count = [](const std::string& out, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos + 1))
      ++n;
    return n;
  };

  // An offset range picks exactly one dead letter.
  const ev::Message& one = dlq.begin()->second;
  const std::string one_dry =
      replay({"--dry-run", "--partition", std::to_string(one.partition), "--from-offset",
              std::to_string(one.offset), "--to-offset", std::to_string(one.offset)});
  CHECK(count(one_dry, R"("action":"would-replay")") == 1);
  CHECK(one_dry.find(R"("partition":)" + std::to_string(one.partition) + R"(,"offset":)" +
                     std::to_string(one.offset) + ",") != std::string::npos);

  const std::string dry = replay({"--dry-run"});
  CHECK(count(dry, R"("action":"would-replay")") == bad_keys.size());
  CHECK(dry.find(R"("moved":0)") != std::string::npos);
  std::this_thread::sleep_for(2s);
  CHECK(fake.accepted(keys).size() == 54);  // the dry run moved nothing

  const std::string first = replay({});
  CHECK(count(first, R"("action":"replayed")") == bad_keys.size());
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() == 60; }, 30s));

  const std::string second = replay({});
  CHECK(count(second, R"("action":"replayed")") == 0);
  CHECK(second.find(R"("moved":0)") != std::string::npos);
  std::this_thread::sleep_for(2s);
  for (const auto& [k, n] : fake.accepted(keys)) CHECK(n == 1);
  CHECK(fake.accepted(keys).size() == 60);
}

TEST_CASE("SIGKILL mid-stream: after a restart all are delivered, none twice", "[crash]") {
  const std::string run = ticketing::new_uuid().substr(0, 8);
  FakePlatform fake;
  auto env = relay_env(run, fake);
  Injector in;
  std::vector<Produced> produced;
  std::set<std::string> keys;
  {
    RelayProcess first(env, "relay-crash-1");
    first.wait_ready();
    wait_until_consuming(in, fake);
    fake.configure(R"({"latencyMs":5})");
    produced = in.produce(600);
    keys = keys_of(produced);
    REQUIRE(wait_for([&] { return fake.accepted(keys).size() >= 200; }, 30s));
    first.proc->signal(SIGKILL);
    first.proc->wait(10s);
  }
  const std::size_t at_kill = fake.accepted(keys).size();
  CHECK(at_kill < 600);
  fake.configure(R"({"latencyMs":0})");
  RelayProcess second(env, "relay-crash-2");
  REQUIRE(wait_for([&] { return fake.accepted(keys).size() == 600; }, 50s));
  std::this_thread::sleep_for(1s);

  for (const auto& [k, n] : fake.accepted(keys)) CHECK(n == 1);
  int duplicates = 0;
  for (const auto& r : fake.requests(keys)) duplicates += r.duplicate ? 1 : 0;
  // Only the one request in flight at the kill (accepted by the platform,
  // not yet marked in Redis) may be sent again; everything redelivered from
  // the last committed offset is suppressed by the Redis keys.
  CHECK(duplicates <= 1);
  CHECK(second.metric("relay_duplicates_suppressed_total") >= 1);
  WARN("accepted at kill: " << at_kill << ", resent (idempotent duplicates): " << duplicates
                            << ", suppressed after restart: "
                            << second.metric("relay_duplicates_suppressed_total"));
}

TEST_CASE(
    "429 with Retry-After is retried after the advertised delay; exhausted attempts go to the DLQ",
    "[retry]") {
  // The breaker's threshold is out of reach here, so this is the "attempts
  // exhausted while the breaker is closed" path: 3 attempts, then the DLQ.
  const std::string run = ticketing::new_uuid().substr(0, 8);
  const std::string group = "relay-test-" + run;
  FakePlatform fake;
  auto env = relay_env(run, fake);
  env["RELAY_MAX_ATTEMPTS"] = "3";
  env["BREAKER_FAILURE_THRESHOLD"] = "1000";
  RelayProcess relay(env, "relay-retry-after");
  relay.wait_ready();
  Injector in;
  wait_until_consuming(in, fake);
  fake.configure(R"({"failurePercent":100,"failureStatus":429,"retryAfterSeconds":1})");

  auto produced = in.produce(1);
  const auto keys = keys_of(produced);
  const std::string record_key = std::to_string(produced[0].id);
  auto dlq = read_dlq(group, {record_key}, 1, 30s);
  REQUIRE(dlq.count(record_key) == 1);
  const auto& m = dlq.at(record_key);
  CHECK(header(m, ev::dlq_header::kAttempts) == "3");
  CHECK(header(m, "dlq-http-status") == "429");
  CHECK(header(m, ev::dlq_header::kOriginalOffset) == std::to_string(produced[0].offset));

  auto reqs = fake.requests(keys);
  REQUIRE(reqs.size() == 3);
  auto r = http_call("GET", fake.control_url("/_control/requests?path=/reservations"));
  REQUIRE(r);
  rapidjson::Document doc;
  doc.Parse(r->body.c_str());
  std::vector<ticketing::SystemTime> at;
  for (const auto& e : doc["requests"].GetArray()) {
    if (keys.count(e["idempotencyKey"].GetString()) == 0) continue;
    auto t = ticketing::parse_rfc3339(e["receivedAt"].GetString());
    REQUIRE(t);
    at.push_back(*t);
  }
  REQUIRE(at.size() == 3);
  // Without Retry-After the backoff would be 25..100 ms.
  CHECK(at[1] - at[0] >= 950ms);
  CHECK(at[2] - at[1] >= 950ms);
  CHECK(relay.metric("relay_retries_total") >= 2);
  CHECK(relay.metric("relay_breaker_opened_total") == 0);
  fake.configure(R"({"failurePercent":0})");
}
