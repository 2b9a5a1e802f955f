// outbox::append against the real MariaDB: the row commits or rolls back with
// the caller's transaction, and the relay's queries use the index.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "ticketing/db/db.hpp"
#include "ticketing/outbox/inbox.hpp"
#include "ticketing/outbox/outbox.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace ticketing;

namespace {

struct TestDb {
  std::string name = testing::unique_name("outboxdb");
  std::unique_ptr<db::Pool> pool;
  TestDb() {
    db::Connection admin(db::parse_url(testing::mysql_url()));
    admin.exec_raw("CREATE DATABASE " + db::quote_identifier(name));
    auto o = db::parse_url(testing::mysql_url());
    o.database = name;
    pool = std::make_unique<db::Pool>(o, 4);
  }
  ~TestDb() {
    pool.reset();
    try {
      db::Connection admin(db::parse_url(testing::mysql_url()));
      admin.exec_raw("DROP DATABASE IF EXISTS " + db::quote_identifier(name));
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("append commits and rolls back with the caller's transaction", "[outbox]") {
  TestDb t;
  auto conn = t.pool->acquire();
  conn->exec_raw(outbox::create_table_sql());
  conn->exec_raw(outbox::create_table_sql());  // idempotent
  conn->exec_raw("CREATE TABLE seats (id INT PRIMARY KEY, status VARCHAR(16))");
  conn->exec("INSERT INTO seats VALUES (1, 'AVAILABLE')");

  outbox::OutboxRow row{"reservation.held",
                        "42",
                        R"({"eventId":"e1"})",
                        {{"event-type", "reservation.held"}, {"traceparent", "00-aa-bb-01"}}};
  {
    db::Transaction tx(*conn);
    conn->exec("UPDATE seats SET status = 'HELD' WHERE id = 1");
    outbox::append(*conn, row);
  }  // rolled back
  CHECK(conn->query_one("SELECT COUNT(*) FROM outbox")->i64(0) == 0);
  CHECK(conn->query_one("SELECT status FROM seats")->str(0) == "AVAILABLE");

  std::uint64_t id = 0;
  {
    db::Transaction tx(*conn);
    conn->exec("UPDATE seats SET status = 'HELD' WHERE id = 1");
    id = outbox::append(*conn, row);
    tx.commit();
  }
  auto stored = conn->query_one(
      "SELECT topic, msg_key, payload, headers, sent_at, created_at FROM outbox WHERE id = ?",
      {id});
  REQUIRE(stored);
  CHECK(stored->str("topic") == "reservation.held");
  CHECK(stored->str("msg_key") == "42");
  CHECK(stored->str("payload") == row.payload);
  CHECK(outbox::headers_from_json(stored->str("headers")) == row.headers);
  CHECK(stored->is_null("sent_at"));
  CHECK_FALSE(stored->is_null("created_at"));

  CHECK_THROWS_AS(outbox::append(*conn, row), std::logic_error);  // autocommit: refused
}

TEST_CASE("append_all writes the rows in their order, in statements of 16, with the transaction",
          "[outbox]") {
  TestDb t;
  auto conn = t.pool->acquire();
  conn->exec_raw(outbox::create_table_sql());
  std::vector<outbox::OutboxRow> rows;
  for (int i = 0; i < 20; ++i) {  // one statement of 16 rows, one of 4
    rows.push_back(outbox::OutboxRow{"reservation.confirmed",
                                     std::to_string(i),
                                     "{\"n\":" + std::to_string(i) + "}",
                                     {{"seq", std::to_string(i)}}});
  }
  {
    db::Transaction tx(*conn);
    outbox::append_all(*conn, rows);
  }  // rolled back
  CHECK(conn->query_one("SELECT COUNT(*) FROM outbox")->i64(0) == 0);
  {
    db::Transaction tx(*conn);
    outbox::append_all(*conn, rows);
    tx.commit();
  }
  auto stored = conn->query("SELECT id, msg_key, payload, headers FROM outbox ORDER BY id");
  REQUIRE(stored.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(i);
    CHECK(stored[i].str("msg_key") == rows[i].key);
    CHECK(stored[i].str("payload") == rows[i].payload);
    CHECK(outbox::headers_from_json(stored[i].str("headers")) == rows[i].headers);
    // consecutive ids: the relay publishes in id order
    if (i > 0) CHECK(stored[i].u64("id") == stored[i - 1].u64("id") + 1);
  }
  CHECK_THROWS_AS(outbox::append_all(*conn, rows), std::logic_error);  // autocommit: refused
}

TEST_CASE("the relay's queries use the (sent_at, id) index", "[outbox]") {
  TestDb t;
  auto conn = t.pool->acquire();
  conn->exec_raw(outbox::create_table_sql("ob"));
  conn->exec_raw(
      "INSERT INTO ob (topic, msg_key, payload, headers, sent_at) "
      "SELECT 't', seq, 'p', '{}', IF(seq % 10 = 0, NULL, NOW(3)) FROM seq_1_to_5000");
  conn->exec_raw("ANALYZE TABLE ob");
  auto plan = conn->query(
      "EXPLAIN SELECT id, topic, msg_key, payload, headers FROM ob WHERE sent_at IS NULL "
      "ORDER BY id LIMIT 500");
  REQUIRE(plan.size() == 1);
  INFO("key=" << plan[0].opt_str("key").value_or("NULL")
              << " extra=" << plan[0].opt_str("Extra").value_or(""));
  CHECK(plan[0].opt_str("key") == std::optional<std::string>("idx_outbox_sent_id"));
  CHECK(plan[0].opt_str("Extra").value_or("").find("filesort") == std::string::npos);
}

TEST_CASE("the inbox applies an event once per consumer, with the caller's transaction",
          "[inbox]") {
  TestDb t;
  auto conn = t.pool->acquire();
  conn->exec_raw(outbox::inbox_create_table_sql());
  conn->exec_raw("CREATE TABLE wallet (id INT PRIMARY KEY, balance BIGINT)");
  conn->exec("INSERT INTO wallet VALUES (1, 100)");
  const std::string event = "0f8fad5b-d9cb-469f-a165-70867728950e";

  // The handler's shape: record, and apply the effect only the first time.
  auto handle = [&](std::string_view consumer, bool commit) {
    db::Transaction tx(*conn);
    if (outbox::record_processed(*conn, consumer, event)) {
      conn->exec("UPDATE wallet SET balance = balance + 10 WHERE id = 1");
    }
    if (commit) tx.commit();
  };
  handle("payment-api", false);  // crashed before commit: nothing recorded
  CHECK(conn->query_one("SELECT balance FROM wallet")->i64(0) == 100);
  handle("payment-api", true);
  handle("payment-api", true);  // redelivered
  handle("payment-api", true);
  CHECK(conn->query_one("SELECT balance FROM wallet")->i64(0) == 110);
  handle("other-consumer", true);  // another consumer of the same event applies its own effect
  CHECK(conn->query_one("SELECT balance FROM wallet")->i64(0) == 120);
  CHECK(conn->query_one("SELECT COUNT(*) FROM processed_events")->i64(0) == 2);
  CHECK_THROWS_AS(outbox::record_processed(*conn, "payment-api", event), std::logic_error);
}

TEST_CASE("upgrade_table_sql adds the parking columns to an older table, any number of times",
          "[outbox]") {
  TestDb t;
  auto conn = t.pool->acquire();
  conn->exec_raw(outbox::create_table_sql("old_outbox"));
  conn->exec_raw("ALTER TABLE old_outbox DROP COLUMN parked_at, DROP COLUMN park_error");
  conn->exec_raw(
      "INSERT INTO old_outbox (topic, msg_key, payload, headers) VALUES ('t', 'k', 'p', '{}')");
  auto columns = [&] {
    return conn
        ->query_one(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND "
            "TABLE_NAME = 'old_outbox' AND COLUMN_NAME IN ('parked_at', 'park_error')",
            {t.name})
        ->i64(0);
  };
  REQUIRE(columns() == 0);
  conn->exec_raw(outbox::upgrade_table_sql("old_outbox"));
  CHECK(columns() == 2);
  conn->exec_raw(outbox::upgrade_table_sql(t.name + ".old_outbox"));  // again, qualified
  CHECK(columns() == 2);
  auto row = conn->query_one("SELECT parked_at, park_error FROM old_outbox");
  REQUIRE(row);
  CHECK(row->is_null(0));  // existing rows are not parked
  CHECK(row->is_null(1));
  // A fresh table has them already; the upgrade is then a no-op.
  conn->exec_raw(outbox::create_table_sql("new_outbox"));
  conn->exec_raw(outbox::upgrade_table_sql("new_outbox"));
}
