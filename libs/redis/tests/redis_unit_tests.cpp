#include <catch2/catch.hpp>

#include <stdexcept>

#include "ticketing/redis/rate_limit.hpp"
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

TEST_CASE("parse_rate_limit reads RATE/s:BURST and RATE/m:BURST") {
  auto a = parse_rate_limit("token_issue_user", "5/s:10");
  REQUIRE(a.has_value());
  CHECK(a->name == "token_issue_user");
  CHECK(a->per_second == 5.0);
  CHECK(a->burst == 10);
  REQUIRE(a->denied_total != nullptr);
  CHECK(a->denied_total ==
        &metrics::global().counter("rate_limit_denied_total", "", {{"limit", "token_issue_user"}}));

  auto b = parse_rate_limit("b", "0.5/s:3");
  REQUIRE(b.has_value());
  CHECK(b->per_second == 0.5);
  CHECK(b->burst == 3);

  auto c = parse_rate_limit("per_minute_2", "30/m:10");
  REQUIRE(c.has_value());
  CHECK(c->per_second == 0.5);
  CHECK(c->burst == 10);

  auto d = parse_rate_limit("max", "1000000/s:1000000");
  REQUIRE(d.has_value());
  CHECK(is_valid(*d));

  for (const char* bad :
       {"",        "5",       "5/s",      "5/s:",        "/s:3",        "5/:3",
        "5s:3",    "5/h:3",   "5/sec:3",  "5/s::3",      "0/s:1",       "-1/s:1",
        "+1/s:1",  "5/s:0",   "5/s:-1",   "5/s:1000001", "1000001/s:1", "abc/s:1",
        "5/s:x",   "5/s:1.5", "5/s:10x",  " 5/s:1",      "5/s:1 ",      "inf/s:1",
        "nan/s:1", "1e3/s:1", "0x10/s:1", "0.001/s:100", "1/m:1441",    "5/s:99999999999"}) {
    INFO(bad);
    CHECK_FALSE(parse_rate_limit("ok", bad).has_value());
  }
  for (const char* bad_name : {"", "Token", "a-b", "a:b", "a b", "é"}) {
    INFO(bad_name);
    CHECK_FALSE(parse_rate_limit(bad_name, "5/s:10").has_value());
  }
}

TEST_CASE("rate limiter keys are bounded and unambiguous") {
  Pool pool(RedisOptions{}, 1);  // never connects here
  RateLimiter limiter(pool, "app:");
  const RateLimit limit{"user_l", 1, 1};
  CHECK(limiter.key(limit, "user:42") == "app:rl:user_l:user:42");
  const std::string exact(RateLimiter::kMaxSubjectBytes, 'x');
  CHECK(limiter.key(limit, exact) == "app:rl:user_l:" + exact);

  const std::string longer = exact + "y";
  const std::string hashed = limiter.key(limit, longer);
  CHECK(hashed.size() == std::string("app:rl:user_l:sha256:").size() + 64);
  CHECK(hashed.rfind("app:rl:user_l:sha256:", 0) == 0);
  CHECK(hashed != limiter.key(limit, exact + "z"));
  // A subject that looks like a hashed one is hashed too, so it cannot take
  // over the budget of the long subject it imitates.
  const std::string imitation = hashed.substr(std::string("app:rl:user_l:").size());
  CHECK(limiter.key(limit, imitation) != hashed);
  CHECK(limiter.key(limit, imitation).size() == hashed.size());
}

TEST_CASE("rate limiter command and decode") {
  Pool pool(RedisOptions{}, 1);
  RateLimiter limiter(pool, "p:");
  auto user = parse_rate_limit("unit_user", "2/s:3");
  auto ip = parse_rate_limit("unit_ip", "30/m:10");
  REQUIRE(user);
  REQUIRE(ip);
  const std::vector<RateCheck> checks{{&*user, "user:1"}, {&*ip, "ip:10.0.0.1"}};

  Command cmd = limiter.command(checks);
  REQUIRE(cmd.size() == 3 + 2 + 4);
  CHECK(cmd[0] == "EVALSHA");
  CHECK(cmd[2] == "2");
  CHECK(cmd[3] == "p:rl:unit_user:user:1");
  CHECK(cmd[4] == "p:rl:unit_ip:ip:10.0.0.1");
  CHECK(cmd[5] == "500000");  // emission interval, us
  CHECK(cmd[6] == "3");
  CHECK(cmd[7] == "2000000");
  CHECK(cmd[8] == "10");

  auto allowed = RateLimiter::decode(checks, Reply::array({Reply::integer(0), Reply::integer(0)}));
  CHECK(allowed.allowed);
  CHECK(allowed.denied_by == nullptr);
  CHECK(allowed.retry_after.count() == 0);

  const auto before = ip->denied_total->value();
  auto denied =
      RateLimiter::decode(checks, Reply::array({Reply::integer(2), Reply::integer(1500)}));
  CHECK_FALSE(denied.allowed);
  CHECK(denied.denied_by == &*ip);
  CHECK(denied.retry_after.count() == 2);  // rounded up
  CHECK(ip->denied_total->value() == before + 1);
  CHECK(RateLimiter::decode(checks, Reply::array({Reply::integer(1), Reply::integer(0)}))
            .retry_after.count() == 1);

  for (const Reply& bad : {Reply(), Reply::integer(0), Reply::array({Reply::integer(0)}),
                           Reply::array({Reply::integer(3), Reply::integer(1)}),
                           Reply::array({Reply::integer(-1), Reply::integer(1)}),
                           Reply::array({Reply::integer(1), Reply::integer(-1)}),
                           Reply::array({Reply::string("0"), Reply::integer(0)}),
                           Reply::error("NOSCRIPT No matching script")}) {
    INFO(bad.debug_string());
    CHECK_THROWS_AS(RateLimiter::decode(checks, bad), RedisError);
  }

  const RateLimit invalid{"bad name", 1, 1};
  CHECK_THROWS_AS(limiter.command({{&invalid, "s"}}), std::invalid_argument);
  CHECK_THROWS_AS(limiter.command({{nullptr, "s"}}), std::invalid_argument);
  CHECK_THROWS_AS(limiter.check({{&invalid, "s"}}), std::invalid_argument);
  CHECK(limiter.check({}).allowed);  // no round trip: this pool has no server
}
