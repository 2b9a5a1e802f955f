#pragma once
// The event pipeline's latency from commit to effect, as the services
// themselves measured it during the rush: every consuming service exports
// events_commit_to_effect_seconds{topic} (libs/events, from the event's
// occurredAt to the end of its handling). The rush reads it from every
// instance's admin port once the system is quiet, merges the instances of a
// service and estimates p50/p99 from the buckets.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::rush {

struct StageLatency {
  std::string stage;    // e.g. "payment committed -> reservation confirmed"
  std::string service;  // the consumer whose effect ends the stage (or the outbox's service)
  std::string topic;    // or, for an outbox leg, "outbox"
  std::uint64_t count = 0;
  double p50_ms = 0, p99_ms = 0;  // estimated within a bucket (linear)
};

// Kafka's own EndToEndLatency on the same cluster, when the caller ran it.
struct KafkaReference {
  double p50_ms = 0, p99_ms = 0;
};

struct PipelineReport {
  std::vector<StageLatency> stages;  // in the order of a buyer's journey
  std::vector<std::string> unreachable;
  std::optional<KafkaReference> kafka;
};

// `metrics_urls`: service name -> admin base URLs of its instances.
PipelineReport read_pipeline(const std::map<std::string, std::vector<std::string>>& metrics_urls);

// Bucket counts (cumulative, by upper bound in seconds, +Inf last as
// infinity) of one histogram series; quantile q in (0, 1), in milliseconds.
double histogram_quantile_ms(const std::map<double, std::uint64_t>& cumulative, double q);

// Adds the buckets of histogram `series` (e.g. events_commit_to_effect_seconds)
// in one /metrics text to `into` (value of label `by` -> upper bound ->
// cumulative count).
void add_buckets(const std::string& metrics_text, std::string_view series, std::string_view by,
                 std::map<std::string, std::map<double, std::uint64_t>>& into);

}  // namespace ticketing::rush
