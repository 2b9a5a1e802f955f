#include <catch2/catch.hpp>

#include "test_routes.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/http/client.hpp"

using namespace ticketing::http;
using namespace ticketing::http::test;

namespace {

struct ClientFixture {
  ClientFixture() {
    ServerOptions o;
    o.name = "client-test";
    o.threads = 2;
    server = std::make_unique<Server>(o, test_router());
    server->start();
  }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + std::string(path);
  }
  std::unique_ptr<Server> server;
};

// Runs send() expecting HttpClientError; returns it.
ticketing::HttpClientError expect_error(Client& client, const ClientRequest& req) {
  try {
    client.send(req);
  } catch (const ticketing::HttpClientError& e) {
    return e;
  }
  FAIL("send() should have thrown HttpClientError");
  throw std::logic_error("unreachable");
}

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE_METHOD(ClientFixture, "client GET and POST round trip with headers and statuses") {
  Client client;
  ClientRequest get;
  get.method = "GET";
  get.url = url("/v1/items/9?q=x%20y");
  get.headers = {{"X-Test", "from-client"}};
  auto res = client.send(get);
  CHECK(res.status == 200);
  CHECK(res.body == R"({"id":"9","q":"x y","test":"from-client","remote":"127.0.0.1"})");
  CHECK(res.header("Content-Type") == std::optional<std::string>("application/json"));
  CHECK(res.header("server") == std::optional<std::string>("client-test"));

  ClientRequest post;
  post.url = url("/v1/echo");
  post.headers = {{"Content-Type", "application/x-test"}};
  post.body = std::string(100 * 1024 / 2, 'p');  // within the server's 64 KiB limit
  res = client.send(post);
  CHECK(res.status == 201);
  CHECK(res.body == post.body);
  CHECK(res.header("x-body-size") == std::optional<std::string>(std::to_string(post.body.size())));
  CHECK(res.header("content-type") == std::optional<std::string>("application/x-test"));

  for (int status : {204, 404, 409, 500, 503}) {
    ClientRequest s;
    s.method = "GET";
    s.url = url("/status/" + std::to_string(status));
    res = client.send(s);
    CHECK(res.status == status);
    CHECK(res.header("x-custom") == std::optional<std::string>("yes"));
  }

  post.body = std::string(200 * 1024, 'p');  // over the server limit: a 413 is returned, not thrown
  res = client.send(post);
  CHECK(res.status == 413);
}

TEST_CASE("client: connection refused is a retryable error") {
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/hook";
  auto t0 = Clock::now();
  auto e = expect_error(client, req);
  CHECK(e.retryable());
  CHECK(has(e.what(), "cannot connect"));
  CHECK(seconds_since(t0) < 1.0);
}

TEST_CASE("client: a server that never answers times out within total_timeout") {
  std::uint16_t port = 0;
  auto listener = listen_local(port);  // the kernel completes the handshake; nobody reads
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  req.total_timeout = 300ms;
  auto t0 = Clock::now();
  auto e = expect_error(client, req);
  double took = seconds_since(t0);
  CHECK(e.retryable());
  CHECK(has(e.what(), "timed out"));
  CHECK(took >= 0.25);
  CHECK(took < 1.0);
}

TEST_CASE_METHOD(ClientFixture, "client: a response over max_response_bytes is not retryable") {
  ClientOptions o;
  o.max_response_bytes = 1024 * 1024;
  Client client(o);
  ClientRequest req;
  req.method = "GET";
  req.url = url("/big");
  auto e = expect_error(client, req);
  CHECK_FALSE(e.retryable());
  CHECK(has(e.what(), "exceeds"));

  o.max_response_bytes = 4 * 1024 * 1024;
  Client roomy(o);
  CHECK(roomy.send(req).body.size() == 2 * 1024 * 1024);
}

TEST_CASE("client: malformed URL, method or header is not retryable") {
  Client client;
  for (const char* url :
       {"ftp://127.0.0.1/", "http://", "http://127.0.0.1:0/", "127.0.0.1/x", "http://h/a b"}) {
    INFO(url);
    ClientRequest req;
    req.url = url;
    auto e = expect_error(client, req);
    CHECK_FALSE(e.retryable());
  }
  ClientRequest req;
  req.url = "http://127.0.0.1:1/";
  req.method = "GE T";
  CHECK_FALSE(expect_error(client, req).retryable());
  req.method = "POST";
  req.headers = {{"X-Evil", "a\r\nInjected: 1"}};
  CHECK_FALSE(expect_error(client, req).retryable());
}

TEST_CASE("client sends Host, Content-Length and Connection: close") {
  OneShotPeer peer("HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nX-Reply: 1\r\n\r\nok");
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/hooks/a?sig=1";
  req.body = "{}";
  req.headers = {{"Content-Type", "application/json"}, {"Host", "ignored"}};
  auto res = client.send(req);
  CHECK(res.status == 202);
  CHECK(res.body == "ok");
  CHECK(res.header("X-REPLY") == std::optional<std::string>("1"));
  auto got = peer.received();
  CHECK(got.rfind("POST /hooks/a?sig=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(has(got, "Host: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n"));
  CHECK_FALSE(has(got, "ignored"));
  CHECK(has(got, "Content-Length: 2\r\n"));
  CHECK(has(got, "Connection: close\r\n"));
  CHECK(has(got, "User-Agent: "));
}

TEST_CASE("client reads a close-delimited body and skips 100 Continue") {
  OneShotPeer peer(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
  Client client;
  ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
  auto res = client.send(req);
  CHECK(res.status == 200);
  CHECK(res.body == "until close");
}

TEST_CASE("client: peer closing mid-response is retryable, garbage is not") {
  {
    OneShotPeer peer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    Client client;
    ClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    auto e = expect_error(client, req);
    CHECK(e.retryable());
    CHECK(has(e.what(), "before a complete response"));
  }
  {
    OneShotPeer peer("SMTP ready\r\n\r\n");
    Client client;
    ClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(peer.port()) + "/";
    auto e = expect_error(client, req);
    CHECK_FALSE(e.retryable());
    CHECK(has(e.what(), "malformed response"));
  }
}
