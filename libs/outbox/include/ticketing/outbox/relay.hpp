#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ticketing/db/options.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {

struct RelayOptions {
  // Where the outbox table lives. The relay opens its own session (not a
  // pooled one): it holds the leader lock for as long as it leads.
  db::ConnectOptions db;
  // Plain name (in db.database) or "schema.table".
  std::string table = std::string(kDefaultTable);
  // The relay's own producer (Relay(RelayOptions)): created by the relay, and
  // created anew whenever it gives up leadership (fatal error, no progress).
  // Unless set in producer.extra, topic.metadata.propagation.max.ms is 5000:
  // a row for a topic that does not exist is parked after 5 s, not 30 s.
  events::ProducerOptions producer;
  // Topics the table's rows go to: their metadata is fetched when the relay's
  // producer is made, so that the first rows after a start are not held up.
  std::vector<std::string> warm_topics;
  std::size_t batch_size = 500;
  // Without notify(), look for new rows this often (one indexed query).
  std::chrono::milliseconds poll_interval{50};
  // ... and this often while rows came in the last busy_window: notify()
  // wakes only this process's relay, so the leader sees another instance's
  // commits when it next looks. 0: always poll_interval.
  std::chrono::milliseconds busy_poll_interval{0};
  std::chrono::milliseconds busy_window{std::chrono::seconds(5)};
  // After a round (SELECT, produce, wait for acks, UPDATE) that published
  // rows, the next one starts no sooner than this after it began, notify()
  // or not, unless it filled a whole batch. 0: a notify() starts the next
  // round at once. Under a steady stream of commits this makes batches larger
  // and rounds fewer (fewer statements and broker requests per row) for at
  // most that much more publish latency; a commit after a quiet spell still
  // goes out at once.
  std::chrono::milliseconds min_round_interval{0};
  // How often a standby instance tries to take the leader lock.
  std::chrono::milliseconds standby_retry{500};
  // The leader writes a heartbeat (database time) into `lease_table` every
  // leader_stale_after / 5. A standby that finds it older than this kills the
  // leader's database session (KILL CONNECTION: the same MariaDB user may
  // kill its own sessions), which frees the lock, and takes over: a frozen
  // (SIGSTOP) or wedged leader is replaced within about this plus
  // standby_retry.
  std::chrono::milliseconds leader_stale_after{5000};
  // In the outbox table's schema; created by the relay if missing.
  std::string lease_table = "outbox_leader";
  // The leader gives up leadership (releases the lock, recreates its
  // producer, stays standby for rejoin_after so that another instance can
  // take over) after max_failed_rounds consecutive rounds that published
  // nothing and parked nothing, after give_up_after without a successful
  // round, or at once when its producer reports a fatal error.
  unsigned max_failed_rounds = 3;
  std::chrono::milliseconds give_up_after{std::chrono::seconds(30)};
  std::chrono::milliseconds rejoin_after{std::chrono::seconds(2)};
  // healthy() turns false after this long without a successful round as
  // leader, or without the relay thread showing a sign of life.
  std::chrono::milliseconds stuck_after{std::chrono::seconds(60)};
  // After a failure (database, broker, partly failed batch): back off
  // exponentially between these.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Sent rows older than this are deleted, cleanup_batch rows per statement.
  // Parked rows are kept.
  std::chrono::milliseconds retention{std::chrono::hours(1)};
  std::chrono::milliseconds cleanup_interval{std::chrono::seconds(60)};
  std::size_t cleanup_batch = 1000;
  // How often the outbox_pending and outbox_parked gauges are refreshed.
  std::chrono::milliseconds pending_refresh{1000};
  // stop(): how long to wait for the delivery reports of the batch in flight.
  std::chrono::milliseconds drain_timeout{5000};
  // Name for logs and the lease table (e.g. the service instance).
  std::string instance;
};

// The options of a service's relay on its `outbox` table: the database from
// MYSQL_URL and the service's schema, its own producer on `bootstrap`
// (client id "<service>-outbox", records given up after 30 s so that a
// failed round ends and the leader can give up), instance "<service>-<pid>".
RelayOptions relay_options_for(const std::string& mysql_url, const std::string& database,
                               const std::string& bootstrap, const std::string& service);

// Publishes committed outbox rows in id order through a Kafka producer, marks
// them sent only after the broker acknowledged them (at-least-once: a crash
// re-publishes, never loses), one UPDATE per batch.
//
// Any number of relays may run on one table: they elect a leader with a
// MariaDB named lock, GET_LOCK('outbox:<db>.<table>'), held by the relay's own
// session. Only the leader publishes, so per-key order is kept; a standby
// takes over within standby_retry of the leader's session ending (process
// exit, crash, lost connection: the server drops the lock with the session),
// and within leader_stale_after (+ standby_retry) of the leader's heartbeat
// stopping (process frozen, thread wedged): the standby kills that session.
// A leader whose session was killed never marks rows of its old term (its
// statements fail); what it produced meanwhile may appear twice on the topic
// (consumers dedupe by eventId).
//
// Survives database and broker outages: logs, backs off and carries on; as
// leader it gives up leadership when it makes no progress (see
// RelayOptions). Rows of a batch that failed are retried in id order in a
// later round; the rows of the same batch that were acknowledged stay sent,
// so a failure (e.g. a delivery timeout) can reorder a key's events around
// that failure. Set producer.extra["enable.gapless.guarantee"]="true" where
// that matters more than availability.
//
// A row that can never be published (larger than message.max.bytes, topic
// that does not exist, invalid record or topic name) is parked: parked_at and
// park_error are set, it is never selected again and the rows behind it go
// out as usual. Re-queue it with UPDATE ... SET parked_at = NULL. Transient
// errors (broker down, timeouts, not enough replicas) are retried, never
// parked.
//
// Metrics (label table="<db>.<table>"): outbox_published_total,
// outbox_publish_failures_total, outbox_parked_total, outbox_parked,
// outbox_pending, outbox_publish_lag_seconds (row insert -> broker ack),
// outbox_is_leader, outbox_leader_give_ups_total, outbox_leader_takeovers_total.
class Relay {
 public:
  // The relay owns its producer, built from options.producer. Throws
  // std::invalid_argument when the database cannot be determined, KafkaError
  // when the producer options are invalid.
  explicit Relay(RelayOptions options);
  // Borrows a producer shared with the caller, which must outlive the Relay.
  // options.producer is ignored. Such a producer cannot be recreated: once it
  // is fatal the relay gives up leadership and healthy() is false, so that
  // the process gets restarted. Prefer Relay(RelayOptions).
  Relay(RelayOptions options, events::Producer& shared_producer);
  ~Relay();  // stop()
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts the relay thread (idempotent).
  void start();
  // Wakes the relay now: call after committing a transaction that appended
  // outbox rows. Cheap, never blocks, thread-safe.
  void notify() noexcept;
  // Waits (up to drain_timeout) for the batch in flight, marks what was
  // acknowledged, releases the leader lock and joins. Idempotent.
  void stop() noexcept;

  [[nodiscard]] bool is_leader() const noexcept;

  // For liveness (/health/live). False when, since start():
  //  - the relay thread ended without stop() being called; or
  //  - the relay thread showed no sign of life (it ticks at least every
  //    leader_stale_after / 5 while waiting) for longer than stuck_after; or
  //  - it has been leader for longer than stuck_after without a successful
  //    round (one that found nothing to do, or published or parked at least
  //    one row and hit no failure for the rest; a leader that keeps failing
  //    normally gives up first, after give_up_after); or
  //  - its borrowed producer is fatal.
  // A standby is healthy. True before start() and after stop(). Thread-safe,
  // no I/O.
  [[nodiscard]] bool healthy() const noexcept;

  struct Stats {
    std::uint64_t published = 0;  // rows acknowledged and marked sent
    std::uint64_t failed = 0;     // row deliveries that failed (retried later)
    std::uint64_t parked = 0;     // rows parked (never to be retried)
    std::uint64_t batches = 0;    // non-empty batches
    std::uint64_t leader_terms = 0;
    std::uint64_t give_ups = 0;           // leadership given up for lack of progress
    std::uint64_t takeovers = 0;          // stale leaders' sessions killed by this relay
    std::uint64_t producers_created = 0;  // own producer: 1 + recreations
    std::uint64_t cleaned = 0;            // rows deleted by retention
  };
  [[nodiscard]] Stats stats() const noexcept;
  // "<db>.<table>", also the metrics label.
  [[nodiscard]] const std::string& qualified_table() const noexcept;

 private:
  struct Impl;
  void init(RelayOptions options, events::Producer* shared_producer);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::outbox
