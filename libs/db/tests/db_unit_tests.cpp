#include <catch2/catch.hpp>

#include <limits>
#include <stdexcept>

#include "ticketing/db/db.hpp"

using namespace ticketing;
using namespace ticketing::db;

TEST_CASE("parse_url reads every part") {
  auto o = parse_url(
      "mysql://app:s%40cr%2Ft@db.example:13306/reservation?socket=/run/my.sock&connect_timeout=7"
      "&read_timeout=11&write_timeout=12");
  CHECK(o.user == "app");
  CHECK(o.password == "s@cr/t");
  CHECK(o.host == "db.example");
  CHECK(o.port == 13306);
  CHECK(o.database == "reservation");
  CHECK(o.socket == "/run/my.sock");
  CHECK(o.connect_timeout == std::chrono::seconds(7));
  CHECK(o.read_timeout == std::chrono::seconds(11));
  CHECK(o.write_timeout == std::chrono::seconds(12));
  CHECK(o.describe().find("s@cr") == std::string::npos);
  CHECK(o.describe().find("***") != std::string::npos);
}

TEST_CASE("parse_url defaults and optional parts") {
  auto o = parse_url("mysql://root@127.0.0.1/");
  CHECK(o.user == "root");
  CHECK(o.password.empty());
  CHECK(o.port == 3306);
  CHECK(o.database.empty());
  CHECK(o.connect_timeout == std::chrono::seconds(3));

  auto p = parse_url("mysql://u:p@h:1");
  CHECK(p.host == "h");
  CHECK(p.port == 1);
  CHECK(p.database.empty());

  auto v6 = parse_url("mysql://u@[::1]:3307/x");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 3307);
  CHECK(v6.database == "x");

  // An unescaped '@' in the password still splits at the last '@'.
  auto at = parse_url("mysql://u:p@ss@h:3306/d");
  CHECK(at.password == "p@ss");
  CHECK(at.host == "h");
}

TEST_CASE("parse_url rejects malformed URLs without echoing the password") {
  for (const char* bad :
       {"postgres://u@h/", "mysql://h:3306/", "mysql://@h/", "mysql://u@:3306/", "mysql://u@h:0/",
        "mysql://u@h:70000/", "mysql://u@h:12x/", "mysql://u@h/db?nope=1", "mysql://u@h/db?socket",
        "mysql://u%4@h/", "mysql://u@h/a/b", "mysql://u@h/?connect_timeout=0"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_url(bad), std::invalid_argument);
  }
  try {
    parse_url("mysql://u:topsecret@h:99999/");
    FAIL("expected an exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("topsecret") == std::string::npos);
  }
}

TEST_CASE("Value keeps types and converts strictly") {
  CHECK(Value().is_null());
  CHECK(Value(nullptr).is_null());
  CHECK(Value(std::optional<int>{}).is_null());
  CHECK(Value(std::optional<int>{5}).as_i64() == 5);
  CHECK(Value(7).type() == Value::Type::kInt);
  CHECK(Value(7u).type() == Value::Type::kUInt);
  CHECK(Value(true).as_i64() == 1);
  CHECK(Value(2.5).type() == Value::Type::kDouble);
  CHECK(Value("x").type() == Value::Type::kString);
  CHECK(Value(std::numeric_limits<std::uint64_t>::max()).as_u64() ==
        std::numeric_limits<std::uint64_t>::max());
  CHECK_THROWS_AS(Value(std::numeric_limits<std::uint64_t>::max()).as_i64(), DbError);
  CHECK_THROWS_AS(Value(-1).as_u64(), DbError);
  CHECK_THROWS_AS(Value().as_i64(), DbError);
  CHECK_THROWS_AS(Value("12abc").as_i64(), DbError);
  CHECK(Value("12.00").as_i64() == 12);  // DECIMAL text
  CHECK_THROWS_AS(Value("12.50").as_i64(), DbError);
  CHECK(Value("-42").as_i64() == -42);
  CHECK(Value("2.25").as_double() == 2.25);
  CHECK(Value(42).as_string() == "42");
  CHECK(Value(std::string("a\0b", 3)).as_string().size() == 3);
}

TEST_CASE("Row access by index and name, optional variants") {
  auto cols = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"id", "name", "note"});
  Row row(cols, {Value(std::int64_t{1}), Value("alice"), Value()});
  CHECK(row.i64(0) == 1);
  CHECK(row.i64("id") == 1);
  CHECK(row.str("name") == "alice");
  CHECK(row.is_null("note"));
  CHECK_FALSE(row.opt_str("note").has_value());
  CHECK(row.opt_str("name") == std::optional<std::string>("alice"));
  CHECK_THROWS_AS(row.str("note"), DbError);
  CHECK_THROWS_AS(row.at("missing"), DbError);
  CHECK_THROWS_AS(row.at(3), DbError);
}

TEST_CASE("error classification") {
  for (unsigned code : {1213u, 1205u, 2006u, 2013u, 2002u, 2003u, 1053u, 1040u, 1927u}) {
    INFO(code);
    CHECK(is_retryable_code(code));
  }
  for (unsigned code : {1062u, 1064u, 1146u, 1045u, 1452u, 2014u}) {
    INFO(code);
    CHECK_FALSE(is_retryable_code(code));
  }
  CHECK(is_connection_error_code(2013));
  CHECK_FALSE(is_connection_error_code(1213));
  CHECK(is_duplicate_key(DbError("dup", false, 1062)));
  CHECK_FALSE(is_duplicate_key(DbError("deadlock", true, 1213)));
}

TEST_CASE("lock names fit MariaDB's 64 characters") {
  CHECK(fit_lock_name("outbox:db.t") == "outbox:db.t");
  std::string longname(100, 'x');
  auto a = fit_lock_name(longname);
  CHECK(a.size() <= 64);
  CHECK(a == fit_lock_name(longname));
  CHECK(a != fit_lock_name(longname + "y"));
  CHECK(quote_identifier("we`ird") == "`we``ird`");
}

TEST_CASE("connecting to a closed port fails fast and retryable") {
  auto o = parse_url("mysql://u@127.0.0.1:1/?connect_timeout=1");
  try {
    Connection c(o);
    FAIL("connected to port 1?");
  } catch (const DbError& e) {
    CHECK(e.retryable());
    CHECK((e.code() == 2002 || e.code() == 2003));
  }
  Pool pool(PoolOptions{o, 2, std::chrono::milliseconds(200)});
  CHECK_FALSE(pool.ping());
  CHECK(pool.open_connections() == 0);
}
