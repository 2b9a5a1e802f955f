// fake-peer: a stand-in for the third parties we do not run (the external
// data platform, Discord, a generic webhook), as a real HTTP server for tests
// and the demo. Two ports:
//   data port     POST /reservations, POST /webhook, POST /api/webhooks/{id}/{token}
//                 records every request; answers per the current config; a
//                 repeated idempotency key (X-Idempotency-Key or
//                 Idempotency-Key) whose first answer was 2xx gets that same
//                 answer again and is counted as a duplicate, as a real
//                 platform would.
//   control port  GET  /_control/requests[?path=/reservations]  what was received
//                 GET  /_control/stats
//                 POST /_control/config {"status","latencyMs","failurePercent",
//                      "failureStatus","retryAfterSeconds","failBodyContains",
//                      "failBodyStatus","failNext","down"}   (fields optional)
//                 POST /_control/reset
// "down": the data port is closed (connection refused) until down=false.
//
//   fake-peer --port 18500 --control-port 18501
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/service/runtime.hpp"

using namespace ticketing;

namespace {

struct Config {
  int status = 200;
  int latency_ms = 0;
  int failure_percent = 0;
  int failure_status = 503;
  int retry_after_seconds = -1;    // -1: no Retry-After header
  std::string fail_body_contains;  // requests whose body contains this...
  int fail_body_status = 400;      // ...get this status
  int fail_next = 0;               // the next N requests fail with failure_status
  bool down = false;
};

struct Received {
  std::uint64_t seq = 0;
  std::string method;
  std::string path;
  std::string idempotency_key;
  std::string content_type;
  std::string traceparent;
  std::string body;
  int status = 0;
  bool duplicate = false;
  std::string received_at;
};

struct Answer {
  int status;
  std::string body;
};

class FakePeer {
 public:
  FakePeer(std::uint16_t port, std::uint16_t control_port)
      : port_(port), control_port_(control_port) {}

  void start() {
    start_data();
    http::Router control;
    control.add("GET", "/_control/requests",
                [this](const http::Request& r) { return requests(r); });
    control.add("GET", "/_control/stats", [this](const http::Request&) { return stats(); });
    control.add("POST", "/_control/config",
                [this](const http::Request& r) { return configure(r); });
    control.add("POST", "/_control/reset", [this](const http::Request&) { return reset(); });
    control.add("GET", "/health/live", [](const http::Request&) {
      return http::Response::json(200, R"({"status":"live"})");
    });
    http::ServerOptions o;
    o.port = control_port_;
    o.threads = 2;
    o.name = "control";
    control_ = std::make_unique<http::Server>(o, std::move(control));
    control_->start();
    std::printf("fake-peer data=http://127.0.0.1:%u control=http://127.0.0.1:%u\n", data_->port(),
                control_->port());
    std::fflush(stdout);
  }

  void stop() {
    std::lock_guard lock(server_mutex_);
    if (data_) data_->stop();
    if (control_) control_->stop();
  }

 private:
  void start_data() {
    http::Router data;
    auto h = [this](const http::Request& r) { return receive(r); };
    data.add("POST", "/reservations", h);
    data.add("POST", "/webhook", h);
    data.add("POST", "/api/webhooks/{id}/{token}", h);
    http::ServerOptions o;
    o.port = port_;
    o.threads = 8;
    o.max_body_bytes = 1024 * 1024;
    o.name = "data";
    data_ = std::make_unique<http::Server>(o, std::move(data));
    data_->start();
    port_ = data_->port();  // keep the same port across down/up
  }

  http::Response receive(const http::Request& r) {
    Config cfg;
    Received rec;
    rec.method = r.method;
    rec.path = r.path;
    rec.body = r.body;
    rec.received_at = now_rfc3339();
    auto key = r.header("x-idempotency-key");
    if (!key) key = r.header("idempotency-key");
    if (key) rec.idempotency_key = std::string(*key);
    rec.content_type = std::string(r.header("content-type").value_or(""));
    rec.traceparent = std::string(r.header("traceparent").value_or(""));
    std::optional<Answer> replay;
    bool fail_this = false;
    {
      std::lock_guard lock(mutex_);
      cfg = config_;
      rec.seq = ++seq_;
      if (config_.fail_next > 0) {
        --config_.fail_next;
        fail_this = true;
      }
      if (!rec.idempotency_key.empty()) {
        auto it = answers_.find(rec.idempotency_key);
        if (it != answers_.end()) replay = it->second;
      }
    }
    if (cfg.latency_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(cfg.latency_ms));

    http::Response resp;
    if (replay) {
      rec.duplicate = true;
      resp = http::Response::json(replay->status, replay->body);
    } else if (!cfg.fail_body_contains.empty() &&
               r.body.find(cfg.fail_body_contains) != std::string::npos) {
      resp = http::Response::error(cfg.fail_body_status, "REJECTED",
                                   "the fake rejects this body on purpose");
    } else if (fail_this || (cfg.failure_percent > 0 && roll() < cfg.failure_percent)) {
      resp = http::Response::error(cfg.failure_status, "INJECTED_FAILURE",
                                   "failure injected by the fake");
      if (cfg.retry_after_seconds >= 0)
        resp.headers.emplace_back("Retry-After", std::to_string(cfg.retry_after_seconds));
    } else {
      ticketing::JsonWriter w;
      w.start_object()
          .key("accepted")
          .boolean(true)
          .key("seq")
          .unsigned_integer(rec.seq)
          .end_object();
      resp = http::Response::json(cfg.status, w.str());
      if (cfg.status == 429 && cfg.retry_after_seconds >= 0)
        resp.headers.emplace_back("Retry-After", std::to_string(cfg.retry_after_seconds));
    }
    rec.status = resp.status;
    std::lock_guard lock(mutex_);
    if (!rec.duplicate && !rec.idempotency_key.empty() && resp.status >= 200 && resp.status < 300)
      answers_.emplace(rec.idempotency_key, Answer{resp.status, resp.body});
    received_.push_back(std::move(rec));
    return resp;
  }

  int roll() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(rng_() % 100);
  }

  http::Response requests(const http::Request& r) {
    auto path = r.query_param("path");
    ticketing::JsonWriter w;
    w.start_object().key("requests").start_array();
    std::lock_guard lock(mutex_);
    for (const auto& rec : received_) {
      if (path && rec.path != *path) continue;
      w.start_object()
          .key("seq")
          .unsigned_integer(rec.seq)
          .key("method")
          .string(rec.method)
          .key("path")
          .string(rec.path)
          .key("idempotencyKey")
          .string(rec.idempotency_key)
          .key("contentType")
          .string(rec.content_type)
          .key("traceparent")
          .string(rec.traceparent)
          .key("body")
          .string(rec.body)
          .key("status")
          .integer(rec.status)
          .key("duplicate")
          .boolean(rec.duplicate)
          .key("receivedAt")
          .string(rec.received_at)
          .end_object();
    }
    w.end_array().end_object();
    return http::Response::json(200, w.str());
  }

  http::Response stats() {
    std::lock_guard lock(mutex_);
    std::uint64_t ok = 0, dup = 0, failed = 0;
    for (const auto& rec : received_) {
      if (rec.duplicate)
        ++dup;
      else if (rec.status >= 200 && rec.status < 300)
        ++ok;
      else
        ++failed;
    }
    ticketing::JsonWriter w;
    w.start_object()
        .key("received")
        .unsigned_integer(received_.size())
        .key("accepted")
        .unsigned_integer(ok)
        .key("duplicates")
        .unsigned_integer(dup)
        .key("failed")
        .unsigned_integer(failed)
        .key("distinctKeys")
        .unsigned_integer(answers_.size())
        .key("down")
        .boolean(config_.down)
        .end_object();
    return http::Response::json(200, w.str());
  }

  http::Response configure(const http::Request& r) {
    auto parsed = http::JsonBody::parse(r);
    if (auto* err = std::get_if<http::Response>(&parsed)) return *err;
    auto& body = std::get<http::JsonBody>(parsed);
    Config next;
    {
      std::lock_guard lock(mutex_);
      next = config_;
    }
    auto read_int = [&](const char* field, int& out, int min, int max) {
      if (body.has(field))
        if (auto v = body.int64(field, min, max)) out = static_cast<int>(*v);
    };
    read_int("status", next.status, 100, 599);
    read_int("latencyMs", next.latency_ms, 0, 60000);
    read_int("failurePercent", next.failure_percent, 0, 100);
    read_int("failureStatus", next.failure_status, 100, 599);
    read_int("retryAfterSeconds", next.retry_after_seconds, -1, 3600);
    read_int("failBodyStatus", next.fail_body_status, 100, 599);
    read_int("failNext", next.fail_next, 0, 1000000);
    if (body.has("failBodyContains"))
      if (auto v = body.string("failBodyContains", 1000)) next.fail_body_contains = *v;
    bool was_down = false;
    if (body.has("down"))
      if (auto v = body.boolean("down")) next.down = *v;
    if (auto err = body.error()) return *err;
    {
      std::lock_guard lock(mutex_);
      was_down = config_.down;
      config_ = next;
    }
    if (next.down != was_down) {
      std::lock_guard lock(server_mutex_);
      if (next.down) {
        data_->stop(std::chrono::milliseconds(500));
        data_.reset();
      } else {
        start_data();
      }
    }
    return stats();
  }

  http::Response reset() {
    {
      std::lock_guard lock(mutex_);
      received_.clear();
      answers_.clear();
      seq_ = 0;
    }
    return stats();
  }

  std::uint16_t port_;
  std::uint16_t control_port_;
  std::mutex server_mutex_;
  std::unique_ptr<http::Server> data_;
  std::unique_ptr<http::Server> control_;

  std::mutex mutex_;  // guards everything below
  Config config_;
  std::uint64_t seq_ = 0;
  std::vector<Received> received_;
  std::map<std::string, Answer> answers_;
  std::mt19937 rng_{std::random_device{}()};
};

std::uint16_t arg_port(int argc, char** argv, const std::string& name, std::uint16_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) {
      long v = std::strtol(argv[i + 1], nullptr, 10);
      if (v < 0 || v > 65535) {
        std::fprintf(stderr, "fake-peer: %s must be a port\n", name.c_str());
        std::exit(2);
      }
      return static_cast<std::uint16_t>(v);
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  service::block_shutdown_signals();
  return service::guarded_main("fake-peer", [&] {
    FakePeer peer(arg_port(argc, argv, "--port", 18500),
                  arg_port(argc, argv, "--control-port", 18501));
    peer.start();
    service::wait_for_shutdown_signal();
    peer.stop();
    return 0;
  });
}
