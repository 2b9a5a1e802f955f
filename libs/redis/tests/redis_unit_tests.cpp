#include <catch2/catch.hpp>

#include <stdexcept>

#include "ticketing/redis/redis.hpp"

using namespace ticketing;
using namespace ticketing::redis;

TEST_CASE("parse_url") {
  auto a = parse_url("redis://127.0.0.1:16379/0");
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 16379);
  CHECK(a.db == 0);
  CHECK(a.password.empty());

  auto b = parse_url("redis://:p%40ss@cache:6380/3");
  CHECK(b.password == "p@ss");
  CHECK(b.user.empty());
  CHECK(b.host == "cache");
  CHECK(b.db == 3);
  CHECK(b.describe().find("p@ss") == std::string::npos);

  auto c = parse_url("redis://svc:pw@[::1]:7000");
  CHECK(c.user == "svc");
  CHECK(c.password == "pw");
  CHECK(c.host == "::1");
  CHECK(c.port == 7000);

  auto d = parse_url("redis://localhost");
  CHECK(d.port == 6379);

  for (const char* bad : {"http://h:1/0", "redis://:1/0", "redis://h:0/0", "redis://h:1/x",
                          "redis://h:1/-1", "redis://h:abc", "redis://:%zz@h:1/0"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_url(bad), std::invalid_argument);
  }
}

TEST_CASE("Reply accessors check the type") {
  auto arr = Reply::array({Reply::integer(3), Reply::string(std::string("a\0b", 3)), Reply(),
                           Reply::error("WRONGTYPE x")});
  CHECK(arr.size() == 4);
  CHECK(arr[0].as_integer() == 3);
  CHECK(arr[1].as_string().size() == 3);
  CHECK(arr[2].is_nil());
  CHECK_FALSE(arr[2].as_optional_string().has_value());
  CHECK(arr[3].error_message() == "WRONGTYPE x");
  CHECK_THROWS_AS(arr[0].as_string(), RedisError);
  CHECK_THROWS_AS(arr[4], RedisError);
  CHECK_THROWS_AS(Reply::status("OK").as_integer(), RedisError);
  CHECK(arr.debug_string().find("(integer) 3") != std::string::npos);
}

TEST_CASE("error reply classification") {
  CHECK(is_retryable_error_reply("LOADING Redis is loading the dataset in memory"));
  CHECK(is_retryable_error_reply("BUSY Redis is busy running a script"));
  CHECK_FALSE(is_retryable_error_reply(
      "WRONGTYPE Operation against a key holding the wrong kind of value"));
  CHECK_FALSE(is_retryable_error_reply("ERR unknown command"));
}

TEST_CASE("script sha1 is the one Redis computes") {
  // redis-cli SCRIPT LOAD "return 1"
  CHECK(Script("return 1").sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_CASE("connection refused is retryable") {
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = 1;
  o.connect_timeout = std::chrono::milliseconds(300);
  Client c(o);
  try {
    c.command({"PING"});
    FAIL("connected to port 1?");
  } catch (const RedisError& e) {
    CHECK(e.retryable());
  }
  CHECK_FALSE(c.connected());
  Pool pool(o, 1);
  CHECK_FALSE(pool.ping());
}
