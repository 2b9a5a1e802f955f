#include "ticketing/outbox/pruner.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include <fmt/format.h>

#include "ticketing/common/config.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/locks.hpp"
#include "ticketing/db/migrate.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMaxSeconds = 10LL * 365 * 24 * 3600;

std::string qualify(const std::string& table, const std::string& database) {
  if (table.find('.') != std::string::npos) return table;
  if (database.empty() || table.empty()) {
    throw std::invalid_argument(
        fmt::format("dedupe pruner: cannot tell the database of table '{}'", table));
  }
  return database + "." + table;
}

}  // namespace

std::chrono::seconds read_retention(EnvReader& env, std::string_view name,
                                    std::chrono::seconds fallback) {
  const auto v = env.integer(name, fallback.count(), 1, kMaxSeconds);
  if (v < kMinDedupeRetention.count()) {
    env.fail(name, fmt::format("{} s is too short: at least {} s (1 day), and longer than the "
                               "topics' retention (see docs/operations.md)",
                               v, kMinDedupeRetention.count()));
    return fallback;
  }
  return std::chrono::seconds(v);
}

PruneSettings PruneSettings::read(EnvReader& env) {
  PruneSettings s;
  s.dedupe_retention = read_retention(env, "DEDUPE_RETENTION_S", kDefaultDedupeRetention);
  s.interval = std::chrono::seconds(env.integer("PRUNE_INTERVAL_S", 3600, 1, 7LL * 24 * 3600));
  s.batch_size = static_cast<std::size_t>(env.integer("PRUNE_BATCH_SIZE", 1000, 1, 100000));
  s.batch_pause = std::chrono::milliseconds(env.integer("PRUNE_BATCH_PAUSE_MS", 100, 0, 60000));
  return s;
}

PrunerOptions pruner_options_for(const std::string& mysql_url, const std::string& database,
                                 const PruneSettings& settings, const std::string& service) {
  PrunerOptions o;
  o.db = db::parse_url(mysql_url);
  o.db.database = database;
  o.interval = settings.interval;
  o.first_delay = std::min<std::chrono::milliseconds>(o.first_delay, settings.interval);
  o.batch_size = settings.batch_size;
  o.batch_pause = settings.batch_pause;
  o.instance = service + "-" + std::to_string(::getpid());
  return o;
}

struct Pruner::Impl {
  struct Table {
    PruneTable spec;
    std::string qualified;  // db.table
    std::string lock_name;
    std::string delete_sql;
    metrics::Counter& pruned_total;
    metrics::Counter& failures_total;
    metrics::Counter& skipped_total;
    std::atomic<std::uint64_t> deleted{0}, statements{0}, rounds{0}, skipped{0}, failures{0};

    Table(PruneTable s, std::string q)
        : spec(std::move(s)),
          qualified(std::move(q)),
          lock_name(db::fit_lock_name("dedupe-prune:" + qualified)),
          pruned_total(metrics::global().counter("dedupe_pruned_total",
                                                 "Dedupe rows deleted after their retention",
                                                 {{"table", qualified}})),
          failures_total(metrics::global().counter(
              "dedupe_prune_failures_total",
              "Dedupe pruning rounds that failed on a table (retried at the next interval)",
              {{"table", qualified}})),
          skipped_total(metrics::global().counter(
              "dedupe_prune_skipped_total",
              "Dedupe pruning rounds left to another instance holding the table's lock",
              {{"table", qualified}})) {
      const std::string col = db::quote_identifier(spec.time_column);
      // The time column leads an index: the range scan reads only old rows,
      // and under READ COMMITTED locks only the rows it deletes.
      const std::string cutoff = spec.kind == TimeColumn::kDatetime
                                     ? "TIMESTAMPADD(MICROSECOND, ?, NOW(3))"
                                     : std::string("?");
      delete_sql = fmt::format("DELETE FROM {} WHERE {} < {} ORDER BY {} LIMIT ?",
                               quote_table(qualified), col, cutoff, col);
    }

    // The bound parameter of delete_sql for this round.
    [[nodiscard]] std::int64_t cutoff_param() const {
      if (spec.kind == TimeColumn::kDatetime) {
        return -std::chrono::duration_cast<std::chrono::microseconds>(spec.retention).count();
      }
      return now_unix_millis() -
             std::chrono::duration_cast<std::chrono::milliseconds>(spec.retention).count();
    }
  };

  PrunerOptions options;
  std::vector<std::unique_ptr<Table>> tables;

  // The worker's lifecycle: a jthread whose stop_token ends every wait at
  // once (condition_variable_any waits on it).
  std::mutex mutex;
  std::condition_variable_any cv;
  std::mutex round_mutex;
  std::mutex lifecycle;
  std::jthread thread;

  explicit Impl(PrunerOptions o) : options(std::move(o)) {
    if (options.batch_size == 0) options.batch_size = 1;
    if (options.instance.empty()) options.instance = fmt::format("pid-{}", ::getpid());
    for (auto& t : options.tables) {
      if (t.time_column.empty()) throw std::invalid_argument("dedupe pruner: empty time column");
      auto q = qualify(t.table, options.db.database);
      tables.push_back(std::make_unique<Table>(t, std::move(q)));
    }
  }

  // False when stopped meanwhile.
  bool wait(const std::stop_token& stop, std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !cv.wait_for(lock, stop, d, [&stop] { return stop.stop_requested(); });
  }

  std::unique_ptr<db::Connection> connect() {
    auto conn = std::make_unique<db::Connection>(options.db);
    // READ COMMITTED: no gap locks, so a DELETE never blocks the inserts of
    // new rows. A short lock wait: a busy old row fails this round, not the
    // services' transactions.
    conn->exec_raw(
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; "
        "SET SESSION innodb_lock_wait_timeout = 5");
    return conn;
  }

  void fail(Table& t, const std::exception& e) {
    t.failures.fetch_add(1);
    t.failures_total.inc();
    log::warn("dedupe pruning failed; retrying at the next interval",
              {{"table", t.qualified}, {"instance", options.instance}, {"error", e.what()}});
  }

  void prune(const std::stop_token& stop, db::Connection& conn, Table& t) {
    if (!db::get_lock(conn, t.lock_name, std::chrono::seconds(0))) {
      t.skipped.fetch_add(1);
      t.skipped_total.inc();
      log::debug("dedupe pruning: another instance holds the table",
                 {{"table", t.qualified}, {"instance", options.instance}});
      return;
    }
    const auto started = Clock::now();
    const auto cutoff = t.cutoff_param();
    std::uint64_t deleted = 0;
    bool complete = false;
    try {
      for (;;) {
        auto r = conn.exec(t.delete_sql, {cutoff, static_cast<std::uint64_t>(options.batch_size)});
        t.statements.fetch_add(1);
        deleted += r.affected_rows;
        t.deleted.fetch_add(r.affected_rows);
        t.pruned_total.inc(r.affected_rows);
        if (r.affected_rows < options.batch_size) {
          complete = true;
          break;
        }
        if (!wait(stop, options.batch_pause)) break;
      }
    } catch (...) {
      // The lock goes with the session, which the caller drops when broken.
      try {
        if (!conn.broken()) db::release_lock(conn, t.lock_name);
      } catch (...) {
        conn.invalidate();  // dropped by the caller: the server frees the lock
      }
      throw;
    }
    db::release_lock(conn, t.lock_name);
    if (complete) t.rounds.fetch_add(1);
    if (deleted > 0) {
      log::info("dedupe rows pruned",
                {{"table", t.qualified},
                 {"deleted", std::to_string(deleted)},
                 {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           Clock::now() - started)
                                           .count())}});
    }
  }

  void round(const std::stop_token& stop) noexcept {
    std::lock_guard guard(round_mutex);
    std::unique_ptr<db::Connection> conn;
    for (auto& t : tables) {
      if (stop.stop_requested()) return;
      try {
        if (!conn || conn->broken()) conn = connect();
        prune(stop, *conn, *t);
      } catch (const std::exception& e) {
        fail(*t, e);
      } catch (...) {
        fail(*t, std::runtime_error("unknown error"));
      }
    }
  }

  void loop(const std::stop_token& stop) noexcept {
    if (!wait(stop, options.first_delay)) return;
    do {
      round(stop);
    } while (wait(stop, options.interval));
  }
};

Pruner::Pruner(PrunerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Pruner::~Pruner() {
  stop();
}

void Pruner::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->thread.joinable()) return;
  impl_->thread = std::jthread([this](const std::stop_token& stop) { impl_->loop(stop); });
}

void Pruner::stop() noexcept {
  std::lock_guard lock(impl_->lifecycle);
  if (!impl_->thread.joinable()) return;
  impl_->thread.request_stop();  // wakes a wait at once (condition_variable_any)
  impl_->thread.join();
}

void Pruner::run_once() noexcept {
  impl_->round(std::stop_token{});  // a token without a source never stops
}

std::vector<Pruner::TableStats> Pruner::stats() const {
  std::vector<TableStats> out;
  out.reserve(impl_->tables.size());
  for (const auto& t : impl_->tables) {
    out.push_back(TableStats{t->qualified, t->deleted.load(), t->statements.load(),
                             t->rounds.load(), t->skipped.load(), t->failures.load()});
  }
  return out;
}

}  // namespace ticketing::outbox
