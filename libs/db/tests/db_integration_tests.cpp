// Against the real MariaDB of the local stack (MYSQL_URL). Every test case
// works in its own database and drops it at the end.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <limits>
#include <thread>

#include <fmt/format.h>

#include "ticketing/db/db.hpp"
#include "ticketing/db/retry.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace ticketing;
using namespace ticketing::db;
using namespace std::chrono_literals;

namespace {

ConnectOptions server_options() {
  return parse_url(testing::mysql_url());
}

// A fresh database, dropped on destruction, and a pool bound to it.
struct TestDb {
  std::string name = testing::unique_name("dbtest");
  std::unique_ptr<Pool> pool;

  explicit TestDb(std::size_t pool_size = 8) {
    Connection admin(server_options());
    admin.exec_raw("CREATE DATABASE " + quote_identifier(name));
    ConnectOptions o = server_options();
    o.database = name;
    pool = std::make_unique<Pool>(PoolOptions{o, pool_size, 5000ms});
  }
  ~TestDb() {
    pool.reset();
    try {
      Connection admin(server_options());
      admin.exec_raw("DROP DATABASE IF EXISTS " + quote_identifier(name));
    } catch (...) {
    }
  }
  ConnectOptions options() const { return pool->options().connect; }
};

bool session_exists(Connection& conn, std::uint64_t id) {
  auto row =
      conn.query_one("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", {id});
  return row && row->i64(0) > 0;
}

void kill_and_wait(std::uint64_t id) {
  Connection admin(server_options());
  admin.exec_raw(fmt::format("KILL {}", id));
  for (int i = 0; i < 200 && session_exists(admin, id); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(session_exists(admin, id));
}

}  // namespace

TEST_CASE("CRUD with prepared statements: NULLs, large and binary strings, integer bounds",
          "[db]") {
  TestDb db;
  auto conn = db.pool->acquire();
  conn->exec_raw(
      "CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, i BIGINT NULL, u BIGINT UNSIGNED NULL,"
      " d DOUBLE NULL, s VARCHAR(100) NULL, big MEDIUMTEXT NULL, bin LONGBLOB NULL,"
      " dec_col DECIMAL(12,2) NULL, ts DATETIME(3) NULL, tiny TINYINT NULL)");

  const std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::uint64_t kUMax = std::numeric_limits<std::uint64_t>::max();
  std::string big(3 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary += static_cast<char>(i % 256);  // includes NULs

  auto r1 = conn->exec(
      "INSERT INTO t (i, u, d, s, big, bin, dec_col, ts, tiny) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {kMin, kUMax, 0.125, "héllo ✓", big, binary, "1234567890.12", "2026-11-24 05:33:04.123", -5});
  CHECK(r1.affected_rows == 1);
  CHECK(r1.last_insert_id >= 1);
  auto r2 =
      conn->exec("INSERT INTO t (i, u, d, s, big, bin) VALUES (?, ?, ?, ?, ?, ?)",
                 {kMax, std::uint64_t{0}, nullptr, std::optional<std::string>{}, Value(), ""});
  CHECK(r2.last_insert_id == r1.last_insert_id + 1);

  auto rows = conn->query("SELECT id, i, u, d, s, big, bin, dec_col, ts, tiny FROM t ORDER BY id");
  REQUIRE(rows.size() == 2);
  CHECK(rows.columns().at(1) == "i");
  const Row& a = rows[0];
  CHECK(a.i64("i") == kMin);
  CHECK(a.u64("u") == kUMax);
  CHECK_THROWS_AS(a.i64("u"), DbError);
  CHECK(a.f64("d") == 0.125);
  CHECK(a.str("s") == "héllo ✓");
  CHECK(a.str("big") == big);
  CHECK(a.str("bin") == binary);
  CHECK(a.str("dec_col") == "1234567890.12");
  CHECK(a.str("ts") == "2026-11-24 05:33:04.123");
  CHECK(a.i64("tiny") == -5);
  const Row& b = rows[1];
  CHECK(b.i64("i") == kMax);
  CHECK(b.u64("u") == 0);
  CHECK(b.is_null("d"));
  CHECK(b.is_null("s"));
  CHECK_FALSE(b.opt_str("s").has_value());
  CHECK(b.is_null("big"));
  CHECK_FALSE(b.is_null("bin"));
  CHECK(b.str("bin").empty());
  CHECK_FALSE(b.opt_i64("tiny").has_value());

  auto one = conn->query_one("SELECT s FROM t WHERE i = ?", {kMax});
  REQUIRE(one);
  CHECK(one->is_null(0));
  CHECK_FALSE(conn->query_one("SELECT s FROM t WHERE i = ?", {42}).has_value());

  auto upd = conn->exec("UPDATE t SET s = ? WHERE id = ?", {"changed", r2.last_insert_id});
  CHECK(upd.affected_rows == 1);
  auto again = conn->exec("UPDATE t SET s = ? WHERE id = ?", {"changed", r2.last_insert_id});
  CHECK(again.affected_rows == 0);  // changed rows, not matched rows
  auto del = conn->exec("DELETE FROM t WHERE id = ?", {r1.last_insert_id});
  CHECK(del.affected_rows == 1);
  CHECK(conn->query_one("SELECT COUNT(*) FROM t")->i64(0) == 1);

  // A parameter count mismatch is a programming error and not retryable.
  try {
    conn->exec("UPDATE t SET s = ? WHERE id = ?", {"x"});
    FAIL("no exception");
  } catch (const DbError& e) {
    CHECK_FALSE(e.retryable());
  }
  // Sessions run in UTC.
  CHECK(conn->query_one("SELECT @@session.time_zone")->str(0) == "+00:00");
}

TEST_CASE("transactions commit, and roll back on destruction", "[db]") {
  TestDb db;
  auto conn = db.pool->acquire();
  conn->exec_raw("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=InnoDB");
  {
    Transaction tx(*conn);
    conn->exec("INSERT INTO t VALUES (1, 'a')");
    CHECK(conn->in_transaction());
  }  // no commit
  CHECK_FALSE(conn->in_transaction());
  CHECK(conn->query_one("SELECT COUNT(*) FROM t")->i64(0) == 0);
  {
    Transaction tx(*conn, Isolation::kReadCommitted);
    conn->exec("INSERT INTO t VALUES (2, 'b')");
    tx.commit();
  }
  CHECK(conn->query_one("SELECT COUNT(*) FROM t")->i64(0) == 1);
  {
    Transaction tx(*conn);
    conn->exec("INSERT INTO t VALUES (3, 'c')");
    try {
      conn->exec("INSERT INTO t VALUES (2, 'dup')");
      FAIL("no duplicate key error");
    } catch (const DbError& e) {
      CHECK(is_duplicate_key(e));
      CHECK_FALSE(e.retryable());
      CHECK(e.code() == 1062);
    }
  }  // the whole transaction, including row 3, rolls back
  CHECK(conn->query_one("SELECT GROUP_CONCAT(id) FROM t")->str(0) == "2");
  CHECK_FALSE(conn->broken());

  // A lease returned inside an open transaction is closed, not reused.
  const auto id = conn->server_id();
  conn->begin();
  conn->exec("INSERT INTO t VALUES (4, 'd')");
  conn = Lease();
  auto next = db.pool->acquire();
  CHECK(next->server_id() != id);
  CHECK(next->query_one("SELECT COUNT(*) FROM t WHERE id = 4")->i64(0) == 0);
}

TEST_CASE("syntax errors are not retryable and leave the connection usable", "[db]") {
  TestDb db;
  auto conn = db.pool->acquire();
  try {
    conn->query("SELEKT 1");
    FAIL("no exception");
  } catch (const DbError& e) {
    CHECK(e.code() == 1064);
    CHECK_FALSE(e.retryable());
  }
  CHECK_FALSE(conn->broken());
  CHECK(conn->query_one("SELECT 1 + 1")->i64(0) == 2);
  auto r = conn->exec_raw(
      "CREATE TABLE a (x INT); INSERT INTO a VALUES (1), (2); INSERT INTO a VALUES (3)");
  CHECK(r.affected_rows == 1);
  CHECK(conn->query_one("SELECT SUM(x) FROM a")->i64(0) == 6);
  CHECK_THROWS_AS(conn->exec_raw("INSERT INTO a VALUES (4); INSERT INTO nope VALUES (1)"), DbError);
  CHECK(conn->query_one("SELECT COUNT(*) FROM a")->i64(0) == 4);
}

TEST_CASE("deadlocks and lock wait timeouts are retryable", "[db]") {
  TestDb db;
  {
    auto c = db.pool->acquire();
    c->exec_raw(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; INSERT INTO t VALUES "
        "(1,0),(2,0)");
  }
  SECTION("lock wait timeout") {
    auto a = db.pool->acquire();
    auto b = db.pool->acquire();
    b->exec_raw("SET SESSION innodb_lock_wait_timeout = 1");
    Transaction ta(*a);
    a->exec("UPDATE t SET v = 1 WHERE id = 1");
    Transaction tb(*b);
    try {
      b->exec("UPDATE t SET v = 2 WHERE id = 1");
      FAIL("no lock wait timeout");
    } catch (const DbError& e) {
      CHECK(e.code() == 1205);
      CHECK(e.retryable());
    }
  }
  SECTION("deadlock") {
    auto a = db.pool->acquire();
    auto b = db.pool->acquire();
    Transaction ta(*a);
    Transaction tb(*b);
    a->exec("UPDATE t SET v = 1 WHERE id = 1");
    b->exec("UPDATE t SET v = 1 WHERE id = 2");
    std::atomic<unsigned> code_a{0};
    std::thread t([&] {
      try {
        a->exec("UPDATE t SET v = 2 WHERE id = 2");  // waits for b
      } catch (const DbError& e) {
        code_a = e.code() == 0 ? 1 : e.code();
      }
    });
    std::this_thread::sleep_for(200ms);
    unsigned code_b = 0;
    bool retryable_b = false;
    try {
      b->exec("UPDATE t SET v = 2 WHERE id = 1");  // closes the cycle
    } catch (const DbError& e) {
      code_b = e.code();
      retryable_b = e.retryable();
    }
    t.join();
    // Exactly one of the two is chosen as the victim.
    CHECK(((code_a == 1213) != (code_b == 1213)));
    if (code_b == 1213) CHECK(retryable_b);
  }
}

TEST_CASE("with_retry runs a transaction again after a deadlock, and only then", "[db]") {
  TestDb db;
  db.pool->acquire()->exec_raw(
      "CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; INSERT INTO t VALUES (1,0),(2,0)");
  SECTION("the deadlock victim's whole body runs again and commits") {
    // Two transactions that lock rows 1 and 2 in opposite orders; a latch
    // makes both hold their first row before asking for the second, so InnoDB
    // must pick a victim. The victim's with_retry runs its body again.
    std::latch both_locked(2);
    std::atomic<int> runs{0};
    auto cross = [&](int first, int second) {
      return db::with_retry(*db.pool, 3, [&](Connection& c) {
        const int run = ++runs;
        Transaction tx(c);
        c.exec("UPDATE t SET v = v + 1 WHERE id = ?", {first});
        if (run <= 2) both_locked.arrive_and_wait();
        c.exec("UPDATE t SET v = v + 1 WHERE id = ?", {second});
        tx.commit();
        return run;
      });
    };
    int run_a = 0;
    std::thread t([&] { run_a = cross(1, 2); });
    int run_b = cross(2, 1);
    t.join();
    CHECK(runs.load() == 3);  // two first runs, one of them again
    CHECK(std::max(run_a, run_b) == 3);
    // Both committed exactly once: each row was raised by each transaction.
    CHECK(db.pool->acquire()->query_one("SELECT SUM(v) FROM t")->i64(0) == 4);
  }
  SECTION("a lost race is retried, then reported as a retryable error") {
    int runs = 0;
    try {
      (void)db::with_retry(*db.pool, 3, [&](Connection&) -> int {
        ++runs;
        throw db::RaceLost("row not there yet");
      });
      FAIL("no error");
    } catch (const DbError& e) {
      CHECK(e.retryable());
    }
    CHECK(runs == 3);
  }
  SECTION("other errors are not retried") {
    int runs = 0;
    CHECK_THROWS_AS(db::with_retry(*db.pool, 3,
                                   [&](Connection& c) {
                                     ++runs;
                                     c.exec("INSERT INTO t VALUES (1, 0)");  // duplicate key
                                     return 0;
                                   }),
                    DbError);
    CHECK(runs == 1);
  }
}

TEST_CASE("pool serves 16 threads with 4 connections", "[db]") {
  TestDb db(4);
  db.pool->acquire()->exec_raw(
      "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, thread INT, n INT)");
  constexpr int kThreads = 16;
  constexpr int kOps = 100;
  std::atomic<int> errors{0};
  std::atomic<std::size_t> max_open{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        try {
          auto c = db.pool->acquire(10s);
          c->exec("INSERT INTO t (thread, n) VALUES (?, ?)", {t, i});
          auto n = c->query_one("SELECT COUNT(*) FROM t WHERE thread = ?", {t})->i64(0);
          if (n != i + 1) ++errors;
          auto open = db.pool->open_connections();
          auto seen = max_open.load();
          while (open > seen && !max_open.compare_exchange_weak(seen, open)) {
          }
        } catch (const std::exception& e) {
          UNSCOPED_INFO(e.what());
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(max_open <= 4);
  CHECK(db.pool->acquire()->query_one("SELECT COUNT(*) FROM t")->i64(0) == kThreads * kOps);

  // Exhaustion is reported as a retryable error after the timeout.
  std::vector<Lease> held;
  for (int i = 0; i < 4; ++i) held.push_back(db.pool->acquire());
  auto start = std::chrono::steady_clock::now();
  try {
    db.pool->acquire(150ms);
    FAIL("acquired a fifth connection");
  } catch (const DbError& e) {
    CHECK(e.retryable());
  }
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
}

TEST_CASE("conditional UPDATE race: exactly one of 50 threads wins the seat", "[db]") {
  TestDb db(50);
  db.pool->acquire()->exec_raw(
      "CREATE TABLE seats (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, holder INT NULL)"
      " ENGINE=InnoDB; INSERT INTO seats VALUES (7, 'AVAILABLE', NULL)");
  constexpr int kThreads = 50;
  std::vector<Lease> leases;
  for (int i = 0; i < kThreads; ++i) leases.push_back(db.pool->acquire());
  std::latch start(kThreads);
  std::atomic<int> winners{0};
  std::atomic<int> winner{-1};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      try {
        Transaction tx(*leases[static_cast<std::size_t>(t)]);
        auto r = leases[static_cast<std::size_t>(t)]->exec(
            "UPDATE seats SET status = 'HELD', holder = ? WHERE id = 7 AND status = 'AVAILABLE'",
            {t});
        tx.commit();
        if (r.affected_rows == 1) {
          ++winners;
          winner = t;
        }
      } catch (const DbError& e) {
        UNSCOPED_INFO(e.what());
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(winners == 1);
  auto row = leases[0]->query_one("SELECT status, holder FROM seats WHERE id = 7");
  CHECK(row->str(0) == "HELD");
  CHECK(row->i64(1) == winner.load());
}

TEST_CASE("migrations apply once, even from two threads at once", "[db]") {
  TestDb db;
  const std::string target = testing::unique_name("migr");
  std::vector<Migration> migrations = {
      {2, "add column",
       "ALTER TABLE log ADD COLUMN note VARCHAR(20) NULL; INSERT INTO log (what) VALUES ('v2')"},
      {1, "create log",
       "CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(20)); INSERT INTO log "
       "(what) VALUES ('v1')"},
      {3, "third", "INSERT INTO log (what) VALUES ('v3')"},
  };
  std::atomic<int> applied{0};
  std::atomic<int> errors{0};
  std::latch start(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        applied += apply_migrations(*db.pool, target, migrations);
      } catch (const std::exception& e) {
        UNSCOPED_INFO(e.what());
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(applied == 3);
  auto conn = db.pool->acquire();
  const std::string q = quote_identifier(target);
  CHECK(conn->query_one("SELECT GROUP_CONCAT(what ORDER BY id) FROM " + q + ".log")->str(0) ==
        "v1,v2,v3");
  CHECK(conn->query_one("SELECT COUNT(*) FROM " + q + ".schema_migrations")->i64(0) == 3);

  // Later: one new migration, the old ones untouched.
  migrations.push_back({4, "fourth", "INSERT INTO log (what) VALUES ('v4')"});
  CHECK(apply_migrations(*db.pool, target, migrations) == 1);
  CHECK(apply_migrations(*db.pool, target, migrations) == 0);
  CHECK(conn->query_one("SELECT COUNT(*) FROM " + q + ".log")->i64(0) == 4);

  // A failing migration is not recorded and is retried next time.
  migrations.push_back({5, "broken", "INSERT INTO nope VALUES (1)"});
  CHECK_THROWS_AS(apply_migrations(*db.pool, target, migrations), DbError);
  CHECK(conn->query_one("SELECT MAX(version) FROM " + q + ".schema_migrations")->i64(0) == 4);
  migrations.push_back({5, "dup", "SELECT 1"});
  CHECK_THROWS_AS(apply_migrations(*db.pool, target, migrations), std::invalid_argument);
  conn->exec_raw("DROP DATABASE " + q);
}

TEST_CASE("a killed connection is replaced on the next acquire", "[db]") {
  TestDb db(1);
  std::uint64_t first = 0;
  {
    auto c = db.pool->acquire();
    first = c->server_id();
    CHECK(c->query_one("SELECT CONNECTION_ID()")->u64(0) == first);
  }
  kill_and_wait(first);
  {
    auto c = db.pool->acquire();
    CHECK(c->server_id() != first);
    CHECK(c->query_one("SELECT 1")->i64(0) == 1);
  }

  // Killed while leased: the statement fails retryable, the lease drops it.
  auto c = db.pool->acquire();
  const auto second = c->server_id();
  kill_and_wait(second);
  try {
    c->query("SELECT 1");
    FAIL("query on a killed connection succeeded");
  } catch (const DbError& e) {
    CHECK(e.retryable());
  }
  CHECK(c->broken());
  c = Lease();
  auto d = db.pool->acquire();
  CHECK(d->server_id() != second);
  CHECK(d->query_one("SELECT 1")->i64(0) == 1);
  CHECK(db.pool->open_connections() == 1);
}

TEST_CASE("named locks belong to one session and die with it", "[db]") {
  TestDb db;
  const std::string name = "test:" + db.name + ":" + std::string(80, 'x');
  auto a = std::make_unique<Connection>(db.options());
  Connection b(db.options());
  CHECK(get_lock(*a, name, 0s));
  CHECK(get_lock(*a, name, 0s));  // re-entrant for the holder
  CHECK_FALSE(get_lock(b, name, 0s));
  a.reset();  // session closes: the lock is free
  CHECK(get_lock(b, name, 2s));
  CHECK(release_lock(b, name));
}
