#include <catch2/catch.hpp>

#include <type_traits>

#include "ticketing/http/server.hpp"

using namespace ticketing::http;

namespace {
Handler named(std::string name) {
  return [name](const Request&) { return Response::text(200, name); };
}
std::string call(const RouteMatch& m) {
  return (*m.handler)(Request{}).body;
}
}  // namespace

TEST_CASE("router matches per segment and extracts decoded parameters") {
  Router r;
  r.add("GET", "/v1/reservations/{id}", named("get-res"));
  r.add("DELETE", "/v1/reservations/{id}", named("del-res"));
  r.add("GET", "/v1/concerts/{concertId}/schedules", named("schedules"));
  r.add("GET", "/", named("root"));

  auto m = r.match("GET", "/v1/reservations/42");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(call(m) == "get-res");
  CHECK(m.pattern == "/v1/reservations/{id}");
  CHECK(m.params.at("id") == "42");

  m = r.match("DELETE", "/v1/reservations/a%20b");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(call(m) == "del-res");
  CHECK(m.params.at("id") == "a b");

  m = r.match("GET", "/v1/concerts/7/schedules");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.params.at("concertId") == "7");

  CHECK(r.match("GET", "/").kind == RouteMatch::Kind::kFound);
  CHECK(r.match("GET", "/v1/reservations").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.match("GET", "/v1/reservations/").kind == RouteMatch::Kind::kNotFound);  // empty param
  CHECK(r.match("GET", "/v1/reservations/1/x").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.match("GET", "/v1/concerts/7/schedules/").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.match("GET", "v1/reservations/1").kind == RouteMatch::Kind::kNotFound);
  CHECK(r.match("GET", "").kind == RouteMatch::Kind::kNotFound);
}

TEST_CASE("router answers 405 data with every allowed method") {
  Router r;
  r.add("GET", "/v1/points", named("get"));
  r.add("POST", "/v1/points", named("post"));
  r.add("PUT", "/v1/{any}", named("put"));
  auto m = r.match("DELETE", "/v1/points");
  REQUIRE(m.kind == RouteMatch::Kind::kMethodNotAllowed);
  CHECK(m.allow == "GET, POST, PUT");
  CHECK(m.handler == nullptr);
}

TEST_CASE("router prefers literal segments over parameters, left to right") {
  Router r;
  r.add("GET", "/v1/queue/{id}", named("param"));
  r.add("GET", "/v1/queue/status", named("literal"));
  r.add("GET", "/v1/{a}/status", named("early-param"));
  CHECK(call(r.match("GET", "/v1/queue/status")) == "literal");
  CHECK(call(r.match("GET", "/v1/queue/9")) == "param");
  CHECK(call(r.match("GET", "/v1/other/status")) == "early-param");
}

TEST_CASE("router falls back to a less specific route that allows the method") {
  Router r;
  r.add("POST", "/v1/items/special", named("post-special"));
  r.add("GET", "/v1/items/{id}", named("get-item"));
  auto m = r.match("GET", "/v1/items/special");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(call(m) == "get-item");
}

TEST_CASE("router rejects malformed and duplicate routes") {
  Router r;
  r.add("GET", "/v1/a/{id}", named("x"));
  CHECK_THROWS_AS(r.add("GET", "/v1/a/{other}", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("get", "/v1/b", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "v1/b", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/v1/{}", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/v1/{a}/{a}", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/v1/x{a}", named("y")), std::invalid_argument);
  CHECK_THROWS_AS(r.add("GET", "/v1/c", Handler{}), std::invalid_argument);
  CHECK_NOTHROW(r.add("POST", "/v1/a/{id}", named("z")));
}

TEST_CASE("router lists its routes in the order they were added, rejected ones left out") {
  Router r;
  CHECK(r.routes().empty());
  r.add("POST", "/v1/reservations", named("a"));
  r.add("GET", "/v1/reservations/{id}", named("b"));
  CHECK_THROWS(r.add("GET", "/v1/reservations/{other}", named("c")));
  r.add("DELETE", "/v1/reservations/{id}", named("d"));
  auto routes = r.routes();
  REQUIRE(routes.size() == 3);
  CHECK(routes[0].method == "POST");
  CHECK(routes[0].pattern == "/v1/reservations");
  CHECK(routes[1].method == "GET");
  CHECK(routes[1].pattern == "/v1/reservations/{id}");
  CHECK(routes[2].method == "DELETE");
  CHECK(routes[2].pattern == "/v1/reservations/{id}");
}

TEST_CASE("request helpers: headers and percent-decoded query parameters") {
  Request req;
  req.headers = {{"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  req.query = "name=J%C3%BCrgen+M&empty=&flag&bad=%zz%4&plus=%2B";
  CHECK(req.header("x-a") == std::optional<std::string_view>("1"));
  CHECK_FALSE(req.header("x-b"));
  CHECK(req.query_param("name") == std::optional<std::string>("J\xC3\xBCrgen M"));
  CHECK(req.query_param("empty") == std::optional<std::string>(""));
  CHECK(req.query_param("flag") == std::optional<std::string>(""));
  CHECK(req.query_param("bad") == std::optional<std::string>("%zz%4"));
  CHECK(req.query_param("plus") == std::optional<std::string>("+"));
  CHECK_FALSE(req.query_param("missing"));
}

TEST_CASE("Response::error escapes code and message") {
  auto r = Response::error(409, "SEAT_UNAVAILABLE", "seat \"7\" taken\n\\");
  CHECK(r.status == 409);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"error":{"code":"SEAT_UNAVAILABLE","message":"seat \"7\" taken\n\\"}})");
  auto t = Response::text(201, "hi");
  CHECK(t.content_type == "text/plain; charset=utf-8");
}

// A fast path held inside a Handler used to vanish when the handler was
// wrapped; now the router keeps it apart and wrapping does not compile.
static_assert(!std::is_convertible_v<InlineFirst, Handler>);

TEST_CASE("router keeps a route's fast path apart from its handler") {
  Router r;
  r.add("GET", "/plain", named("plain"));
  r.add("GET", "/cached",
        InlineFirst{
            [](const Request&) -> std::optional<Response> { return Response::text(200, "fast"); },
            named("slow")});
  r.add("GET", "/no-fast", InlineFirst{{}, named("only-slow")});
  auto plain = r.match("GET", "/plain");
  CHECK(plain.fast == nullptr);
  CHECK(call(plain) == "plain");
  auto cached = r.match("GET", "/cached");
  REQUIRE(cached.fast != nullptr);
  CHECK((*cached.fast)(Request{})->body == "fast");
  CHECK(call(cached) == "slow");
  auto no_fast = r.match("GET", "/no-fast");
  CHECK(no_fast.fast == nullptr);
  CHECK(call(no_fast) == "only-slow");
  CHECK_THROWS_AS(r.add("GET", "/empty", InlineFirst{}), std::invalid_argument);
}
