#pragma once
// Black-box harness: reservation-api as a child process on its own database,
// Redis key prefix and consumer group, driven over HTTP and Kafka.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "ticketing/db/connection.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/testing/process.hpp"

namespace rt {

using Response = ticketing::http::ClientResponse;

class Service {
 public:
  // Seeds the demo catalogue (via `reservation-api seed`), starts the
  // service and waits until it is ready. `env` overrides the defaults.
  explicit Service(const std::string& name, std::map<std::string, std::string> env = {});
  // A second instance on the same database, Redis prefix and consumer group
  // (as behind a load balancer); it leaves the data to `primary`.
  Service(const Service& primary, std::map<std::string, std::string> env);
  ~Service();

  using Headers = std::vector<std::pair<std::string, std::string>>;
  Response call(const std::string& method, const std::string& path, const std::string& body = {},
                const std::string& token = {}, const std::string& traceparent = {},
                const Headers& headers = {}) const;
  // POST /v1/queue/tokens with an ID token of `user_id` from the stack's
  // development identity provider; the answer.
  Response enter(std::int64_t user_id, const std::string& body = {},
                 const Headers& headers = {}) const;
  // enter(); the queue token string.
  std::string token(std::int64_t user_id) const;

  ticketing::db::Connection& db() { return *db_; }
  [[nodiscard]] const std::string& prefix() const { return prefix_; }
  [[nodiscard]] const std::string& database() const { return database_; }
  std::int64_t redis_int(const std::vector<std::string>& command) const;
  [[nodiscard]] std::string log() const { return proc_->log(); }
  // The admin port's /metrics text.
  [[nodiscard]] std::string metrics() const;
  // A reservation id base unique to this run (ids never collide with other runs).
  [[nodiscard]] std::int64_t id_base() const { return id_base_; }

 private:
  std::string name_;
  std::string database_;
  std::string prefix_;
  std::int64_t id_base_;
  bool owner_ = true;
  void launch(std::map<std::string, std::string> env);
  unsigned short http_port_ = 0;
  unsigned short admin_port_ = 0;
  std::unique_ptr<ticketing::testing::ChildProcess> proc_;
  std::unique_ptr<ticketing::db::Connection> db_;
};

// An ID token of the stack's development identity provider.
std::string id_token(std::int64_t user_id);

// A second tools/dev-idp (its own signing key) that claims the stack's
// issuer and audience: what a forger with their own key would present.
class OtherIdp {
 public:
  OtherIdp();
  ~OtherIdp();
  OtherIdp(const OtherIdp&) = delete;
  OtherIdp& operator=(const OtherIdp&) = delete;
  std::string id_token(std::int64_t user_id) const;

 private:
  unsigned short port_;
  std::unique_ptr<ticketing::testing::ChildProcess> proc_;
};

rapidjson::Document json(const std::string& text);
// A user id unique to this run.
std::int64_t unique_user();
// A W3C trace id unique to the caller and its traceparent header.
std::string new_trace();
std::string traceparent(const std::string& trace_id);

// Records on `topics` whose envelope traceId is `trace_id`, read by a fresh
// consumer group from the earliest offset; polls until `count` arrived, then
// `linger` more (to catch duplicates), or until `timeout`.
std::vector<std::string> collect(const std::vector<std::string>& topics,
                                 const std::string& trace_id, std::size_t count,
                                 std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds linger = std::chrono::milliseconds(0));

// Publishes an envelope (validated) to its topic and waits for the ack.
void publish(const std::string& type, const std::string& data_json, const std::string& key,
             const std::string& trace_id, const std::string& event_id = {});

// Runs fn(i) for i in [0, n) on `threads` threads, started together.
void parallel(int n, int threads, const std::function<void(int)>& fn);

}  // namespace rt
