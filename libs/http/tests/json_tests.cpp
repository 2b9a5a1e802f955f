#include <catch2/catch.hpp>

#include <climits>
#include <limits>

#include "ticketing/http/json.hpp"

using namespace ticketing::http;

namespace {

JsonBody parse_ok(std::string_view json) {
  auto parsed = JsonBody::parse(json);
  REQUIRE(std::holds_alternative<JsonBody>(parsed));
  return std::move(std::get<JsonBody>(parsed));
}

Response parse_err(std::string_view json) {
  auto parsed = JsonBody::parse(json);
  REQUIRE(std::holds_alternative<Response>(parsed));
  return std::get<Response>(parsed);
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("JsonBody rejects non-objects and broken JSON as INVALID_JSON") {
  for (const char* bad : {"", "   ", "{", "[1,2]", "42", "\"x\"", "null", "{\"a\":1,}", "{'a':1}",
                          "{\"a\":NaN}", "{\"a\":1} trailing", "{\"s\":\"\xff\"}"}) {
    INFO(bad);
    auto r = parse_err(bad);
    CHECK(r.status == 400);
    CHECK(contains(r.body, R"("code":"INVALID_JSON")"));
  }
}

TEST_CASE("JsonBody survives very deep nesting without recursion") {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto body = parse_ok(deep);
  CHECK(body.has("a"));
  auto r = parse_err(std::string(200000, '['));
  CHECK(r.status == 400);
}

TEST_CASE("JsonBody int64 distinguishes missing, wrong type and out of range") {
  auto body =
      parse_ok(R"({"ok":7,"str":"5","dbl":5.0,"frac":2.5,"huge":1e30,"big":99999999999999999999,
                          "u64":9223372036854775808,"neg":-3,"nul":null,"arr":[1],"low":0,"extra":{"x":1}})");
  CHECK(body.int64("ok", 1, 10) == std::optional<std::int64_t>(7));
  CHECK_FALSE(body.int64("str", 1, 10));
  CHECK_FALSE(body.int64("dbl", 1, 10));
  CHECK_FALSE(body.int64("frac", 1, 10));
  CHECK_FALSE(body.int64("huge", 1, 10));
  CHECK_FALSE(body.int64("big", INT64_MIN, INT64_MAX));
  CHECK_FALSE(body.int64("u64", INT64_MIN, INT64_MAX));
  CHECK_FALSE(body.int64("neg", 0, 10));
  CHECK_FALSE(body.int64("nul", 0, 10));
  CHECK_FALSE(body.int64("arr", 0, 10));
  CHECK_FALSE(body.int64("missing", 0, 10));
  CHECK_FALSE(body.int64("low", 1, 10));
  const auto& p = body.problems();
  REQUIRE(p.size() == 11);
  CHECK(p[0] == "str must be an integer");
  CHECK(p[1] == "dbl must be an integer");
  CHECK(p[2] == "frac must be an integer");
  CHECK(p[3] == "huge must be between 1 and 10");
  CHECK(contains(p[4], "big must be between"));
  CHECK(contains(p[5], "u64 must be between"));
  CHECK(p[6] == "neg must be between 0 and 10");
  CHECK(p[7] == "nul is required");
  CHECK(p[8] == "arr must be an integer");
  CHECK(p[9] == "missing is required");
  CHECK(p[10] == "low must be between 1 and 10");

  auto err = body.error();
  REQUIRE(err);
  CHECK(err->status == 400);
  CHECK(contains(err->body, R"("code":"VALIDATION_FAILED")"));
  for (const char* field :
       {"str", "dbl", "frac", "huge", "big", "u64", "neg", "nul", "arr", "missing", "low"}) {
    CHECK(contains(err->body, field));
  }
  CHECK_FALSE(contains(err->body, "ok "));
}

TEST_CASE("JsonBody int64 accepts the full range") {
  auto body = parse_ok(R"({"min":-9223372036854775808,"max":9223372036854775807})");
  CHECK(body.int64("min", INT64_MIN, INT64_MAX) == std::optional<std::int64_t>(INT64_MIN));
  CHECK(body.int64("max", INT64_MIN, INT64_MAX) == std::optional<std::int64_t>(INT64_MAX));
  CHECK_FALSE(body.error());
}

TEST_CASE("JsonBody string, boolean and has") {
  auto body = parse_ok(
      R"({"name":"J\u00fcrgen","long":"abcdef","num":5,"flag":true,"fs":"true","nul":null,"e":""})");
  CHECK(body.string("name", 6) ==
        std::optional<std::string>("J\xC3\xBCrgen"));  // 6 code points, 7 bytes
  CHECK(body.string("e", 0) == std::optional<std::string>(""));
  CHECK_FALSE(body.string("long", 5));
  CHECK_FALSE(body.string("num", 5));
  CHECK(body.boolean("flag") == std::optional<bool>(true));
  CHECK_FALSE(body.boolean("fs"));
  CHECK(body.has("name"));
  CHECK_FALSE(body.has("nul"));
  CHECK_FALSE(body.has("absent"));
  REQUIRE(body.problems().size() == 3);
  CHECK(body.problems()[0] == "long must be at most 5 characters");
  CHECK(body.problems()[1] == "num must be a string");
  CHECK(body.problems()[2] == "fs must be a boolean");
  body.fail("range", "end must follow start");
  CHECK(contains(body.error()->body, "range end must follow start"));
}

TEST_CASE("JsonBody::parse(Request) checks Content-Type") {
  Request req;
  req.body = R"({"a":1})";
  CHECK(std::holds_alternative<JsonBody>(JsonBody::parse(req)));  // absent is fine
  req.headers = {{"content-type", "Application/JSON; charset=utf-8"}};
  CHECK(std::holds_alternative<JsonBody>(JsonBody::parse(req)));
  req.headers = {{"content-type", "text/plain"}};
  auto parsed = JsonBody::parse(req);
  REQUIRE(std::holds_alternative<Response>(parsed));
  CHECK(std::get<Response>(parsed).status == 415);
  CHECK(contains(std::get<Response>(parsed).body, "UNSUPPORTED_MEDIA_TYPE"));
  req.headers = {{"content-type", "application/jsonx"}};
  CHECK(std::holds_alternative<Response>(JsonBody::parse(req)));
}
