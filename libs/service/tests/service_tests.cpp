#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "ticketing/service/guard.hpp"
#include "ticketing/service/host.hpp"

using namespace ticketing;
using namespace std::chrono_literals;

namespace {

http::Request with_bearer(const std::string& token) {
  http::Request r;
  r.method = "GET";
  r.path = "/x";
  r.headers.emplace_back("authorization", "Bearer " + token);
  return r;
}

std::string code_of(const http::Response& r) {
  const auto at = r.body.find(R"("code":")");
  if (at == std::string::npos) return {};
  const auto start = at + 8;
  return r.body.substr(start, r.body.find('"', start) - start);
}

std::string header_of(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

// A host with no database, Redis or public port; Kafka is never reached.
service::HostConfig quiet_host() {
  service::HostConfig c;
  c.common.service = "service-tests";
  c.common.admin_host = "127.0.0.1";
  c.common.kafka_bootstrap = "127.0.0.1:1";
  return c;
}

template <typename Pred>
bool eventually(std::chrono::milliseconds limit, Pred pred) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("ready gate: 503 SERVICE_STARTING with Retry-After until opened, then the route") {
  service::ReadyGate gate;
  int calls = 0;
  auto handler = gate.guard([&calls](const http::Request&) {
    ++calls;
    return http::Response::json(200, "{}");
  });
  auto refused = handler(http::Request{});
  CHECK(refused.status == 503);
  CHECK(code_of(refused) == "SERVICE_STARTING");
  CHECK(header_of(refused, "Retry-After") == "1");
  CHECK(calls == 0);
  REQUIRE(gate.refusal());
  gate.open();
  CHECK_FALSE(gate.refusal());
  CHECK(handler(http::Request{}).status == 200);
  CHECK(calls == 1);
}

TEST_CASE("gated(): the check's answer first, then the gate's 503, then the route with the value") {
  service::ReadyGate gate;
  int acted = 0;
  auto handler = gate.gated(
      [](const http::Request& req) -> service::Checked<std::string> {
        if (!req.header("authorization")) {
          return http::Response::error(401, "UNAUTHORIZED", "who are you");
        }
        return std::string(*req.header("authorization"));
      },
      [&acted](const http::Request&, const std::string& who) {
        ++acted;
        return http::Response::json(200, who);
      });
  // Closed: a caller who must put the request right is told so; one who
  // passes the check is told to retry.
  CHECK(handler(http::Request{}).status == 401);
  auto refused = handler(with_bearer("t"));
  CHECK(refused.status == 503);
  CHECK(code_of(refused) == "SERVICE_STARTING");
  CHECK(acted == 0);
  gate.open();
  CHECK(handler(http::Request{}).status == 401);
  auto ok = handler(with_bearer("t"));
  CHECK(ok.status == 200);
  CHECK(ok.body == "Bearer t");
  CHECK(acted == 1);
}

TEST_CASE("with(): the route runs only with the checked value") {
  int calls = 0;
  auto route = [&calls](int v) {
    ++calls;
    return http::Response::json(200, std::to_string(v));
  };
  service::Checked<int> refused = http::Response::error(401, "UNAUTHORIZED", "no");
  CHECK(service::with(std::move(refused), route).status == 401);
  CHECK(calls == 0);
  CHECK(service::with(service::Checked<int>{7}, route).body == "7");
  CHECK(calls == 1);
}

TEST_CASE("queue token auth: missing, forged, expired and valid tokens; valid ones remembered") {
  auth::TokenSigner signer("service-tests-secret-0123456789abcdef", std::chrono::seconds(60));
  service::QueueTokenAuth tokens(signer, std::chrono::seconds(60));
  using F = service::AuthFailure;
  auto failure = [&](const http::Request& r) {
    auto v = tokens.authenticate(r);
    return std::holds_alternative<F>(v) ? std::get<F>(v) : static_cast<F>(-1);
  };
  CHECK(failure(http::Request{}) == F::kMissing);
  auth::TokenSigner forger("another-secret-0123456789abcdef0123", std::chrono::seconds(60));
  CHECK(failure(with_bearer(forger.issue(5))) == F::kInvalid);
  CHECK(failure(with_bearer("garbage")) == F::kInvalid);
  auth::TokenClaims old{"3c7a1a4e-0000-4000-8000-000000000001", 5,
                        static_cast<std::int64_t>(std::time(nullptr)) - 3600};
  CHECK(failure(with_bearer(signer.sign(old))) == F::kExpired);

  const auto token = signer.issue(42);
  CHECK_FALSE(tokens.known(token));  // not verified yet
  auto ok = tokens.authenticate(with_bearer(token));
  REQUIRE(std::holds_alternative<auth::TokenClaims>(ok));
  CHECK(std::get<auth::TokenClaims>(ok).user_id == 42);
  auto known = tokens.known(token);
  REQUIRE(known);
  CHECK(known->user_id == 42);
}

TEST_CASE("start-up sequence: migrations retried until they succeed, then start, then ready") {
  service::ServiceHost host(quiet_host());
  std::atomic<int> attempts{0};
  std::atomic<int> started{0};
  host.start_after_migrations(
      [&attempts] {
        if (++attempts < 2) throw std::runtime_error("database not up yet");
        return 3;
      },
      [&started] { ++started; });
  CHECK_FALSE(host.ready_gate().is_open());
  // The second attempt comes 2 s after the first.
  REQUIRE(eventually(10s, [&] { return host.ready_gate().is_open(); }));
  CHECK(attempts == 2);
  CHECK(started == 1);
  CHECK_THROWS_AS(host.start_after_migrations([] { return 0; }, [] {}), std::logic_error);
  host.stop_startup();
}

TEST_CASE("start-up sequence: stopping ends the wait between attempts at once; nothing starts") {
  service::ServiceHost host(quiet_host());
  std::atomic<int> attempts{0};
  std::atomic<int> started{0};
  host.start_after_migrations(
      [&attempts]() -> int {
        ++attempts;
        throw std::runtime_error("database down");
      },
      [&started] { ++started; });
  REQUIRE(eventually(5s, [&] { return attempts.load() >= 1; }));
  const auto before = std::chrono::steady_clock::now();
  host.stop_startup();
  CHECK(std::chrono::steady_clock::now() - before < 1500ms);  // not the 2 s wait
  CHECK(started == 0);
  CHECK_FALSE(host.ready_gate().is_open());
}

TEST_CASE("a host without a start-up sequence is ready once started") {
  service::ServiceHost host(quiet_host());
  CHECK_FALSE(host.ready_gate().is_open());
  host.start();
  CHECK(host.ready_gate().is_open());
  host.stop();
}
