// Parking routes (long polls): the answer comes later from another thread,
// and a parked request holds no handler thread.

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "test_routes.hpp"
#include "ticketing/common/metrics.hpp"

using namespace ticketing::http;
using namespace ticketing::http::test;

namespace {

// Laters handed over by the /wait/{n} route, answered by the test.
struct Parked {
  std::mutex mu;
  std::vector<std::pair<std::string, Later>> laters;  // {n, later}

  std::size_t size() {
    std::lock_guard lk(mu);
    return laters.size();
  }
  bool wait_for(std::size_t n) {
    for (int i = 0; i < 300 && size() < n; ++i) std::this_thread::sleep_for(10ms);
    return size() >= n;
  }
};

Router parking_router(Parked& parked) {
  Router r = test_router();
  r.add("GET", "/wait/{n}",
        Parking{[&parked](const Request& req, const Later& later) -> std::optional<Response> {
          const auto& n = req.params.at("n");
          if (n == "now") return Response::json(200, R"({"now":true})");
          std::lock_guard lk(parked.mu);
          parked.laters.emplace_back(n, later);
          return std::nullopt;
        }});
  return r;
}

ServerOptions parking_options(std::string name) {
  ServerOptions o;
  o.name = std::move(name);
  o.threads = 1;  // fewer handler threads than parked requests
  o.io_threads = 2;
  o.read_timeout = 2s;
  o.idle_timeout = 5s;
  return o;
}

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("parking: answers come later from another thread and hold no handler thread") {
  Parked parked;
  auto server = std::make_unique<Server>(parking_options("parking"), parking_router(parked));
  server->start();

  std::vector<Fd> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(connect_local(server->port()));
    REQUIRE(send_all(conns.back().get(), get("/wait/" + std::to_string(i))));
  }
  REQUIRE(parked.wait_for(4));
  // One handler thread, four parked requests: the pool is still free.
  auto served = request_once(server->port(), get("/v1/items/7"));
  REQUIRE(served);
  CHECK(served->status == 200);
  auto now = request_once(server->port(), get("/wait/now"));
  REQUIRE(now);
  CHECK(now->body == R"({"now":true})");

  // Answered from this thread, in reverse order; each connection gets its own.
  {
    std::lock_guard lk(parked.mu);
    for (auto it = parked.laters.rbegin(); it != parked.laters.rend(); ++it) {
      CHECK_FALSE(it->second.done());
      it->second.answer(Response::json(200, R"({"n":")" + it->first + R"("})"));
      it->second.answer(Response::json(500, "{}"));  // a second answer is ignored
      CHECK(it->second.done());
    }
  }
  for (int i = 0; i < 4; ++i) {
    auto res = read_response(conns[static_cast<std::size_t>(i)].get(), 3s);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == R"({"n":")" + std::to_string(i) + R"("})");
  }
  // Keep-alive goes on after a parked answer.
  REQUIRE(send_all(conns[0].get(), get("/wait/now")));
  auto again = read_response(conns[0].get(), 3s);
  REQUIRE(again);
  CHECK(again->status == 200);

  auto text = ticketing::metrics::global().render();
  CHECK(has(
      text,
      R"(http_requests_total{method="GET",route="/wait/{n}",server="parking",status="200"} 6)"));
  CHECK(has(
      text,
      R"x(http_request_duration_seconds_count{route="/wait/{n} (parked)",server="parking"} 4)x"));
  CHECK(has(text, R"(http_request_duration_seconds_count{route="/wait/{n}",server="parking"} 2)"));
}

TEST_CASE("parking: an unanswered request gets 503 at the park limit; a late answer is dropped") {
  Parked parked;
  auto o = parking_options("parking-limit");
  o.park_limit = 300ms;
  Server server(o, parking_router(parked));
  server.start();
  auto fd = connect_local(server.port());
  auto t0 = Clock::now();
  REQUIRE(send_all(fd.get(), get("/wait/x")));
  auto res = read_response(fd.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(error_code(res->body) == "LONG_POLL_UNANSWERED");
  CHECK(seconds_since(t0) >= 0.25);
  REQUIRE(parked.size() == 1);
  std::lock_guard lk(parked.mu);
  CHECK(parked.laters[0].second.done());  // nobody listens any more
  parked.laters[0].second.answer(Response::json(200, "{}"));
  CHECK(wait_closed(fd.get(), 200ms) == PeerState::kOpen);  // nothing more was sent
}

TEST_CASE(
    "parking: stop answers parked requests with 503 SHUTTING_DOWN without waiting the grace") {
  Parked parked;
  auto server = std::make_unique<Server>(parking_options("parking-stop"), parking_router(parked));
  server->start();
  auto fd = connect_local(server->port());
  REQUIRE(send_all(fd.get(), get("/wait/y")));
  REQUIRE(parked.wait_for(1));
  auto t0 = Clock::now();
  std::thread stopper([&] { server->stop(5s); });
  auto res = read_response(fd.get(), 3s);
  stopper.join();
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(error_code(res->body) == "SHUTTING_DOWN");
  CHECK(res->headers["retry-after"] == "1");
  CHECK(seconds_since(t0) < 2.0);
  std::lock_guard lk(parked.mu);
  CHECK(parked.laters[0].second.done());
  parked.laters[0].second.answer(Response::json(200, "{}"));  // after stop: nothing happens
}

TEST_CASE("lanes: routes on a lane of their own are served while the shared pool is busy") {
  std::atomic<bool> release{false};
  std::atomic<int> in_lane{0};
  Router r = test_router();  // /slow blocks a shared handler thread for a while
  r.add(
      "GET", "/lane/block",
      [&](const Request&) {
        ++in_lane;
        for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(10ms);
        return Response::json(200, R"({"lane":"released"})");
      },
      Lane{"queue", 1});
  r.add(
      "GET", "/lane/quick", [](const Request&) { return Response::json(200, R"({"lane":true})"); },
      Lane{"other", 1});
  CHECK(r.lanes().at("queue") == 1);
  auto o = parking_options("lanes");
  o.threads = 1;
  Server server(o, std::move(r));
  server.start();

  // The lane's only thread is blocked: the shared pool still serves.
  auto blocked = connect_local(server.port());
  REQUIRE(send_all(blocked.get(), get("/lane/block")));
  for (int i = 0; i < 300 && in_lane == 0; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(in_lane == 1);
  auto shared = request_once(server.port(), get("/v1/items/3"));
  REQUIRE(shared);
  CHECK(shared->status == 200);
  // The shared pool's only thread is blocked: another lane still serves.
  auto slow = connect_local(server.port());
  REQUIRE(send_all(slow.get(), get("/slow")));
  std::this_thread::sleep_for(50ms);
  auto quick = request_once(server.port(), get("/lane/quick"));
  REQUIRE(quick);
  CHECK(quick->body == R"({"lane":true})");
  CHECK(read_response(slow.get(), 3s));
  release = true;
  auto res = read_response(blocked.get(), 3s);
  REQUIRE(res);
  CHECK(res->body == R"({"lane":"released"})");
}
