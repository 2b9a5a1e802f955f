#include "ticketing/service/health.hpp"

#include <exception>

namespace ticketing::service {

HealthChecks::HealthChecks(std::chrono::milliseconds ttl) : ttl_(ttl) {}

void HealthChecks::add(std::string name, Probe probe) {
  std::lock_guard lock(mutex_);
  entries_.push_back(Entry{std::move(name), std::move(probe)});
}

void HealthChecks::add_liveness(std::string name, Probe probe) {
  std::lock_guard lock(liveness_mutex_);
  liveness_.push_back(Entry{std::move(name), std::move(probe)});
}

void HealthChecks::add_detail(std::string name, Detail detail) {
  std::lock_guard lock(mutex_);
  details_.emplace_back(std::move(name), std::move(detail));
}

void HealthChecks::probe(std::vector<Entry>& entries, Result& r, std::chrono::milliseconds ttl) {
  auto now = std::chrono::steady_clock::now();
  for (auto& e : entries) {
    if (e.checked_at == std::chrono::steady_clock::time_point{} || now - e.checked_at >= ttl) {
      try {
        e.last = e.probe();
      } catch (const std::exception&) {
        e.last = false;
      }
      e.checked_at = std::chrono::steady_clock::now();
    }
    r.ready = r.ready && e.last;
    r.checks.emplace_back(e.name, e.last);
  }
}

HealthChecks::Result HealthChecks::run() {
  // Serialized on purpose: one probe round at a time, the rest reuse it.
  std::lock_guard lock(mutex_);
  Result r;
  probe(entries_, r, ttl_);
  for (const auto& [name, detail] : details_) {
    try {
      r.details.emplace_back(name, detail());
    } catch (const std::exception&) {
      r.details.emplace_back(name, "null");
    }
  }
  return r;
}

HealthChecks::Result HealthChecks::run_liveness() {
  std::lock_guard lock(liveness_mutex_);
  Result r;
  probe(liveness_, r, ttl_);
  return r;
}

std::string HealthChecks::to_json(const Result& r, std::string_view up, std::string_view down) {
  std::string out = R"({"status":")";
  out += r.ready ? up : down;
  out += R"(","checks":{)";
  bool first = true;
  for (const auto& [name, ok] : r.checks) {
    if (!first) out += ',';
    first = false;
    out += '"' + name + R"(":")" + (ok ? "up" : "down") + '"';
  }
  out += '}';
  for (const auto& [name, json] : r.details) out += ",\"" + name + "\":" + json;
  out += '}';
  return out;
}

}  // namespace ticketing::service
