#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <future>

#include "test_routes.hpp"
#include "ticketing/common/metrics.hpp"

using namespace ticketing::http;
using namespace ticketing::http::test;

namespace {

ServerOptions options(std::string name) {
  ServerOptions o;
  o.name = std::move(name);
  o.threads = 2;
  o.io_threads = 2;  // exercises the per-connection strands; the client tests use the default 1
  o.read_timeout = 2s;
  o.idle_timeout = 2s;
  return o;
}

std::unique_ptr<Server> start(ServerOptions o, Router r = test_router()) {
  auto s = std::make_unique<Server>(std::move(o), std::move(r));
  s->start();
  REQUIRE(s->port() != 0);
  return s;
}

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

void expect_served(std::uint16_t port) {
  auto res = request_once(port, get("/fast"));
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "fast");
}

}  // namespace

TEST_CASE("server answers several requests on one keep-alive connection") {
  auto server = start(options("keepalive"));
  auto fd = connect_local(server->port());
  REQUIRE(fd.valid());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(send_all(fd.get(),
                     get("/v1/items/" + std::to_string(i) + "?q=a%20b+c", "X-Test: hello\r\n")));
    auto res = read_response(fd.get(), 3s);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == R"({"id":")" + std::to_string(i) +
                           R"(","q":"a b c","test":"hello","remote":"127.0.0.1"})");
    CHECK(res->headers["content-type"] == "application/json");
    CHECK(res->headers["server"] == "keepalive");
    CHECK(res->headers["date"].size() == 29);  // "Sun, 06 Nov 1994 08:49:37 GMT"
    CHECK(has(res->headers["date"], " GMT"));
    CHECK(res->headers.count("connection") == 0);  // HTTP/1.1 default keep-alive
  }
  REQUIRE(send_all(fd.get(), post_json("/v1/echo", R"({"x":1})")));
  auto res = read_response(fd.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->body == R"({"x":1})");
  CHECK(res->headers["x-body-size"] == "7");
  CHECK(wait_closed(fd.get(), 100ms) == PeerState::kOpen);
}

TEST_CASE("server answers pipelined requests in order") {
  auto server = start(options("pipeline"));
  auto fd = connect_local(server->port());
  REQUIRE(send_all(fd.get(), get("/v1/items/1") + get("/fast") + get("/v1/items/2")));
  std::string carry;
  auto a = read_response(fd.get(), 3s, &carry);
  auto b = read_response(fd.get(), 3s, &carry);
  auto c = read_response(fd.get(), 3s, &carry);
  REQUIRE((a && b && c));
  CHECK(has(a->body, R"("id":"1")"));
  CHECK(b->body == "fast");
  CHECK(has(c->body, R"("id":"2")"));
}

TEST_CASE("server: unknown path is 404, wrong method is 405 with Allow") {
  auto server = start(options("routing"));
  auto res = request_once(server->port(), get("/nope"));
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(error_code(res->body) == "NOT_FOUND");

  res = request_once(server->port(), "DELETE /v1/echo HTTP/1.1\r\nHost: t\r\n\r\n");
  REQUIRE(res);
  CHECK(res->status == 405);
  CHECK(error_code(res->body) == "METHOD_NOT_ALLOWED");
  CHECK(res->headers["allow"] == "POST");
}

TEST_CASE("server: body over the limit is 413 and the connection closes") {
  auto server = start(options("body-limit"));
  auto fd = connect_local(server->port());
  const std::string body(1024 * 1024, 'x');
  // The client keeps sending its whole body while the server answers early.
  auto sender = std::async(std::launch::async, [&] {
    return send_all(fd.get(),
                    "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Content-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  auto res = read_response(fd.get(), 5s);
  REQUIRE(res);
  CHECK(res->status == 413);
  CHECK(error_code(res->body) == "PAYLOAD_TOO_LARGE");
  CHECK(res->headers["connection"] == "close");
  CHECK(wait_closed(fd.get(), 3s) == PeerState::kClosed);
  sender.wait();
  expect_served(server->port());
}

TEST_CASE("server: chunked body growing over the limit is 413") {
  auto server = start(options("chunked-limit"));
  auto fd = connect_local(server->port());
  REQUIRE(send_all(fd.get(),
                   "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk(16 * 1024, 'c');
  std::string framed = "4000\r\n" + chunk + "\r\n";
  auto sender = std::async(std::launch::async, [&] {
    for (int i = 0; i < 8; ++i) {  // 128 KiB in 16 KiB chunks, limit 64 KiB
      if (!send_all(fd.get(), framed)) return false;
    }
    return send_all(fd.get(), "0\r\n\r\n");
  });
  auto res = read_response(fd.get(), 5s);
  REQUIRE(res);
  CHECK(res->status == 413);
  CHECK(error_code(res->body) == "PAYLOAD_TOO_LARGE");
  CHECK(wait_closed(fd.get(), 3s) == PeerState::kClosed);
  sender.wait();

  // A chunked body within the limit is accepted.
  auto ok = request_once(server->port(),
                         "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  REQUIRE(ok);
  CHECK(ok->status == 201);
  CHECK(ok->body == "hello world");
}

TEST_CASE("server: huge header is 431 and the server keeps serving") {
  auto server = start(options("header-limit"));
  auto fd = connect_local(server->port());
  auto sender = std::async(std::launch::async, [&] {
    return send_all(fd.get(), get("/fast", "X-Big: " + std::string(64 * 1024, 'h') + "\r\n"));
  });
  auto res = read_response(fd.get(), 5s);
  REQUIRE(res);
  CHECK(res->status == 431);
  CHECK(error_code(res->body) == "HEADERS_TOO_LARGE");
  CHECK(wait_closed(fd.get(), 3s) == PeerState::kClosed);
  sender.wait();
  expect_served(server->port());
}

TEST_CASE("server: garbage instead of HTTP is 400 and the connection closes") {
  auto server = start(options("garbage"));
  for (std::string garbage :
       {std::string("this is not http\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\r\n\r\n", 10),
        std::string("GET /fast HTTP/1.1\r\nBad Header\r\n\r\n"),
        std::string("POST /v1/echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n")}) {
    INFO(garbage);
    auto fd = connect_local(server->port());
    REQUIRE(send_all(fd.get(), garbage));
    auto res = read_response(fd.get(), 3s);
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(error_code(res->body) == "BAD_REQUEST");
    CHECK(wait_closed(fd.get(), 3s) == PeerState::kClosed);
  }
  expect_served(server->port());
}

TEST_CASE("server: a stalled request is cut off at read_timeout while others are served") {
  auto o = options("slowloris");
  o.read_timeout = 300ms;
  auto server = start(o);

  auto t0 = Clock::now();
  auto stalled = connect_local(server->port());
  REQUIRE(send_all(stalled.get(),
                   "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf"));
  for (int i = 0; i < 3; ++i) expect_served(server->port());
  CHECK(wait_closed(stalled.get(), 3s) == PeerState::kClosed);
  double took = seconds_since(t0);
  CHECK(took >= 0.25);
  CHECK(took < 1.0);

  // A client trickling one byte every 50 ms does not extend the deadline.
  auto trickle = connect_local(server->port());
  std::string request = get("/fast", "X-Pad: " + std::string(200, 'p') + "\r\n");
  t0 = Clock::now();
  bool closed = false;
  for (char c : request) {
    if (!send_all(trickle.get(), std::string_view(&c, 1)) ||
        wait_closed(trickle.get(), 50ms) == PeerState::kClosed) {
      closed = true;
      break;
    }
  }
  took = seconds_since(t0);
  CHECK(closed);
  CHECK(took >= 0.25);
  CHECK(took < 1.0);

  // Connecting and saying nothing is also cut off at read_timeout.
  auto silent = connect_local(server->port());
  t0 = Clock::now();
  CHECK(wait_closed(silent.get(), 3s) == PeerState::kClosed);
  CHECK(seconds_since(t0) < 1.0);
}

TEST_CASE("server closes idle keep-alive connections after idle_timeout") {
  auto o = options("idle");
  o.idle_timeout = 300ms;
  auto server = start(o);
  auto fd = connect_local(server->port());
  REQUIRE(send_all(fd.get(), get("/fast")));
  REQUIRE(read_response(fd.get(), 3s));
  auto t0 = Clock::now();
  CHECK(wait_closed(fd.get(), 3s) == PeerState::kClosed);
  CHECK(seconds_since(t0) >= 0.25);
  CHECK(seconds_since(t0) < 1.5);
}

TEST_CASE("server: HTTP/1.0 and Connection: close end the connection after the response") {
  auto server = start(options("close"));
  for (std::string req :
       {std::string("GET /fast HTTP/1.0\r\n\r\n"), get("/fast", "Connection: close\r\n")}) {
    auto fd = connect_local(server->port());
    REQUIRE(send_all(fd.get(), req));
    auto res = read_response(fd.get(), 3s);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(wait_closed(fd.get(), 2s) == PeerState::kClosed);
  }
}

TEST_CASE("server sends 100 Continue before reading an expected body") {
  auto server = start(options("continue"));
  auto fd = connect_local(server->port());
  REQUIRE(send_all(
      fd.get(),
      "POST /v1/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = read_until(fd.get(), "\r\n\r\n", 3s);
  CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(send_all(fd.get(), "hello"));
  auto res = read_response(fd.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->body == "hello");
}

TEST_CASE("server validates JSON bodies with clear 400s") {
  auto server = start(options("json"));
  auto port = server->port();

  auto res = request_once(
      port, post_json("/v1/reservations", R"({"scheduleId": 3, "seatNo": 7, "extra": [1]})"));
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->body == R"({"scheduleId":3,"seatNo":7})");

  res = request_once(port, post_json("/v1/reservations", R"({"scheduleId": 3, "seatNo": )"));
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(error_code(res->body) == "INVALID_JSON");

  res = request_once(port, post_json("/v1/reservations", R"([1, 2])"));
  REQUIRE(res);
  CHECK(error_code(res->body) == "INVALID_JSON");

  res = request_once(
      port, post_json("/v1/reservations",
                      R"({"scheduleId": "3", "seatNo": 51, "note": "far too long a note"})"));
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(error_code(res->body) == "VALIDATION_FAILED");
  CHECK(has(res->body, "scheduleId must be an integer"));
  CHECK(has(res->body, "seatNo must be between 1 and 50"));
  CHECK(has(res->body, "note must be at most 10 characters"));

  res = request_once(port, post_json("/v1/reservations", R"({"seatNo": 1e30})"));
  REQUIRE(res);
  CHECK(has(res->body, "scheduleId is required"));
  CHECK(has(res->body, "seatNo must be between 1 and 50"));

  res = request_once(port, post_json("/v1/reservations", R"({"scheduleId": 1, "seatNo": 5.0})"));
  REQUIRE(res);
  CHECK(has(res->body, "seatNo must be an integer"));
  CHECK_FALSE(has(res->body, "scheduleId"));

  res = request_once(port,
                     "POST /v1/reservations HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 2\r\n\r\n{}");
  REQUIRE(res);
  CHECK(res->status == 415);
  CHECK(error_code(res->body) == "UNSUPPORTED_MEDIA_TYPE");
}

TEST_CASE("server: a blocking handler does not delay other connections") {
  auto server = start(options("blocking"));
  auto slow = connect_local(server->port());
  auto t0 = Clock::now();
  REQUIRE(send_all(slow.get(), get("/slow")));
  std::this_thread::sleep_for(50ms);  // the slow handler is running now
  auto t1 = Clock::now();
  expect_served(server->port());
  expect_served(server->port());
  CHECK(seconds_since(t1) < 0.25);
  auto res = read_response(slow.get(), 3s);
  REQUIRE(res);
  CHECK(res->body == "slow");
  CHECK(seconds_since(t0) >= 0.45);
}

TEST_CASE("server maps handler exceptions to 503 and 500 and survives") {
  auto server = start(options("exceptions"));
  auto fd = connect_local(server->port());
  REQUIRE(send_all(fd.get(), get("/infra")));
  auto res = read_response(fd.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(error_code(res->body) == "DEPENDENCY_UNAVAILABLE");
  CHECK(res->headers["retry-after"] == "1");
  CHECK_FALSE(has(res->body, "connection refused"));  // internals stay in the log

  REQUIRE(send_all(fd.get(), get("/boom")));  // same connection stays usable
  res = read_response(fd.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 500);
  CHECK(error_code(res->body) == "INTERNAL");
  CHECK_FALSE(has(res->body, "bug in handler"));
  expect_served(server->port());
}

TEST_CASE("server passes handler statuses and drops injected headers") {
  auto server = start(options("status"));
  auto res = request_once(server->port(), get("/status/409"));
  REQUIRE(res);
  CHECK(res->status == 409);
  CHECK(res->headers["x-custom"] == "yes");
  CHECK(res->headers.count("x-bad") == 0);
  CHECK(res->headers.count("injected") == 0);

  res = request_once(server->port(), get("/status/204"));
  REQUIRE(res);
  CHECK(res->status == 204);
  CHECK(res->body.empty());

  res = request_once(server->port(), get("/status/42"));  // nonsense status from a handler
  REQUIRE(res);
  CHECK(res->status == 500);
}

TEST_CASE("server refuses connections over max_connections with 503") {
  auto o = options("max-conn");
  o.max_connections = 2;
  auto server = start(o);
  auto a = connect_local(server->port());
  auto b = connect_local(server->port());
  for (auto* fd : {&a, &b}) {  // both are sessions once they were served
    REQUIRE(send_all(fd->get(), get("/fast")));
    REQUIRE(read_response(fd->get(), 3s));
  }
  auto c = connect_local(server->port());
  REQUIRE(c.valid());
  send_all(c.get(), get("/fast"));
  auto res = read_response(c.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 503);
  CHECK(error_code(res->body) == "TOO_MANY_CONNECTIONS");
  CHECK(wait_closed(c.get(), 3s) == PeerState::kClosed);

  a.reset();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {  // the server notices the close asynchronously
    auto r = request_once(server->port(), get("/fast"));
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  CHECK(served);
}

TEST_CASE("graceful stop lets in-flight requests finish and refuses new connections") {
  auto server = start(options("graceful"));
  auto port = server->port();

  auto idle = connect_local(port);  // keep-alive connection between requests
  REQUIRE(send_all(idle.get(), get("/fast")));
  REQUIRE(read_response(idle.get(), 3s));

  auto busy = connect_local(port);
  REQUIRE(send_all(busy.get(), get("/slow")));
  std::this_thread::sleep_for(100ms);

  auto t0 = Clock::now();
  auto stopping = std::async(std::launch::async, [&] { server->stop(5s); });
  CHECK(wait_closed(idle.get(), 300ms) == PeerState::kClosed);  // idle one closed at once
  auto res = read_response(busy.get(), 3s);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "slow");
  CHECK(res->headers["connection"] == "close");
  stopping.wait();
  CHECK(seconds_since(t0) < 2.0);
  CHECK_FALSE(connect_local(port).valid());
  server->stop();  // idempotent
}

TEST_CASE("stop after the grace period closes connections whose handlers are still running") {
  auto server = start(options("grace-expired"));
  auto busy = connect_local(server->port());
  REQUIRE(send_all(busy.get(), get("/slow")));
  std::this_thread::sleep_for(100ms);
  auto t0 = Clock::now();
  server->stop(50ms);
  // stop() waited for the handler (it cannot be interrupted), but the
  // response was dropped: the client sees a close, not a 200.
  CHECK(seconds_since(t0) >= 0.3);
  CHECK_FALSE(read_response(busy.get(), 1s));
}

TEST_CASE("server start fails clearly when the port is taken") {
  auto first = start(options("first"));
  auto o = options("second");
  o.port = first->port();
  Server second(o, test_router());
  try {
    second.start();
    FAIL("start() should have thrown");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    CHECK(has(what, "cannot bind"));
    CHECK(has(what, std::to_string(first->port())));
  }
  expect_served(first->port());
}

TEST_CASE("server records metrics by route pattern, never by raw path") {
  auto server = start(options("metrics-test"));
  for (const char* path : {"/v1/items/123", "/v1/items/456", "/nope/789"}) {
    REQUIRE(request_once(server->port(), get(path)));
  }
  auto text = ticketing::metrics::global().render();
  CHECK(has(
      text,
      R"(http_requests_total{method="GET",route="/v1/items/{id}",server="metrics-test",status="200"} 2)"));
  CHECK(has(
      text,
      R"x(http_requests_total{method="GET",route="(unmatched)",server="metrics-test",status="404"} 1)x"));
  CHECK(has(
      text,
      R"(http_request_duration_seconds_count{route="/v1/items/{id}",server="metrics-test"} 2)"));
  CHECK_FALSE(has(text, "/v1/items/123"));
  CHECK_FALSE(has(text, "/nope/789"));
}

TEST_CASE(
    "server: an InlineFirst route answers on the I/O thread while every handler thread is busy") {
  auto shared = std::make_shared<const std::string>(R"({"cached":true})");
  std::atomic<int> fallbacks{0};
  Router r = test_router();
  r.add("GET", "/cached/{mode}",
        InlineFirst{[shared](const Request& req) -> std::optional<Response> {
                      const auto& mode = req.params.at("mode");
                      if (mode == "infra") throw ticketing::DbError("down", true);
                      if (mode != "hit") return std::nullopt;
                      Response res;
                      res.shared_body = shared;
                      res.headers.emplace_back("X-Path", "inline");
                      return res;
                    },
                    [&fallbacks](const Request&) {
                      ++fallbacks;
                      return Response::json(200, R"({"cached":false})");
                    }});
  auto o = options("inline");
  o.threads = 1;  // one handler thread, blocked by /slow below
  auto server = start(o, std::move(r));

  auto hit = request_once(server->port(), get("/cached/hit"));
  REQUIRE(hit);
  CHECK(hit->status == 200);
  CHECK(hit->body == *shared);
  CHECK(hit->headers["content-length"] == std::to_string(shared->size()));
  CHECK(hit->headers["content-type"] == "application/json");
  CHECK(hit->headers["x-path"] == "inline");

  auto slow = connect_local(server->port());
  REQUIRE(send_all(slow.get(), get("/slow")));
  std::this_thread::sleep_for(50ms);  // the only handler thread is sleeping now
  auto t1 = Clock::now();
  for (int i = 0; i < 3; ++i) {
    auto again = request_once(server->port(), get("/cached/hit"));
    REQUIRE(again);
    CHECK(again->body == *shared);
  }
  CHECK(seconds_since(t1) < 0.25);
  CHECK(fallbacks == 0);
  // A miss waits for the handler thread, then the regular handler answers.
  auto miss = request_once(server->port(), get("/cached/miss"));
  REQUIRE(miss);
  CHECK(miss->body == R"({"cached":false})");
  CHECK(fallbacks == 1);
  auto res = read_response(slow.get(), 3s);
  REQUIRE(res);
  CHECK(res->body == "slow");
  // The fast path's exceptions are mapped like a handler's.
  auto infra = request_once(server->port(), get("/cached/infra"));
  REQUIRE(infra);
  CHECK(infra->status == 503);
  CHECK(error_code(infra->body) == "DEPENDENCY_UNAVAILABLE");
  CHECK(fallbacks == 1);
}
