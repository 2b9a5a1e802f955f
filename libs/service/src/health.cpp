#include "ticketing/service/health.hpp"

#include <exception>

namespace ticketing::service {

HealthChecks::HealthChecks(std::chrono::milliseconds ttl) : ttl_(ttl) {}

void HealthChecks::add(std::string name, Probe probe) {
  std::lock_guard lock(mutex_);
  entries_.push_back(Entry{std::move(name), std::move(probe)});
}

HealthChecks::Result HealthChecks::run() {
  // Serialized on purpose: one probe round at a time, the rest reuse it.
  std::lock_guard lock(mutex_);
  Result r;
  auto now = std::chrono::steady_clock::now();
  for (auto& e : entries_) {
    if (e.checked_at == std::chrono::steady_clock::time_point{} || now - e.checked_at >= ttl_) {
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
  return r;
}

std::string HealthChecks::to_json(const Result& r) {
  std::string out = R"({"status":")";
  out += r.ready ? "ready" : "not_ready";
  out += R"(","checks":{)";
  bool first = true;
  for (const auto& [name, ok] : r.checks) {
    if (!first) out += ',';
    first = false;
    out += '"' + name + R"(":")" + (ok ? "up" : "down") + '"';
  }
  out += "}}";
  return out;
}

}  // namespace ticketing::service
