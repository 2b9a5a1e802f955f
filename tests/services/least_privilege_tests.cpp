// Each service's own MariaDB, Redis and Kafka user (scripts/stack.sh, issue
// 17): it reaches its own schema, key prefix and topics and nothing else, a
// wrong password (or a certificate the stack's CA did not sign) is refused,
// and Kafka serves no anonymous client. Runs
// against the stack's real servers with the users `scripts/stack.sh env`
// prints.
#include <catch2/catch.hpp>

#include <stdlib.h>  // mkdtemp

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "ticketing/common/error.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/options.hpp"
#include "ticketing/events/admin.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/security.hpp"
#include "ticketing/redis/client.hpp"
#include "ticketing/redis/options.hpp"
#include "ticketing/testing/stack_env.hpp"

namespace tt = ticketing::testing;
using ticketing::DbError;
using ticketing::RedisError;

namespace {

std::string stack_var(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    FAIL(name << " is not set: run with the stack's settings (eval \"$(scripts/stack.sh env)\")");
  return v;
}

ticketing::db::Connection connect_as(const std::string& url, const std::string& database = {}) {
  auto o = ticketing::db::parse_url(url);
  o.database = database;
  return ticketing::db::Connection(o);
}

// The server's answer to `sql` as `conn`: "" when it ran, else the error.
std::string try_sql(ticketing::db::Connection& conn, const std::string& sql) {
  try {
    conn.exec_raw(sql);
    return "";
  } catch (const DbError& e) {
    return e.what();
  }
}

// "" when it ran, else the error reply (command() throws on one).
std::string try_redis(ticketing::redis::Client& c, const std::vector<std::string>& command) {
  try {
    c.command(command);
    return "";
  } catch (const RedisError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("MariaDB: payment-api's user reaches its own schema only") {
  auto admin = connect_as(tt::mysql_url());
  auto run = tt::unique_name("lp");
  const std::string theirs = "reservation_" + run;  // a reservation-api schema (as RUN_ID makes)
  const std::string mine = "payment_" + run;
  admin.exec_raw("CREATE DATABASE `" + theirs + "`");
  admin.exec_raw("CREATE TABLE `" + theirs +
                 "`.reservations (id BIGINT PRIMARY KEY, user_id BIGINT)");
  admin.exec_raw("INSERT INTO `" + theirs + "`.reservations VALUES (1, 42)");

  auto payment = connect_as(stack_var("PAYMENT_API_MYSQL_URL"));
  // Its own schema: create, write, read, drop.
  CHECK(try_sql(payment, "CREATE DATABASE `" + mine + "`").empty());
  CHECK(
      try_sql(payment, "CREATE TABLE `" + mine + "`.wallets (user_id BIGINT PRIMARY KEY)").empty());
  CHECK(try_sql(payment, "INSERT INTO `" + mine + "`.wallets VALUES (42)").empty());
  // reservation-api's: not even a read, nor a write, nor dropping it.
  auto read = try_sql(payment, "SELECT * FROM `" + theirs + "`.reservations");
  CHECK(read.find("denied") != std::string::npos);
  CHECK(try_sql(payment, "UPDATE `" + theirs + "`.reservations SET user_id = 7").find("denied") !=
        std::string::npos);
  CHECK(try_sql(payment, "DROP DATABASE `" + theirs + "`").find("denied") != std::string::npos);
  CHECK(try_sql(payment, "SELECT * FROM mysql.user").find("denied") != std::string::npos);
  CHECK(try_sql(payment, "CREATE DATABASE `lp_elsewhere_" + run + "`").find("denied") !=
        std::string::npos);
  // The row is untouched, and reservation-api's own user does read it.
  auto reservation = connect_as(stack_var("RESERVATION_API_MYSQL_URL"));
  CHECK(reservation.query_one("SELECT user_id FROM `" + theirs + "`.reservations WHERE id = 1")
            ->i64("user_id") == 42);
  CHECK(try_sql(reservation, "SELECT * FROM `" + mine + "`.wallets").find("denied") !=
        std::string::npos);

  // A wrong password does not connect.
  auto wrong = ticketing::db::parse_url(stack_var("PAYMENT_API_MYSQL_URL"));
  wrong.password += "x";
  CHECK_THROWS_AS(ticketing::db::Connection(wrong), DbError);

  admin.exec_raw("DROP DATABASE `" + theirs + "`");
  admin.exec_raw("DROP DATABASE `" + mine + "`");
}

TEST_CASE("Redis: a password is required, and each service's user keeps to its prefix") {
  // No password, or a wrong one: refused.
  auto admin_opts = ticketing::redis::parse_url(tt::redis_url());
  REQUIRE_FALSE(admin_opts.password.empty());
  auto anonymous = admin_opts;
  anonymous.password.clear();
  ticketing::redis::Client nobody(anonymous);
  CHECK(try_redis(nobody, {"GET", "reservation:x"}).find("NOAUTH") != std::string::npos);
  auto wrong = admin_opts;
  wrong.password += "x";
  CHECK_THROWS_AS(ticketing::redis::Client(wrong).command({"PING"}), RedisError);
  auto service = ticketing::redis::parse_url(stack_var("RESERVATION_API_REDIS_URL"));
  auto wrong_service = service;
  wrong_service.password += "x";
  CHECK_THROWS_AS(ticketing::redis::Client(wrong_service).command({"PING"}), RedisError);

  auto run = tt::unique_name("lp");
  ticketing::redis::Client reservation(service);
  ticketing::redis::Client admin(admin_opts);
  const std::string own = "reservation:" + run;
  const std::string run_own = run + ":reservation-api:k";  // a RUN_ID run's prefix
  const std::string other = "scheduler:" + run;
  CHECK(try_redis(reservation, {"SET", own, "1", "EX", "60"}).empty());
  CHECK(try_redis(reservation, {"SET", run_own, "1", "EX", "60"}).empty());
  CHECK(try_redis(admin, {"SET", other, "secret", "EX", "60"}).empty());
  CHECK(try_redis(reservation, {"GET", other}).find("NOPERM") != std::string::npos);
  CHECK(try_redis(reservation, {"DEL", other}).find("NOPERM") != std::string::npos);
  // A script cannot reach around the key rules either.
  CHECK(try_redis(reservation, {"EVAL", "return redis.call('GET', KEYS[1])", "1", other})
            .find("NOPERM") != std::string::npos);
  // Nothing dangerous: no wiping, no reconfiguring, no listing every key.
  for (auto cmd : std::vector<std::vector<std::string>>{
           {"FLUSHALL"}, {"CONFIG", "SET", "requirepass", ""}, {"KEYS", "*"}, {"ACL", "LIST"}}) {
    INFO(cmd[0]);
    CHECK(try_redis(reservation, cmd).find("NOPERM") != std::string::npos);
  }
  CHECK(admin.command({"GET", other}).as_string() == "secret");
  admin.command({"DEL", own, run_own, other});
}

namespace {

// Produces one record as `security` and waits for its delivery report.
ticketing::events::DeliveryReport produce_as(
    const std::optional<ticketing::events::KafkaSecurity>& security, const std::string& topic) {
  ticketing::events::ProducerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.client_id = "least-privilege-test";
  o.delivery_timeout_ms = 8000;
  o.close_timeout = std::chrono::milliseconds(2000);
  o.security = security;
  ticketing::events::Producer producer(o);
  auto report =
      producer.produce({topic, "least-privilege-test", "{\"test\":\"least-privilege\"}", {}}).get();
  INFO(topic << ": " << report.error);
  return report;
}

// The stack's settings with `name`'s client certificate and key from
// `dir` (default: the stack's, KAFKA_TLS_DIR).
ticketing::events::KafkaSecurity principal(const std::string& name, std::string dir = {}) {
  if (dir.empty()) dir = stack_var("KAFKA_TLS_DIR");
  auto s = ticketing::events::KafkaSecurity::from_env();
  REQUIRE(s.protocol == "SSL");
  s.ssl_certificate_location = dir + "/" + name + ".pem";
  s.ssl_key_location = dir + "/" + name + ".key";
  return s;
}

// A certificate that says CN=admin but that the stack's CA never signed
// (self-signed, made now in a temporary folder).
std::string forged_admin_dir() {
  char tmpl[] = "/tmp/least-privilege-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=admin -keyout " + dir +
      "/admin.key -out " + dir + "/admin.pem >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  return dir;
}

// The topics `security` may see (Describe), as metadata shows them (a
// service may not DescribeConfigs: that error is not a reason to hide one).
std::set<std::string> visible_topics(const ticketing::events::KafkaSecurity& security) {
  std::set<std::string> out;
  for (const auto& t :
       ticketing::events::describe(tt::kafka_bootstrap(), {}, std::chrono::seconds(10), security)
           .topics) {
    if (!t.partitions.empty()) out.insert(t.name);
  }
  return out;
}

// Consumes `topic` in `group` as `security` for up to 15 s: the error the
// consumer reports (empty if none).
std::string consume_error(const ticketing::events::KafkaSecurity& security,
                          const std::string& group, const std::string& topic) {
  ticketing::events::ConsumerOptions o;
  o.bootstrap_servers = tt::kafka_bootstrap();
  o.group_id = group;
  o.topics = {topic};
  o.client_id = "least-privilege-test";
  o.security = security;
  ticketing::events::Consumer consumer(o);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  try {
    while (std::chrono::steady_clock::now() < deadline) {
      (void)consumer.poll(std::chrono::milliseconds(200));
    }
  } catch (const ticketing::KafkaError& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("Kafka: no anonymous client, and a service produces only its own topics") {
  // Anonymous (no TLS, or TLS without a client certificate) or a
  // certificate the stack's CA did not sign: no metadata, nothing delivered.
  CHECK_THROWS(visible_topics(ticketing::events::KafkaSecurity{}));
  CHECK_FALSE(produce_as(ticketing::events::KafkaSecurity{}, "payment.completed").ok);
  auto admin = ticketing::events::KafkaSecurity::from_env();
  auto no_certificate = admin;
  no_certificate.ssl_certificate_location.clear();
  no_certificate.ssl_key_location.clear();
  CHECK_THROWS(visible_topics(no_certificate));
  CHECK_FALSE(produce_as(no_certificate, "payment.completed").ok);
  const std::string forged_dir = forged_admin_dir();
  CHECK_THROWS(visible_topics(principal("admin", forged_dir)));
  std::filesystem::remove_all(forged_dir);

  // notification-worker logs in and sees its own topics only...
  auto worker = principal("notification-worker");
  auto seen = visible_topics(worker);
  CHECK(seen.count("notifications.payment-completed") == 1);
  CHECK(seen.count("notifications.dlq") == 1);
  CHECK(seen.count("payment.completed") == 0);
  // ...and cannot confirm a seat nobody paid for, nor write another service's topic.
  auto forged = produce_as(worker, "payment.completed");
  CHECK_FALSE(forged.ok);
  CHECK(forged.error.find("uthoriz") != std::string::npos);
  CHECK_FALSE(produce_as(worker, "reservation.confirmed").ok);
  // payment-api sees (and may write) payment.completed; not reservation.confirmed.
  auto payment = principal("payment-api");
  auto pay_seen = visible_topics(payment);
  CHECK(pay_seen.count("payment.completed") == 1);
  CHECK(pay_seen.count("reservation.confirmed") == 0);
  CHECK_FALSE(produce_as(payment, "reservation.confirmed").ok);
  // The admin principal sees everything.
  CHECK(visible_topics(admin).count("reservation.confirmed") == 1);
}

TEST_CASE("Kafka: a service reads its inputs only, in its own consumer groups") {
  auto payment = principal("payment-api");
  // Another service's group, even on payment-api's own input: refused.
  CHECK_THAT(consume_error(payment, "notification-worker", "reservation.held"),
             Catch::Matchers::Contains("GROUP_AUTHORIZATION_FAILED"));
  // Its own group prefix, but a topic it does not consume: refused.
  CHECK_THAT(consume_error(payment, "payment-api-least-privilege-test", "notifications.dlq"),
             Catch::Matchers::Contains("TOPIC_AUTHORIZATION_FAILED"));
}
