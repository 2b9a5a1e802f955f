#pragma once
// Keeps dedupe tables bounded: deletes rows older than a retention, in small
// index-backed batches, on a thread and a database session of its own (never
// the request pool), every interval. Any number of instances may run one;
// per table, only the holder of GET_LOCK('dedupe-prune:<db>.<table>', 0)
// prunes in a round, the others skip it (never wait). A round that meets a
// database outage logs, counts a failure and tries again at the next interval.
//
// Retention must outlast every way an event can be delivered again: see
// kDefaultDedupeRetention and docs/operations.md "Dedupe state retention".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/db/options.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::outbox {

// Kafka deletes a log segment once its newest record is older than
// retention.ms (7 days here), and rolls a segment only after segment.ms (also
// 7 days by default): a record can stay readable, and be delivered again to a
// group that resets to earliest, for up to about 14 days. 15 days outlasts
// that with a day of margin.
inline constexpr std::chrono::seconds kDefaultDedupeRetention{15LL * 24 * 3600};
// Below this, a retention setting is refused at start.
inline constexpr std::chrono::seconds kMinDedupeRetention{24LL * 3600};

enum class TimeColumn : std::int8_t {
  kDatetime,    // DATETIME written with NOW() in a UTC session (db::ConnectOptions)
  kUnixMillis,  // BIGINT milliseconds since the Unix epoch, written by the application
};

struct PruneTable {
  std::string table;        // plain name (in db.database) or "schema.table"
  std::string time_column;  // must be the first column of an index
  TimeColumn kind = TimeColumn::kDatetime;
  std::chrono::seconds retention = kDefaultDedupeRetention;
};

struct PrunerOptions {
  // The pruner opens its own session for each round and closes it after.
  db::ConnectOptions db;
  std::vector<PruneTable> tables;
  std::chrono::milliseconds interval{std::chrono::hours(1)};
  // The first round, after start(): not in the middle of a fleet's start.
  std::chrono::milliseconds first_delay{std::chrono::minutes(1)};
  // Rows per DELETE, and the pause between two DELETEs of a round: each
  // statement holds row locks on old rows only and briefly.
  std::size_t batch_size = 1000;
  std::chrono::milliseconds batch_pause{100};
  // Name for logs (e.g. the service instance).
  std::string instance;
};

// The service settings of a pruner, read from the environment:
//   DEDUPE_RETENTION_S    processed-events retention (kDefaultDedupeRetention,
//                         at least kMinDedupeRetention)
//   PRUNE_INTERVAL_S      3600
//   PRUNE_BATCH_SIZE      1000
//   PRUNE_BATCH_PAUSE_MS  100
struct PruneSettings {
  std::chrono::seconds dedupe_retention = kDefaultDedupeRetention;
  std::chrono::seconds interval{3600};
  std::size_t batch_size = 1000;
  std::chrono::milliseconds batch_pause{100};

  static PruneSettings read(EnvReader& env);
};

// A retention variable: seconds, `fallback` when unset; a value below
// kMinDedupeRetention is a configuration problem naming the variable.
std::chrono::seconds read_retention(EnvReader& env, std::string_view name,
                                    std::chrono::seconds fallback);

// Options for a service's pruner on its database (MYSQL_URL + schema), with
// no tables yet; first round after a minute or the interval, whichever is
// shorter; instance "<service>-<pid>".
PrunerOptions pruner_options_for(const std::string& mysql_url, const std::string& database,
                                 const PruneSettings& settings, const std::string& service);

// Metrics (label table="<db>.<table>"): dedupe_pruned_total (rows deleted),
// dedupe_prune_failures_total (rounds that failed on that table),
// dedupe_prune_skipped_total (rounds left to another instance holding the lock).
class Pruner {
 public:
  // Throws std::invalid_argument when a table's database cannot be
  // determined or a name is empty.
  explicit Pruner(PrunerOptions options);
  ~Pruner();  // stop()
  Pruner(const Pruner&) = delete;
  Pruner& operator=(const Pruner&) = delete;

  // Starts the pruning thread (idempotent).
  void start();
  // Ends the round in progress after its current statement, and joins.
  // Idempotent.
  void stop() noexcept;

  struct TableStats {
    std::string table;             // "<db>.<table>", the metrics label
    std::uint64_t deleted = 0;     // rows deleted
    std::uint64_t statements = 0;  // DELETE statements run
    std::uint64_t rounds = 0;      // rounds that pruned the table to its cutoff
    std::uint64_t skipped = 0;     // rounds left to the lock's holder
    std::uint64_t failures = 0;    // rounds that failed (database error)
  };

  // One round over every table on the calling thread (the thread's rounds
  // and these are serialised). Never throws: failures are counted.
  void run_once() noexcept;
  // In the order of options.tables.
  [[nodiscard]] std::vector<TableStats> stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::outbox
