// The outbox relay: one state machine (stand by, lead under a database lock,
// publish rows in id order, fence itself when its session is lost, give the
// lead up when the broker stays away) over one Impl. Longer than 500 lines on
// purpose: every step reads and writes the same leader, connection and batch
// state, and split files would only pass that state around; each step is a
// named method of Impl.
#include "ticketing/outbox/relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/db/connection.hpp"
#include "ticketing/db/locks.hpp"
#include "ticketing/db/migrate.hpp"

namespace ticketing::outbox {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// outbox_round_phase_seconds{table,phase}: where a round's time goes.
metrics::Histogram& round_phase(const std::string& table, const char* phase) {
  return metrics::global().histogram(
      "outbox_round_phase_seconds",
      "One relay round's phases: select (read the batch), ack (produce until every ack), mark",
      {{"table", table}, {"phase", phase}}, metrics::pipeline_buckets());
}

// outbox_polls_total{table,result}: the leader's SELECTs, rows found or not.
metrics::Counter& poll_counter(const std::string& table, const char* result) {
  return metrics::global().counter("outbox_polls_total",
                                   "The leader's outbox SELECTs, by whether they found rows",
                                   {{"table", table}, {"result", result}});
}

constexpr unsigned kErNoSuchThread = 1094;
constexpr std::size_t kMaxParkError = 1024;

// librdkafka errors that no retry can cure for this record: it is parked.
// Everything else (broker down, timeouts, not enough replicas, leader
// elections, authorization) is the cluster's or the configuration's state,
// not the row's, and is retried.
constexpr std::array kParkableErrors = {
    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,     // larger than message.max.bytes (client or topic)
    RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,       // broker: invalid record size
    RD_KAFKA_RESP_ERR_INVALID_RECORD,         // broker: record failed validation
    RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,        // invalid topic name
    RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,         // topic absent after metadata propagation
    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,  // (auto topic creation is off)
};

bool parkable_code(int code) {
  return std::any_of(kParkableErrors.begin(), kParkableErrors.end(),
                     [code](rd_kafka_resp_err_t e) { return static_cast<int>(e) == code; });
}

// DeliveryReport carries librdkafka's error as "<NAME>: <description>"
// (events::detail::err_text); the names are librdkafka's stable ones.
bool parkable_report(const events::DeliveryReport& report) {
  return std::any_of(kParkableErrors.begin(), kParkableErrors.end(), [&](rd_kafka_resp_err_t e) {
    const std::string prefix = std::string(rd_kafka_err2name(e)) + ":";
    return report.error.rfind(prefix, 0) == 0;
  });
}

// Delivery state of one batch. Shared with the producer's callbacks, which
// may outlive the relay's wait (stop() or give-up with records in flight).
struct BatchState {
  enum class Status : std::int8_t { kPending, kAcked, kFailed, kParked };
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t outstanding = 0;  // enqueued, callback not run yet
  std::vector<Status> status;
  std::vector<std::chrono::system_clock::time_point> acked_at;
  std::vector<std::string> park_error;
  std::string first_error;

  void complete(std::size_t i, const events::DeliveryReport& report) {
    std::lock_guard lock(mutex);
    if (report.ok) {
      status[i] = Status::kAcked;
      acked_at[i] = std::chrono::system_clock::now();
    } else if (parkable_report(report)) {
      status[i] = Status::kParked;
      park_error[i] = report.error;
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
  std::size_t parked = 0;
  std::size_t failed = 0;  // neither acked nor parked: retried later
  bool abandoned = false;  // stopped waiting for acks: give up leadership
};

enum class WaitOutcome : std::int8_t { kDone, kStopping, kAbandoned };

std::string split_schema(const RelayOptions& o, std::string& table) {
  if (auto dot = o.table.find('.'); dot != std::string::npos) {
    table = o.table.substr(dot + 1);
    return o.table.substr(0, dot);
  }
  table = o.table;
  return o.db.database;
}

std::int64_t ticks(Clock::time_point t) {
  return t.time_since_epoch().count();
}

Clock::time_point from_ticks(std::int64_t n) {
  return Clock::time_point(Clock::duration(n));
}

std::string ms_text(Clock::duration d) {
  return fmt::format("{:.0f}", std::chrono::duration<double, std::milli>(d).count());
}

}  // namespace

struct Relay::Impl {
  RelayOptions options;
  events::Producer* shared_producer = nullptr;  // borrowed, never recreated
  std::unique_ptr<events::Producer> own_producer;
  std::string schema;
  std::string table;
  std::string qualified;  // db.table
  std::string lock_name;  // outbox:db.table
  std::string select_sql;
  std::string count_sql;
  std::string cleanup_sql;
  std::string mark_prefix;
  std::string park_sql;
  std::string lease_create_sql;
  std::string heartbeat_sql;
  std::string holder_sql;
  Clock::duration heartbeat_interval;

  metrics::Counter& published_total;
  metrics::Counter& failures_total;
  metrics::Counter& parked_total;
  metrics::Counter& give_ups_total;
  metrics::Counter& takeovers_total;
  metrics::Gauge& pending_gauge;
  metrics::Gauge& parked_gauge;
  metrics::Gauge& leader_gauge;
  metrics::Histogram& lag_hist;
  // One round's phases: SELECT, produce until every ack, mark/delete.
  metrics::Histogram& select_hist;
  metrics::Histogram& ack_hist;
  metrics::Histogram& mark_hist;
  // Every SELECT of a round, by whether it found rows: the poll rate.
  metrics::Counter& polls_with_rows;
  metrics::Counter& polls_empty;

  // The thread's lifecycle: a jthread; its stop_token ends every wait of
  // cv at once (condition_variable_any), so stop() needs no flag of its own.
  std::mutex mutex;
  std::condition_variable_any cv;
  bool notified = false;               // guarded by mutex
  Clock::time_point stop_requested{};  // guarded by mutex; set before the stop request
  std::jthread thread;
  std::stop_token stop;              // relay thread only: its jthread's token
  Clock::time_point last_rows_at{};  // relay thread only: the last round that read rows
  std::mutex lifecycle;              // start/stop

  // Relay thread only.
  std::unique_ptr<db::Connection> conn;
  Clock::time_point last_cleanup{};
  Clock::time_point last_pending{};
  Clock::time_point last_heartbeat{};
  Clock::time_point rejoin_not_before{};
  std::uint64_t watched_holder = 0;  // lock holder seen without a heartbeat row
  Clock::time_point watched_since{};
  unsigned consecutive_errors = 0;
  unsigned failed_rounds = 0;
  bool lease_table_ready = false;
  bool columns_ready = false;

  // Read by healthy() from any thread.
  std::atomic<bool> running{false};  // between start() and the end of stop()
  std::atomic<bool> stop_called{false};
  std::atomic<bool> thread_ended{false};
  std::atomic<std::int64_t> last_tick{0};     // Clock ticks
  std::atomic<std::int64_t> last_success{0};  // Clock ticks; reset at each term

  std::atomic<bool> leader{false};
  std::atomic<std::uint64_t> n_published{0}, n_failed{0}, n_parked{0}, n_batches{0}, n_terms{0},
      n_give_ups{0}, n_takeovers{0}, n_producers{0}, n_cleaned{0};

  Impl(RelayOptions o, events::Producer* shared, std::string schema_name, std::string table_name)
      : options(std::move(o)),
        shared_producer(shared),
        schema(std::move(schema_name)),
        table(std::move(table_name)),
        qualified(schema + "." + table),
        lock_name(db::fit_lock_name("outbox:" + qualified)),
        heartbeat_interval(std::max<Clock::duration>(options.leader_stale_after / 5, 20ms)),
        published_total(metrics::global().counter(
            "outbox_published_total", "Outbox rows acknowledged by Kafka and marked sent",
            {{"table", qualified}})),
        failures_total(metrics::global().counter("outbox_publish_failures_total",
                                                 "Outbox row deliveries that failed (retried)",
                                                 {{"table", qualified}})),
        parked_total(metrics::global().counter("outbox_parked_total",
                                               "Outbox rows parked: they can never be published",
                                               {{"table", qualified}})),
        give_ups_total(metrics::global().counter(
            "outbox_leader_give_ups_total",
            "Times this process's relay gave up leadership for lack of progress",
            {{"table", qualified}})),
        takeovers_total(metrics::global().counter(
            "outbox_leader_takeovers_total",
            "Stale leaders' database sessions killed by this process's relay",
            {{"table", qualified}})),
        pending_gauge(metrics::global().gauge("outbox_pending", "Outbox rows not yet sent",
                                              {{"table", qualified}})),
        parked_gauge(metrics::global().gauge(
            "outbox_parked", "Parked outbox rows (unsent, never retried)", {{"table", qualified}})),
        leader_gauge(metrics::global().gauge("outbox_is_leader",
                                             "1 while this process's relay publishes the table",
                                             {{"table", qualified}})),
        lag_hist(metrics::global().histogram("outbox_publish_lag_seconds",
                                             "Outbox row insert to broker acknowledgement",
                                             {{"table", qualified}}, metrics::pipeline_buckets())),
        select_hist(round_phase(qualified, "select")),
        ack_hist(round_phase(qualified, "ack")),
        mark_hist(round_phase(qualified, "mark")),
        polls_with_rows(poll_counter(qualified, "rows")),
        polls_empty(poll_counter(qualified, "empty")) {
    if (options.instance.empty()) options.instance = fmt::format("pid-{}", ::getpid());
    const std::string t = quote_table(qualified);
    select_sql = fmt::format(
        "SELECT id, topic, msg_key, payload, headers, UNIX_TIMESTAMP(created_at) FROM {} "
        "WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT ?",
        t);
    // Two index-only counts (idx_outbox_sent_id, idx_outbox_parked): a large
    // backlog must not hold the leader's session past its heartbeat.
    count_sql = fmt::format(
        "SELECT (SELECT COUNT(*) FROM {0} WHERE sent_at IS NULL),"
        " (SELECT COUNT(*) FROM {0} WHERE parked_at IS NOT NULL AND sent_at IS NULL)",
        t);
    cleanup_sql = fmt::format(
        "DELETE FROM {} WHERE sent_at < TIMESTAMPADD(MICROSECOND, ?, NOW(3)) ORDER BY sent_at, id "
        "LIMIT ?",
        t);
    mark_prefix = fmt::format("UPDATE {} SET sent_at = NOW(3) WHERE id IN (", t);
    park_sql = fmt::format(
        "UPDATE {} SET parked_at = NOW(3), park_error = ? WHERE id = ? AND sent_at IS NULL", t);

    const std::string lease =
        db::quote_identifier(schema) + "." + db::quote_identifier(options.lease_table);
    lease_create_sql = fmt::format(
        "CREATE TABLE IF NOT EXISTS {} (\n"
        "  name VARCHAR(64) NOT NULL PRIMARY KEY,\n"
        "  connection_id BIGINT UNSIGNED NOT NULL,\n"
        "  instance VARCHAR(255) NOT NULL DEFAULT '',\n"
        "  heartbeat_at DATETIME(6) NOT NULL\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        lease);
    // UTC_TIMESTAMP: the database's clock for writer and reader alike, and
    // independent of each session's time_zone.
    heartbeat_sql = fmt::format(
        "INSERT INTO {} (name, connection_id, instance, heartbeat_at) "
        "VALUES (?, CONNECTION_ID(), ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE "
        "connection_id = VALUES(connection_id), instance = VALUES(instance), "
        "heartbeat_at = VALUES(heartbeat_at)",
        lease);
    holder_sql = fmt::format(
        "SELECT IS_USED_LOCK(?), l.connection_id, l.instance, "
        "TIMESTAMPDIFF(MICROSECOND, l.heartbeat_at, UTC_TIMESTAMP(6)) "
        "FROM (SELECT 1 AS one) AS d LEFT JOIN {} AS l ON l.name = ?",
        lease);
    if (shared_producer == nullptr) {
      options.producer.extra.try_emplace("topic.metadata.propagation.max.ms", "5000");
      create_producer();  // invalid options fail here, at construction
    }
  }

  events::Producer& producer() {
    return shared_producer != nullptr ? *shared_producer : *own_producer;
  }

  void create_producer() {
    own_producer = std::make_unique<events::Producer>(options.producer);
    n_producers.fetch_add(1);
    if (!options.warm_topics.empty()) {
      const auto known = own_producer->warm_up(options.warm_topics, 5s);
      if (known < options.warm_topics.size())
        log::info("outbox relay: some topics not known yet",
                  {{"table", qualified},
                   {"known", std::to_string(known)},
                   {"topics", std::to_string(options.warm_topics.size())}});
    }
  }

  [[nodiscard]] bool stop_requested_now() const { return stop.stop_requested(); }

  // Sign of life for healthy(); as leader, the heartbeat when it is due.
  // Never throws: a failed heartbeat on a dead session ends the term
  // (leader turns false), which callers check.
  void keep_alive() noexcept {
    const auto now = Clock::now();
    last_tick.store(ticks(now));
    if (!leader.load() || !conn || now - last_heartbeat < heartbeat_interval) return;
    try {
      write_heartbeat();
    } catch (const std::exception& e) {
      log::warn("outbox relay: heartbeat failed", {{"table", qualified}, {"error", e.what()}});
      if (!conn || conn->broken()) drop_connection();
    }
  }

  void write_heartbeat() {
    conn->exec(heartbeat_sql, {lock_name, options.instance});
    last_heartbeat = Clock::now();
  }

  // Sleeps unless stopped meanwhile; notify() does not cut it short. Wakes
  // every heartbeat interval to keep the lease.
  void sleep_for(std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    for (;;) {
      keep_alive();
      std::unique_lock lock(mutex);
      const auto slice = std::min(deadline, Clock::now() + heartbeat_interval);
      if (cv.wait_until(lock, stop, slice, [&] { return stop.stop_requested(); })) return;
      if (Clock::now() >= deadline) return;
    }
  }

  // Waits for notify(), stop() or the poll interval; after a round that
  // published rows, not before min_round_interval after its start.
  void wait_for_work(Clock::time_point round_started, bool busy) {
    if (busy) last_rows_at = round_started;
    const bool recent = options.busy_poll_interval.count() > 0 &&
                        round_started - last_rows_at < options.busy_window;
    const auto poll_end =
        Clock::now() + (recent ? options.busy_poll_interval : options.poll_interval);
    for (;;) {
      keep_alive();
      std::unique_lock lock(mutex);
      const auto slice = std::min(poll_end, Clock::now() + heartbeat_interval);
      if (cv.wait_until(lock, stop, slice, [&] { return notified || stop.stop_requested(); }))
        break;
      if (Clock::now() >= poll_end) break;
    }
    if (busy && options.min_round_interval.count() > 0) {
      const auto end = round_started + options.min_round_interval;
      for (;;) {
        keep_alive();
        std::unique_lock lock(mutex);
        const auto slice = std::min(end, Clock::now() + heartbeat_interval);
        if (cv.wait_until(lock, stop, slice, [&] { return stop.stop_requested(); })) break;
        if (Clock::now() >= end) break;
      }
    }
    std::lock_guard lock(mutex);
    notified = false;
  }

  void set_leader(bool v) {
    if (leader.exchange(v) != v) {
      leader_gauge.set(v ? 1.0 : 0.0);
      if (v) {
        n_terms.fetch_add(1);
        last_success.store(ticks(Clock::now()));
        failed_rounds = 0;
        log::info("outbox relay: leading", {{"table", qualified}, {"instance", options.instance}});
      } else {
        // Only the leader knows the backlog; summed over instances the
        // gauges then give the table's backlog once.
        pending_gauge.set(0.0);
        parked_gauge.set(0.0);
        log::info("outbox relay: not leading",
                  {{"table", qualified}, {"instance", options.instance}});
      }
    }
  }

  void drop_connection() noexcept {
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
    // relay never idles that long: it polls, or heartbeats while waiting).
    c->exec_raw(
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET SESSION wait_timeout = 30");
    if (!lease_table_ready) {
      c->exec_raw(lease_create_sql);
      lease_table_ready = true;
    }
    conn = std::move(c);
  }

  // Tables made before parking existed lack its columns: add them once, as
  // leader (one instance at a time), only when missing (no ALTER otherwise).
  void ensure_columns() {
    if (columns_ready) return;
    auto row = conn->query_one(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND "
        "TABLE_NAME = ? AND COLUMN_NAME IN ('parked_at', 'park_error')",
        {schema, table});
    if (!row || row->i64(0) < 2) {
      log::info("outbox relay: adding the parking columns", {{"table", qualified}});
      conn->exec_raw(upgrade_table_sql(qualified));
    }
    columns_ready = true;
  }

  // The lock is held by another session: if its holder's heartbeat is older
  // than leader_stale_after (a frozen or wedged leader whose session the
  // server keeps open), kill that session and take the lock.
  bool take_over_stale_leader() {
    auto row = conn->query_one(holder_sql, {lock_name, lock_name});
    if (!row) return false;
    if (row->is_null(0)) return db::get_lock(*conn, lock_name, 0s);  // freed meanwhile
    const std::uint64_t holder = row->u64(0);
    const auto now = Clock::now();
    Clock::duration age{};
    if (!row->is_null(1) && row->u64(1) == holder && !row->is_null(3)) {
      age = std::chrono::microseconds(row->i64(3));
      watched_holder = 0;
    } else {
      // No heartbeat from this holder yet (it just took the lock, or it runs
      // a relay without heartbeats): give it leader_stale_after from now.
      if (watched_holder != holder) {
        watched_holder = holder;
        watched_since = now;
      }
      age = now - watched_since;
    }
    if (age <= options.leader_stale_after) return false;
    log::warn("outbox relay: leader's heartbeat is stale; killing its database session",
              {{"table", qualified},
               {"instance", options.instance},
               {"leader_session", std::to_string(holder)},
               {"leader_instance", row->is_null(2) ? std::string() : row->str(2)},
               {"heartbeat_age_ms", ms_text(age)}});
    try {
      conn->exec_raw(fmt::format("KILL CONNECTION {}", holder));
    } catch (const DbError& e) {
      if (conn->broken()) throw;
      if (e.code() != kErNoSuchThread) throw;  // e.g. not allowed: nothing we can do here
    }
    n_takeovers.fetch_add(1);
    takeovers_total.inc();
    watched_holder = 0;
    // The server frees the lock once the killed session has ended.
    return db::get_lock(*conn, lock_name, 2s);
  }

  bool try_lead() {
    if (!db::get_lock(*conn, lock_name, 0s) && !take_over_stale_leader()) return false;
    write_heartbeat();  // before anything else: standbys judge us by it
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

  // Releases the lock so that another instance can lead, recreates the own
  // producer, and stays standby for rejoin_after.
  void give_up(const std::string& reason) {
    log::error("outbox relay: giving up leadership",
               {{"table", qualified}, {"instance", options.instance}, {"reason", reason}});
    n_give_ups.fetch_add(1);
    give_ups_total.inc();
    // The old producer first, while the lock is still ours: its destructor
    // waits (close_timeout) for records still in flight, then purges them,
    // so they cannot land late, after and out of order with what the next
    // leader publishes. A new client starts from fresh connections and fresh
    // idempotence state.
    if (shared_producer == nullptr) own_producer.reset();
    release_leadership();
    failed_rounds = 0;
    rejoin_not_before = Clock::now() + options.rejoin_after;
    if (shared_producer == nullptr) {
      last_tick.store(ticks(Clock::now()));
      try {
        create_producer();
      } catch (const std::exception& e) {
        log::error("outbox relay: cannot create a producer",
                   {{"table", qualified}, {"error", e.what()}});
      }
    }
  }

  // Why the leader should step down now, or empty.
  [[nodiscard]] std::string give_up_reason() {
    if (shared_producer == nullptr && !own_producer) return "no producer";
    if (producer().fatal()) return "producer fatal: " + producer().fatal_reason();
    if (failed_rounds >= std::max(1U, options.max_failed_rounds)) {
      return fmt::format("{} consecutive rounds published nothing", failed_rounds);
    }
    const auto idle = Clock::now() - from_ticks(last_success.load());
    if (idle > options.give_up_after) {
      return fmt::format("no successful round for {} ms", ms_text(idle));
    }
    return {};
  }

  // Waits for every delivery report of the batch: on stop, for at most
  // drain_timeout; as leader, until give_up_after without a successful round.
  // Keeps the lease meanwhile.
  WaitOutcome wait_for_batch(BatchState& state) {
    for (;;) {
      {
        std::unique_lock lock(state.mutex);
        if (state.cv.wait_for(lock, 100ms, [&] { return state.outstanding == 0; })) {
          return WaitOutcome::kDone;
        }
      }
      keep_alive();
      if (!leader.load())
        throw DbError("outbox relay: lost the leader session waiting for acks", true);
      Clock::time_point stopped{};
      if (stop.stop_requested()) {
        std::lock_guard g(mutex);
        stopped = stop_requested;
      }
      if (stopped != Clock::time_point{} && Clock::now() - stopped > options.drain_timeout) {
        log::warn("outbox relay: stopping with deliveries in flight; they will be re-published",
                  {{"table", qualified}});
        return WaitOutcome::kStopping;
      }
      if (Clock::now() - from_ticks(last_success.load()) > options.give_up_after) {
        return WaitOutcome::kAbandoned;
      }
    }
  }

  BatchResult publish_batch() {
    BatchResult result;
    const auto t_select = Clock::now();
    db::Rows rows = conn->query(select_sql, {static_cast<std::uint64_t>(options.batch_size)});
    result.fetched = rows.size();
    (rows.empty() ? polls_empty : polls_with_rows).inc();
    if (rows.empty()) return result;
    const auto t_produce = Clock::now();

    auto state = std::make_shared<BatchState>();
    state->status.assign(rows.size(), BatchState::Status::kPending);
    state->acked_at.resize(rows.size());
    state->park_error.resize(rows.size());
    std::vector<double> created(rows.size());
    std::string enqueue_error;
    events::Producer& prod = producer();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      // Fencing: after a freeze the heartbeat is overdue; writing it fails if
      // a standby killed our session meanwhile, and we stop producing.
      keep_alive();
      if (!leader.load()) throw DbError("outbox relay: lost the leader session", true);
      const db::Row& row = rows[i];
      created[i] = row.opt_f64(5).value_or(0.0);
      events::Record record = record_of(row);
      {
        std::lock_guard lock(state->mutex);
        ++state->outstanding;
      }
      try {
        prod.produce(std::move(record), [state, i](const events::DeliveryReport& report) {
          state->complete(i, report);
        });
      } catch (const std::exception& e) {
        // Not enqueued, so no callback will come.
        const auto* kafka = dynamic_cast<const KafkaError*>(&e);
        const bool park = kafka != nullptr && parkable_code(kafka->code());
        {
          std::lock_guard lock(state->mutex);
          --state->outstanding;
          state->status[i] = park ? BatchState::Status::kParked : BatchState::Status::kFailed;
          if (park) state->park_error[i] = e.what();
          if (!park && enqueue_error.empty()) enqueue_error = e.what();
        }
        if (park) continue;  // must not hold back the rows behind it
        if (kafka != nullptr && !kafka->retryable() && !prod.fatal()) {
          log::error("outbox relay: row rejected by the producer; it stays unsent",
                     {{"table", qualified}, {"id", row.str(0)}, {"error", e.what()}});
          continue;
        }
        // Local queue full, producer fatal: this row and the rest wait for
        // the next round, keeping id order.
        break;
      }
    }
    const WaitOutcome outcome = wait_for_batch(*state);
    result.abandoned = outcome == WaitOutcome::kAbandoned;
    const auto t_acked = Clock::now();

    std::vector<std::uint64_t> acked;
    std::vector<std::pair<std::size_t, std::string>> parked;
    std::vector<double> lags;
    std::string first_error;
    {
      std::lock_guard lock(state->mutex);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (state->status[i] == BatchState::Status::kParked) {
          parked.emplace_back(i, state->park_error[i].substr(0, kMaxParkError));
        }
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
    result.parked = parked.size();
    result.failed = rows.size() - acked.size() - parked.size();
    n_batches.fetch_add(1);
    delete_acked(acked, lags);
    park(rows, parked);
    auto ms = [](Clock::duration d) {
      return fmt::format("{:.2f}", std::chrono::duration<double, std::milli>(d).count());
    };
    select_hist.observe(seconds(t_produce - t_select));
    ack_hist.observe(seconds(t_acked - t_produce));
    mark_hist.observe(seconds(Clock::now() - t_acked));
    log::debug("outbox relay: batch", {{"table", qualified},
                                       {"rows", std::to_string(rows.size())},
                                       {"acked", std::to_string(acked.size())},
                                       {"parked", std::to_string(parked.size())},
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

  // One outbox row as the record to publish.
  events::Record record_of(const db::Row& row) const {
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
    return record;
  }

  // Rows the broker acknowledged leave the outbox.
  void delete_acked(const std::vector<std::uint64_t>& acked, const std::vector<double>& lags) {
    if (acked.empty()) return;
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

  // Rows that can never be published are set aside, with the reason.
  void park(const db::Rows& rows, const std::vector<std::pair<std::size_t, std::string>>& parked) {
    for (const auto& [i, error] : parked) {
      conn->exec(park_sql, {error, rows[i].u64(0)});
      parked_total.inc();
      n_parked.fetch_add(1);
      log::error("outbox relay: row can never be published; parked", {{"table", qualified},
                                                                      {"id", rows[i].str(0)},
                                                                      {"topic", rows[i].str(1)},
                                                                      {"key", rows[i].str(2)},
                                                                      {"error", error}});
    }
  }

  void housekeeping() {
    const auto now = Clock::now();
    if (now - last_pending >= options.pending_refresh) {
      auto row = conn->query_one(count_sql);
      const auto unsent = row ? row->i64(0) : 0;
      const auto parked = row ? row->i64(1) : 0;
      pending_gauge.set(static_cast<double>(unsent - parked));
      parked_gauge.set(static_cast<double>(parked));
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
        keep_alive();
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

  // A standby's turn: true once this instance leads. It needs a producer
  // first, and waits out rejoin_not_before after giving up the lead.
  bool became_leader() {
    const bool producer_missing = shared_producer == nullptr && !own_producer;
    if (producer_missing) {
      try {
        create_producer();
      } catch (const std::exception& e) {
        report_error(e);
      }
      return false;
    }
    if (Clock::now() < rejoin_not_before) return false;
    return try_lead();
  }

  void loop() {
    auto backoff = options.min_backoff;
    auto grow = [&] { backoff = std::min(backoff * 2, options.max_backoff); };
    while (!stop_requested_now()) {
      keep_alive();
      try {
        if (leader.load()) {
          if (auto reason = give_up_reason(); !reason.empty()) {
            give_up(reason);
            continue;
          }
        }
        ensure_connected();
        if (!leader.load() && !became_leader()) {
          sleep_for(options.standby_retry);
          continue;
        }
        ensure_columns();
        const auto round_started = Clock::now();
        BatchResult r = publish_batch();
        housekeeping();
        keep_alive();
        consecutive_errors = 0;
        if (r.failed == 0 || r.acked > 0 || r.parked > 0) {
          last_success.store(ticks(Clock::now()));
          failed_rounds = 0;
        } else {
          ++failed_rounds;
        }
        if (r.abandoned) {
          // Records of this batch are still in flight: never select them
          // again as leader (they would go out twice, out of order).
          give_up("stopped waiting for the acks of a batch");
          continue;
        }
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
        if (leader.load()) ++failed_rounds;
        sleep_for(backoff);
        grow();
      }
    }
    release_leadership();
  }

  void run() noexcept {
    try {
      loop();
    } catch (const std::exception& e) {
      log::error("outbox relay: thread ended", {{"table", qualified}, {"error", e.what()}});
      release_leadership();
    } catch (...) {
      log::error("outbox relay: thread ended", {{"table", qualified}});
      release_leadership();
    }
    thread_ended.store(true);
  }
};

void Relay::init(RelayOptions options, events::Producer* shared_producer) {
  std::string table;
  std::string schema = split_schema(options, table);
  if (schema.empty() || table.empty()) {
    throw std::invalid_argument(
        "outbox relay: name the database in the URL or qualify the table as schema.table");
  }
  if (options.batch_size == 0) options.batch_size = 1;
  if (options.cleanup_batch == 0) options.cleanup_batch = 1;
  impl_ = std::make_unique<Impl>(std::move(options), shared_producer, std::move(schema),
                                 std::move(table));
}

Relay::Relay(RelayOptions options) {
  init(std::move(options), nullptr);
}

RelayOptions relay_options_for(const std::string& mysql_url, const std::string& database,
                               const std::string& bootstrap, const std::string& service) {
  RelayOptions o;
  o.db = db::parse_url(mysql_url);
  o.db.database = database;
  o.table = "outbox";
  o.instance = service + "-" + std::to_string(::getpid());
  o.producer.bootstrap_servers = bootstrap;
  o.producer.client_id = service + "-outbox";
  o.producer.delivery_timeout_ms = 30000;
  // A round sends what it read at once: lingering only delays it.
  o.producer.linger_ms = 0;
  // notify() wakes only this process's relay. With several instances the
  // leader sees another instance's commits when it next looks: at 50 ms
  // that was most of the pipeline's p99 on a quiet system. Every 10 ms
  // while events flow; every 50 ms (40 queries a second for two services)
  // once they have not for 5 s.
  o.busy_poll_interval = std::chrono::milliseconds(10);
  return o;
}

Relay::Relay(RelayOptions options, events::Producer& shared_producer) {
  init(std::move(options), &shared_producer);
}

Relay::~Relay() {
  stop();
}

void Relay::start() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->thread.joinable()) return;
  impl_->stop_called.store(false);
  impl_->thread_ended.store(false);
  impl_->last_tick.store(ticks(Clock::now()));
  impl_->running.store(true);
  impl_->thread = std::jthread([this](std::stop_token stop) {
    impl_->stop = std::move(stop);
    impl_->run();
  });
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
  impl_->stop_called.store(true);
  {
    std::lock_guard g(impl_->mutex);
    impl_->stop_requested = Clock::now();
  }
  impl_->thread.request_stop();
  impl_->thread.join();
  impl_->running.store(false);
}

bool Relay::is_leader() const noexcept {
  return impl_->leader.load();
}

bool Relay::healthy() const noexcept {
  const Impl& s = *impl_;
  if (!s.running.load() || s.stop_called.load()) return true;
  if (s.thread_ended.load()) return false;
  const auto now = Clock::now();
  if (now - from_ticks(s.last_tick.load()) > s.options.stuck_after) return false;
  if (s.leader.load() && now - from_ticks(s.last_success.load()) > s.options.stuck_after) {
    return false;
  }
  if (s.shared_producer != nullptr && s.shared_producer->fatal()) return false;
  return true;
}

Relay::Stats Relay::stats() const noexcept {
  const Impl& s = *impl_;
  return Stats{s.n_published.load(), s.n_failed.load(),    s.n_parked.load(),
               s.n_batches.load(),   s.n_terms.load(),     s.n_give_ups.load(),
               s.n_takeovers.load(), s.n_producers.load(), s.n_cleaned.load()};
}

const std::string& Relay::qualified_table() const noexcept {
  return impl_->qualified;
}

}  // namespace ticketing::outbox
