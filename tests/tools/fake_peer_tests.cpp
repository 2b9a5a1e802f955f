// The fake third-party peer behaves like the platform the relay and the
// notification worker will talk to: records requests, replays idempotent
// answers, fails on demand, and is really unreachable while "down".
#include <catch2/catch.hpp>

#include <thread>

#include "ticketing/common/error.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/testing/process.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;
using ticketing::http::Client;
using ticketing::http::ClientRequest;
using ticketing::http::ClientResponse;

namespace {

struct Peer {
  tt::FakePeerProcess peer{"tests/tools/fake-peer.log"};
  unsigned short port = peer.port();
  unsigned short control = peer.control_port();
  Client client;

  ClientResponse send(unsigned short p, const std::string& method, const std::string& path,
                      const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    ClientRequest r;
    r.method = method;
    r.url = "http://127.0.0.1:" + std::to_string(p) + path;
    r.body = body;
    r.headers = std::move(headers);
    r.headers.emplace_back("Content-Type", "application/json");
    return client.send(r);
  }
  ClientResponse get(const std::string& path) { return send(control, "GET", path, ""); }
  ClientResponse configure(const std::string& json) {
    return send(control, "POST", "/_control/config", json);
  }
  ClientResponse post(const std::string& path, const std::string& body,
                      const std::string& key = {}) {
    std::vector<std::pair<std::string, std::string>> h;
    if (!key.empty()) h.emplace_back("X-Idempotency-Key", key);
    return send(port, "POST", path, body, h);
  }
};

}  // namespace

TEST_CASE("fake-peer records requests and replays an idempotency key's first answer") {
  Peer p;
  auto first = p.post("/reservations", R"({"reservationId":1})", "reservation-1");
  CHECK(first.status == 200);
  auto again = p.post("/reservations", R"({"reservationId":1})", "reservation-1");
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(p.post("/reservations", R"({"reservationId":2})", "reservation-2").status == 200);

  auto stats = p.get("/_control/stats").body;
  CHECK(stats.find(R"("received":3)") != std::string::npos);
  CHECK(stats.find(R"("accepted":2)") != std::string::npos);
  CHECK(stats.find(R"("duplicates":1)") != std::string::npos);
  auto listed = p.get("/_control/requests?path=/reservations").body;
  CHECK(listed.find(R"("idempotencyKey":"reservation-2")") != std::string::npos);
  CHECK(listed.find(R"(\"reservationId\":2)") != std::string::npos);
}

TEST_CASE("fake-peer fails on demand, with Retry-After, and rejects chosen bodies") {
  Peer p;
  REQUIRE(p.configure(R"({"failBodyContains":"poison","failBodyStatus":400})").status == 200);
  CHECK(p.post("/reservations", R"({"note":"poison"})", "k1").status == 400);
  CHECK(p.post("/reservations", R"({"note":"fine"})", "k2").status == 200);
  // A failed first answer is not replayed: the retry is processed afresh.
  REQUIRE(p.configure(R"({"failBodyContains":""})").status == 200);
  CHECK(p.post("/reservations", R"({"note":"poison"})", "k1").status == 200);

  REQUIRE(
      p.configure(R"({"failurePercent":100,"failureStatus":429,"retryAfterSeconds":2})").status ==
      200);
  auto limited = p.post("/webhook", "{}");
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after").value_or("") == "2");
  CHECK(p.configure(R"({"failurePercent":101})").status == 400);

  // Exactly the next N requests fail, then it answers normally again.
  REQUIRE(p.configure(R"({"failurePercent":0,"failNext":2,"failureStatus":503})").status == 200);
  CHECK(p.post("/webhook", "{}").status == 503);
  CHECK(p.post("/webhook", "{}").status == 503);
  CHECK(p.post("/webhook", "{}").status == 200);
}

TEST_CASE("fake-peer 'down' refuses connections until it is up again") {
  Peer p;
  REQUIRE(p.configure(R"({"down":true})").status == 200);
  try {
    p.post("/reservations", "{}");
    FAIL("expected a connection error while down");
  } catch (const ticketing::HttpClientError& e) {
    CHECK(e.retryable());
  }
  REQUIRE(p.configure(R"({"down":false})").status == 200);
  CHECK(p.post("/reservations", "{}").status == 200);
}
