#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ticketing/db/options.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::events {
class Producer;
struct Record;
}  // namespace ticketing::events

namespace ticketing::outbox {

struct RelayOptions {
  // Where the outbox table lives. The relay opens its own session (not a
  // pooled one): it holds the leader lock for as long as it lives.
  db::ConnectOptions db;
  // Plain name (in db.database) or "schema.table".
  std::string table = std::string(kDefaultTable);
  std::size_t batch_size = 500;
  // Without notify(), look for new rows this often (one indexed query).
  std::chrono::milliseconds poll_interval{50};
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
  // After a failure (database, broker, partly failed batch): back off
  // exponentially between these.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Sent rows older than this are deleted, cleanup_batch rows per statement.
  std::chrono::milliseconds retention{std::chrono::hours(1)};
  std::chrono::milliseconds cleanup_interval{std::chrono::seconds(60)};
  std::size_t cleanup_batch = 1000;
  // How often the outbox_pending gauge is refreshed (COUNT of unsent rows).
  std::chrono::milliseconds pending_refresh{1000};
  // stop(): how long to wait for the delivery reports of the batch in flight.
  std::chrono::milliseconds drain_timeout{5000};
  // Name for logs (e.g. the service instance).
  std::string instance;
};

// Publishes committed outbox rows in id order through the Producer, marks
// them sent only after the broker acknowledged them (at-least-once: a crash
// re-publishes, never loses), one UPDATE per batch.
//
// Any number of relays may run on one table: they elect a leader with a
// MariaDB named lock, GET_LOCK('outbox:<db>.<table>'), held by the relay's own
// session. Only the leader publishes, so per-key order is kept; a standby
// takes over within standby_retry of the leader's session ending (process
// exit, crash, lost connection: the server drops the lock with the session).
//
// Survives database and broker outages: logs, backs off and carries on.
// Rows of a batch that failed are retried in id order in a later round; the
// rows of the same batch that were acknowledged stay sent, so a failure (e.g.
// a delivery timeout) can reorder a key's events around that failure. Set
// ProducerOptions::extra["enable.gapless.guarantee"]="true" where that
// matters more than availability.
//
// The Producer must outlive the Relay. Metrics (label table="<db>.<table>"):
// outbox_published_total, outbox_publish_failures_total, outbox_pending,
// outbox_publish_lag_seconds (row insert -> broker ack), outbox_is_leader.
class Relay {
 public:
  // Throws std::invalid_argument when the database cannot be determined.
  Relay(RelayOptions options, events::Producer& producer);
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

  struct Stats {
    std::uint64_t published = 0;  // rows acknowledged and marked sent
    std::uint64_t failed = 0;     // row deliveries that failed (retried later)
    std::uint64_t batches = 0;    // non-empty batches
    std::uint64_t leader_terms = 0;
    std::uint64_t cleaned = 0;  // rows deleted by retention
  };
  [[nodiscard]] Stats stats() const noexcept;
  // "<db>.<table>", also the metrics label.
  [[nodiscard]] const std::string& qualified_table() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::outbox
