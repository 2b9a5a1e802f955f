// Each service's own MariaDB and Redis user (scripts/stack.sh, issue 17): it
// reaches its own schema and key prefix and nothing else, and a wrong
// password is refused. Runs against the stack's real servers with the users
// `scripts/stack.sh env` prints.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "ticketing/common/error.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/options.hpp"
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
