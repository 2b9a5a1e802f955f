#pragma once
// The rush report: a terminal summary, the same figures as JSON, and a chart
// (SVG) of throughput and latency over time.

#include <string>
#include <vector>

#include "checks.hpp"
#include "pipeline.hpp"
#include "rush.hpp"

namespace ticketing::rush {

struct EndpointStats {
  std::string name;
  std::size_t count = 0, errors = 0;  // errors: 5xx and transport failures
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};
std::vector<EndpointStats> endpoint_stats(const std::vector<Sample>& samples);

// What the report states besides the rush itself: the system's admission
// settings (name, value) and the event pipeline's latency.
struct ReportContext {
  std::vector<std::pair<std::string, std::string>> settings;
  PipelineReport pipeline;
};

std::string text_report(const RushConfig& cfg, const RushResult& r, const Tally& t,
                        const std::vector<Check>& checks, const ReportContext& ctx = {});
std::string json_report(const RushConfig& cfg, const RushResult& r, const Tally& t,
                        const std::vector<Check>& checks, const ReportContext& ctx = {});
std::string svg_chart(const RushResult& r);

}  // namespace ticketing::rush
