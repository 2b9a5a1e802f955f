#pragma once
// Inspecting and replaying dead-letter topics (`ticketing-admin dlq`,
// `dataplatform-relay replay`).
//
// Reading never joins a consumer group. Each partition is assigned directly
// and read from max(low watermark, --from-offset, first offset at --since,
// the replay group's committed offset) up to, excluded, min(its end offset
// sampled when the read started, --to-offset + 1, first offset at --until):
// a read ends even while dead letters keep arriving.
//
// Replay, for each record read, in offset order per partition:
//   1. not matching the selection's key/time or the caller's filter: passed;
//   2. no dlq-original-topic header (and no fallback): skipped, reported;
//   3. otherwise produced to the original topic with the same key and value
//      (its envelope keeps its eventId, so idempotent consumers dedupe), the
//      original headers without the dlq-* ones, plus
//      dlq-replayed-from: <dlq topic>/<partition>/<offset>.
// Records are produced in batches; after the broker acknowledged a whole
// batch, the group's position of each partition moves past every record of
// the batch (passed and skipped ones too). A group's position only moves
// forward: a later run with the same group starts after it, and a record a
// narrower selection passed over is replayed only with another group. A
// record the broker refused stops the run; its partition's position stays at
// it. --dry-run produces and commits nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/events/consumer.hpp"
#include "ticketing/events/producer.hpp"
#include "ticketing/events/security.hpp"

namespace ticketing::events {

inline constexpr std::string_view kReplayedFromHeader = "dlq-replayed-from";

// Which dead letters of one DLQ topic. Unset fields select everything.
struct DlqSelection {
  std::optional<std::int32_t> partition;
  std::optional<std::int64_t> from_offset;  // inclusive
  std::optional<std::int64_t> to_offset;    // inclusive
  std::optional<std::int64_t> since_ms;     // record timestamp >= since
  std::optional<std::int64_t> until_ms;     // record timestamp < until
  std::optional<std::string> key;           // exact record key

  // Partition, offsets, times and key all match.
  [[nodiscard]] bool matches(const Message& message) const;
};

// The selection options, for usage texts.
inline constexpr std::string_view kSelectionUsage =
    "[--partition P] [--from-offset A --to-offset B | --since RFC3339 --until RFC3339] [--key K]";

// Applies one option given without its leading "--" (partition, from-offset,
// to-offset, since, until, key). Returns false when `name` is not a selection
// option; a bad value is appended to `problems`.
bool apply_selection_option(std::string_view name, std::string_view value, DlqSelection& selection,
                            std::vector<std::string>& problems);
// Rules across options: offsets or times, not both; from <= to; since < until.
void check_selection(const DlqSelection& selection, std::vector<std::string>& problems);

// A stable id of a selection ("" when it selects everything): 16 hex digits of
// a hash of its fields, e.g. to give each selection its own replay group.
std::string selection_id(const DlqSelection& selection);

// A short class of a dlq-error value for counting: "poison: <first part>" for
// poison verdicts, else the text up to its first ':', at most 80 characters.
std::string error_class(std::string_view error);

// The record as one JSON object: topic, partition, offset, timestamp (RFC
// 3339, null when absent), key (null when absent), value, headers (an object;
// the last of equal names wins). A key, value or header that is not valid
// UTF-8 is written as hex under "<name>Hex" instead.
std::string dead_letter_json(const Message& message);

struct DlqPartitionRange {
  std::int32_t partition = 0;
  std::int64_t low = 0;    // low watermark when the read started
  std::int64_t high = 0;   // end offset when the read started
  std::int64_t start = 0;  // first offset read
  std::int64_t stop = 0;   // read up to here, excluded (start when nothing to read)
};

struct DlqReadOptions {
  std::string bootstrap;
  std::string topic;
  DlqSelection selection;  // only partition, offsets and times narrow the ranges
  // Non-empty: resume from this group's committed offsets, and commit() to it.
  std::string group;
  std::string client_id = "ticketing-dlq";
  // Bound of each metadata, watermark, offset and commit request.
  std::chrono::milliseconds request_timeout{15000};
  // next() gives up when no record arrived for this long while some are expected.
  std::chrono::milliseconds idle_timeout{15000};
  // Unset: KafkaSecurity::from_env() when the reader is created.
  std::optional<KafkaSecurity> security;
};

class DlqReader {
 public:
  // Looks up the partitions, watermarks and start offsets and assigns the
  // partitions. Throws KafkaError when the cluster cannot be reached,
  // std::invalid_argument when the topic or the selected partition does not
  // exist.
  explicit DlqReader(DlqReadOptions options);
  ~DlqReader();
  DlqReader(const DlqReader&) = delete;
  DlqReader& operator=(const DlqReader&) = delete;

  // Partitions read, by partition number.
  [[nodiscard]] const std::vector<DlqPartitionRange>& ranges() const;
  // The next record of some partition's range (in offset order within a
  // partition), or nullopt once every range is read. Throws KafkaError when
  // none arrived for idle_timeout while some were expected.
  std::optional<Message> next();
  // Commits, for the group, the next offset to read of each partition given.
  // Throws KafkaError (also when the reader has no group).
  void commit(const std::map<std::int32_t, std::int64_t>& positions);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What replay does with a dead letter: same key and value, headers without
// dlq-*, plus dlq-replayed-from.
Record replay_record(const Message& dead_letter, std::string to_topic);

enum class ReplayOutcome {
  kWouldReplay,  // dry run
  kReplayed,     // acknowledged by the broker
  kSkipped,      // no original topic
  kFailed,       // the broker refused it, or it could not be enqueued
};
const char* to_string(ReplayOutcome outcome);

struct ReplayItem {
  const Message& dead_letter;
  std::string to_topic;  // empty when skipped for want of one
  ReplayOutcome outcome;
  std::string detail;  // why skipped or failed
};

struct ReplayOptions {
  std::string bootstrap;
  std::string dlq_topic;
  DlqSelection selection;
  std::string group;  // required: its committed offsets are the progress
  std::string client_id = "ticketing-dlq-replay";
  bool dry_run = false;
  double rate_per_s = 100;  // records produced per second at most; <= 0: unbounded
  std::size_t batch = 100;  // records in flight before waiting for their acks
  std::chrono::milliseconds idle_timeout{15000};
  std::chrono::milliseconds delivery_timeout{30000};
  // Extra condition besides the selection; a record it rejects is passed.
  std::function<bool(const Message&)> filter;
  // Topic for a record without dlq-original-topic; empty: such records are skipped.
  std::string fallback_topic;
  // Called for every selected record once its outcome is known.
  std::function<void(const ReplayItem&)> on_record;
  // Of both the reader and the producer. Unset: KafkaSecurity::from_env().
  std::optional<KafkaSecurity> security;
};

struct ReplaySummary {
  std::uint64_t read = 0;
  std::uint64_t passed = 0;        // read, not selected
  std::uint64_t selected = 0;      // = would_replay + replayed + skipped + failed
  std::uint64_t would_replay = 0;  // dry run only
  std::uint64_t replayed = 0;      // acknowledged by the broker
  std::uint64_t skipped = 0;
  std::uint64_t failed = 0;
};

// Throws KafkaError when the cluster cannot be reached or a read stalls,
// std::invalid_argument for an unknown topic or partition.
ReplaySummary replay_dead_letters(const ReplayOptions& options);

// One JSON object for a replay line: action, partition, offset, key, toTopic,
// eventId (when the value is an envelope), detail (when skipped or failed).
std::string replay_item_json(const ReplayItem& item);
// {"summary":{"group","dryRun","read","passed","selected","wouldReplay","replayed","skipped","failed"}}
std::string replay_summary_json(const ReplaySummary& summary, std::string_view group, bool dry_run);

}  // namespace ticketing::events
