// Against the real Redis of the local stack (REDIS_URL). Keys carry a unique
// prefix and are deleted at the end of each test case.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "ticketing/redis/rate_limit.hpp"
#include "ticketing/redis/redis.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace ticketing;
using namespace ticketing::redis;
using namespace std::chrono_literals;

namespace {

struct Keys {
  std::string prefix = testing::unique_name("redistest") + ":";
  Client client{parse_url(testing::redis_url())};
  std::string operator()(const std::string& k) const { return prefix + k; }
  ~Keys() {
    try {
      Reply keys = client.command({"KEYS", prefix + "*"});
      for (const auto& k : keys.as_array()) client.command({"DEL", k.as_string()});
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("commands and reply types", "[redis]") {
  Keys k;
  Client c(parse_url(testing::redis_url()));
  CHECK(c.command({"SET", k("a"), "1"}).as_status() == "OK");
  CHECK(c.command({"GET", k("a")}).as_string() == "1");
  CHECK(c.command({"INCRBY", k("a"), "41"}).as_integer() == 42);
  CHECK(c.command({"GET", k("missing")}).is_nil());
  CHECK_FALSE(c.command({"GET", k("missing")}).as_optional_string().has_value());
  CHECK(c.command({"SET", k("nx"), "x", "NX", "PX", "60000"}).is_status());
  CHECK(c.command({"SET", k("nx"), "y", "NX", "PX", "60000"}).is_nil());
  auto ttl = c.command({"PTTL", k("nx")}).as_integer();
  CHECK(ttl > 0);
  CHECK(ttl <= 60000);
  c.command({"RPUSH", k("list"), "a", "b", "c"});
  auto range = c.command({"LRANGE", k("list"), "0", "-1"});
  REQUIRE(range.size() == 3);
  CHECK(range[2].as_string() == "c");
  c.command({"HSET", k("h"), "f1", "v1", "f2", "v2"});
  CHECK(c.command({"HGETALL", k("h")}).size() == 4);
  CHECK(c.command({"ZADD", k("z"), "1.5", "m"}).as_integer() == 1);
  c.ping();
}

TEST_CASE("values and keys are binary-safe", "[redis]") {
  Keys k;
  Client c(parse_url(testing::redis_url()));
  std::string value;
  for (int i = 0; i < 1024; ++i) value += static_cast<char>(i % 256);
  value += "\r\n$3\r\nfoo\r\n";
  std::string key = k(std::string("bin\0key with spaces\r\n", 22));
  c.command({"SET", key, value});
  CHECK(c.command({"GET", key}).as_string() == value);
  CHECK(c.command({"STRLEN", key}).as_integer() == static_cast<std::int64_t>(value.size()));
  std::string big(5 * 1024 * 1024, 'z');
  c.command({"SET", k("big"), big});
  CHECK(c.command({"GET", k("big")}).as_string() == big);
}

TEST_CASE("Lua script: EVALSHA, falls back to EVAL after SCRIPT FLUSH", "[redis]") {
  Keys k;
  Client c(parse_url(testing::redis_url()));
  Script script(
      "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
      "redis.call('SET', KEYS[2], ARGV[2])\n"
      "return {v, redis.call('GET', KEYS[2])}");
  CHECK(c.command({"SCRIPT", "LOAD", script.source()}).as_string() == script.sha1());
  auto r = script.run(c, {k("n"), k("s")}, {"5", std::string("x\0y", 3)});
  CHECK(r[0].as_integer() == 5);
  CHECK(r[1].as_string() == std::string("x\0y", 3));

  c.command({"SCRIPT", "FLUSH"});
  CHECK(c.command({"SCRIPT", "EXISTS", script.sha1()})[0].as_integer() == 0);
  r = script.run(c, {k("n"), k("s")}, {"2", "z"});  // NOSCRIPT -> EVAL
  CHECK(r[0].as_integer() == 7);
  CHECK(c.command({"SCRIPT", "EXISTS", script.sha1()})[0].as_integer() == 1);
  CHECK(script.run(c, {k("n"), k("s")}, {"1", "z"})[0].as_integer() == 8);

  Script failing("return redis.call('INCR', KEYS[1])");
  c.command({"SET", k("str"), "not a number"});
  try {
    failing.run(c, {k("str")});
    FAIL("no error");
  } catch (const RedisError& e) {
    CHECK_FALSE(e.retryable());
  }
  CHECK(c.connected());
}

TEST_CASE("pipeline: many commands, one round trip, errors in place", "[redis]") {
  Keys k;
  Client c(parse_url(testing::redis_url()));
  std::vector<Command> cmds;
  for (int i = 0; i < 100; ++i) cmds.push_back({"INCR", k("ctr")});
  auto replies = c.pipeline(cmds);
  REQUIRE(replies.size() == 100);
  CHECK(replies.front().as_integer() == 1);
  CHECK(replies.back().as_integer() == 100);

  c.command({"SET", k("s"), "text"});
  replies = c.pipeline({{"GET", k("s")}, {"LPUSH", k("s"), "x"}, {"INCR", k("ctr")}});
  CHECK(replies[0].as_string() == "text");
  CHECK(replies[1].is_error());
  CHECK(replies[1].error_message().rfind("WRONGTYPE", 0) == 0);
  CHECK(replies[2].as_integer() == 101);

  replies = c.pipeline({{"MULTI"}, {"INCR", k("ctr")}, {"INCR", k("ctr")}, {"EXEC"}});
  CHECK(replies[1].as_status() == "QUEUED");
  CHECK(replies[3][1].as_integer() == 103);
}

TEST_CASE("error reply vs connection error", "[redis]") {
  Keys k;
  RedisOptions o = parse_url(testing::redis_url());
  Client c(o);
  c.command({"SET", k("s"), "text"});
  try {
    c.command({"LPUSH", k("s"), "x"});
    FAIL("no WRONGTYPE");
  } catch (const RedisError& e) {
    CHECK_FALSE(e.retryable());
    CHECK(std::string(e.what()).find("WRONGTYPE") != std::string::npos);
  }
  CHECK(c.connected());  // an error reply keeps the connection
  CHECK_THROWS_AS(c.command({"NOSUCHCOMMAND"}), RedisError);

  // The server closes our connection: retryable error, then a reconnect.
  auto id = c.command({"CLIENT", "ID"}).as_integer();
  Client admin(o);
  CHECK(admin.command({"CLIENT", "KILL", "ID", std::to_string(id)}).as_integer() == 1);
  try {
    c.command({"GET", k("s")});
    FAIL("command on a killed connection succeeded");
  } catch (const RedisError& e) {
    CHECK(e.retryable());
  }
  CHECK_FALSE(c.connected());
  CHECK(c.command({"GET", k("s")}).as_string() == "text");
  CHECK(c.command({"CLIENT", "ID"}).as_integer() != id);

  // A command timeout also drops the connection (a late reply must not be
  // read as the answer to the next command).
  RedisOptions fast = o;
  fast.command_timeout = 200ms;
  Client slow(fast);
  try {
    slow.command({"BLPOP", k("never"), "1"});
    FAIL("no timeout");
  } catch (const RedisError& e) {
    CHECK(e.retryable());
  }
  CHECK_FALSE(slow.connected());
  CHECK(slow.command({"GET", k("s")}).as_string() == "text");
}

TEST_CASE("pool shares 4 clients among 16 threads", "[redis]") {
  Keys k;
  Pool pool(PoolOptions{parse_url(testing::redis_url()), 4, 5000ms});
  CHECK(pool.ping());
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        try {
          pool.acquire()->command({"INCR", k("ctr")});
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(pool.command({"GET", k("ctr")}).as_string() == "3200");
  std::vector<Lease> held;
  for (int i = 0; i < 4; ++i) held.push_back(pool.acquire());
  CHECK_THROWS_AS(pool.acquire(100ms), RedisError);
}

namespace {

RateLimit must_parse(std::string_view name, std::string_view text) {
  auto limit = parse_rate_limit(name, text);
  REQUIRE(limit.has_value());
  return *limit;
}

// Admitted requests out of n checks sent back to back.
int admitted(RateLimiter& limiter, const std::vector<RateCheck>& checks, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += limiter.check(checks).allowed ? 1 : 0;
  return ok;
}

}  // namespace

TEST_CASE("rate limiter: burst, then 429 with Retry-After, then admitted again", "[redis]") {
  Keys k;
  Pool pool(parse_url(testing::redis_url()), 2);
  RateLimiter limiter(pool, k.prefix);
  const RateLimit limit = must_parse("it_burst", "2/s:3");
  const std::vector<RateCheck> checks{{&limit, "user:42"}};
  const auto denied_before = limit.denied_total->value();

  for (int i = 0; i < 3; ++i) CHECK(limiter.check(checks).allowed);
  RateDecision d = limiter.check(checks);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == &limit);
  CHECK(d.retry_after > 0ms);
  CHECK(d.retry_after <= 600ms);  // one emission interval (500 ms), less the time spent
  CHECK(limit.denied_total->value() == denied_before + 1);
  CHECK(metrics::global().render().find("rate_limit_denied_total{limit=\"it_burst\"}") !=
        std::string::npos);

  std::this_thread::sleep_for(d.retry_after);
  CHECK(limiter.check(checks).allowed);
  RateDecision again = limiter.check(checks);  // one request refilled, one spent
  CHECK_FALSE(again.allowed);
  CHECK(again.retry_after > 300ms);
  CHECK(limit.denied_total->value() == denied_before + 2);
}

TEST_CASE("rate limiter: a denied request consumes no limit", "[redis]") {
  Keys k;
  Pool pool(parse_url(testing::redis_url()), 2);
  RateLimiter limiter(pool, k.prefix);
  const RateLimit per_user = must_parse("it_user", "2/s:3");
  const RateLimit per_ip = must_parse("it_ip", "1/s:1");
  const RateCheck user{&per_user, "user:7"};
  const RateCheck ip{&per_ip, "ip:10.0.0.1"};

  CHECK(limiter.check({user, ip}).allowed);  // user 2 left, ip none
  for (int i = 0; i < 5; ++i) {
    RateDecision d = limiter.check({user, ip});
    CHECK_FALSE(d.allowed);
    CHECK(d.denied_by == &per_ip);
    CHECK(d.retry_after > 500ms);
    CHECK(d.retry_after <= 1000ms);
  }
  // The five denials took nothing from the user budget: 2 left of 3.
  CHECK(admitted(limiter, {user}, 5) == 2);

  // Both exhausted: denied_by follows check order, retry_after waits for both.
  RateDecision user_first = limiter.check({user, ip});
  RateDecision ip_first = limiter.check({ip, user});
  CHECK(user_first.denied_by == &per_user);
  CHECK(ip_first.denied_by == &per_ip);
  CHECK(user_first.retry_after > 500ms);  // the ip limit's wait, longer than the user's
  CHECK(ip_first.retry_after > 500ms);
}

TEST_CASE("rate limiter: subjects are independent, long ones hashed", "[redis]") {
  Keys k;
  Pool pool(parse_url(testing::redis_url()), 2);
  RateLimiter limiter(pool, k.prefix);
  const RateLimit limit = must_parse("it_subjects", "1/m:2");
  CHECK(admitted(limiter, {{&limit, "user:1"}}, 4) == 2);
  CHECK(admitted(limiter, {{&limit, "user:2"}}, 4) == 2);

  std::string binary("ip:\0\r\n", 6);
  std::string long_subject = binary + std::string(300, 'x');
  CHECK(admitted(limiter, {{&limit, binary}}, 3) == 2);
  CHECK(admitted(limiter, {{&limit, long_subject}}, 3) == 2);
  CHECK(admitted(limiter, {{&limit, long_subject + "y"}}, 3) == 2);
  CHECK(k.client.command({"EXISTS", limiter.key(limit, binary)}).as_integer() == 1);
  const std::string hashed = limiter.key(limit, long_subject);
  CHECK(hashed.size() < 300);
  CHECK(k.client.command({"EXISTS", hashed}).as_integer() == 1);
  CHECK(k.client.command({"KEYS", k.prefix + "rl:it_subjects:*"}).size() == 5);
}

TEST_CASE("rate limiter: keys expire once the budget is back", "[redis]") {
  Keys k;
  Pool pool(parse_url(testing::redis_url()), 2);
  RateLimiter limiter(pool, k.prefix);
  const RateLimit limit = must_parse("it_ttl", "20/s:2");  // 50 ms a request
  const RateCheck c{&limit, "user:9"};
  const std::string key = limiter.key(limit, c.subject);

  CHECK(limiter.check({c}).allowed);
  auto one = k.client.command({"PTTL", key}).as_integer();
  CHECK(one > 0);
  CHECK(one <= 50);
  CHECK(limiter.check({c}).allowed);
  auto two = k.client.command({"PTTL", key}).as_integer();
  CHECK(two > 50);
  CHECK(two <= 100);
  CHECK_FALSE(limiter.check({c}).allowed);
  CHECK(k.client.command({"PTTL", key}).as_integer() <= two);  // a denial writes nothing

  std::this_thread::sleep_for(150ms);
  CHECK(k.client.command({"EXISTS", key}).as_integer() == 0);
  CHECK(admitted(limiter, {c}, 3) == 2);  // a full burst again
}

TEST_CASE("rate limiter: two instances share one budget", "[redis]") {
  Keys k;
  const RedisOptions o = parse_url(testing::redis_url());
  Pool pool_a(o, 1);
  Pool pool_b(o, 1);
  RateLimiter a(pool_a, k.prefix);
  RateLimiter b(pool_b, k.prefix);
  const RateLimit limit = must_parse("it_shared", "1/m:3");
  const std::vector<RateCheck> checks{{&limit, "client:web"}};
  CHECK(a.check(checks).allowed);
  CHECK(b.check(checks).allowed);
  CHECK(a.check(checks).allowed);
  RateDecision d = b.check(checks);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after > 59s);  // one emission interval at 1 a minute
  CHECK(d.retry_after <= 60s);
  CHECK_FALSE(a.check(checks).allowed);

  // 8 threads on 2 pools race for a fresh budget of 20: exactly 20 pass.
  const RateLimit slow = must_parse("it_race", "1/m:20");
  const std::vector<RateCheck> race{{&slow, "client:race"}};
  std::atomic<int> passed{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      RateLimiter& limiter = t % 2 == 0 ? a : b;
      for (int i = 0; i < 10; ++i) {
        try {
          if (limiter.check(race).allowed) ++passed;
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(passed == 20);
}

TEST_CASE("rate limiter: pipelined with other commands", "[redis]") {
  Keys k;
  Pool pool(parse_url(testing::redis_url()), 1);
  RateLimiter limiter(pool, k.prefix);
  const RateLimit limit = must_parse("it_pipe", "1/m:1");
  const std::vector<RateCheck> checks{{&limit, "user:3"}};
  CHECK(limiter.check(checks).allowed);  // loads the script

  Lease lease = pool.acquire();
  auto replies = lease->pipeline({{"SET", k("other"), "v"}, limiter.command(checks)});
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].as_status() == "OK");
  REQUIRE_FALSE(Script::is_noscript(replies[1]));
  RateDecision d = RateLimiter::decode(checks, replies[1]);
  CHECK_FALSE(d.allowed);
  CHECK(d.denied_by == &limit);
  CHECK(d.retry_after > 59s);
}
