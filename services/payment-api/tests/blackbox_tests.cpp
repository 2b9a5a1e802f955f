// payment-api as a black box: the real executable against the real stack,
// driven over HTTP and through the reservation.* topics, its effects checked
// in its database (a database of its own per run) and on the payment topics.
//
// One instance serves every test case of a run (startup and the consumer's
// group join happen once); each case uses user and reservation ids of its own
// from a random high range, so nothing here meets other runs' records.
#include <catch2/catch.hpp>

#include <future>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/auth/hold_receipt.hpp"
#include "ticketing/auth/token.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/db/db.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/testing/process.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;
namespace ev = ticketing::events;
namespace http = ticketing::http;
namespace db = ticketing::db;

namespace {

constexpr std::int64_t kMaxCharge = 1'000'000;
constexpr std::int64_t kMaxBalance = 5'000'000;

std::int64_t random_base() {
  std::mt19937_64 rng{std::random_device{}()};
  // 4e18 .. 8e18, in steps leaving room for a run's ids.
  return 4'000'000'000'000'000'000LL +
         static_cast<std::int64_t>(rng() % 4'000'000'000'000LL) * 1'000'000;
}

ev::ProducerOptions producer_options() {
  ev::ProducerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.client_id = "payment-api-test";
  return o;
}

std::int64_t json_int(const std::string& json, std::string_view field) {
  auto parsed = http::JsonBody::parse(std::string_view(json));
  if (!std::holds_alternative<http::JsonBody>(parsed)) return -1;
  return std::get<http::JsonBody>(parsed).int64(field, INT64_MIN, INT64_MAX).value_or(-1);
}

std::string json_str(const std::string& json, std::string_view field) {
  auto parsed = http::JsonBody::parse(std::string_view(json));
  if (!std::holds_alternative<http::JsonBody>(parsed)) return {};
  return std::get<http::JsonBody>(parsed).string(field, 100000).value_or("");
}

std::string error_code(const std::string& body) {
  auto pos = body.find(R"("code":")");
  if (pos == std::string::npos) return {};
  pos += 8;
  return body.substr(pos, body.find('"', pos) - pos);
}

// What payment-api published about our ids, collected from the start of the run.
class TopicLog {
 public:
  TopicLog(std::int64_t min_key) : min_key_(min_key) {
    thread_ = std::thread([this] { run(); });
  }
  ~TopicLog() {
    stop_ = true;
    thread_.join();
  }
  // Records of `topic` with `key`, waiting until at least `n` are there (up
  // to `limit`), then `settle` longer for duplicates.
  std::vector<ev::Message> wait(const std::string& topic, std::int64_t key, std::size_t n,
                                std::chrono::milliseconds limit = 20s,
                                std::chrono::milliseconds settle = 2s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (count(topic, key) < n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(settle);
    std::lock_guard lock(mutex_);
    std::vector<ev::Message> out;
    for (const auto& m : messages_)
      if (m.topic == topic && m.key == std::to_string(key)) out.push_back(m);
    return out;
  }
  bool assigned() const { return assigned_; }

 private:
  std::size_t count(const std::string& topic, std::int64_t key) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& m : messages_) n += (m.topic == topic && m.key == std::to_string(key)) ? 1 : 0;
    return n;
  }
  void run() {
    ev::ConsumerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.group_id = tt::unique_name("payment-api-test-reader");
    o.topics = {"payment.completed", "payment.refunded", "notifications.payment-completed",
                "notifications.payment-refunded", "reservation.confirmation-failed.dlq"};
    o.auto_offset_reset = "earliest";
    ev::Consumer consumer(o);
    while (!stop_) {
      auto m = consumer.poll(100ms);
      if (!consumer.assignment().empty()) assigned_ = true;
      if (!m) continue;
      std::int64_t key = 0;
      try {
        key = std::stoll(m->key);
      } catch (const std::exception&) {
        continue;
      }
      if (key < min_key_) continue;
      std::lock_guard lock(mutex_);
      messages_.push_back(*m);
    }
  }
  std::int64_t min_key_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> assigned_{false};
  std::mutex mutex_;
  std::vector<ev::Message> messages_;
  std::thread thread_;
};

// The service under test plus the means to drive and observe it.
class Fixture {
 public:
  Fixture()
      : database_(tt::unique_name("payment_test")),
        producer_name_("reservation-api.test-" + std::to_string(random_base() % 1'000'000'007)),
        secret_("secret-" + ticketing::new_uuid()),
        signer_(secret_, std::chrono::seconds(86400)),
        base_(random_base()),
        next_id_(base_),
        topics_(base_),
        producer_(producer_options()) {
    http_port_ = tt::free_port();
    const auto admin = tt::free_port();
    admin_port_ = admin;
    std::map<std::string, std::string> env = {
        {"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
        {"MYSQL_URL", tt::mysql_url()},
        {"MYSQL_DATABASE", database_},
        {"TOKEN_SECRET", secret_},
        {"HTTP_PORT", std::to_string(http_port_)},
        {"ADMIN_PORT", std::to_string(admin)},
        {"HTTP_THREADS", "32"},
        {"MYSQL_POOL_SIZE", "40"},
        {"MAX_CHARGE", std::to_string(kMaxCharge)},
        {"MAX_BALANCE", std::to_string(kMaxBalance)},
        // Our own group from the newest offset: this instance sees every
        // partition and none of the topics' history.
        {"KAFKA_CONSUMER_GROUP", tt::unique_name("payment-api-test")},
        {"KAFKA_AUTO_OFFSET_RESET", "latest"},
        {"CONSUMER_MAX_ATTEMPTS", "4"},
        {"CONSUMER_MAX_BACKOFF_MS", "500"},
        // One group member per process: the two-instance case checks that
        // the partitions are split between the processes (with three
        // members each, the first process may keep all three partitions).
        {"CONSUMER_THREADS", "1"},
        {"PRUNE_INTERVAL_S", "1"},
        // Only this run's events: the topics also carry other runs' records
        // and a live reservation-api's answers (confirmation-failed NOT_FOUND
        // for the payments of our made-up reservations).
        {"TRUSTED_EVENT_PRODUCERS", producer_name_}};
    env_ = env;
    proc_ = std::make_unique<tt::ChildProcess>(tt::build_path("services/payment-api/payment-api"),
                                               std::vector<std::string>{}, env,
                                               tt::build_path("services/payment-api/blackbox.log"));
    wait_ready(admin);
    auto opts = db::parse_url(tt::mysql_url());
    opts.database = database_;
    conn_ = std::make_unique<db::Connection>(opts);
    wait_consumer();
  }

  ~Fixture() {
    if (proc_) {
      proc_->signal(SIGTERM);
      proc_->wait(15s);
    }
    try {
      conn_->exec_raw("DROP DATABASE IF EXISTS " + db::quote_identifier(database_));
    } catch (const std::exception&) {
    }
  }

  std::int64_t new_id() { return next_id_++; }
  std::string token(std::int64_t user) const { return signer_.issue(user); }
  const ticketing::auth::TokenSigner& signer() const { return signer_; }
  db::Connection& db() { return *conn_; }
  TopicLog& topics() { return topics_; }
  std::string log() const { return proc_->log(); }

  // Another instance on the same database and consumer group.
  std::unique_ptr<tt::ChildProcess> spawn_peer(unsigned short http_port) {
    auto env = env_;
    env["HTTP_PORT"] = std::to_string(http_port);
    const auto admin = tt::free_port();
    env["ADMIN_PORT"] = std::to_string(admin);
    env["LOG_LEVEL"] = "debug";  // "hold recorded" lines show what it consumed
    // A fresh log: the test reads it for what this run's peer did.
    auto log = tt::build_path("services/payment-api/blackbox-peer.log");
    std::filesystem::remove(log);
    auto p = std::make_unique<tt::ChildProcess>(tt::build_path("services/payment-api/payment-api"),
                                                std::vector<std::string>{}, env, log);
    wait_ready(admin);
    return p;
  }
  // With offset reset "latest", what is produced before the group has its
  // partitions is never seen: probe until a hold arrives.
  void wait_consumer() {
    auto probe = new_id();
    auto user = new_id();
    auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
      held(probe, user, 1);
      for (int i = 0; i < 30; ++i) {
        if (hold_known(probe) && topics_.assigned()) return;
        std::this_thread::sleep_for(100ms);
      }
    }
    FAIL("payment-api consumer never received a hold: " << proc_->log());
  }

  http::ClientResponse send(const std::string& method, const std::string& path,
                            const std::string& token, const std::string& body = {},
                            std::vector<std::pair<std::string, std::string>> headers = {},
                            unsigned short port = 0) {
    http::ClientRequest req;
    req.method = method;
    req.url = "http://127.0.0.1:" + std::to_string(port ? port : http_port_) + path;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    bool typed = false;
    for (auto& h : headers) typed = typed || h.first == "Content-Type";
    if (!body.empty() && !typed) req.headers.emplace_back("Content-Type", "application/json");
    for (auto& h : headers) req.headers.push_back(h);
    req.body = body;
    req.total_timeout = 20s;
    return client_.send(req);
  }

  // The tally of the conservation check.
  void charged(std::int64_t user, std::int64_t amount) {
    std::lock_guard lock(mutex_);
    charges_ += amount;
    users_.insert(user);
  }
  void paid(std::int64_t amount) { payments_ += amount; }
  void refunded(std::int64_t amount) { refunds_ += amount; }
  std::int64_t charges() const { return charges_; }
  std::int64_t payments() const { return payments_; }
  std::int64_t refunds() const { return refunds_; }
  std::set<std::int64_t> users() {
    std::lock_guard lock(mutex_);
    return users_;
  }

  std::int64_t charge(std::int64_t user, std::int64_t amount) {
    auto r = send("POST", "/v1/points/charge", token(user),
                  R"({"amount":)" + std::to_string(amount) + "}");
    REQUIRE(r.status == 200);
    charged(user, amount);
    return json_int(r.body, "balance");
  }

  std::int64_t balance(std::int64_t user) {
    auto r = send("GET", "/v1/points", token(user));
    REQUIRE(r.status == 200);
    return json_int(r.body, "balance");
  }

  void produce(const std::string& type, const std::string& data, std::int64_t key,
               std::string event_id = {}, std::string producer = {}) {
    auto env = ev::Envelope::make(type, producer.empty() ? producer_name_ : producer, data);
    if (!event_id.empty()) env.event_id = event_id;
    auto report = producer_.produce(ev::make_event_record(env, ev::event_key(key))).get();
    REQUIRE(report.ok);
  }

  void held(std::int64_t reservation, std::int64_t user, std::int64_t price,
            std::chrono::milliseconds expires_in = 5min, std::int64_t key = 0,
            std::string producer = {}) {
    auto now = std::chrono::system_clock::now();
    produce("reservation.held",
            R"({"reservationId":)" + std::to_string(reservation) + R"(,"userId":)" +
                std::to_string(user) + R"(,"concertId":1,"scheduleId":1,"seatNo":7,"price":)" +
                std::to_string(price) + R"(,"heldAt":")" + ticketing::to_rfc3339(now) +
                R"(","expiresAt":")" + ticketing::to_rfc3339(now + expires_in) + R"("})",
            key ? key : reservation, {}, std::move(producer));
  }

  std::string confirmation_failed_data(std::int64_t reservation, std::int64_t payment,
                                       std::int64_t user, std::int64_t amount) {
    return R"({"reservationId":)" + std::to_string(reservation) + R"(,"paymentId":)" +
           std::to_string(payment) + R"(,"userId":)" + std::to_string(user) + R"(,"amount":)" +
           std::to_string(amount) + R"(,"reason":"HOLD_EXPIRED","failedAt":")" +
           ticketing::now_rfc3339() + R"("})";
  }

  // The holdReceipt reservation-api would have answered for this hold.
  std::string receipt(std::int64_t reservation, std::int64_t user, std::int64_t price,
                      std::chrono::milliseconds expires_in = 5min,
                      std::int64_t schedule = 1) const {
    auto expires = std::chrono::system_clock::now() + expires_in;
    return ticketing::auth::HoldReceipts(secret_).sign(
        {reservation, user, schedule, 7, price, ticketing::unix_millis(expires)});
  }

  // reservation.cancelled for the hold; returns once the read model has it.
  void cancelled(std::int64_t reservation, std::int64_t user) {
    produce("reservation.cancelled",
            R"({"reservationId":)" + std::to_string(reservation) + R"(,"userId":)" +
                std::to_string(user) +
                R"(,"scheduleId":1,"seatNo":7,"reason":"USER_CANCELLED","cancelledAt":")" +
                ticketing::now_rfc3339() + R"("})",
            reservation);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (count("SELECT COUNT(*) FROM holds WHERE reservation_id = ? AND status = 'CANCELLED'",
                 {reservation}) == 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
  }

  // reservation.held for each reservation (price, seat 7), produced at once
  // (acks awaited after the last one), so the consumer fetches them together.
  void held_burst(const std::vector<std::pair<std::int64_t, std::int64_t>>& reservation_price,
                  std::int64_t user) {
    const auto now = std::chrono::system_clock::now();
    std::vector<std::future<ev::DeliveryReport>> acks;
    for (const auto& [reservation, price] : reservation_price) {
      auto env = ev::Envelope::make(
          "reservation.held", producer_name_,
          R"({"reservationId":)" + std::to_string(reservation) + R"(,"userId":)" +
              std::to_string(user) + R"(,"concertId":1,"scheduleId":1,"seatNo":7,"price":)" +
              std::to_string(price) + R"(,"heldAt":")" + ticketing::to_rfc3339(now) +
              R"(","expiresAt":")" + ticketing::to_rfc3339(now + 5min) + R"("})");
      acks.push_back(producer_.produce(ev::make_event_record(env, ev::event_key(reservation))));
    }
    for (auto& a : acks) REQUIRE(a.get().ok);
  }

  // A counter or gauge of the admin port's /metrics (the whole series name
  // with its labels); 0 when absent.
  double metric(const std::string& series) {
    auto r = send("GET", "/metrics", "", {}, {}, admin_port_);
    REQUIRE(r.status == 200);
    const auto at = r.body.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(r.body.substr(at + series.size() + 2));
  }

  bool hold_known(std::int64_t reservation) {
    return conn_->query_one("SELECT 1 FROM holds WHERE reservation_id = ?", {reservation})
        .has_value();
  }
  void wait_hold(std::int64_t reservation) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!hold_known(reservation) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    REQUIRE(hold_known(reservation));
  }

  std::int64_t count(const std::string& sql, const db::Params& params) {
    auto row = conn_->query_one(sql, params);
    return row ? row->i64(0) : 0;
  }

 private:
  // Until the admin port's /health/ready answers 200.
  void wait_ready(unsigned short admin_port) {
    auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (send("GET", "/health/ready", "", {}, {}, admin_port).status == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(100ms);
    }
    FAIL("payment-api not ready on admin port " << admin_port << ": " << proc_->log());
  }

  std::string database_;
  std::string producer_name_;
  std::map<std::string, std::string> env_;
  std::string secret_;
  ticketing::auth::TokenSigner signer_;
  std::int64_t base_;
  std::atomic<std::int64_t> next_id_;
  TopicLog topics_;
  ev::Producer producer_;
  http::Client client_;  // thread-safe; one CA store load for the run
  unsigned short http_port_ = 0;
  unsigned short admin_port_ = 0;
  std::unique_ptr<tt::ChildProcess> proc_;
  std::unique_ptr<db::Connection> conn_;
  std::mutex mutex_;
  std::atomic<std::int64_t> charges_{0}, payments_{0}, refunds_{0};
  std::set<std::int64_t> users_;
};

Fixture& fx() {
  static Fixture f;
  return f;
}

}  // namespace

TEST_CASE("wallet: charge, balance, history newest first, paging") {
  auto& f = fx();
  auto user = f.new_id();
  CHECK(f.balance(user) == 0);
  CHECK(f.charge(user, 500) == 500);
  CHECK(f.charge(user, 300) == 800);
  CHECK(f.charge(user, 1) == 801);
  CHECK(f.balance(user) == 801);
  CHECK(f.count("SELECT balance FROM wallets WHERE user_id = ?", {user}) == 801);

  auto page1 = f.send("GET", "/v1/points/history?limit=2", f.token(user));
  REQUIRE(page1.status == 200);
  auto first = page1.body.find(R"("amount":1,)");
  auto second = page1.body.find(R"("amount":300,)");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(first < second);
  CHECK(page1.body.find(R"("amount":500,)") == std::string::npos);
  CHECK(page1.body.find(R"("kind":"CHARGE")") != std::string::npos);
  auto before = json_int(page1.body, "nextBefore");
  REQUIRE(before > 0);
  auto page2 =
      f.send("GET", "/v1/points/history?limit=2&before=" + std::to_string(before), f.token(user));
  REQUIRE(page2.status == 200);
  CHECK(page2.body.find(R"("amount":500,)") != std::string::npos);
  CHECK(page2.body.find(R"("balanceAfter":500)") != std::string::npos);
  CHECK(page2.body.find(R"("nextBefore":null)") != std::string::npos);
  CHECK(f.send("GET", "/v1/points/history?limit=0", f.token(user)).status == 400);
  CHECK(f.send("GET", "/v1/points/history?limit=abc", f.token(user)).status == 400);

  SECTION("the balance cap: a charge past MAX_BALANCE is refused and changes nothing") {
    auto rich = f.new_id();
    for (int i = 0; i < 5; ++i) f.charge(rich, kMaxCharge);
    auto r = f.send("POST", "/v1/points/charge", f.token(rich), R"({"amount":1})");
    CHECK(r.status == 409);
    CHECK(error_code(r.body) == "BALANCE_LIMIT");
    CHECK(f.balance(rich) == kMaxBalance);
    CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {rich}) == 5);
  }
}

TEST_CASE("wallet: Idempotency-Key charges once and replays the first answer") {
  auto& f = fx();
  auto user = f.new_id();
  auto key = "charge-" + ticketing::new_uuid();
  std::vector<std::pair<std::string, std::string>> h = {{"Idempotency-Key", key}};
  auto r1 = f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":250})", h);
  REQUIRE(r1.status == 200);
  f.charged(user, 250);
  auto r2 = f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":250})", h);
  CHECK(r2.status == 200);
  CHECK(r2.body == r1.body);
  auto r3 = f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":251})", h);
  CHECK(r3.status == 409);
  CHECK(error_code(r3.body) == "IDEMPOTENCY_KEY_REUSED");
  CHECK(f.balance(user) == 250);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {user}) == 1);

  // The same key sent 20 times at once still charges once.
  auto key2 = "burst-" + ticketing::new_uuid();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::mutex m;
  std::set<std::string> bodies;
  for (int i = 0; i < 20; ++i)
    threads.emplace_back([&] {
      auto r = f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":40})",
                      {{"Idempotency-Key", key2}});
      if (r.status == 200) {
        ++ok;
        std::lock_guard lock(m);
        bodies.insert(r.body);
      }
    });
  for (auto& t : threads) t.join();
  f.charged(user, 40);
  CHECK(ok == 20);
  CHECK(bodies.size() == 1);
  CHECK(f.balance(user) == 290);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {user}) == 2);
  // A key belongs to its user: another user's same key is a different request.
  auto other = f.new_id();
  auto r4 = f.send("POST", "/v1/points/charge", f.token(other), R"({"amount":7})", h);
  CHECK(r4.status == 200);
  f.charged(other, 7);
  CHECK(f.balance(other) == 7);
}

TEST_CASE("bad requests: each a 4xx with an error code, and nothing changes") {
  auto& f = fx();
  auto user = f.new_id();
  auto tok = f.token(user);
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"not json", 400, "INVALID_JSON"},
      {"{", 400, "INVALID_JSON"},
      {"[1]", 400, "INVALID_JSON"},
      {"{}", 400, "VALIDATION_FAILED"},
      {R"({"amount":"100"})", 400, "VALIDATION_FAILED"},
      {R"({"amount":100.5})", 400, "VALIDATION_FAILED"},
      {R"({"amount":true})", 400, "VALIDATION_FAILED"},
      {R"({"amount":null})", 400, "VALIDATION_FAILED"},
      {R"({"amount":0})", 400, "VALIDATION_FAILED"},
      {R"({"amount":-5})", 400, "VALIDATION_FAILED"},
      {R"({"amount":1000001})", 400, "VALIDATION_FAILED"},
      {R"({"amount":9223372036854775807})", 400, "VALIDATION_FAILED"},
      {R"({"amount":9223372036854775808})", 400, "VALIDATION_FAILED"},
      {R"({"amount":-9223372036854775809})", 400, "VALIDATION_FAILED"},
      {R"({"amount":1e30})", 400, "VALIDATION_FAILED"},
      // Beyond what the parser reads as a number at all.
      {R"({"amount":)" + std::string(5000, '9') + "}", 400, "INVALID_JSON"},
      {R"({"amount":1,"pad":")" + std::string(200 * 1024, 'x') + R"("})", 413, "PAYLOAD_TOO_LARGE"},
  };
  for (const auto& c : cases) {
    INFO(c.body.substr(0, 80));
    auto r = f.send("POST", "/v1/points/charge", tok, c.body);
    CHECK(r.status == c.status);
    CHECK(error_code(r.body) == c.code);
  }
  std::vector<Case> payment_cases = {
      {"nope", 400, "INVALID_JSON"},
      {"{}", 400, "VALIDATION_FAILED"},
      {R"({"reservationId":"12"})", 400, "VALIDATION_FAILED"},
      {R"({"reservationId":0})", 400, "VALIDATION_FAILED"},
      {R"({"reservationId":-3})", 400, "VALIDATION_FAILED"},
      {R"({"reservationId":1e40})", 400, "VALIDATION_FAILED"},
      {R"({"reservationId":99999999999999999999})", 400, "VALIDATION_FAILED"},
  };
  for (const auto& c : payment_cases) {
    INFO(c.body);
    auto r = f.send("POST", "/v1/payments", tok, c.body);
    CHECK(r.status == c.status);
    CHECK(error_code(r.body) == c.code);
  }
  auto wrong_type =
      f.send("POST", "/v1/points/charge", tok, R"({"amount":5})", {{"Content-Type", "text/plain"}});
  CHECK(wrong_type.status == 415);
  CHECK(error_code(wrong_type.body) == "UNSUPPORTED_MEDIA_TYPE");
  auto bad_key = f.send("POST", "/v1/points/charge", tok, R"({"amount":5})",
                        {{"Idempotency-Key", std::string(300, 'k')}});
  CHECK(bad_key.status == 400);
  CHECK(error_code(bad_key.body) == "INVALID_IDEMPOTENCY_KEY");
  CHECK(f.send("GET", "/v1/payments/abc", tok).status == 400);
  CHECK(f.send("GET", "/v1/payments/0", tok).status == 400);
  CHECK(f.balance(user) == 0);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {user}) == 0);
}

TEST_CASE("tokens: missing, forged, altered and expired are 401 UNAUTHORIZED") {
  auto& f = fx();
  auto user = f.new_id();
  ticketing::auth::TokenSigner forger("not-the-secret", std::chrono::seconds(86400));
  auto good = f.token(user);
  auto altered = good;
  // v1.<id>.<user>.<issued>.<mac>: give the token to another user.
  auto p1 = altered.find('.', 3);
  auto p2 = altered.find('.', p1 + 1);
  altered.replace(p1 + 1, p2 - p1 - 1, std::to_string(user + 1));
  ticketing::auth::TokenClaims old{ticketing::new_uuid(), user,
                                   std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                           .count() -
                                       2 * 86400};
  auto expired = f.signer().sign(old);
  for (const std::string& tok :
       {std::string(), forger.issue(user), altered, expired, std::string("garbage")}) {
    for (auto [method, path, body] : {std::tuple{"GET", "/v1/points", ""},
                                      std::tuple{"POST", "/v1/points/charge", R"({"amount":10})"},
                                      std::tuple{"GET", "/v1/points/history", ""},
                                      std::tuple{"POST", "/v1/payments", R"({"reservationId":1})"},
                                      std::tuple{"GET", "/v1/payments/1", ""}}) {
      INFO(method << " " << path << " token=" << tok);
      auto r = f.send(method, path, tok, body);
      CHECK(r.status == 401);
      CHECK(error_code(r.body) == "UNAUTHORIZED");
    }
  }
  CHECK(f.balance(user) == 0);
  CHECK(f.balance(user + 1) == 0);
}

TEST_CASE(
    "payment: a hold receipt pays a hold whose event has not arrived; nothing waits for one") {
  auto& f = fx();
  auto user = f.new_id();
  auto reservation = f.new_id();
  f.charge(user, 1000);
  // No reservation.held at all yet: the receipt alone vouches for the hold.
  auto receipt = f.receipt(reservation, user, 700);
  auto r = f.send("POST", "/v1/payments", f.token(user),
                  R"({"reservationId":)" + std::to_string(reservation) + R"(,"holdReceipt":")" +
                      receipt + "\"}");
  REQUIRE(r.status == 201);
  f.paid(700);
  CHECK(json_int(r.body, "amount") == 700);
  CHECK(json_int(r.body, "reservationId") == reservation);
  CHECK(json_str(r.body, "status") == "COMPLETED");
  CHECK(!json_str(r.body, "paidAt").empty());
  auto payment_id = json_int(r.body, "paymentId");
  CHECK(f.balance(user) == 300);
  CHECK(f.count("SELECT COUNT(*) FROM holds WHERE reservation_id = ? AND price = 700",
                {reservation}) == 1);

  auto got = f.send("GET", "/v1/payments/" + std::to_string(payment_id), f.token(user));
  CHECK(got.status == 200);
  CHECK(json_str(got.body, "status") == "COMPLETED");
  // Another user does not see it.
  CHECK(f.send("GET", "/v1/payments/" + std::to_string(payment_id), f.token(f.new_id())).status ==
        404);
  auto hist = f.send("GET", "/v1/points/history", f.token(user));
  CHECK(hist.body.find(R"("kind":"PAYMENT","amount":700,"balanceAfter":300,"paymentId":)" +
                       std::to_string(payment_id)) != std::string::npos);

  auto completed = f.topics().wait("payment.completed", reservation, 1);
  REQUIRE(completed.size() == 1);
  CHECK(completed[0].value.find(R"("paymentId":)" + std::to_string(payment_id)) !=
        std::string::npos);
  auto notified = f.topics().wait("notifications.payment-completed", user, 1);
  REQUIRE(notified.size() == 1);
  CHECK(notified[0].value.find(R"("balance":300)") != std::string::npos);

  // The event arrives afterwards and changes nothing. A marker hold on the
  // same key (same partition, so consumed after it) shows it was applied.
  f.held(reservation, user, 700);
  auto marker = f.new_id();
  f.held(marker, user, 1, 5min, reservation);
  f.wait_hold(marker);
  CHECK(f.count("SELECT COUNT(*) FROM payments WHERE reservation_id = ?", {reservation}) == 1);
  CHECK(f.balance(user) == 300);

  // Without a receipt an unknown hold is 404 at once, like another user's.
  auto never = f.new_id();
  auto started = std::chrono::steady_clock::now();
  auto nf = f.send("POST", "/v1/payments", f.token(user),
                   R"({"reservationId":)" + std::to_string(never) + "}");
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(nf.status == 404);
  CHECK(error_code(nf.body) == "RESERVATION_NOT_FOUND");
  CHECK(took < 1s);  // no waiting for an event that may never come

  // An altered receipt, or one of another reservation or user: 400, nothing paid.
  auto other = f.new_id();
  auto good = f.receipt(other, user, 100);
  auto pay_with = [&](std::int64_t rid, const std::string& rc) {
    return f.send(
        "POST", "/v1/payments", f.token(user),
        R"({"reservationId":)" + std::to_string(rid) + R"(,"holdReceipt":")" + rc + "\"}");
  };
  auto cheaper = good;
  cheaper.replace(cheaper.find(".100."), 5, ".001.");
  for (const auto& bad :
       {pay_with(other, cheaper), pay_with(other, f.receipt(other, f.new_id(), 100)),
        pay_with(never, good)}) {
    CHECK(bad.status == 400);
    CHECK(error_code(bad.body) == "INVALID_HOLD_RECEIPT");
  }
  CHECK(f.balance(user) == 300);

  // A cancellation already seen wins over a receipt.
  f.cancelled(other, user);
  auto late = pay_with(other, good);
  CHECK(late.status == 409);
  CHECK(error_code(late.body) == "RESERVATION_EXPIRED");
  CHECK(f.balance(user) == 300);
}

TEST_CASE("Payment completed names the seat, and the concert once a hold of its show was seen") {
  auto& f = fx();
  auto user = f.new_id();
  auto schedule = f.new_id();
  f.charge(user, 3000);
  auto pay = [&](std::int64_t reservation, const std::string& receipt) {
    std::string body = R"({"reservationId":)" + std::to_string(reservation);
    if (!receipt.empty()) body += R"(,"holdReceipt":")" + receipt + "\"";
    auto r = f.send("POST", "/v1/payments", f.token(user), body + "}");
    REQUIRE(r.status == 201);
    f.paid(100);
  };
  // 1. Paid by receipt before any hold of this show reached payment-api.
  auto first = f.new_id();
  pay(first, f.receipt(first, user, 100, 5min, schedule));
  // 2. A held event with the show, then its payment.
  auto second = f.new_id();
  auto now = std::chrono::system_clock::now();
  f.produce("reservation.held",
            R"({"reservationId":)" + std::to_string(second) + R"(,"userId":)" +
                std::to_string(user) + R"(,"concertId":1,"scheduleId":)" +
                std::to_string(schedule) + R"(,"seatNo":9,"price":100,"heldAt":")" +
                ticketing::to_rfc3339(now) + R"(","expiresAt":")" +
                ticketing::to_rfc3339(now + 5min) +
                R"(","concertTitle":"Spring Night Live","startsAt":"2027-03-14T19:00:00.000Z"})",
            second);
  f.wait_hold(second);
  CHECK(f.count("SELECT COUNT(*) FROM shows WHERE schedule_id = ? AND concert_title = ?",
                {schedule, std::string("Spring Night Live")}) == 1);
  pay(second, "");
  // 3. By receipt again (its held not arrived): the show is known by now.
  auto third = f.new_id();
  pay(third, f.receipt(third, user, 100, 5min, schedule));

  auto notes = f.topics().wait("notifications.payment-completed", user, 3);
  REQUIRE(notes.size() == 3);
  std::map<std::int64_t, ev::PaymentCompletedNote> by_reservation;
  for (const auto& n : notes) {
    auto note = ev::decode<ev::PaymentCompletedNote>(ev::parse_envelope(n.value));
    by_reservation[note.reservation_id] = note;
  }
  REQUIRE(by_reservation.size() == 3);
  CHECK(by_reservation[first].seat_no == 7);
  CHECK_FALSE(by_reservation[first].concert_title);
  CHECK(by_reservation[second].seat_no == 9);
  CHECK(by_reservation[second].concert_title == "Spring Night Live");
  CHECK(by_reservation[second].starts_at == "2027-03-14T19:00:00.000Z");
  CHECK(by_reservation[third].seat_no == 7);
  CHECK(by_reservation[third].concert_title == "Spring Night Live");
}

TEST_CASE("payment refusals: expired, cancelled, another user's, already paid, balance too low") {
  auto& f = fx();
  auto user = f.new_id();
  f.charge(user, 1000);

  auto expired = f.new_id();
  f.held(expired, user, 100, -1s);
  f.wait_hold(expired);
  auto r = f.send("POST", "/v1/payments", f.token(user),
                  R"({"reservationId":)" + std::to_string(expired) + "}");
  CHECK(r.status == 409);
  CHECK(error_code(r.body) == "RESERVATION_EXPIRED");

  auto cancelled = f.new_id();
  f.held(cancelled, user, 100);
  f.cancelled(cancelled, user);
  r = f.send("POST", "/v1/payments", f.token(user),
             R"({"reservationId":)" + std::to_string(cancelled) + "}");
  CHECK(r.status == 409);
  CHECK(error_code(r.body) == "RESERVATION_EXPIRED");

  auto others = f.new_id();
  f.held(others, f.new_id(), 100);
  f.wait_hold(others);
  r = f.send("POST", "/v1/payments", f.token(user),
             R"({"reservationId":)" + std::to_string(others) + "}");
  CHECK(r.status == 404);
  CHECK(error_code(r.body) == "RESERVATION_NOT_FOUND");

  auto pricey = f.new_id();
  f.held(pricey, user, 1001);
  f.wait_hold(pricey);
  r = f.send("POST", "/v1/payments", f.token(user),
             R"({"reservationId":)" + std::to_string(pricey) + "}");
  CHECK(r.status == 402);
  CHECK(error_code(r.body) == "INSUFFICIENT_BALANCE");

  CHECK(f.balance(user) == 1000);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {user}) == 1);
  CHECK(f.count("SELECT COUNT(*) FROM payments WHERE user_id = ?", {user}) == 0);
  CHECK(f.count("SELECT COUNT(*) FROM outbox WHERE msg_key = ?", {std::to_string(user)}) == 0);

  // Exactly the balance is enough; a second attempt is ALREADY_PAID, also
  // with an Idempotency-Key: a new key is a new request, the old key replays.
  auto exact = f.new_id();
  f.held(exact, user, 1000);
  f.wait_hold(exact);
  auto key = "pay-" + ticketing::new_uuid();
  auto body = R"({"reservationId":)" + std::to_string(exact) + "}";
  auto p1 = f.send("POST", "/v1/payments", f.token(user), body, {{"Idempotency-Key", key}});
  REQUIRE(p1.status == 201);
  f.paid(1000);
  auto p2 = f.send("POST", "/v1/payments", f.token(user), body, {{"Idempotency-Key", key}});
  CHECK(p2.status == 201);
  CHECK(p2.body == p1.body);
  auto p3 = f.send("POST", "/v1/payments", f.token(user), body, {{"Idempotency-Key", key + "-2"}});
  CHECK(p3.status == 409);
  CHECK(error_code(p3.body) == "ALREADY_PAID");
  auto p4 =
      f.send("POST", "/v1/payments", f.token(user),
             R"({"reservationId":)" + std::to_string(pricey) + "}", {{"Idempotency-Key", key}});
  CHECK(p4.status == 409);
  CHECK(error_code(p4.body) == "IDEMPOTENCY_KEY_REUSED");
  CHECK(f.balance(user) == 0);
}

TEST_CASE("events from an untrusted producer are skipped") {
  auto& f = fx();
  auto user = f.new_id();
  auto foreign = f.new_id();
  auto marker = f.new_id();
  // Same record key, so same partition: once the marker is in, the foreign
  // record before it has been handled.
  f.held(foreign, user, 10, 5min, foreign, "reservation-api");
  f.held(marker, user, 10, 5min, foreign);
  f.wait_hold(marker);
  CHECK_FALSE(f.hold_known(foreign));
}

TEST_CASE(
    "reservation.held in a burst: every hold recorded once, a lane's holds in one statement") {
  auto& f = fx();
  const std::string batched = R"(events_batch_records_total{result="batched"})";
  const double before = f.metric(batched);
  // Whether a burst is fetched in one piece is up to the broker and the
  // scheduler: up to three bursts, until one was recorded in batches.
  for (int round = 0; round < 3 && f.metric(batched) < before + 2; ++round) {
    auto user = f.new_id();
    std::vector<std::pair<std::int64_t, std::int64_t>> burst;
    for (int i = 0; i < 40; ++i) burst.emplace_back(f.new_id(), 10);
    // The first one again (same key, so later in its lane) at another price:
    // a hold already known is never changed by a held event.
    burst.emplace_back(burst.front().first, 99);
    f.held_burst(burst, user);
    for (const auto& [reservation, price] : burst) f.wait_hold(reservation);
    CHECK(f.count("SELECT COUNT(*) FROM holds WHERE reservation_id BETWEEN ? AND ? AND price = 10 "
                  "AND status = 'HELD' AND user_id = ?",
                  {burst.front().first, burst[39].first, user}) == 40);
    CHECK(f.count("SELECT COUNT(*) FROM holds WHERE reservation_id = ? AND price = 99",
                  {burst.front().first}) == 0);
  }
  // Recorded in batches, not only one by one.
  CHECK(f.metric(batched) >= before + 2);
}

TEST_CASE("100 concurrent payments of one reservation: one 201, one debit, one payment.completed") {
  auto& f = fx();
  auto user = f.new_id();
  auto reservation = f.new_id();
  f.charge(user, 10'000);
  f.held(reservation, user, 1'000);
  f.wait_hold(reservation);
  std::atomic<int> created{0}, already{0}, other{0};
  std::vector<std::thread> threads;
  auto body = R"({"reservationId":)" + std::to_string(reservation) + "}";
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&] {
      try {
        auto r = f.send("POST", "/v1/payments", f.token(user), body);
        if (r.status == 201)
          ++created;
        else if (r.status == 409 && error_code(r.body) == "ALREADY_PAID")
          ++already;
        else
          ++other;
      } catch (const std::exception&) {
        ++other;
      }
    });
  for (auto& t : threads) t.join();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  WARN("100 concurrent payments answered in " << took.count() << " ms");
  f.paid(1'000);
  CHECK(created == 1);
  CHECK(already == 99);
  CHECK(other == 0);
  CHECK(f.balance(user) == 9'000);
  CHECK(f.count("SELECT COUNT(*) FROM payments WHERE reservation_id = ?", {reservation}) == 1);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ? AND kind = 'PAYMENT'",
                {user}) == 1);
  CHECK(f.topics().wait("payment.completed", reservation, 1).size() == 1);
}

TEST_CASE(
    "1,000 concurrent charges by 10 users: each balance is the sum of its successful charges") {
  auto& f = fx();
  std::vector<std::int64_t> users;
  for (int i = 0; i < 10; ++i) users.push_back(f.new_id());
  std::vector<std::atomic<std::int64_t>> sums(10);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < 25; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919U + 1U);
      for (int i = 0; i < 40; ++i) {
        auto u = static_cast<std::size_t>(rng() % 10);
        auto amount = static_cast<std::int64_t>(rng() % 10'000) + 1;
        try {
          auto r = f.send("POST", "/v1/points/charge", f.token(users[u]),
                          R"({"amount":)" + std::to_string(amount) + "}");
          if (r.status == 200) {
            sums[u] += amount;
            f.charged(users[u], amount);
            ++ok;
          } else {
            ++failed;
          }
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  for (auto& t : threads) t.join();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  WARN("1000 charges in " << took.count() << " ms ("
                          << (1000.0 * 1000 / static_cast<double>(took.count())) << " /s), failed "
                          << failed.load());
  CHECK(ok + failed == 1000);
  CHECK(ok >= 990);
  for (std::size_t i = 0; i < users.size(); ++i) {
    INFO("user " << users[i]);
    CHECK(f.balance(users[i]) == sums[i].load());
    CHECK(f.count("SELECT COALESCE(SUM(amount), 0) FROM point_history WHERE user_id = ? AND kind = "
                  "'CHARGE'",
                  {users[i]}) == sums[i].load());
  }
}

TEST_CASE("reservation.confirmation-failed delivered twice refunds once") {
  auto& f = fx();
  auto user = f.new_id();
  auto reservation = f.new_id();
  f.charge(user, 2'000);
  f.held(reservation, user, 1'500);
  f.wait_hold(reservation);
  auto r = f.send("POST", "/v1/payments", f.token(user),
                  R"({"reservationId":)" + std::to_string(reservation) + "}");
  REQUIRE(r.status == 201);
  f.paid(1'500);
  auto payment = json_int(r.body, "paymentId");
  REQUIRE(f.balance(user) == 500);

  auto data = f.confirmation_failed_data(reservation, payment, user, 1'500);
  auto event_id = ticketing::new_uuid();
  f.produce("reservation.confirmation-failed", data, reservation, event_id);
  f.produce("reservation.confirmation-failed", data, reservation, event_id);  // redelivery
  f.produce("reservation.confirmation-failed", data, reservation);  // a second event, same facts

  auto refunded = f.topics().wait("payment.refunded", reservation, 1, 20s, 3s);
  REQUIRE(refunded.size() == 1);
  f.refunded(1'500);
  CHECK(refunded[0].value.find(R"("reason":"HOLD_EXPIRED")") != std::string::npos);
  auto note = f.topics().wait("notifications.payment-refunded", user, 1);
  REQUIRE(note.size() == 1);
  CHECK(note[0].value.find(R"("balance":2000)") != std::string::npos);

  CHECK(f.balance(user) == 2'000);
  auto got = f.send("GET", "/v1/payments/" + std::to_string(payment), f.token(user));
  CHECK(json_str(got.body, "status") == "REFUNDED");
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ? AND kind = 'REFUND'",
                {user}) == 1);
  // The hold is gone for good: paying again is refused.
  auto again = f.send("POST", "/v1/payments", f.token(user),
                      R"({"reservationId":)" + std::to_string(reservation) + "}");
  CHECK(again.status == 409);
  CHECK(error_code(again.body) == "RESERVATION_EXPIRED");
  CHECK(f.balance(user) == 2'000);
}

TEST_CASE("a confirmation-failed for a payment that does not exist is dead-lettered at once") {
  auto& f = fx();
  auto user = f.new_id();
  auto reservation = f.new_id();
  f.produce("reservation.confirmation-failed",
            f.confirmation_failed_data(reservation, 1, user, 100), reservation);
  // The payment would have committed before the event that caused this one:
  // a missing payment is poison, not a reason to wait.
  auto dead = f.topics().wait("reservation.confirmation-failed.dlq", reservation, 1, 20s, 1s);
  REQUIRE(dead.size() == 1);
  auto* attempts = dead[0].header("dlq-attempts");
  REQUIRE(attempts);
  CHECK(*attempts == "1");
  auto* error = dead[0].header("dlq-error");
  REQUIRE(error);
  CHECK(error->find("no payment for reservation") != std::string::npos);
  CHECK(f.balance(user) == 0);
  CHECK(f.count("SELECT COUNT(*) FROM point_history WHERE user_id = ?", {user}) == 0);
  CHECK(f.topics().wait("payment.refunded", reservation, 0, 0ms, 0ms).empty());
}

TEST_CASE("two instances share the read model, the consumer group and the outbox") {
  auto& f = fx();
  auto peer_port = tt::free_port();
  auto peer = f.spawn_peer(peer_port);
  auto assigned = [&] {
    return peer->log().find(R"("msg":"partitions assigned")") != std::string::npos;
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!assigned() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  REQUIRE(assigned());
  std::this_thread::sleep_for(1s);  // the old member finishes its side of the rebalance
  auto user = f.new_id();
  f.charge(user, 100'000);
  // Holds over many keys land on both members' partitions; each payment is
  // asked of either instance, which may not be the one that consumed its hold.
  constexpr std::size_t kHolds = 24;
  std::vector<std::int64_t> reservations;
  for (std::size_t i = 0; i < kHolds; ++i) reservations.push_back(f.new_id());
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  std::vector<std::int64_t> payment_ids(reservations.size(), 0);
  for (std::size_t i = 0; i < reservations.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = f.send("POST", "/v1/payments", f.token(user),
                      R"({"reservationId":)" + std::to_string(reservations[i]) + "}", {},
                      i % 2 ? peer_port : 0);
      if (r.status == 201) {
        ++created;
        payment_ids[i] = json_int(r.body, "paymentId");
      }
    });
  std::this_thread::sleep_for(200ms);
  for (auto r : reservations) f.held(r, user, 1'000);
  for (auto& t : threads) t.join();
  // A rebalance while the peer joins can hold events back past the 3 s wait:
  // retry those once the group has settled.
  for (std::size_t i = 0; i < reservations.size(); ++i) {
    if (payment_ids[i]) continue;
    f.wait_hold(reservations[i]);
    auto r = f.send("POST", "/v1/payments", f.token(user),
                    R"({"reservationId":)" + std::to_string(reservations[i]) + "}", {},
                    i % 2 ? peer_port : 0);
    REQUIRE(r.status == 201);
    ++created;
    payment_ids[i] = json_int(r.body, "paymentId");
  }
  CHECK(created == static_cast<int>(kHolds));
  for (std::size_t i = 0; i < reservations.size(); ++i) f.paid(1'000);
  CHECK(f.balance(user) == 100'000 - 1'000 * static_cast<std::int64_t>(kHolds));
  std::size_t by_peer = 0;
  auto peer_log = peer->log();
  for (auto r : reservations)
    by_peer +=
        peer_log.find(R"("reservation_id":")" + std::to_string(r) + "\"") != std::string::npos ? 1
                                                                                               : 0;
  INFO("holds consumed by the peer: " << by_peer);
  CHECK(by_peer > 0);
  CHECK(by_peer < kHolds);
  for (std::size_t i = 0; i < reservations.size(); ++i) {
    auto recs = f.topics().wait("payment.completed", reservations[i], 1, 20s, 0ms);
    CHECK(recs.size() == 1);
  }
  peer->signal(SIGTERM);
  auto code = peer->wait(20s);
  REQUIRE(code);
  CHECK(*code == 0);
  // The survivor takes the peer's partitions back before the next case.
  f.wait_consumer();
}

TEST_CASE("points are conserved: balances = charges - payments + refunds") {
  auto& f = fx();
  std::int64_t balances = 0;
  for (auto u : f.users()) balances += f.balance(u);
  INFO("charges " << f.charges() << " payments " << f.payments() << " refunds " << f.refunds());
  CHECK(f.charges() > 0);
  CHECK(f.payments() > 0);
  CHECK(f.refunds() > 0);
  CHECK(balances == f.charges() - f.payments() + f.refunds());
  // The service's own books agree: every wallet equals its history.
  CHECK(
      f.count("SELECT COUNT(*) FROM wallets w WHERE w.balance <> (SELECT COALESCE(SUM(CASE h.kind "
              "WHEN 'PAYMENT' THEN -h.amount ELSE h.amount END), 0) FROM point_history h WHERE "
              "h.user_id = w.user_id)",
              {}) == 0);
  CHECK(f.count("SELECT COALESCE(SUM(balance), 0) FROM wallets", {}) == balances);
  // Every outbox row was published.
  CHECK(f.count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", {}) == 0);
}

TEST_CASE("MariaDB down at start: live, not ready, 503 on the API, stops cleanly") {
  auto dead = tt::free_port();
  auto admin = tt::free_port();
  auto http_port = tt::free_port();
  std::map<std::string, std::string> env = {
      {"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
      {"MYSQL_URL", "mysql://ticketing:ticketing@127.0.0.1:" + std::to_string(dead) + "/"},
      {"MYSQL_DATABASE", tt::unique_name("payment_down")},
      {"TOKEN_SECRET", "payment-api-down-test-secret-0123456789"},
      {"HTTP_PORT", std::to_string(http_port)},
      {"ADMIN_PORT", std::to_string(admin)},
      {"KAFKA_CONSUMER_GROUP", tt::unique_name("payment-api-down")},
      {"KAFKA_AUTO_OFFSET_RESET", "latest"}};
  auto log = tt::build_path("services/payment-api/blackbox-down.log");
  std::filesystem::remove(log);
  tt::ChildProcess proc(tt::build_path("services/payment-api/payment-api"), {}, env, log);
  http::Client client;
  auto get = [&](unsigned short port, const std::string& path,
                 const std::string& token) -> std::optional<http::ClientResponse> {
    http::ClientRequest req;
    req.method = "GET";
    req.url = "http://127.0.0.1:" + std::to_string(port) + path;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    req.total_timeout = 3s;
    try {
      return client.send(req);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  std::optional<http::ClientResponse> live;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((!live || live->status != 200) && std::chrono::steady_clock::now() < deadline) {
    live = get(admin, "/health/live", "");
    if (!live) std::this_thread::sleep_for(100ms);
  }
  INFO(proc.log());
  REQUIRE(live);
  CHECK(live->status == 200);
  auto ready = get(admin, "/health/ready", "");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(ready->body.find(R"("schema":"down")") != std::string::npos);
  CHECK(ready->body.find(R"("mysql":"down")") != std::string::npos);
  ticketing::auth::TokenSigner signer("payment-api-down-test-secret-0123456789",
                                      std::chrono::seconds(60));
  auto points = get(http_port, "/v1/points", signer.issue(1));
  REQUIRE(points);
  CHECK(points->status == 503);
  CHECK(error_code(points->body) == "SERVICE_STARTING");
  CHECK(proc.running());
  proc.signal(SIGTERM);
  auto code = proc.wait(15s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(proc.log().find("migrations failed; retrying") != std::string::npos);
}

TEST_CASE("dedupe state is pruned after its retention; an expired key counts as new") {
  auto& f = fx();
  auto user = f.new_id();
  auto key = "prune-" + ticketing::new_uuid();
  std::vector<std::pair<std::string, std::string>> h = {{"Idempotency-Key", key}};
  REQUIRE(f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":100})", h).status == 200);
  f.charged(user, 100);
  CHECK(f.count("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                "DATABASE() AND TABLE_NAME = 'idempotency_keys' AND INDEX_NAME = "
                "'idx_created_at' AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = 'created_at_ms'",
                {}) == 1);

  // Age the key past IDEMPOTENCY_KEY_RETENTION_S (7 days) and add processed
  // events past DEDUPE_RETENTION_S (15 days) and inside it.
  f.db().exec("UPDATE idempotency_keys SET created_at_ms = ? WHERE user_id = ? AND idem_key = ?",
              {ticketing::now_unix_millis() - 8LL * 86400 * 1000, user, key});
  const auto old_event = ticketing::new_uuid();
  const auto kept_event = ticketing::new_uuid();
  f.db().exec(
      "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES "
      "('payment-api', ?, NOW(3) - INTERVAL 16 DAY), ('payment-api', ?, NOW(3) - INTERVAL 14 DAY)",
      {old_event, kept_event});
  auto gone = [&] {
    return f.count("SELECT COUNT(*) FROM idempotency_keys WHERE user_id = ?", {user}) == 0 &&
           f.count("SELECT COUNT(*) FROM processed_events WHERE event_id = ?", {old_event}) == 0;
  };
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!gone() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(100ms);
  INFO(f.log());
  REQUIRE(gone());
  CHECK(f.count("SELECT COUNT(*) FROM processed_events WHERE event_id = ?", {kept_event}) == 1);

  // The key is no longer known: the same request is applied again.
  auto again = f.send("POST", "/v1/points/charge", f.token(user), R"({"amount":100})", h);
  CHECK(again.status == 200);
  f.charged(user, 100);
  CHECK(f.balance(user) == 200);
}

TEST_CASE("a dedupe retention below one day is refused at start, naming the variable") {
  std::map<std::string, std::string> env = {
      {"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
      {"MYSQL_URL", tt::mysql_url()},
      {"MYSQL_DATABASE", tt::unique_name("payment_badcfg")},
      {"TOKEN_SECRET", "payment-api-bad-config-secret-0123456789"},
      {"HTTP_PORT", std::to_string(tt::free_port())},
      {"ADMIN_PORT", std::to_string(tt::free_port())},
      {"DEDUPE_RETENTION_S", "3600"},
      {"IDEMPOTENCY_KEY_RETENTION_S", "600"}};
  auto log = tt::build_path("services/payment-api/blackbox-badcfg.log");
  std::filesystem::remove(log);
  tt::ChildProcess proc(tt::build_path("services/payment-api/payment-api"), {}, env, log);
  auto code = proc.wait(15s);
  INFO(proc.log());
  REQUIRE(code);
  CHECK(*code != 0);
  CHECK(proc.log().find("DEDUPE_RETENTION_S") != std::string::npos);
  CHECK(proc.log().find("IDEMPOTENCY_KEY_RETENTION_S") != std::string::npos);
}
