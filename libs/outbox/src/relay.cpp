#include "ticketing/outbox/relay.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/locks.hpp"
#include "ticketing/events/producer.hpp"

namespace ticketing::outbox {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Delivery state of one batch. Shared with the producer's callbacks, which
// may outlive the relay's wait (stop() with records still in flight).
struct BatchState {
  enum class Status : std::int8_t { kPending, kAcked, kFailed };
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t outstanding = 0;  // enqueued, callback not run yet
  std::vector<Status> status;
  std::vector<std::chrono::system_clock::time_point> acked_at;
  std::string first_error;

  void complete(std::size_t i, const events::DeliveryReport& report) {
    std::lock_guard lock(mutex);
    if (report.ok) {
      status[i] = Status::kAcked;
      acked_at[i] = std::chrono::system_clock::now();
    } else {
      status[i] = Status::kFailed;
      if (first_error.empty()) first_error = report.error;
    }
    if (--outstanding == 0) cv.notify_all();
  }
};

struct BatchResult {
  std::size_t fetched = 0;
  std::size_t acked = 0;
  std::size_t failed = 0;
};

std::string split_schema(const RelayOptions& o, std::string& table) {
  if (auto dot = o.table.find('.'); dot != std::string::npos) {
    table = o.table.substr(dot + 1);
    return o.table.substr(0, dot);
  }
  table = o.table;
  return o.db.database;
}

}  // namespace

struct Relay::Impl {
  RelayOptions options;
  events::Producer& producer;
  std::string qualified;  // db.table
  std::string lock_name;  // outbox:db.table
  std::string select_sql;
  std::string count_sql;
  std::string cleanup_sql;
  std::string mark_prefix;

  metrics::Counter& published_total;
  metrics::Counter& failures_total;
  metrics::Gauge& pending_gauge;
  metrics::Gauge& leader_gauge;
  metrics::Histogram& lag_hist;

  std::mutex mutex;
  std::condition_variable cv;
  bool notified = false;               // guarded by mutex
  bool stopping = false;               // guarded by mutex
  Clock::time_point stop_requested{};  // guarded by mutex
  std::thread thread;
  std::mutex lifecycle;  // start/stop

  // Relay thread only.
  std::unique_ptr<db::Connection> conn;
  Clock::time_point last_cleanup{};
  Clock::time_point last_pending{};
  unsigned consecutive_errors = 0;

  std::atomic<bool> leader{false};
  std::atomic<std::uint64_t> n_published{0}, n_failed{0}, n_batches{0}, n_terms{0}, n_cleaned{0};

  Impl(RelayOptions o, events::Producer& p, const std::string& schema, const std::string& table)
      : options(std::move(o)),
        producer(p),
        qualified(schema + "." + table),
        lock_name(db::fit_lock_name("outbox:" + qualified)),
        published_total(metrics::global().counter(
            "outbox_published_total", "Outbox rows acknowledged by Kafka and marked sent",
            {{"table", qualified}})),
        failures_total(metrics::global().counter("outbox_publish_failures_total",
                                                 "Outbox row deliveries that failed (retried)",
                                                 {{"table", qualified}})),
        pending_gauge(metrics::global().gauge("outbox_pending", "Outbox rows not yet sent",
                                              {{"table", qualified}})),
        leader_gauge(metrics::global().gauge("outbox_is_leader",
                                             "1 while this process's relay publishes the table",
                                             {{"table", qualified}})),
        lag_hist(metrics::global().histogram("outbox_publish_lag_seconds",
                                             "Outbox row insert to broker acknowledgement",
                                             {{"table", qualified}})) {
    const std::string t = quote_table(qualified);
    select_sql = fmt::format(
        "SELECT id, topic, msg_key, payload, headers, UNIX_TIMESTAMP(created_at) FROM {} "
        "WHERE sent_at IS NULL ORDER BY id LIMIT ?",
        t);
    count_sql = fmt::format("SELECT COUNT(*) FROM {} WHERE sent_at IS NULL", t);
    cleanup_sql = fmt::format(
        "DELETE FROM {} WHERE sent_at < TIMESTAMPADD(MICROSECOND, ?, NOW(3)) ORDER BY sent_at, id "
        "LIMIT ?",
        t);
    mark_prefix = fmt::format("UPDATE {} SET sent_at = NOW(3) WHERE id IN (", t);
  }

  [[nodiscard]] bool stop_requested_now() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  // Sleeps unless stopped meanwhile; notify() does not cut it short.
  void sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, d, [&] { return stopping; });
  }

  // Waits for notify(), stop() or the poll interval; after a round that
  // published rows, not before min_round_interval after its start.
  void wait_for_work(Clock::time_point round_started, bool busy) {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, options.poll_interval, [&] { return notified || stopping; });
    if (busy && options.min_round_interval.count() > 0) {
      cv.wait_until(lock, round_started + options.min_round_interval, [&] { return stopping; });
    }
    notified = false;
  }

  void set_leader(bool v) {
    if (leader.exchange(v) != v) {
      leader_gauge.set(v ? 1.0 : 0.0);
      if (v) {
        n_terms.fetch_add(1);
        log::info("outbox relay: leading", {{"table", qualified}, {"instance", options.instance}});
      } else {
        // Only the leader knows the backlog; summed over instances the
        // gauges then give the table's backlog once.
        pending_gauge.set(0.0);
        log::info("outbox relay: not leading",
                  {{"table", qualified}, {"instance", options.instance}});
      }
    }
  }

  void drop_connection() {
    conn.reset();  // the server releases the named lock with the session
    set_leader(false);
  }

  void ensure_connected() {
    if (conn && !conn->broken()) return;
    drop_connection();
    auto c = std::make_unique<db::Connection>(options.db);
    // READ COMMITTED: the retention DELETE must not take gap locks that
    // would block services inserting new outbox rows. wait_timeout: a leader
    // cut off by a network partition loses its lock after at most 30 s (the
    // relay never idles that long: it polls, or pings while waiting).
    c->exec_raw(
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET SESSION wait_timeout = 30");
    conn = std::move(c);
  }

  bool try_lead() {
    if (!db::get_lock(*conn, lock_name, 0s)) return false;
    set_leader(true);
    last_cleanup = Clock::time_point{};  // clean up soon after taking over
    last_pending = Clock::time_point{};
    return true;
  }

  void release_leadership() noexcept {
    if (!conn) return;
    try {
      if (leader.load() && !conn->broken()) db::release_lock(*conn, lock_name);
    } catch (const std::exception& e) {
      log::warn("outbox relay: release lock failed", {{"table", qualified}, {"error", e.what()}});
    }
    drop_connection();
  }

  // Waits for every delivery report of the batch; on stop, for at most
  // drain_timeout. Keeps the session alive while the broker is slow.
  void wait_for_batch(BatchState& state) {
    auto last_ping = Clock::now();
    std::unique_lock lock(state.mutex);
    while (state.outstanding > 0) {
      state.cv.wait_for(lock, 100ms, [&] { return state.outstanding == 0; });
      if (state.outstanding == 0) break;
      Clock::time_point stopped{};
      {
        std::lock_guard g(mutex);
        if (stopping) stopped = stop_requested;
      }
      if (stopped != Clock::time_point{} && Clock::now() - stopped > options.drain_timeout) {
        log::warn("outbox relay: stopping with deliveries in flight; they will be re-published",
                  {{"table", qualified}, {"in_flight", std::to_string(state.outstanding)}});
        return;
      }
      if (Clock::now() - last_ping > 5s) {
        lock.unlock();
        try {
          conn->ping();
        } catch (const DbError& e) {
          log::warn("outbox relay: session lost while waiting for acks",
                    {{"table", qualified}, {"error", e.what()}});
        }
        last_ping = Clock::now();
        lock.lock();
      }
    }
  }

  BatchResult publish_batch() {
    BatchResult result;
    const auto t_select = Clock::now();
    db::Rows rows = conn->query(select_sql, {static_cast<std::uint64_t>(options.batch_size)});
    result.fetched = rows.size();
    if (rows.empty()) return result;
    const auto t_produce = Clock::now();

    auto state = std::make_shared<BatchState>();
    state->status.assign(rows.size(), BatchState::Status::kPending);
    state->acked_at.resize(rows.size());
    std::vector<double> created(rows.size());
    std::string enqueue_error;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const db::Row& row = rows[i];
      created[i] = row.opt_f64(5).value_or(0.0);
      events::Record record;
      record.topic = row.str(1);
      record.key = row.str(2);
      record.value = row.str(3);
      try {
        for (auto& [k, v] : headers_from_json(row.str(4))) {
          record.headers.push_back(events::Header{std::move(k), std::move(v)});
        }
      } catch (const std::invalid_argument& e) {
        // Publishing without headers beats blocking the outbox forever.
        log::error("outbox relay: bad headers column, publishing without headers",
                   {{"table", qualified}, {"id", row.str(0)}, {"error", e.what()}});
      }
      {
        std::lock_guard lock(state->mutex);
        ++state->outstanding;
      }
      try {
        producer.produce(std::move(record), [state, i](const events::DeliveryReport& report) {
          state->complete(i, report);
        });
      } catch (const std::exception& e) {
        // Not enqueued, so no callback will come.
        {
          std::lock_guard lock(state->mutex);
          --state->outstanding;
          state->status[i] = BatchState::Status::kFailed;
          if (enqueue_error.empty()) enqueue_error = e.what();
        }
        const auto* kafka = dynamic_cast<const KafkaError*>(&e);
        if (kafka != nullptr && !kafka->retryable() && !producer.fatal()) {
          // This record can never be enqueued (e.g. larger than
          // message.max.bytes): it must not hold back the rows behind it.
          log::error("outbox relay: row rejected by the producer; it stays unsent",
                     {{"table", qualified}, {"id", row.str(0)}, {"error", e.what()}});
          continue;
        }
        // Local queue full, producer fatal: this row and the rest wait for
        // the next round, keeping id order.
        break;
      }
    }
    wait_for_batch(*state);
    const auto t_acked = Clock::now();

    std::vector<std::uint64_t> acked;
    std::vector<double> lags;
    std::string first_error;
    {
      std::lock_guard lock(state->mutex);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (state->status[i] != BatchState::Status::kAcked) continue;
        acked.push_back(rows[i].u64(0));
        if (created[i] > 0) {
          double ack = std::chrono::duration<double>(state->acked_at[i].time_since_epoch()).count();
          lags.push_back(std::max(0.0, ack - created[i]));
        }
      }
      first_error = state->first_error.empty() ? enqueue_error : state->first_error;
    }
    result.acked = acked.size();
    result.failed = rows.size() - acked.size();
    n_batches.fetch_add(1);
    if (!acked.empty()) {
      std::string sql = mark_prefix;
      for (std::size_t i = 0; i < acked.size(); ++i) {
        if (i > 0) sql += ',';
        sql += std::to_string(acked[i]);
      }
      sql += ')';
      conn->exec_raw(sql);  // text protocol: ids are integers, and the SQL varies per batch
      published_total.inc(acked.size());
      n_published.fetch_add(acked.size());
      for (double l : lags) lag_hist.observe(l);
    }
    auto ms = [](Clock::duration d) {
      return fmt::format("{:.2f}", std::chrono::duration<double, std::milli>(d).count());
    };
    log::debug("outbox relay: batch", {{"table", qualified},
                                       {"rows", std::to_string(rows.size())},
                                       {"acked", std::to_string(acked.size())},
                                       {"select_ms", ms(t_produce - t_select)},
                                       {"ack_ms", ms(t_acked - t_produce)},
                                       {"mark_ms", ms(Clock::now() - t_acked)}});
    if (result.failed > 0) {
      failures_total.inc(result.failed);
      n_failed.fetch_add(result.failed);
      log::warn("outbox relay: some rows not acknowledged; retrying them",
                {{"table", qualified},
                 {"failed", std::to_string(result.failed)},
                 {"acked", std::to_string(result.acked)},
                 {"error", first_error}});
    }
    return result;
  }

  void housekeeping() {
    const auto now = Clock::now();
    if (now - last_pending >= options.pending_refresh) {
      auto row = conn->query_one(count_sql);
      pending_gauge.set(row ? static_cast<double>(row->i64(0)) : 0.0);
      last_pending = now;
    }
    if (now - last_cleanup >= options.cleanup_interval) {
      last_cleanup = now;
      const auto retention_us =
          std::chrono::duration_cast<std::chrono::microseconds>(options.retention).count();
      // Small batches, a bounded number per round: publishing comes first.
      for (int i = 0; i < 20; ++i) {
        auto r = conn->exec(cleanup_sql,
                            {-retention_us, static_cast<std::uint64_t>(options.cleanup_batch)});
        n_cleaned.fetch_add(r.affected_rows);
        if (r.affected_rows < options.cleanup_batch || stop_requested_now()) break;
      }
    }
  }

  void report_error(const std::exception& e) {
    ++consecutive_errors;
    // Log the first errors of an outage, then every 32nd.
    if (consecutive_errors <= 3 || consecutive_errors % 32 == 0) {
      log::warn("outbox relay: error, backing off",
                {{"table", qualified},
                 {"error", e.what()},
                 {"consecutive", std::to_string(consecutive_errors)}});
    }
  }

  void run() {
    auto backoff = options.min_backoff;
    auto grow = [&] { backoff = std::min(backoff * 2, options.max_backoff); };
    while (!stop_requested_now()) {
      try {
        ensure_connected();
        if (!leader.load() && !try_lead()) {
          sleep_for(options.standby_retry);
          continue;
        }
        const auto round_started = Clock::now();
        BatchResult r = publish_batch();
        housekeeping();
        consecutive_errors = 0;
        if (r.failed > 0) {
          sleep_for(backoff);
          grow();
          continue;
        }
        backoff = options.min_backoff;
        if (r.fetched >= options.batch_size) continue;  // more are waiting
        wait_for_work(round_started, r.fetched > 0);
      } catch (const std::exception& e) {
        report_error(e);
        if (conn && conn->broken()) drop_connection();
        sleep_for(backoff);
        grow();
      }
    }
    release_leadership();
  }
};

Relay::Relay(RelayOptions options, events::Producer& producer) {
  std::string table;
  std::string schema = split_schema(options, table);
  if (schema.empty() || table.empty()) {
    throw std::invalid_argument(
        "outbox relay: name the database in the URL or qualify the table as schema.table");
  }
  if (options.batch_size == 0) options.batch_size = 1;
  if (options.cleanup_batch == 0) options.cleanup_batch = 1;
  impl_ = std::make_unique<Impl>(std::move(options), producer, schema, table);
}

Relay::~Relay() {
  stop();
}

void Relay::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->thread.joinable()) return;
  {
    std::lock_guard g(impl_->mutex);
    impl_->stopping = false;
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

void Relay::notify() noexcept {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->notified = true;
  }
  impl_->cv.notify_one();
}

void Relay::stop() noexcept {
  std::lock_guard lock(impl_->lifecycle);
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard g(impl_->mutex);
    impl_->stopping = true;
    impl_->stop_requested = Clock::now();
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

bool Relay::is_leader() const noexcept {
  return impl_->leader.load();
}

Relay::Stats Relay::stats() const noexcept {
  return Stats{impl_->n_published.load(), impl_->n_failed.load(), impl_->n_batches.load(),
               impl_->n_terms.load(), impl_->n_cleaned.load()};
}

const std::string& Relay::qualified_table() const noexcept {
  return impl_->qualified;
}

}  // namespace ticketing::outbox
