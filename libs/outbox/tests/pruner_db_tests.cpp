// outbox::Pruner against the real MariaDB: what it deletes and keeps, in how
// many statements, under whose lock, and what an outage does.
#include <catch2/catch.hpp>

#include <thread>

#include <fmt/format.h>

#include "ticketing/common/ids.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/db.hpp"
#include "ticketing/outbox/inbox.hpp"
#include "ticketing/outbox/pruner.hpp"
#include "ticketing/testing/stack_env.hpp"

using namespace ticketing;
using namespace std::chrono_literals;

namespace {

struct TestDb {
  std::string name = testing::unique_name("prunedb");
  std::unique_ptr<db::Connection> conn;
  TestDb() {
    db::Connection admin(db::parse_url(testing::mysql_url()));
    admin.exec_raw("CREATE DATABASE " + db::quote_identifier(name));
    conn = std::make_unique<db::Connection>(options());
    conn->exec_raw(outbox::inbox_create_table_sql());
  }
  ~TestDb() {
    conn.reset();
    try {
      db::Connection admin(db::parse_url(testing::mysql_url()));
      admin.exec_raw("DROP DATABASE IF EXISTS " + db::quote_identifier(name));
    } catch (...) {
    }
  }
  [[nodiscard]] db::ConnectOptions options() const {
    auto o = db::parse_url(testing::mysql_url());
    o.database = name;
    return o;
  }
  // `n` processed events of `consumer`, processed `age_s` seconds ago.
  void add_events(int n, const std::string& consumer, std::int64_t age_s) {
    conn->exec(
        "INSERT INTO processed_events (consumer, event_id, processed_at) "
        "SELECT ?, UUID(), TIMESTAMPADD(SECOND, ?, NOW(3)) FROM seq_1_to_100000 WHERE seq <= ?",
        {consumer, -age_s, n});
  }
  std::int64_t count(const std::string& where) {
    return conn->query_one("SELECT COUNT(*) FROM processed_events WHERE " + where)->i64(0);
  }
  [[nodiscard]] outbox::PrunerOptions pruner_options() const {
    outbox::PrunerOptions o;
    o.db = options();
    o.tables.push_back({"processed_events", "processed_at", outbox::TimeColumn::kDatetime, 24h});
    o.batch_size = 1000;
    o.batch_pause = 10ms;
    o.first_delay = 0ms;
    o.instance = "test";
    return o;
  }
};

std::uint64_t counter(const std::string& name, const std::string& table) {
  return metrics::global().counter(name, "", {{"table", table}}).value();
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

constexpr std::int64_t kDay = 86400;

}  // namespace

TEST_CASE("old processed events go in bounded batches, fresh ones stay", "[prune]") {
  TestDb t;
  t.add_events(2500, "payment-api", 2 * kDay);
  t.add_events(200, "payment-api", 3600);
  t.add_events(50, "other", kDay - 600);  // just inside the retention
  const std::string table = t.name + ".processed_events";
  const auto pruned_before = counter("dedupe_pruned_total", table);

  outbox::Pruner pruner(t.pruner_options());
  pruner.run_once();

  CHECK(t.count("processed_at < NOW(3) - INTERVAL 1 DAY") == 0);
  CHECK(t.count("1") == 250);
  CHECK(t.count("consumer = 'other'") == 50);
  auto s = pruner.stats().at(0);
  CHECK(s.table == table);
  CHECK(s.deleted == 2500);
  CHECK(s.statements == 3);  // 1000 + 1000 + 500: the short batch ends the round
  CHECK(s.rounds == 1);
  CHECK(s.skipped == 0);
  CHECK(s.failures == 0);
  CHECK(counter("dedupe_pruned_total", table) - pruned_before == 2500);

  pruner.run_once();  // nothing left to delete: one statement, no row
  CHECK(pruner.stats().at(0).statements == 4);
  CHECK(t.count("1") == 250);
}

TEST_CASE("the DELETE reads the time column's index", "[prune]") {
  TestDb t;
  t.add_events(3000, "c", 2 * kDay);
  t.add_events(3000, "c", 60);
  t.conn->exec_raw("ANALYZE TABLE processed_events");
  auto plan = t.conn->query(
      "EXPLAIN DELETE FROM processed_events WHERE processed_at < "
      "TIMESTAMPADD(MICROSECOND, -86400000000, NOW(3)) ORDER BY processed_at LIMIT 1000");
  REQUIRE(plan.size() == 1);
  INFO("key=" << plan[0].opt_str("key").value_or("NULL")
              << " type=" << plan[0].opt_str("type").value_or(""));
  CHECK(plan[0].opt_str("key") == std::optional<std::string>("idx_processed_at"));
  CHECK(plan[0].opt_str("type") == std::optional<std::string>("range"));
}

TEST_CASE("epoch-millisecond columns (idempotency keys) are pruned on the running thread",
          "[prune]") {
  TestDb t;
  t.conn->exec_raw(
      "CREATE TABLE idem (user_id BIGINT NOT NULL, idem_key VARCHAR(64) NOT NULL, "
      "created_at_ms BIGINT NOT NULL, PRIMARY KEY (user_id, idem_key), "
      "KEY idx_created_at (created_at_ms)) ENGINE=InnoDB");
  auto add = [&](int n, std::int64_t age_ms, const std::string& tag) {
    t.conn->exec(
        "INSERT INTO idem SELECT seq, CONCAT(?, seq), ? FROM seq_1_to_100000 WHERE seq <= ?",
        {tag, now_unix_millis() - age_ms, n});
  };
  add(1200, 8 * kDay * 1000, "old-");
  add(30, 3600 * 1000, "fresh-");
  auto idem_count = [&] { return t.conn->query_one("SELECT COUNT(*) FROM idem")->i64(0); };

  auto o = t.pruner_options();
  o.tables.push_back({"idem", "created_at_ms", outbox::TimeColumn::kUnixMillis, 7 * 24h});
  o.interval = 200ms;
  outbox::Pruner pruner(o);
  pruner.start();
  REQUIRE(eventually([&] { return pruner.stats().at(1).rounds >= 1; }));
  CHECK(idem_count() == 30);
  CHECK(pruner.stats().at(1).deleted == 1200);

  // Rows that age out later go at a later round.
  add(10, 8 * kDay * 1000, "later-");
  CHECK(eventually([&] { return idem_count() == 30; }));

  const auto stop_started = std::chrono::steady_clock::now();
  pruner.stop();
  CHECK(std::chrono::steady_clock::now() - stop_started < 2s);
}

TEST_CASE("one pruner per table at a time: the lock's holder prunes, the others skip", "[prune]") {
  TestDb t;
  t.add_events(2500, "c", 2 * kDay);
  const std::string table = t.name + ".processed_events";

  SECTION("a lock held elsewhere: skipped, nothing deleted, pruned once it is free") {
    db::Connection other(t.options());
    const std::string lock = "dedupe-prune:" + table;
    REQUIRE(db::get_lock(other, lock, 0s));
    const auto skipped_before = counter("dedupe_prune_skipped_total", table);
    outbox::Pruner pruner(t.pruner_options());
    pruner.run_once();
    CHECK(pruner.stats().at(0).skipped == 1);
    CHECK(pruner.stats().at(0).statements == 0);
    CHECK(counter("dedupe_prune_skipped_total", table) - skipped_before == 1);
    CHECK(t.count("1") == 2500);
    REQUIRE(db::release_lock(other, lock));
    pruner.run_once();
    CHECK(t.count("1") == 0);
  }

  SECTION("two pruners: the second skips while the first is between its batches") {
    auto slow = t.pruner_options();
    slow.batch_pause = 1500ms;
    outbox::Pruner first(slow);
    outbox::Pruner second(t.pruner_options());
    first.start();
    REQUIRE(eventually([&] { return first.stats().at(0).statements >= 1; }));
    second.run_once();
    CHECK(second.stats().at(0).skipped == 1);
    CHECK(second.stats().at(0).deleted == 0);
    CHECK(t.count("1") >= 500);  // the first one has not finished
    REQUIRE(eventually([&] { return first.stats().at(0).rounds >= 1; }));
    CHECK(first.stats().at(0).deleted == 2500);
    CHECK(first.stats().at(0).statements == 3);
    CHECK(t.count("1") == 0);
    first.stop();
  }
}

TEST_CASE("an unreachable database or a broken table is counted, never thrown", "[prune]") {
  TestDb t;
  t.add_events(10, "c", 2 * kDay);

  auto down = t.pruner_options();
  down.db.port = 1;  // nothing listens there
  down.db.connect_timeout = 1s;
  outbox::Pruner unreachable(down);
  const std::string table = t.name + ".processed_events";
  const auto failures_before = counter("dedupe_prune_failures_total", table);
  unreachable.run_once();
  CHECK(unreachable.stats().at(0).failures == 1);
  CHECK(counter("dedupe_prune_failures_total", table) - failures_before == 1);

  // A table that fails does not keep the next one from being pruned.
  auto o = t.pruner_options();
  o.tables.insert(o.tables.begin(),
                  {"no_such_table", "processed_at", outbox::TimeColumn::kDatetime, 24h});
  outbox::Pruner pruner(o);
  pruner.run_once();
  CHECK(pruner.stats().at(0).failures == 1);
  CHECK(pruner.stats().at(1).deleted == 10);
  CHECK(t.count("1") == 0);
}
