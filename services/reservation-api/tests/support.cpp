#include "support.hpp"

#include <atomic>
#include <csignal>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "ticketing/common/ids.hpp"
#include "ticketing/db/migrate.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/redis/client.hpp"
#include "ticketing/testing/identity.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;

namespace {

// Every member of the process's consumer group holds its final assignment:
// as many "partitions assigned" lines after the last "partitions revoked" as
// members (the first assignment of three joining members is revoked at once,
// and a record published before the last one is skipped at "latest").
bool consumers_settled(const std::string& log, int members) {
  const auto revoked = log.rfind("\"msg\":\"partitions revoked\"");
  std::size_t at = revoked == std::string::npos ? 0 : revoked;
  int assigned = 0;
  while ((at = log.find("\"msg\":\"partitions assigned\"", at)) != std::string::npos) {
    ++assigned;
    ++at;
  }
  return assigned >= members;
}

}  // namespace

namespace rt {

namespace {
std::int64_t random_in(std::int64_t lo, std::int64_t hi) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex m;
  std::lock_guard lock(m);
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

std::map<std::string, std::string> base_env() {
  auto env = tt::id_token_env();
  env.insert({{"KAFKA_BOOTSTRAP_SERVERS", tt::kafka_bootstrap()},
              {"MYSQL_URL", tt::mysql_url()},
              {"REDIS_URL", tt::redis_url()},
              {"TOKEN_SECRET", "reservation-api-integration-test-secret"},
              // The harness is one client standing in for many users: per-client
              // limits are the rate limit test's business.
              {"RATE_LIMIT_TOKEN_CLIENT", "off"},
              {"RATE_LIMIT_STATUS_CLIENT", "off"},
              {"RATE_LIMIT_HOLD_CLIENT", "off"},
              {"LOG_LEVEL", "warn"}});
  return env;
}

ticketing::http::ClientResponse send(unsigned short port, const std::string& method,
                                     const std::string& path, const std::string& body,
                                     const std::string& token, const std::string& tp,
                                     const Service::Headers& headers = {}) {
  // One client: building one loads the TLS trust store, which costs more CPU than the request.
  static ticketing::http::Client client;
  ticketing::http::ClientRequest req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  req.body = body;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  if (!tp.empty()) req.headers.emplace_back("traceparent", tp);
  for (const auto& h : headers) req.headers.push_back(h);
  req.total_timeout = 20s;
  return client.send(req);
}
}  // namespace

Service::Service(const std::string& name, std::map<std::string, std::string> env) : name_(name) {
  database_ = tt::unique_name("rt_" + name);
  for (auto& c : database_) {
    if (c == '-' || c == '.') c = '_';
  }
  prefix_ = database_ + ":";
  auto full = base_env();
  full["MYSQL_DATABASE"] = database_;
  full["REDIS_PREFIX"] = prefix_;
  full["KAFKA_CONSUMER_GROUP"] = database_;
  full["IGNORE_UNKNOWN_RESERVATIONS"] = "true";
  // A fresh group starts at the end of the topics (the shared topics' history
  // is other runs' business) and the harness waits for its partitions.
  full["KAFKA_AUTO_OFFSET_RESET"] = "latest";
  full["LOG_LEVEL"] = "info";
  for (auto& [k, v] : env) full[k] = v;

  auto binary = tt::build_path("services/reservation-api/reservation-api");
  {
    tt::ChildProcess seed(binary, {"seed"}, full,
                          tt::build_path("services/reservation-api/" + database_ + "-seed.log"));
    auto code = seed.wait(60s);
    if (!code || *code != 0) throw std::runtime_error("seed failed: " + seed.log());
  }
  auto opts = ticketing::db::parse_url(tt::mysql_url());
  opts.database = database_;
  db_ = std::make_unique<ticketing::db::Connection>(opts);
  // Reservation ids unique to this run: events of other runs never match ours.
  id_base_ = random_in(1'000'000'000LL, 4'000'000'000'000LL);
  db_->exec_raw("ALTER TABLE reservations AUTO_INCREMENT = " + std::to_string(id_base_));

  launch(std::move(full));
}

Service::Service(const Service& primary, std::map<std::string, std::string> env)
    : name_(primary.name_),
      database_(primary.database_),
      prefix_(primary.prefix_),
      id_base_(primary.id_base_),
      owner_(false) {
  auto full = base_env();
  full["MYSQL_DATABASE"] = database_;
  full["REDIS_PREFIX"] = prefix_;
  full["KAFKA_CONSUMER_GROUP"] = database_;
  full["IGNORE_UNKNOWN_RESERVATIONS"] = "true";
  for (auto& [k, v] : env) full[k] = v;
  auto opts = ticketing::db::parse_url(tt::mysql_url());
  opts.database = database_;
  db_ = std::make_unique<ticketing::db::Connection>(opts);
  launch(std::move(full));
}

void Service::launch(std::map<std::string, std::string> full) {
  auto binary = tt::build_path("services/reservation-api/reservation-api");
  unsigned short admin = 0;
  auto spawn = [&] {
    admin = tt::free_port();
    http_port_ = tt::free_port();
    full["ADMIN_PORT"] = std::to_string(admin);
    admin_port_ = admin;
    full["HTTP_PORT"] = std::to_string(http_port_);
    proc_ = std::make_unique<tt::ChildProcess>(
        binary, std::vector<std::string>{}, full,
        tt::build_path("services/reservation-api/" + database_ + ".log"));
  };
  spawn();
  const int members = full.count("CONSUMER_THREADS") > 0 ? std::stoi(full["CONSUMER_THREADS"]) : 3;
  int rebinds = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    // free_port() only says a port was free a moment ago: a lost bind race
    // gets new ports (twice at most).
    if (!proc_->running() && rebinds < 2 &&
        proc_->log().find("Address already in use") != std::string::npos) {
      ++rebinds;
      spawn();
    }
    try {
      if (send(admin, "GET", "/health/ready", "", "", "").status == 200 &&
          (!owner_ || consumers_settled(proc_->log(), members))) {
        // "latest" is resolved when fetching starts, just after the assignment.
        if (owner_) std::this_thread::sleep_for(1s);
        return;
      }
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("reservation-api did not become ready: " + proc_->log());
}

std::string Service::metrics() const {
  auto r = send(admin_port_, "GET", "/metrics", "", "", "");
  if (r.status != 200) throw std::runtime_error("GET /metrics: " + std::to_string(r.status));
  return r.body;
}

Service::~Service() {
  if (proc_) {
    proc_->signal(SIGTERM);
    proc_->wait(15s);
  }
  if (!owner_) return;
  try {
    db_->exec_raw("DROP DATABASE IF EXISTS " + ticketing::db::quote_identifier(database_));
    ticketing::redis::Client redis(ticketing::redis::parse_url(tt::redis_url()));
    std::string cursor = "0";
    do {
      auto r = redis.command({"SCAN", cursor, "MATCH", prefix_ + "*", "COUNT", "1000"});
      cursor = r[0].as_string();
      std::vector<std::string> del{"DEL"};
      for (const auto& k : r[1].as_array()) del.push_back(k.as_string());
      if (del.size() > 1) redis.command(del);
    } while (cursor != "0");
  } catch (const std::exception&) {
  }
}

Response Service::call(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& token, const std::string& tp,
                       const Headers& headers) const {
  return send(http_port_, method, path, body, token, tp, headers);
}

Response Service::enter(std::int64_t user_id, const std::string& body,
                        const Headers& headers) const {
  return call("POST", "/v1/queue/tokens", body, tt::id_token(user_id), {}, headers);
}

std::string Service::token(std::int64_t user_id) const {
  auto r = enter(user_id);
  if (r.status != 201 && r.status != 200) throw std::runtime_error("token: " + r.body);
  return json(r.body)["token"].GetString();
}

std::int64_t Service::redis_int(const std::vector<std::string>& command) const {
  ticketing::redis::Client redis(ticketing::redis::parse_url(tt::redis_url()));
  return redis.command(command).as_integer();
}

std::string id_token(std::int64_t user_id) {
  return tt::id_token(user_id);
}

OtherIdp::OtherIdp() : port_(tt::free_port()) {
  proc_ = std::make_unique<tt::ChildProcess>(
      tt::build_path("tools/dev-idp/dev-idp"),
      std::vector<std::string>{"--port", std::to_string(port_), "--issuer", tt::idp_url(),
                               "--audience", tt::id_token_env()["ID_TOKEN_AUDIENCE"]},
      std::map<std::string, std::string>{},
      tt::build_path("services/reservation-api/other-idp.log"));
  for (int i = 0; i < 100 && !tt::port_open(port_); ++i) std::this_thread::sleep_for(50ms);
  if (!tt::port_open(port_))
    throw std::runtime_error("other dev-idp did not start: " + proc_->log());
}

OtherIdp::~OtherIdp() {
  proc_->signal(SIGTERM);
  proc_->wait(5s);
}

std::string OtherIdp::id_token(std::int64_t user_id) const {
  auto r =
      send(port_, "POST", "/v1/id-tokens", R"({"userId":)" + std::to_string(user_id) + "}", "", "");
  if (r.status != 200) throw std::runtime_error("other dev-idp: " + r.body);
  return json(r.body)["idToken"].GetString();
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  if (d.HasParseError()) throw std::runtime_error("not JSON: " + text);
  return d;
}

std::int64_t unique_user() {
  return random_in(1'000'000'000LL, 9'000'000'000'000LL);
}

std::string new_trace() {
  return ticketing::new_trace_id();
}
std::string traceparent(const std::string& trace_id) {
  return ticketing::events::make_traceparent(trace_id);
}

std::vector<std::string> collect(const std::vector<std::string>& topics,
                                 const std::string& trace_id, std::size_t count,
                                 std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds linger) {
  ticketing::events::ConsumerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.group_id = tt::unique_name("rt-collect");
  o.topics = topics;
  o.auto_offset_reset = "earliest";
  ticketing::events::Consumer consumer(o);
  std::vector<std::string> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<std::chrono::steady_clock::time_point> linger_until;
  while (std::chrono::steady_clock::now() < deadline) {
    if (linger_until && std::chrono::steady_clock::now() >= *linger_until) break;
    auto m = consumer.poll(200ms);
    if (!m) continue;
    if (m->value.find(trace_id) == std::string::npos) continue;
    try {
      auto env = ticketing::events::parse_envelope(m->value);
      if (env.trace_id != trace_id) continue;
    } catch (const std::exception&) {
      continue;
    }
    out.push_back(m->value);
    if (out.size() >= count && !linger_until)
      linger_until = std::chrono::steady_clock::now() + linger;
  }
  return out;
}

void publish(const std::string& type, const std::string& data_json, const std::string& key,
             const std::string& trace_id, const std::string& event_id) {
  static ticketing::events::Producer producer([] {
    ticketing::events::ProducerOptions o;
    o.bootstrap_servers = tt::kafka_bootstrap();
    o.client_id = "reservation-api-tests";
    return o;
  }());
  auto env = ticketing::events::Envelope::make(type, "payment-api", data_json, trace_id);
  if (!event_id.empty()) env.event_id = event_id;
  auto report = producer.produce(ticketing::events::make_event_record(env, key)).get();
  if (!report.ok) throw std::runtime_error("publish failed: " + report.error);
}

void parallel(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::atomic<int> waiting{threads};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      waiting.fetch_sub(1);
      while (waiting.load() > 0) std::this_thread::yield();
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace rt
