#pragma once
// Topic manifest (deploy/topics.manifest) and cluster administration over
// librdkafka's Admin API: create/delete topics, describe brokers, topics,
// ISR and min.insync.replicas, wait for brokers.
//
// Every call that reaches the cluster takes `security` last: unset, the
// client is built with KafkaSecurity::from_env() (security.hpp). A bad
// security setting throws KafkaError (not retryable) when the client is built.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ticketing/events/security.hpp"

namespace ticketing::events {

struct TopicSpec {
  std::string name;
  int partitions = 0;
  int replication_factor = 0;
  std::vector<std::pair<std::string, std::string>> configs;  // in manifest order
  [[nodiscard]] std::optional<std::string> config(std::string_view key) const;
};

struct Manifest {
  std::vector<TopicSpec> topics;
  [[nodiscard]] const TopicSpec* find(std::string_view name) const;
};

// One topic a line: `<name> <partitions> <replication-factor> [<key>=<value> ...]`;
// `#` starts a comment, blank lines are ignored. Throws std::invalid_argument
// listing every bad line ("line N: ...").
Manifest parse_manifest(std::string_view text);
// Reads and parses a file; throws std::invalid_argument (also when unreadable).
Manifest load_manifest(const std::string& path);

enum class TopicStatus {
  kCreated,
  kExists,          // already there with the manifest's partitions and RF
  kExistsMismatch,  // already there, but partitions or RF differ (see detail)
  kFailed,
};
const char* to_string(TopicStatus s);

struct TopicResult {
  std::string topic;
  TopicStatus status = TopicStatus::kFailed;
  std::string detail;  // error, or what differs
};

// Creates every manifest topic with its configs. Existing topics are reported
// (and their partition count and RF checked), not recreated. Waits until the
// created topics have a leader for every partition. Throws KafkaError when the
// cluster cannot be reached.
std::vector<TopicResult> create_topics(const std::string& bootstrap, const Manifest& manifest,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                       const std::optional<KafkaSecurity>& security = std::nullopt);

// Deletes topics (missing ones count as deleted). Throws KafkaError when the
// cluster cannot be reached.
std::vector<TopicResult> delete_topics(const std::string& bootstrap,
                                       const std::vector<std::string>& topics,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                       const std::optional<KafkaSecurity>& security = std::nullopt);

struct BrokerInfo {
  std::int32_t id = -1;
  std::string host;
  int port = 0;
};

struct PartitionInfo {
  std::int32_t id = -1;
  std::int32_t leader = -1;
  std::vector<std::int32_t> replicas;
  std::vector<std::int32_t> isr;
  std::string error;  // empty when fine
};

struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;
  int replication_factor = 0;  // smallest replica count over the partitions
  std::optional<int> min_insync_replicas;
  std::string error;  // e.g. unknown topic
};

struct ClusterInfo {
  std::vector<BrokerInfo> brokers;
  std::int32_t controller_id = -1;  // as reported in metadata
  std::vector<TopicInfo> topics;    // sorted by name
  [[nodiscard]] const TopicInfo* find(std::string_view name) const;
};

// Brokers and topics; `topics` empty = every topic except internal ones
// (names starting with "__"). min.insync.replicas is read with
// DescribeConfigs. Throws KafkaError when the cluster cannot be reached.
ClusterInfo describe(const std::string& bootstrap, const std::vector<std::string>& topics = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(15),
                     const std::optional<KafkaSecurity>& security = std::nullopt);

// Problems of the manifest topics in a description: missing, fewer
// partitions or a lower RF than the manifest, RF < 3, min.insync.replicas != 2
// (or different from the manifest's), partitions without leader or with a
// short ISR are reported as warnings (second list).
struct ManifestCheck {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};
ManifestCheck check_manifest(const ClusterInfo& cluster, const Manifest& manifest);

// Polls metadata until at least `count` brokers are registered. Returns the
// number last seen; the caller compares with `count`. Never throws for an
// unreachable cluster, nor for refused credentials (it just keeps trying until
// the timeout).
int wait_for_brokers(const std::string& bootstrap, int count, std::chrono::milliseconds timeout,
                     const std::optional<KafkaSecurity>& security = std::nullopt);

// Commits, for `group`, the current end offset of every partition of
// `topics`, so that a new group with `auto.offset.reset=latest` starts exactly
// there even if a member dies before its own first commit (otherwise its
// successor would reset to a later end and skip what was never handled).
// Call it before any member joins. A retryable error reading an end offset
// (e.g. a leader still moving just after the topics were created) is asked
// again until `timeout`. Throws KafkaError.
void commit_group_at_end(const std::string& bootstrap, const std::string& group,
                         const std::vector<std::string>& topics,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15),
                         const std::optional<KafkaSecurity>& security = std::nullopt);

// Kafka ACLs as a table (deploy/kafka-acls.tsv): one rule a line,
//   <principal> <Op[,Op...]> <topic|group> <literal|prefixed> <name> [<name> ...]
// `#` starts a comment. Every rule ALLOWs its principal (User:<principal>)
// from any host. Operations: Read, Write, Describe, Create, Delete, Alter,
// DescribeConfigs, AlterConfigs, IdempotentWrite, All (any case).
struct AclRule {
  std::string principal;
  std::vector<std::string> operations;  // as written, validated
  std::string resource_type;            // "topic" or "group"
  std::string pattern_type;             // "literal" or "prefixed"
  std::vector<std::string> names;
  int line = 0;
};
// Throws std::invalid_argument listing every bad line ("line N: ...").
std::vector<AclRule> parse_acl_table(std::string_view text);
// Reads and parses a file; throws std::invalid_argument (also when unreadable).
std::vector<AclRule> load_acl_table(const std::string& path);

// Creates every binding of the rules (one per principal, operation and name)
// in one CreateAcls request. A binding that exists already is left as it is
// (Kafka treats it as created). Bindings the table does not list are not
// removed. Returns the number of bindings; throws KafkaError when the cluster
// cannot be reached or refuses one (e.g. no authorizer, or not a super user).
std::size_t create_acls(const std::string& bootstrap, const std::vector<AclRule>& rules,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                        const std::optional<KafkaSecurity>& security = std::nullopt);

}  // namespace ticketing::events
