// notification-worker as a black box on the real stack with fake webhook
// servers (tools/fake-peer). Each test runs its own worker process with its
// own consumer group (KAFKA_AUTO_OFFSET_RESET=latest) and Redis prefix, and
// user ids far above anything real; the notification topics and
// notifications.dlq are shared, so assertions only look at this run's event
// ids.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
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

const std::string kDiscordPath = "/api/webhooks/4242/test-token";

std::int64_t next_user() {
  static std::int64_t next = [] {
    std::random_device rd;
    std::mt19937_64 rng(rd());
    return 8'000'000'000'000'000'000LL +
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

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(150ms);
  }
  return cond();
}

struct Received {
  std::string path;
  std::string body;
  int status = 0;
  std::string received_at;
};

struct FakeHook {
  tt::FakePeerProcess peer;

  explicit FakeHook(const std::string& name)
      : peer("services/notification-worker/fake-" + name + ".log") {}
  [[nodiscard]] std::string url(const std::string& path) const { return peer.url(path); }
  [[nodiscard]] std::string control_url(const std::string& path) const {
    return peer.control_url(path);
  }
  void configure(const std::string& json) {
    auto r = http_call("POST", control_url("/_control/config"), json);
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  // Requests whose body mentions `needle` (an event id), in arrival order.
  std::vector<Received> requests(const std::string& needle) {
    auto r = http_call("GET", control_url("/_control/requests"));
    REQUIRE(r);
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    REQUIRE(doc.IsObject());
    std::vector<Received> out;
    for (const auto& e : doc["requests"].GetArray()) {
      Received x;
      x.body = e["body"].GetString();
      if (x.body.find(needle) == std::string::npos) continue;
      x.path = e["path"].GetString();
      x.status = e["status"].GetInt();
      x.received_at = e["receivedAt"].GetString();
      out.push_back(std::move(x));
    }
    return out;
  }
  int accepted(const std::string& needle) {
    int n = 0;
    for (const auto& r : requests(needle)) n += (r.status >= 200 && r.status < 300) ? 1 : 0;
    return n;
  }
};

struct Worker {
  unsigned short admin = tt::free_port();
  std::string group;
  std::unique_ptr<tt::ChildProcess> proc;

  Worker(std::map<std::string, std::string> env, const std::string& name) {
    const std::string run = ticketing::new_uuid().substr(0, 8);
    group = "notify-test-" + name + "-" + run;
    env["KAFKA_BOOTSTRAP_SERVERS"] = tt::kafka_bootstrap();
    env["REDIS_URL"] = tt::redis_url();
    env["ADMIN_PORT"] = std::to_string(admin);
    env["KAFKA_CONSUMER_GROUP"] = group;
    env["KAFKA_AUTO_OFFSET_RESET"] = "latest";
    env["REDIS_PREFIX"] = "notify-test:" + run + ":";
    env.emplace("NOTIFY_BACKOFF_INITIAL_MS", "100");
    env.emplace("NOTIFY_BACKOFF_MAX_MS", "500");
    env.emplace("NOTIFY_TIMEOUT_MS", "2000");
    proc = std::make_unique<tt::ChildProcess>(
        tt::build_path("services/notification-worker/notification-worker"),
        std::vector<std::string>{}, env,
        tt::build_path("services/notification-worker/worker-" + name + ".log"));
    const auto deadline = Clock::now() + 40s;
    while (Clock::now() < deadline) {
      REQUIRE(proc->running());
      auto r = http_call("GET", "http://127.0.0.1:" + std::to_string(admin) + "/health/ready");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(200ms);
    }
    FAIL("worker not ready: " << proc->log());
  }
  // Sum of every series of a metric family whose line contains `filter`.
  double metric(const std::string& name, const std::string& filter = "") {
    auto r = http_call("GET", "http://127.0.0.1:" + std::to_string(admin) + "/metrics");
    if (!r || r->status != 200) return -1;
    std::istringstream in(r->body);
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) != 0) continue;
      const char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != ' ' && next != '{') continue;
      if (!filter.empty() && line.find(filter) == std::string::npos) continue;
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }
};

struct Sent {
  std::string event_id;
  std::int64_t user = 0;
  ev::Envelope envelope;
};

std::string payment_completed(std::int64_t user) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("userId")
      .integer(user)
      .key("paymentId")
      .integer(501)
      .key("reservationId")
      .integer(1042)
      .key("amount")
      .integer(55000)
      .key("balance")
      .integer(45000)
      .key("paidAt")
      .string(ticketing::now_rfc3339())
      .end_object();
  return w.str();
}
std::string reservation_completed(std::int64_t user) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("userId")
      .integer(user)
      .key("reservationId")
      .integer(1043)
      .key("concertTitle")
      .string("Spring Night Live")
      .key("startsAt")
      .string("2026-12-24T19:00:00.000Z")
      .key("seatNo")
      .integer(17)
      .key("price")
      .integer(55000)
      .key("confirmedAt")
      .string(ticketing::now_rfc3339())
      .end_object();
  return w.str();
}
std::string payment_refunded(std::int64_t user) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("userId")
      .integer(user)
      .key("paymentId")
      .integer(502)
      .key("reservationId")
      .integer(1044)
      .key("amount")
      .integer(30000)
      .key("balance")
      .integer(100000)
      .key("reason")
      .string("HOLD_EXPIRED")
      .key("refundedAt")
      .string(ticketing::now_rfc3339())
      .end_object();
  return w.str();
}

struct Injector {
  ev::Producer producer{[] {
    ev::ProducerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.client_id = "notification-tests";
    return o;
  }()};

  void produce_envelope(const ev::Envelope& env, std::int64_t user) {
    auto rep = producer.produce(ev::make_event_record(env, ev::event_key(user))).get();
    REQUIRE(rep.ok);
  }
  Sent produce(const std::string& type) {
    Sent s;
    s.user = next_user();
    std::string data = type == "notifications.payment-completed" ? payment_completed(s.user)
                       : type == "notifications.reservation-completed"
                           ? reservation_completed(s.user)
                           : payment_refunded(s.user);
    s.envelope = ev::Envelope::make(type, "payment-api", data);
    s.event_id = s.envelope.event_id;
    produce_envelope(s.envelope, s.user);
    return s;
  }
};

// With auto.offset.reset=latest a record produced before the worker's fetch
// position is resolved would be skipped: send canaries until one arrives.
void wait_until_consuming(Injector& in, FakeHook& fake) {
  const auto deadline = Clock::now() + 40s;
  while (Clock::now() < deadline) {
    std::vector<Sent> canaries;
    for (const auto* t : {"notifications.payment-completed", "notifications.reservation-completed",
                          "notifications.payment-refunded"})
      canaries.push_back(in.produce(t));
    const auto until = Clock::now() + 4s;
    while (Clock::now() < until) {
      bool all = true;
      for (const auto& c : canaries) all = all && fake.accepted(c.event_id) > 0;
      if (all) return;
      std::this_thread::sleep_for(150ms);
    }
  }
  FAIL("the worker never delivered a canary");
}

// Dead letters of this worker's group whose value mentions one of `ids`.
std::map<std::string, ev::Message> read_dlq(const std::string& group,
                                            const std::set<std::string>& ids, std::size_t expect,
                                            std::chrono::milliseconds timeout) {
  ev::ConsumerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.group_id = tt::unique_name("notify-test-dlq-reader");
  o.topics = {"notifications.dlq"};
  o.auto_offset_reset = "earliest";
  ev::Consumer c(o);
  std::map<std::string, ev::Message> out;
  const auto deadline = Clock::now() + timeout;
  auto idle_since = Clock::now();
  while (Clock::now() < deadline) {
    auto m = c.poll(200ms);
    if (!m) {
      if (out.size() >= expect && Clock::now() - idle_since > 2s) break;
      continue;
    }
    idle_since = Clock::now();
    const std::string* g = m->header(ev::dlq_header::kConsumerGroup);
    if (g == nullptr || *g != group) continue;
    for (const auto& id : ids)
      if (m->value.find(id) != std::string::npos) out.emplace(id, *m);
  }
  return out;
}

std::string header(const ev::Message& m, std::string_view name) {
  const std::string* v = m.header(name);
  return v ? *v : std::string("<missing>");
}

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE(d.IsObject());
  return d;
}

std::string s(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

// Milliseconds of the day of an RFC 3339 time "....THH:MM:SS.mmmZ".
double ms_of_day(const std::string& t) {
  const auto p = t.find('T');
  REQUIRE(p != std::string::npos);
  const double h = std::stod(t.substr(p + 1, 2));
  const double mi = std::stod(t.substr(p + 4, 2));
  const double sec = std::stod(t.substr(p + 7, 6));
  return ((h * 60 + mi) * 60 + sec) * 1000;
}

}  // namespace

TEST_CASE("each event type produces the expected message on each channel", "[messages]") {
  FakeHook discord("messages-discord");
  FakeHook hook("messages-webhook");
  Worker w({{"NOTIFY_CHANNELS", "discord,webhook,log"},
            {"NOTIFY_LANGUAGE", "ko"},
            {"DISCORD_WEBHOOK_URL", discord.url(kDiscordPath)},
            {"WEBHOOK_URL", hook.url("/webhook")}},
           "messages");
  Injector in;
  wait_until_consuming(in, hook);

  Sent paid = in.produce("notifications.payment-completed");
  Sent reserved = in.produce("notifications.reservation-completed");
  Sent refunded = in.produce("notifications.payment-refunded");
  for (const Sent* e : {&paid, &reserved, &refunded}) {
    REQUIRE(wait_for(
        [&] { return discord.accepted(e->event_id) == 1 && hook.accepted(e->event_id) == 1; },
        20s));
  }

  struct Expect {
    const Sent* e;
    std::string title;
    std::int64_t colour;
    std::string field_name;
    std::string field_value;
  };
  for (const auto& x : {Expect{&paid, "결제 완료", 0x2ECC71, "잔액", "45,000포인트"},
                        Expect{&reserved, "예매 확정", 0x3498DB, "좌석", "17"},
                        Expect{&refunded, "환불 완료", 0xE67E22, "사유", "좌석 선점 시간 만료"}}) {
    auto dreq = discord.requests(x.e->event_id);
    REQUIRE(dreq.size() == 1);
    CHECK(dreq[0].path == kDiscordPath);
    auto d = parse(dreq[0].body);
    const auto& embed = d["embeds"][0];
    CHECK(s(embed["title"]) == x.title);
    CHECK(embed["color"].GetInt64() == x.colour);
    bool found = false;
    for (const auto& f : embed["fields"].GetArray())
      found = found || (s(f["name"]) == x.field_name && s(f["value"]) == x.field_value);
    CHECK(found);
    CHECK(embed.HasMember("timestamp"));

    auto hreq = hook.requests(x.e->event_id);
    REQUIRE(hreq.size() == 1);
    CHECK(hreq[0].path == "/webhook");
    auto g = parse(hreq[0].body);
    CHECK(g["userId"].GetInt64() == x.e->user);
    CHECK(s(g["title"]) == x.title);
    CHECK(s(g["eventType"]) == x.e->envelope.type);
    CHECK(s(g["fields"][x.field_name.c_str()]) == x.field_value);
    CHECK(s(g["colour"]).size() == 7);
  }
  // The log channel got them too.
  CHECK(wait_for([&] { return w.proc->log().find(refunded.event_id) != std::string::npos; }, 5s));
  CHECK(w.metric("notify_sent_total", "channel=\"discord\"") >= 3);
  CHECK(w.metric("notify_sent_total", "channel=\"webhook\"") >= 3);
  CHECK(w.metric("notify_sent_total", "channel=\"log\"") >= 3);
}

TEST_CASE("a failing primary falls back to the secondary", "[fallback]") {
  FakeHook primary("fallback-primary");
  FakeHook secondary("fallback-secondary");
  Worker w({{"NOTIFY_CHANNELS", "webhook"},
            {"NOTIFY_FALLBACK", "discord"},
            {"DISCORD_WEBHOOK_URL", secondary.url(kDiscordPath)},
            {"WEBHOOK_URL", primary.url("/webhook")}},
           "fallback");
  Injector in;
  wait_until_consuming(in, primary);
  primary.configure(R"({"failurePercent":100,"failureStatus":503})");

  Sent e = in.produce("notifications.payment-completed");
  REQUIRE(wait_for([&] { return secondary.accepted(e.event_id) == 1; }, 20s));
  CHECK(primary.accepted(e.event_id) == 0);
  CHECK(!primary.requests(e.event_id).empty());  // it was tried first
  std::this_thread::sleep_for(1500ms);
  CHECK(secondary.requests(e.event_id).size() == 1);  // accepted once, not retried
  CHECK(w.metric("notify_failed_total", "channel=\"webhook\"") >= 1);
}

TEST_CASE("a channel failing in fan-out does not block the others", "[fanout]") {
  FakeHook bad("fanout-bad");
  FakeHook good("fanout-good");
  Worker w({{"NOTIFY_CHANNELS", "webhook,discord"},
            {"NOTIFY_MAX_ATTEMPTS", "3"},
            {"DISCORD_WEBHOOK_URL", good.url(kDiscordPath)},
            {"WEBHOOK_URL", bad.url("/webhook")}},
           "fanout");
  Injector in;
  wait_until_consuming(in, bad);
  bad.configure(R"({"failurePercent":100,"failureStatus":503})");

  Sent e = in.produce("notifications.reservation-completed");
  Sent e2 = in.produce("notifications.payment-refunded");
  const auto t0 = Clock::now();
  REQUIRE(wait_for(
      [&] { return good.accepted(e.event_id) == 1 && good.accepted(e2.event_id) == 1; }, 20s));
  INFO("good channel latency "
       << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
       << " ms");
  // The bad channel is retried (3 attempts) and the record dead-lettered;
  // the good channel, already notified, is not sent again on retries.
  auto dlq = read_dlq(w.group, {e.event_id, e2.event_id}, 2, 30s);
  REQUIRE(dlq.size() == 2);
  CHECK(header(dlq.at(e.event_id), ev::dlq_header::kAttempts) == "3");
  CHECK(bad.requests(e.event_id).size() == 3);
  CHECK(good.requests(e.event_id).size() == 1);
  CHECK(good.requests(e2.event_id).size() == 1);
}

TEST_CASE("a permanently failing channel ends in the DLQ", "[dlq]") {
  FakeHook hook("dlq");
  Worker w({{"NOTIFY_CHANNELS", "webhook"}, {"WEBHOOK_URL", hook.url("/webhook")}}, "dlq");
  Injector in;
  wait_until_consuming(in, hook);
  hook.configure(R"({"failurePercent":100,"failureStatus":400})");

  Sent e = in.produce("notifications.payment-completed");
  auto dlq = read_dlq(w.group, {e.event_id}, 1, 30s);
  REQUIRE(dlq.size() == 1);
  const ev::Message& m = dlq.at(e.event_id);
  CHECK(m.key == std::to_string(e.user));
  CHECK(header(m, ev::dlq_header::kOriginalTopic) == "notifications.payment-completed");
  CHECK(header(m, ev::dlq_header::kAttempts) == "1");  // a 400 is not retried
  CHECK(header(m, ev::dlq_header::kError).find("http 400") != std::string::npos);
  CHECK(header(m, ev::dlq_header::kOriginalOffset) != "<missing>");
  CHECK(hook.requests(e.event_id).size() == 1);
  CHECK(w.metric("notify_dead_lettered_total") >= 1);
}

TEST_CASE("redelivery does not notify twice", "[redelivery]") {
  FakeHook hook("redelivery");
  Worker w({{"WEBHOOK_URL", hook.url("/webhook")}}, "redelivery");
  Injector in;
  wait_until_consuming(in, hook);

  Sent e = in.produce("notifications.payment-completed");
  REQUIRE(wait_for([&] { return hook.accepted(e.event_id) == 1; }, 20s));
  // The same event again (a producer retry or a replay) and a marker after it.
  in.produce_envelope(e.envelope, e.user);
  in.produce_envelope(e.envelope, e.user);
  Sent after = in.produce("notifications.payment-completed");
  // Same key -> same partition -> the marker is handled after the copies.
  Sent marker;
  marker.user = e.user;
  marker.envelope = ev::Envelope::make("notifications.payment-completed", "payment-api",
                                       payment_completed(e.user));
  marker.event_id = marker.envelope.event_id;
  in.produce_envelope(marker.envelope, e.user);
  REQUIRE(wait_for(
      [&] { return hook.accepted(marker.event_id) == 1 && hook.accepted(after.event_id) == 1; },
      20s));
  CHECK(hook.requests(e.event_id).size() == 1);
}

TEST_CASE("a Discord 429 with Retry-After is waited out", "[ratelimit]") {
  FakeHook discord("ratelimit");
  Worker w({{"DISCORD_WEBHOOK_URL", discord.url(kDiscordPath)}}, "ratelimit");
  Injector in;
  wait_until_consuming(in, discord);
  discord.configure(R"({"failNext":1,"failureStatus":429,"retryAfterSeconds":2})");

  Sent e = in.produce("notifications.reservation-completed");
  REQUIRE(wait_for([&] { return discord.accepted(e.event_id) == 1; }, 20s));
  auto reqs = discord.requests(e.event_id);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].status == 429);
  CHECK(reqs[1].status == 200);
  const double gap = ms_of_day(reqs[1].received_at) - ms_of_day(reqs[0].received_at);
  CHECK(gap >= 1900);
  CHECK(gap < 6000);
}

TEST_CASE("consumer lag rises while the channel is down and returns to 0", "[lag]") {
  FakeHook hook("lag");
  Worker w({{"NOTIFY_CHANNELS", "webhook"},
            {"WEBHOOK_URL", hook.url("/webhook")},
            {"KAFKA_LAG_INTERVAL_MS", "200"}},
           "lag");
  Injector in;
  wait_until_consuming(in, hook);
  const std::string topic = "topic=\"notifications.payment-completed\"";
  REQUIRE(wait_for([&] { return w.metric("kafka_consumer_lag", topic) == 0; }, 10s));

  hook.configure(R"({"failurePercent":100,"failureStatus":503})");
  // One user, one partition: the first is retried, the other four wait behind it.
  const std::int64_t user = next_user();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto env = ev::Envelope::make("notifications.payment-completed", "payment-api",
                                  payment_completed(user));
    ids.push_back(env.event_id);
    in.produce_envelope(env, user);
  }
  double lag = 0;
  CHECK(wait_for(
      [&] {
        lag = w.metric("kafka_consumer_lag", topic);
        return lag >= 5;
      },
      20s));
  INFO("lag " << lag);
  CHECK(wait_for([&] { return w.metric("kafka_consumer_lag_seconds", topic) >= 1; }, 20s));
  CHECK(hook.accepted(ids.front()) == 0);

  hook.configure(R"({"failurePercent":0,"status":200})");
  REQUIRE(wait_for(
      [&] {
        return std::all_of(ids.begin(), ids.end(),
                           [&](const std::string& id) { return hook.accepted(id) == 1; });
      },
      30s));
  CHECK(wait_for([&] { return w.metric("kafka_consumer_lag", topic) == 0; }, 20s));
  CHECK(w.metric("kafka_consumer_lag_seconds", topic) == 0);
}

// The stack's Prometheus scrapes this worker (a target file in
// PROMETHEUS_TARGETS_DIR), its rule DeadLettered fires, and Alertmanager
// posts it to the operations channel (the stack's fake ops webhook).
TEST_CASE("a dead letter fires an alert that reaches the operations channel", "[alert]") {
  const char* targets = std::getenv("PROMETHEUS_TARGETS_DIR");
  const char* ops = std::getenv("OPS_WEBHOOK_CONTROL_URL");
  REQUIRE(targets != nullptr);
  REQUIRE(ops != nullptr);  // the stack's fake ops webhook (OPS_DISCORD_WEBHOOK_URL unset)
  FakeHook hook("alert");
  Worker w({{"NOTIFY_CHANNELS", "webhook"}, {"WEBHOOK_URL", hook.url("/webhook")}}, "alert");
  const std::string instance = "127.0.0.1:" + std::to_string(w.admin);
  const std::string target_file = std::string(targets) + "/test-" + w.group + ".json";
  struct Target {
    std::string path;
    ~Target() { std::remove(path.c_str()); }
  } target{target_file};
  {
    std::ofstream out(target_file + ".tmp");
    out << R"([{"targets":[")" << instance << R"("],"labels":{"job":"notification-worker"}}])";
  }
  REQUIRE(std::rename((target_file + ".tmp").c_str(), target_file.c_str()) == 0);
  Injector in;
  wait_until_consuming(in, hook);
  // Scraped at least once before the dead letter, so that it is an increase.
  const char* prometheus_env = std::getenv("PROMETHEUS_URL");
  REQUIRE(prometheus_env != nullptr);
  const std::string prometheus = prometheus_env;
  REQUIRE(wait_for(
      [&] {
        auto r = http_call(
            "GET", prometheus + "/api/v1/query?query=up%7Binstance%3D%22" + instance + "%22%7D");
        return r && r->body.find(R"("value":[)") != std::string::npos &&
               r->body.find(R"(,"1"]})") != std::string::npos;
      },
      40s));

  hook.configure(R"({"failurePercent":100,"failureStatus":400})");
  Sent e = in.produce("notifications.payment-completed");
  REQUIRE(wait_for([&] { return w.metric("notify_dead_lettered_total") >= 1; }, 30s));

  // The Discord message of Alertmanager's default template names the alert
  // and lists its labels, this worker's instance among them.
  std::string seen;
  const bool arrived = wait_for(
      [&] {
        auto r = http_call("GET", std::string(ops) + "/_control/requests");
        if (!r) return false;
        seen = r->body;
        return seen.find("DeadLettered") != std::string::npos &&
               seen.find(instance) != std::string::npos;
      },
      120s);
  INFO(seen.substr(0, 2000));
  CHECK(arrived);
}

// seats.expired -> one operations-channel message per record (one schedule's
// batch), never one per seat, and nothing to the buyers' channels.
TEST_CASE("an expiry batch becomes one summary on the operations channel", "[ops]") {
  FakeHook hook("ops-users");
  FakeHook ops("ops");
  const std::string ops_path = "/api/webhooks/ops/test";
  Worker w({{"NOTIFY_CHANNELS", "webhook"},
            {"WEBHOOK_URL", hook.url("/webhook")},
            {"OPS_DISCORD_WEBHOOK_URL", ops.url(ops_path)}},
           "ops");
  Injector in;
  wait_until_consuming(in, hook);
  const std::int64_t schedule = next_user();  // far above any real schedule id
  auto batch = [&](int seats) {
    ticketing::JsonWriter d;
    d.start_object().key("scheduleId").integer(schedule).key("seats").start_array();
    for (int i = 0; i < seats; ++i) {
      d.start_object()
          .key("reservationId")
          .integer(schedule + i)
          .key("seatNo")
          .integer(11 + i)
          .key("expiresAt")
          .string("2026-12-04T10:00:0" + std::to_string(i) + ".000Z")
          .end_object();
    }
    d.end_array().end_object();
    auto env = ev::Envelope::make("seats.expired", "seat-expiry-scheduler", d.str());
    in.produce_envelope(env, schedule);
    return env.event_id;
  };
  // The topic's position is known once a record arrives: batches until one does.
  std::string id;
  const auto deadline = Clock::now() + 40s;
  while (Clock::now() < deadline && id.empty()) {
    const std::string tried = batch(3);
    if (wait_for([&] { return ops.accepted(tried) == 1; }, 4s)) id = tried;
  }
  REQUIRE_FALSE(id.empty());
  std::this_thread::sleep_for(1s);  // a second message would have come by now
  const auto got = ops.requests(id);
  REQUIRE(got.size() == 1);
  CHECK(got[0].path == ops_path);
  const auto body = parse(got[0].body);
  const auto& embed = body["embeds"][0];
  CHECK(s(embed["title"]) == "Seat expiry processed");
  CHECK(s(embed["description"]) == "3 unpaid hold(s) of schedule #" + std::to_string(schedule) +
                                       " ran out and are being released.");
  std::map<std::string, std::string> fields;
  for (const auto& f : embed["fields"].GetArray()) fields[s(f["name"])] = s(f["value"]);
  CHECK(fields["Seats"] == "11, 12, 13");
  CHECK(fields["Holds"] == "3");
  CHECK(fields["Oldest expiry"] == "2026-12-04T10:00:00.000Z");
  CHECK(hook.requests(id).empty());
  CHECK(w.metric("notify_sent_total", "channel=\"ops\"") >= 1);
}
