// The outbox relay against the real stack: MariaDB and the 3-broker Kafka
// cluster. Each test case has its own database and topic (3 partitions, RF 3)
// and removes both at the end.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "kafka_test_util.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/db.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/outbox/outbox.hpp"
#include "ticketing/outbox/relay.hpp"
#include "ticketing/testing/process.hpp"
#include "ticketing/testing/stack_env.hpp"

extern char** environ;

using namespace ticketing;
using namespace std::chrono_literals;
using outbox::test::Message;
using outbox::test::TopicReader;

namespace {

constexpr int kPartitions = 3;
constexpr int kKeys = 7;

std::string key_of(int seq) {
  return fmt::format("k{}", seq % kKeys);
}

struct Env {
  std::string bootstrap = testing::kafka_bootstrap();
  std::string dbname = testing::unique_name("outbox_relay");
  std::string topic = testing::unique_name("outbox-test");
  db::ConnectOptions opts;
  std::unique_ptr<db::Pool> pool;

  Env() {
    db::Connection admin(db::parse_url(testing::mysql_url()));
    admin.exec_raw("CREATE DATABASE " + db::quote_identifier(dbname));
    opts = db::parse_url(testing::mysql_url());
    opts.database = dbname;
    pool = std::make_unique<db::Pool>(opts, 8);
    pool->acquire()->exec_raw(outbox::create_table_sql());
    outbox::test::create_topic(bootstrap, topic, kPartitions, 3);
  }
  ~Env() {
    pool.reset();
    try {
      db::Connection admin(db::parse_url(testing::mysql_url()));
      admin.exec_raw("DROP DATABASE IF EXISTS " + db::quote_identifier(dbname));
    } catch (...) {
    }
    outbox::test::delete_topic(bootstrap, topic);
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  [[nodiscard]] outbox::RelayOptions relay_options(const std::string& instance) const {
    outbox::RelayOptions o;
    o.db = opts;
    o.instance = instance;
    o.producer = producer_options();
    return o;
  }
  [[nodiscard]] events::ProducerOptions producer_options() const {
    events::ProducerOptions p;
    p.bootstrap_servers = bootstrap;
    p.client_id = "outbox-test";
    return p;
  }
  [[nodiscard]] std::string lock_name() const {
    return db::fit_lock_name("outbox:" + dbname + ".outbox");
  }

  [[nodiscard]] outbox::OutboxRow row(int seq, const std::string& prefix = "p-") const {
    return outbox::OutboxRow{topic,
                             key_of(seq),
                             fmt::format("{}{}", prefix, seq),
                             {{"event-type", "test.event"}, {"seq", std::to_string(seq)}}};
  }

  // Appends rows [from, from+count) in transactions of `per_tx` rows.
  std::vector<std::uint64_t> insert(int from, int count, int per_tx, bool commit,
                                    const std::vector<outbox::Relay*>& notify = {},
                                    const std::string& prefix = "p-") {
    std::vector<std::uint64_t> ids;
    auto conn = pool->acquire();
    for (int i = from; i < from + count; i += per_tx) {
      db::Transaction tx(*conn);
      for (int j = i; j < std::min(i + per_tx, from + count); ++j) {
        ids.push_back(outbox::append(*conn, row(j, prefix)));
      }
      if (commit) tx.commit();
      for (auto* r : notify) r->notify();
    }
    return ids;
  }

  std::int64_t unsent() {
    return pool->acquire()->query_one("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")->i64(0);
  }

  bool wait_all_sent(std::chrono::milliseconds timeout, std::int64_t leave = 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (unsent() <= leave) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

int seq_of(const std::string& payload, const std::string& prefix = "p-") {
  if (payload.rfind(prefix, 0) != 0) return -1;
  return std::stoi(payload.substr(prefix.size()));
}

// What arrived on the topic.
struct Arrivals {
  std::map<int, int> copies;                             // seq -> times received
  std::map<std::string, std::vector<int>> first_by_key;  // first arrivals, in partition order
  std::vector<std::string> foreign;                      // payloads that are not "p-<seq>"
  std::vector<Message> messages;
  std::size_t total = 0;

  void add(Message m) {
    ++total;
    int seq = seq_of(m.value);
    if (seq < 0) {
      foreign.push_back(m.value);
    } else if (copies[seq]++ == 0) {
      first_by_key[m.key].push_back(seq);
    }
    messages.push_back(std::move(m));
  }
  [[nodiscard]] std::size_t duplicates() const { return total - foreign.size() - copies.size(); }
  [[nodiscard]] std::vector<int> missing(int from, int to) const {
    std::vector<int> out;
    for (int s = from; s < to; ++s) {
      if (!copies.contains(s)) out.push_back(s);
    }
    return out;
  }
  // First arrivals of every key come in increasing seq (= id) order.
  [[nodiscard]] bool per_key_order_kept() const {
    for (const auto& [key, seqs] : first_by_key) {
      if (!std::is_sorted(seqs.begin(), seqs.end())) return false;
    }
    return true;
  }
};

// Reads until every seq in [from, to) arrived, then `linger` more (to catch
// duplicates and strays).
Arrivals read_all(TopicReader& reader, int from, int to, std::chrono::milliseconds timeout,
                  std::chrono::milliseconds linger = 1500ms) {
  Arrivals a;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !a.missing(from, to).empty()) {
    for (auto& m : reader.poll(500ms)) a.add(std::move(m));
  }
  const auto end = std::chrono::steady_clock::now() + linger;
  while (std::chrono::steady_clock::now() < end) {
    for (auto& m : reader.poll(200ms)) a.add(std::move(m));
  }
  return a;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

pid_t spawn_probe(const Env& env) {
  std::string url = testing::mysql_url();
  url = url.substr(0, url.find('?'));
  if (url.empty() || url.back() != '/') url += '/';
  url += env.dbname;
  std::vector<std::string> args = {OUTBOX_RELAY_PROBE, url, "outbox", env.bootstrap, "500"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, OUTBOX_RELAY_PROBE, nullptr, nullptr, argv.data(), environ) == 0);
  return pid;
}

}  // namespace

TEST_CASE("rows committed before the relay starts are all published; rollbacks publish nothing",
          "[outbox][kafka]") {
  Env env;
  env.insert(0, 1000, 10, true);
  env.insert(5000, 50, 5, false, {}, "rolled-back-");
  REQUIRE(env.unsent() == 1000);

  events::Producer producer(env.producer_options());
  {
    outbox::Relay relay(env.relay_options("solo"), producer);
    relay.start();
    REQUIRE(env.wait_all_sent(60s));
    CHECK(relay.is_leader());
    // The UPDATE is visible to others before its OK reaches the relay
    // (InnoDB commits in memory before the log flush): wait for the count.
    CHECK(wait_for([&] { return relay.stats().published == 1000; }, 5s));
    CHECK(relay.stats().failed == 0);
  }
  // stop() released the leader lock.
  CHECK(env.pool->acquire()->query_one("SELECT IS_FREE_LOCK(?)", {env.lock_name()})->i64(0) == 1);

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals a = read_all(reader, 0, 1000, 60s);
  CHECK(a.missing(0, 1000).empty());
  CHECK(a.foreign.empty());  // nothing from the rolled-back transactions
  CHECK(a.duplicates() == 0);
  CHECK(a.per_key_order_kept());
  for (const auto& m : a.messages) {
    int seq = seq_of(m.value);
    CHECK(m.key == key_of(seq));
    REQUIRE(m.headers.size() == 2);
    CHECK(m.headers[0] == std::pair<std::string, std::string>{"event-type", "test.event"});
    CHECK(m.headers[1].second == std::to_string(seq));
  }
  // Keys spread over the partitions, each key on one partition.
  std::map<std::string, std::set<int>> partitions_of_key;
  for (const auto& m : a.messages) partitions_of_key[m.key].insert(m.partition);
  for (const auto& [k, ps] : partitions_of_key) CHECK(ps.size() == 1);
}

TEST_CASE("two relays on one table: one leads, the other takes over, order per key kept",
          "[outbox][kafka]") {
  Env env;
  events::Producer producer_a(env.producer_options());
  events::Producer producer_b(env.producer_options());
  auto a = std::make_unique<outbox::Relay>(env.relay_options("a"), producer_a);
  auto b = std::make_unique<outbox::Relay>(env.relay_options("b"), producer_b);
  a->start();
  b->start();
  REQUIRE(wait_for([&] { return a->is_leader() || b->is_leader(); }, 5s));
  std::this_thread::sleep_for(1200ms);  // > standby_retry: the standby tried and failed
  CHECK(a->is_leader() != b->is_leader());

  // Phase 1: normal operation.
  env.insert(0, 300, 10, true, {a.get(), b.get()});
  REQUIRE(env.wait_all_sent(30s));
  outbox::Relay* leader = a->is_leader() ? a.get() : b.get();
  outbox::Relay* standby = leader == a.get() ? b.get() : a.get();
  CHECK(wait_for([&] { return leader->stats().published == 300; }, 5s));
  CHECK(standby->stats().published == 0);

  // Phase 2: the leader's session is killed on the server. One of the two
  // (whoever gets the lock first) carries on.
  {
    auto conn = env.pool->acquire();
    auto holder = conn->query_one("SELECT IS_USED_LOCK(?)", {env.lock_name()});
    REQUIRE(holder);
    REQUIRE_FALSE(holder->is_null(0));
    conn->exec_raw(fmt::format("KILL {}", holder->u64(0)));
  }
  env.insert(300, 300, 10, true, {a.get(), b.get()});
  REQUIRE(env.wait_all_sent(30s));
  CHECK(wait_for([&] { return a->is_leader() != b->is_leader(); }, 5s));

  // Phase 3: the leader stops; the standby takes over within about a second.
  leader = a->is_leader() ? a.get() : b.get();
  standby = leader == a.get() ? b.get() : a.get();
  const auto before = standby->stats().published;
  const auto t0 = std::chrono::steady_clock::now();
  leader->stop();
  REQUIRE(wait_for([&] { return standby->is_leader(); }, 5s));
  const auto takeover =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  env.insert(600, 300, 10, true, {standby});
  REQUIRE(env.wait_all_sent(30s));
  CHECK(wait_for([&] { return standby->stats().published >= before + 300; }, 5s));
  WARN(fmt::format("standby took over {:.0f} ms after the leader stopped", takeover));
  CHECK(takeover < 2000);
  a.reset();
  b.reset();

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, 900, 60s);
  CHECK(got.missing(0, 900).empty());
  CHECK(got.foreign.empty());
  CHECK(got.per_key_order_kept());
  WARN(fmt::format("two relays: {} records for 900 rows, {} duplicates", got.total,
                   got.duplicates()));
}

TEST_CASE("a relay process killed mid-batch loses no row", "[outbox][kafka]") {
  Env env;
  constexpr int kRows = 20000;
  env.pool->acquire()->exec_raw(
      fmt::format("INSERT INTO outbox (topic, msg_key, payload, headers) "
                  "SELECT '{}', CONCAT('k', seq % {}), CONCAT('p-', seq), "
                  "CONCAT('{{\"event-type\":\"test.event\",\"seq\":\"', seq, '\"}}') "
                  "FROM seq_0_to_{} ORDER BY seq",
                  env.topic, kKeys, kRows - 1));
  REQUIRE(env.unsent() == kRows);

  // Kill the relay while a batch is on the topic but not yet marked sent:
  // when a consumer has seen more distinct rows than are marked.
  TopicReader watcher(env.bootstrap, env.topic, kPartitions);
  std::set<int> seen;
  pid_t pid = spawn_probe(env);
  std::int64_t marked = 0;
  const bool caught_mid_batch = wait_for(
      [&] {
        for (const auto& m : watcher.poll(5ms)) seen.insert(seq_of(m.value));
        marked = kRows - env.unsent();
        return marked >= 2000 && static_cast<std::int64_t>(seen.size()) > marked;
      },
      60s);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(caught_mid_batch);
  const std::int64_t marked_at_kill = kRows - env.unsent();
  REQUIRE(marked_at_kill < kRows);  // killed before the end

  pid = spawn_probe(env);
  const bool finished = env.wait_all_sent(120s);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);
  REQUIRE(finished);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(env.unsent() == 0);

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals a = read_all(reader, 0, kRows, 120s, 3000ms);
  CHECK(a.missing(0, kRows).empty());
  CHECK(a.foreign.empty());
  CHECK(a.per_key_order_kept());
  WARN(
      fmt::format("killed with {} of {} rows marked sent and {} on the topic; after the restart "
                  "{} records on the topic, {} duplicates (re-published)",
                  marked_at_kill, kRows, seen.size(), a.total, a.duplicates()));
}

TEST_CASE("rows are marked only after an ack; failed rows are retried, rejected ones do not block",
          "[outbox][kafka]") {
  // (The second part also covers parking through a borrowed producer.)
  Env env;
  // A broker that does not exist: every delivery times out, nothing is marked.
  {
    auto bad = env.producer_options();
    bad.bootstrap_servers = "127.0.0.1:1";
    bad.delivery_timeout_ms = 1500;
    events::Producer producer(bad);
    env.insert(0, 20, 5, true);
    auto o = env.relay_options("unreachable");
    o.min_backoff = 50ms;
    outbox::Relay relay(o, producer);
    relay.start();
    REQUIRE(wait_for([&] { return relay.stats().failed >= 20; }, 20s));
    CHECK(relay.stats().published == 0);
    CHECK(env.unsent() == 20);
  }
  // With a reachable cluster the same rows go out; a row too large for the
  // producer (message.max.bytes) stays unsent without holding back the rest.
  {
    auto conn = env.pool->acquire();
    db::Transaction tx(*conn);
    outbox::append(*conn,
                   outbox::OutboxRow{env.topic, "k-big", "big-" + std::string(3'000'000, 'x'), {}});
    tx.commit();
  }
  env.insert(20, 20, 5, true);
  events::Producer producer(env.producer_options());
  outbox::Relay relay(env.relay_options("good"), producer);
  relay.start();
  REQUIRE(env.wait_all_sent(30s, 1));
  CHECK(env.unsent() == 1);
  CHECK(wait_for([&] { return relay.stats().parked == 1; }, 5s));  // counted after the UPDATE
  auto big = env.pool->acquire()->query_one(
      "SELECT msg_key, parked_at IS NOT NULL, park_error FROM outbox WHERE sent_at IS NULL");
  REQUIRE(big);
  CHECK(big->str(0) == "k-big");
  CHECK(big->i64(1) == 1);
  CHECK_THAT(big->str(2), Catch::Contains("MSG_SIZE_TOO_LARGE"));
  relay.stop();

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals a = read_all(reader, 0, 40, 30s);
  CHECK(a.missing(0, 40).empty());
  CHECK(a.foreign.empty());
  CHECK(a.per_key_order_kept());
}

TEST_CASE("retention deletes old sent rows only", "[outbox][kafka]") {
  Env env;
  env.insert(0, 30, 10, true);
  env.pool->acquire()->exec_raw(
      "UPDATE outbox SET sent_at = NOW(3) - INTERVAL 2 HOUR WHERE id % 3 = 0");
  events::Producer producer(env.producer_options());
  auto o = env.relay_options("cleaner");
  o.cleanup_batch = 3;  // several small deletes
  outbox::Relay relay(o, producer);
  relay.start();
  REQUIRE(env.wait_all_sent(30s));
  REQUIRE(wait_for([&] { return relay.stats().cleaned == 10; }, 10s));
  auto conn = env.pool->acquire();
  CHECK(conn->query_one("SELECT COUNT(*) FROM outbox")->i64(0) == 20);
  CHECK(conn->query_one("SELECT COUNT(*) FROM outbox WHERE id % 3 = 0")->i64(0) == 0);
}

TEST_CASE("commit to publish latency with notify()", "[outbox][kafka][latency]") {
  // OUTBOX_TEST_DEBUG=1 logs the relay's per-batch timings.
  if (std::getenv("OUTBOX_TEST_DEBUG") != nullptr) log::init("outbox-test", log::Level::kDebug);
  Env env;
  events::Producer producer(env.producer_options());
  // A long poll interval makes the difference unmistakable: with notify() a
  // commit goes out at once, without it it waits for the next poll. (The
  // figures are printed; the checks are about that mechanism, with margins far
  // beyond scheduling noise, not about speed.)
  auto options = env.relay_options("latency");
  options.poll_interval = 2s;
  outbox::Relay relay(options, producer);
  relay.start();
  REQUIRE(wait_for([&] { return relay.is_leader(); }, 5s));

  // Consume concurrently, stamping each record when it arrives.
  std::mutex mutex;
  std::map<int, std::chrono::system_clock::time_point> received;  // guarded by mutex
  std::atomic<bool> reading{true};
  std::thread reader_thread([&] {
    TopicReader reader(env.bootstrap, env.topic, kPartitions);
    while (reading) {
      for (const auto& m : reader.poll(50ms)) {
        std::lock_guard lock(mutex);
        received.emplace(seq_of(m.value), m.received);
      }
    }
  });
  // Warm up: the first record to a new topic waits for its metadata.
  env.insert(100000, 1, 1, true, {&relay});
  REQUIRE(env.wait_all_sent(30s));
  REQUIRE(wait_for(
      [&] {
        std::lock_guard l(mutex);
        return received.contains(100000);
      },
      30s));

  auto measure = [&](int from, int count, bool notify, std::chrono::milliseconds gap) {
    std::map<std::uint64_t, int> seq_of_id;
    std::map<int, std::chrono::system_clock::time_point> committed;
    auto conn = env.pool->acquire();
    for (int i = from; i < from + count; ++i) {
      db::Transaction tx(*conn);
      seq_of_id[outbox::append(*conn, env.row(i))] = i;
      tx.commit();
      committed[i] = std::chrono::system_clock::now();
      if (notify) relay.notify();
      std::this_thread::sleep_for(gap);
    }
    REQUIRE(env.wait_all_sent(30s));
    REQUIRE(wait_for(
        [&] {
          std::lock_guard l(mutex);
          for (int i = from; i < from + count; ++i) {
            if (!received.contains(i)) return false;
          }
          return true;
        },
        30s));

    std::vector<double> to_marked;
    for (const auto& row :
         conn->query("SELECT id, UNIX_TIMESTAMP(sent_at) FROM outbox WHERE id BETWEEN ? AND ?",
                     {seq_of_id.begin()->first, seq_of_id.rbegin()->first})) {
      int seq = seq_of_id.at(row.u64(0));
      double commit_s = std::chrono::duration<double>(committed.at(seq).time_since_epoch()).count();
      to_marked.push_back((row.f64(1) - commit_s) * 1000.0);
    }
    std::vector<double> to_consumer;
    {
      std::lock_guard l(mutex);
      for (const auto& [seq, at] : committed) {
        to_consumer.push_back(
            std::chrono::duration<double, std::milli>(received.at(seq) - at).count());
      }
    }
    WARN(fmt::format(
        "{} single-row commits, {}: commit->marked sent p50 {:.1f} ms p99 {:.1f} ms "
        "max {:.1f} ms; commit->consumed p50 {:.1f} ms p99 {:.1f} ms (linger.ms 5, acks=all, RF 3)",
        count, notify ? "notify()" : "polling only (2 s)", percentile(to_marked, 0.5),
        percentile(to_marked, 0.99), percentile(to_marked, 1.0), percentile(to_consumer, 0.5),
        percentile(to_consumer, 0.99)));
    return percentile(to_consumer, 0.5);
  };

  const double p50_notify = measure(0, 500, true, 2ms);
  // Spread over 2.5 poll intervals: the waits are spread over a whole interval.
  const double p50_poll = measure(1000, 200, false, 25ms);
  reading = false;
  reader_thread.join();
  CHECK(p50_notify < 500);           // a quarter of the poll interval
  CHECK(p50_poll > 2 * p50_notify);  // polling alone waits ~half an interval
}

TEST_CASE("min_round_interval: a stream of notified commits goes out in few batches",
          "[outbox][kafka]") {
  Env env;
  events::Producer producer(env.producer_options());
  auto options = env.relay_options("rounds");
  options.min_round_interval = 1000ms;
  outbox::Relay relay(options, producer);
  relay.start();
  REQUIRE(wait_for([&] { return relay.is_leader(); }, 5s));
  env.insert(100000, 1, 1, true, {&relay});  // warm up: topic metadata
  REQUIRE(env.wait_all_sent(30s));
  const auto before = relay.stats();

  // 60 single-row commits over ~0.4 s, each followed by notify(): without the
  // interval each would start a round of its own (tens of batches).
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 60; ++i) {
    env.insert(i, 1, 1, true, {&relay});
    std::this_thread::sleep_for(6ms);
  }
  auto wrote = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(env.wait_all_sent(30s));
  // The relay counts a batch just after marking its rows sent.
  REQUIRE(wait_for([&] { return relay.stats().published - before.published >= 60; }, 5s));
  const auto after = relay.stats();
  CHECK(after.published - before.published == 60);
  const auto batches = after.batches - before.batches;
  // At most one round per second while writing, plus the last one.
  CHECK(batches <= static_cast<std::uint64_t>(wrote / 1.0) + 2);
  CHECK(batches >= 1);
  WARN(fmt::format("60 commits in {:.2f} s published in {} batches", wrote, batches));

  // After a quiet spell a lone commit is not held back by the interval.
  std::this_thread::sleep_for(1500ms);
  auto lone = std::chrono::steady_clock::now();
  env.insert(1000, 1, 1, true, {&relay});
  REQUIRE(env.wait_all_sent(30s));
  CHECK(std::chrono::steady_clock::now() - lone < 400ms);
}

TEST_CASE(
    "busy_poll_interval: while rows flow, commits nobody notified (another instance's) go out "
    "without waiting for the slow poll",
    "[outbox][kafka]") {
  Env env;
  events::Producer producer(env.producer_options());
  auto options = env.relay_options("busy");
  options.poll_interval = 5000ms;
  options.busy_poll_interval = 20ms;
  outbox::Relay relay(options, producer);
  relay.start();
  REQUIRE(wait_for([&] { return relay.is_leader(); }, 5s));
  env.insert(100000, 1, 1, true, {&relay});  // rows flow from here on
  REQUIRE(env.wait_all_sent(30s));

  // 20 commits 50 ms apart, none followed by notify(): each waits for the
  // relay's next look. At the 5 s poll the last would go out ~4 s after the
  // first; while busy, the relay looks every 20 ms.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    env.insert(i, 1, 1, true);
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(env.wait_all_sent(30s));
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 3000ms);
  WARN(fmt::format("20 unnotified commits over 1 s all sent after {} ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
}

TEST_CASE("a relay needs to know its database", "[outbox]") {
  events::ProducerOptions p;
  p.bootstrap_servers = testing::kafka_bootstrap();
  events::Producer producer(p);
  outbox::RelayOptions o;
  o.db = db::parse_url("mysql://u@127.0.0.1:1/");
  CHECK_THROWS_AS(outbox::Relay(o, producer), std::invalid_argument);
  o.table = "somedb.outbox";
  outbox::Relay relay(o, producer);
  CHECK(relay.qualified_table() == "somedb.outbox");
  CHECK_FALSE(relay.is_leader());
}

// ---------------------------------------------------------------------------
// Resilience: takeover from a frozen or killed leader, giving up, parking,
// liveness. Run as their own ctest entry (outbox.relay.resilience).

namespace {

std::string probe_url(const Env& env) {
  std::string url = testing::mysql_url();
  url = url.substr(0, url.find('?'));
  if (url.empty() || url.back() != '/') url += '/';
  return url + env.dbname;
}

std::unique_ptr<testing::ChildProcess> start_probe(const Env& env, const std::string& instance) {
  const auto log = std::filesystem::temp_directory_path() / (env.dbname + "-" + instance + ".log");
  return std::make_unique<testing::ChildProcess>(
      OUTBOX_RELAY_PROBE,
      std::vector<std::string>{probe_url(env), "outbox", env.bootstrap, "500",
                               "instance=" + instance},
      std::map<std::string, std::string>{}, log.string());
}

// The instance whose session holds the leader lock, according to the lease
// table; empty when the lock is free or its holder wrote no heartbeat (or no
// relay created the table yet).
std::string leader_instance(Env& env) {
  auto conn = env.pool->acquire();
  if (conn->query_one("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND "
                      "TABLE_NAME = 'outbox_leader'",
                      {env.dbname})
          ->i64(0) == 0) {
    return {};
  }
  auto row = conn->query_one(
      "SELECT l.instance FROM outbox_leader l WHERE l.name = ? AND "
      "l.connection_id = IS_USED_LOCK(?)",
      {env.lock_name(), env.lock_name()});
  return row ? row->str(0) : std::string();
}

// The probe's last line: {"probe":"stopped",...,"terms":N,"takeovers":N}.
std::uint64_t probe_figure(const std::string& log, const std::string& name) {
  const auto at = log.rfind("\"" + name + "\":");
  if (at == std::string::npos) return ~0ULL;
  return std::stoull(log.substr(at + name.size() + 3));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("a frozen leader (SIGSTOP) is replaced within seconds and does not lead again",
          "[outbox][kafka][resilience]") {
  Env env;
  auto a = start_probe(env, "a");
  REQUIRE(wait_for([&] { return leader_instance(env) == "a"; }, 15s));
  auto b = start_probe(env, "b");
  std::this_thread::sleep_for(1500ms);  // b is up and a standby
  REQUIRE(leader_instance(env) == "a");
  env.insert(0, 200, 10, true);
  REQUIRE(env.wait_all_sent(30s));

  // Frozen while it holds the lock: the server keeps its session (and the
  // lock) open for as long as wait_timeout allows; b must not wait for that.
  a->signal(SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  env.insert(200, 200, 10, true);
  const bool taken_over = env.wait_all_sent(60s);
  const double takeover_s = seconds_since(t0);
  a->signal(SIGCONT);
  REQUIRE(taken_over);
  WARN(fmt::format("rows committed while the leader was frozen were sent after {:.1f} s",
                   takeover_s));
  CHECK(takeover_s < 15.0);  // leader_stale_after is 5 s
  CHECK(leader_instance(env) == "b");

  // a resumes, finds its session gone and stays standby: b keeps leading.
  env.insert(400, 200, 10, true);
  REQUIRE(env.wait_all_sent(30s));
  std::this_thread::sleep_for(3s);
  env.insert(600, 100, 10, true);
  REQUIRE(env.wait_all_sent(30s));
  CHECK(leader_instance(env) == "b");

  a->signal(SIGTERM);
  b->signal(SIGTERM);
  CHECK(a->wait(30s) == std::optional<int>(0));
  CHECK(b->wait(30s) == std::optional<int>(0));
  const std::string log_a = a->log();
  const std::string log_b = b->log();
  CHECK(probe_figure(log_a, "terms") == 1);  // never led again after SIGCONT
  CHECK(probe_figure(log_b, "terms") == 1);
  CHECK(probe_figure(log_b, "takeovers") == 1);  // b killed a's session
  CHECK(log_a.find("not leading") != std::string::npos);
  CHECK(env.unsent() == 0);

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, 700, 60s);
  CHECK(got.missing(0, 700).empty());
  CHECK(got.foreign.empty());
  CHECK(got.per_key_order_kept());
  WARN(fmt::format("frozen leader: {} records for 700 rows, {} duplicates", got.total,
                   got.duplicates()));
}

TEST_CASE("a leader frozen mid-stream: the standby takes over, the old leader marks nothing",
          "[outbox][kafka][resilience]") {
  Env env;
  constexpr int kRows = 20000;
  env.pool->acquire()->exec_raw(
      fmt::format("INSERT INTO outbox (topic, msg_key, payload, headers) "
                  "SELECT '{}', CONCAT('k', seq % {}), CONCAT('p-', seq), '{{}}' "
                  "FROM seq_0_to_{} ORDER BY seq",
                  env.topic, kKeys, kRows - 1));
  auto a = start_probe(env, "a");
  REQUIRE(wait_for([&] { return leader_instance(env) == "a"; }, 15s));
  auto b = start_probe(env, "b");
  // Freeze a while it is publishing the backlog.
  std::int64_t marked = 0;
  REQUIRE(wait_for(
      [&] {
        marked = kRows - env.unsent();
        return marked >= 1000;
      },
      60s));
  a->signal(SIGSTOP);
  // A statement a sent just before the freeze completes on the server (its
  // answer waits in a's socket): after that, what is marked stays put.
  std::this_thread::sleep_for(500ms);
  const std::int64_t marked_at_freeze = kRows - env.unsent();
  REQUIRE(marked_at_freeze < kRows);
  const bool finished = env.wait_all_sent(120s);
  a->signal(SIGCONT);
  REQUIRE(finished);
  CHECK(leader_instance(env) == "b");
  std::this_thread::sleep_for(2s);  // a resumes, finds its session killed
  CHECK(leader_instance(env) == "b");

  a->signal(SIGTERM);
  b->signal(SIGTERM);
  CHECK(a->wait(30s) == std::optional<int>(0));
  CHECK(b->wait(30s) == std::optional<int>(0));
  CHECK(probe_figure(a->log(), "terms") == 1);
  CHECK(probe_figure(b->log(), "takeovers") == 1);
  // What a marked: only before the freeze (its statements after it failed).
  CHECK(probe_figure(a->log(), "published") == static_cast<std::uint64_t>(marked_at_freeze));

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, kRows, 120s, 3000ms);
  CHECK(got.missing(0, kRows).empty());
  CHECK(got.foreign.empty());
  CHECK(got.per_key_order_kept());
  WARN(fmt::format("frozen with {} of {} rows marked; {} records on the topic, {} duplicates",
                   marked_at_freeze, kRows, got.total, got.duplicates()));
}

TEST_CASE("a leader process SIGKILLed: the other instance takes over at once",
          "[outbox][kafka][resilience]") {
  Env env;
  auto a = start_probe(env, "a");
  REQUIRE(wait_for([&] { return leader_instance(env) == "a"; }, 15s));
  auto b = start_probe(env, "b");
  std::this_thread::sleep_for(1500ms);
  env.insert(0, 200, 10, true);
  REQUIRE(env.wait_all_sent(30s));

  a->signal(SIGKILL);
  CHECK(a->wait(10s).has_value());
  const auto t0 = std::chrono::steady_clock::now();
  env.insert(200, 200, 10, true);
  REQUIRE(env.wait_all_sent(60s));
  const double takeover_s = seconds_since(t0);
  WARN(fmt::format("rows committed after the leader was killed were sent after {:.1f} s",
                   takeover_s));
  CHECK(takeover_s < 15.0);
  CHECK(leader_instance(env) == "b");
  b->signal(SIGTERM);
  CHECK(b->wait(30s) == std::optional<int>(0));
  // The server ended a's session with the process: no kill was needed.
  CHECK(probe_figure(b->log(), "takeovers") == 0);

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, 400, 60s);
  CHECK(got.missing(0, 400).empty());
  CHECK(got.foreign.empty());
  CHECK(got.per_key_order_kept());
}

TEST_CASE("a leader that cannot publish gives up; an instance that can takes over",
          "[outbox][kafka][resilience]") {
  Env env;
  auto broken_options = env.relay_options("broken");
  broken_options.producer.bootstrap_servers = "127.0.0.1:1";  // nothing listens there
  broken_options.producer.delivery_timeout_ms = 1500;
  broken_options.producer.close_timeout = 1s;
  broken_options.max_failed_rounds = 2;
  broken_options.min_backoff = 50ms;
  outbox::Relay broken(broken_options);
  broken.start();
  REQUIRE(wait_for([&] { return broken.is_leader(); }, 10s));

  outbox::Relay good(env.relay_options("good"));
  good.start();
  env.insert(0, 50, 5, true, {&broken, &good});

  REQUIRE(wait_for([&] { return broken.stats().give_ups >= 1; }, 30s));
  REQUIRE(env.wait_all_sent(30s));
  CHECK(wait_for([&] { return good.stats().published == 50; }, 5s));
  CHECK(good.is_leader());
  CHECK_FALSE(broken.is_leader());
  CHECK(broken.stats().published == 0);
  CHECK(broken.stats().failed >= 2);             // at least two failed rounds
  CHECK(broken.stats().producers_created >= 2);  // recreated when it gave up
  // It keeps trying to lead, but the good leader's heartbeat is fresh.
  std::this_thread::sleep_for(3s);
  CHECK(good.is_leader());
  CHECK(good.stats().takeovers == 0);
  CHECK(broken.healthy());  // a standby is healthy
  CHECK(good.healthy());
  good.stop();
  broken.stop();

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, 50, 30s);
  CHECK(got.missing(0, 50).empty());
  CHECK(got.duplicates() == 0);  // the broken leader never reached a broker
  CHECK(got.per_key_order_kept());
}

TEST_CASE("rows that can never be published are parked; the rows around them go out",
          "[outbox][kafka][resilience]") {
  Env env;
  // A table made before parking existed: the relay adds the columns.
  env.pool->acquire()->exec_raw("ALTER TABLE outbox DROP COLUMN parked_at, DROP COLUMN park_error");
  const std::string missing_topic = testing::unique_name("outbox-missing");
  auto append_one = [&](const std::string& topic, const std::string& key, std::string payload) {
    auto conn = env.pool->acquire();
    db::Transaction tx(*conn);
    outbox::append(*conn, outbox::OutboxRow{topic, key, std::move(payload), {}});
    tx.commit();
  };
  env.insert(0, 10, 5, true);
  append_one(missing_topic, "k-missing", "missing-topic");  // auto topic creation is off
  env.insert(10, 10, 5, true);
  append_one(env.topic, "k-big", "big-" + std::string(3'000'000, 'x'));  // > message.max.bytes
  env.insert(20, 10, 5, true);

  outbox::Relay relay(env.relay_options("parking"));
  auto& parked_total =
      metrics::global().counter("outbox_parked_total", "", {{"table", relay.qualified_table()}});
  auto& parked_gauge =
      metrics::global().gauge("outbox_parked", "", {{"table", relay.qualified_table()}});
  const auto parked_before = parked_total.value();
  relay.start();
  REQUIRE(env.wait_all_sent(60s, 2));
  REQUIRE(wait_for([&] { return relay.stats().parked == 2; }, 30s));
  CHECK(parked_total.value() - parked_before == 2);
  CHECK(wait_for([&] { return parked_gauge.value() == 2.0; }, 5s));
  CHECK(wait_for([&] { return relay.stats().published == 30; }, 5s));

  auto rows = env.pool->acquire()->query(
      "SELECT msg_key, park_error FROM outbox WHERE parked_at IS NOT NULL AND sent_at IS NULL "
      "ORDER BY id");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].str(0) == "k-missing");
  CHECK_THAT(rows[0].str(1), Catch::Contains("UNKNOWN_TOPIC"));
  CHECK(rows[1].str(0) == "k-big");
  CHECK_THAT(rows[1].str(1), Catch::Contains("MSG_SIZE_TOO_LARGE"));

  // Parked rows are never selected again: later rows go out at once.
  const auto failed_before = relay.stats().failed;
  const auto t0 = std::chrono::steady_clock::now();
  env.insert(30, 10, 5, true, {&relay});
  REQUIRE(env.wait_all_sent(30s, 2));
  CHECK(seconds_since(t0) < 5.0);
  CHECK(relay.stats().parked == 2);
  CHECK(relay.stats().failed == failed_before);
  CHECK(relay.healthy());
  relay.stop();

  TopicReader reader(env.bootstrap, env.topic, kPartitions);
  Arrivals got = read_all(reader, 0, 40, 30s);
  CHECK(got.missing(0, 40).empty());
  CHECK(got.foreign.empty());  // the big row is not on the topic
  CHECK(got.per_key_order_kept());
}

TEST_CASE("healthy(): a leader without progress fails, a standby does not",
          "[outbox][kafka][resilience]") {
  Env env;
  auto stuck_options = env.relay_options("stuck");
  stuck_options.producer.bootstrap_servers = "127.0.0.1:1";
  stuck_options.producer.delivery_timeout_ms = 120000;  // acks never come
  stuck_options.producer.close_timeout = 1s;
  stuck_options.give_up_after = std::chrono::hours(1);  // never gives up here
  stuck_options.stuck_after = 2s;
  stuck_options.drain_timeout = 500ms;
  outbox::Relay stuck(stuck_options);
  CHECK(stuck.healthy());  // not started
  stuck.start();
  REQUIRE(wait_for([&] { return stuck.is_leader(); }, 10s));
  CHECK(stuck.healthy());  // leading, nothing to publish

  auto standby_options = env.relay_options("standby");
  standby_options.stuck_after = 2s;
  outbox::Relay standby(standby_options);
  standby.start();

  env.insert(0, 5, 5, true, {&stuck});
  REQUIRE(wait_for([&] { return !stuck.healthy(); }, 15s));
  CHECK(stuck.is_leader());
  // The stuck leader still heartbeats while it waits for acks: the standby
  // leaves it alone and stays healthy.
  CHECK(standby.healthy());
  CHECK_FALSE(standby.is_leader());
  CHECK(standby.stats().takeovers == 0);
  CHECK(env.unsent() == 5);
  stuck.stop();
  CHECK(stuck.healthy());  // stopped
  // The standby takes over and publishes.
  REQUIRE(env.wait_all_sent(30s));
  CHECK(standby.healthy());
}
