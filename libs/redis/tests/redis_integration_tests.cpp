// Against the real Redis of the local stack (REDIS_URL). Keys carry a unique
// prefix and are deleted at the end of each test case.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

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
