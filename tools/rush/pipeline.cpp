#include "pipeline.hpp"

#include <cmath>
#include <limits>
#include <sstream>

#include "ticketing/http/client.hpp"

namespace ticketing::rush {

namespace {

constexpr std::string_view kEffect = "events_commit_to_effect_seconds";
constexpr std::string_view kOutbox = "outbox_publish_lag_seconds";
constexpr std::string_view kRoundPhase = "outbox_round_phase_seconds";

// The value of label `name` in a Prometheus label set `{a="x",b="y"}`.
std::optional<std::string> label(std::string_view labels, std::string_view name) {
  auto key = std::string(name) + "=\"";
  auto at = labels.find(key);
  // A whole label name: `le` must not match the end of `table`.
  while (at != std::string_view::npos && at > 0 && labels[at - 1] != '{' && labels[at - 1] != ',')
    at = labels.find(key, at + 1);
  if (at == std::string_view::npos) return std::nullopt;
  at += key.size();
  auto end = labels.find('"', at);
  if (end == std::string_view::npos) return std::nullopt;
  return std::string(labels.substr(at, end - at));
}

// The stages of a buyer's journey: which consumer's handling of which topic
// ends each one.
struct StageDef {
  const char* stage;
  const char* service;
  const char* topic;
};
constexpr StageDef kStages[] = {
    {"hold committed -> payment-api knows it", "payment-api", "reservation.held"},
    {"hold committed -> expiry timer set", "seat-expiry-scheduler", "reservation.held"},
    {"payment committed -> reservation confirmed", "reservation-api", "payment.completed"},
    {"confirmed -> data platform received", "dataplatform-relay", "reservation.confirmed"},
    {"hold committed -> buyer told", "notification-worker", "notifications.reservation-completed"},
    {"confirmed -> notification sent", "notification-worker",
     "notifications.reservation-confirmed"},
    {"payment committed -> notification sent", "notification-worker",
     "notifications.payment-completed"},
    {"expiry due -> seats released", "reservation-api", "seats.expired"},
    {"confirmation failed -> refunded", "payment-api", "reservation.confirmation-failed"},
};

}  // namespace

void add_buckets(const std::string& metrics_text, std::string_view series, std::string_view by,
                 std::map<std::string, std::map<double, std::uint64_t>>& into) {
  const std::string prefix = std::string(series) + "_bucket{";
  std::istringstream in(metrics_text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto close = line.find('}');
    if (close == std::string::npos) continue;
    std::string_view labels(line.data() + prefix.size() - 1, close - prefix.size() + 2);
    auto key = label(labels, by);
    auto le = label(labels, "le");
    if (!key || !le) continue;
    double bound = *le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(*le);
    auto count = static_cast<std::uint64_t>(std::stod(line.substr(close + 1)));
    into[*key][bound] += count;
  }
}

double histogram_quantile_ms(const std::map<double, std::uint64_t>& cumulative, double q) {
  if (cumulative.empty()) return 0;
  const auto total = static_cast<double>(cumulative.rbegin()->second);
  if (total <= 0) return 0;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (static_cast<double>(count) >= rank) {
      if (std::isinf(bound)) return lower * 1000;  // beyond the last bound: at least that
      const double in_bucket = static_cast<double>(count) - below;
      const double share = in_bucket > 0 ? (rank - below) / in_bucket : 1;
      return (lower + (bound - lower) * share) * 1000;
    }
    lower = bound;
    below = static_cast<double>(count);
  }
  return lower * 1000;
}

PipelineReport read_pipeline(const std::map<std::string, std::vector<std::string>>& metrics_urls) {
  PipelineReport report;
  http::ClientOptions options;
  options.max_response_bytes = 16 * 1024 * 1024;
  http::Client client(options);
  // service -> topic -> bucket -> count, over the service's instances; and
  // service -> outbox table -> bucket -> count.
  std::map<std::string, std::map<std::string, std::map<double, std::uint64_t>>> merged;
  std::map<std::string, std::map<std::string, std::map<double, std::uint64_t>>> outboxes;
  std::map<std::string, std::map<std::string, std::map<double, std::uint64_t>>> phases;
  for (const auto& [service, urls] : metrics_urls) {
    for (const auto& url : urls) {
      try {
        http::ClientRequest req;
        req.method = "GET";
        req.url = url + "/metrics";
        auto r = client.send(req);
        if (r.status != 200) {
          report.unreachable.push_back(url + " (" + std::to_string(r.status) + ")");
          continue;
        }
        add_buckets(r.body, kEffect, "topic", merged[service]);
        add_buckets(r.body, kOutbox, "table", outboxes[service]);
        add_buckets(r.body, kRoundPhase, "phase", phases[service]);
      } catch (const std::exception& e) {
        report.unreachable.push_back(url + " (" + e.what() + ")");
      }
    }
  }
  for (const auto& def : kStages) {
    auto s = merged.find(def.service);
    if (s == merged.end()) continue;
    // A topic named exactly, or with a namespace prefix ("<prefix>.<topic>").
    std::map<double, std::uint64_t> buckets;
    const std::string suffix = std::string(".") + def.topic;
    for (const auto& [topic, counts] : s->second) {
      if (topic != def.topic && !(topic.size() > suffix.size() && topic.ends_with(suffix)))
        continue;
      for (const auto& [bound, count] : counts) buckets[bound] += count;
    }
    if (buckets.empty()) continue;
    StageLatency st{def.stage, def.service, def.topic, buckets.rbegin()->second, 0, 0};
    st.p50_ms = histogram_quantile_ms(buckets, 0.50);
    st.p99_ms = histogram_quantile_ms(buckets, 0.99);
    report.stages.push_back(std::move(st));
  }
  // The first leg of every stage: an API's outbox, commit to broker ack.
  for (const auto& [service, tables] : outboxes) {
    std::map<double, std::uint64_t> buckets;
    for (const auto& [table, counts] : tables)
      for (const auto& [bound, count] : counts) buckets[bound] += count;
    if (buckets.empty() || buckets.rbegin()->second == 0) continue;
    StageLatency st{service + " outbox: commit -> Kafka ack",
                    service,
                    "outbox",
                    buckets.rbegin()->second,
                    0,
                    0};
    st.p50_ms = histogram_quantile_ms(buckets, 0.50);
    st.p99_ms = histogram_quantile_ms(buckets, 0.99);
    report.stages.push_back(std::move(st));
    // Where the leg's time goes: the phases of the relay's rounds (a row
    // waits for the round under way, then for its own).
    for (const char* phase : {"select", "ack", "mark"}) {
      auto p = phases[service].find(phase);
      if (p == phases[service].end() || p->second.empty()) continue;
      StageLatency ph{"  " + service + " outbox round: " + phase,
                      service,
                      "outbox",
                      p->second.rbegin()->second,
                      0,
                      0};
      ph.p50_ms = histogram_quantile_ms(p->second, 0.50);
      ph.p99_ms = histogram_quantile_ms(p->second, 0.99);
      report.stages.push_back(std::move(ph));
    }
  }
  return report;
}

}  // namespace ticketing::rush
