#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::service {

// Named dependency probes behind /health/ready. A probe answers true while its
// dependency is reachable; results are cached for `ttl` so that a burst of
// probes from a load balancer does not hammer Kafka or the database.
// Liveness probes (/health/live) answer false only when the process cannot
// recover by itself (a stuck thread): an orchestrator then restarts it.
// Details are extra JSON members of the ready body that never change the
// status (e.g. stalled partitions).
class HealthChecks {
 public:
  using Probe = std::function<bool()>;
  // A JSON value (object, array, ...), rendered when /health/ready is asked.
  using Detail = std::function<std::string()>;
  explicit HealthChecks(std::chrono::milliseconds ttl = std::chrono::milliseconds(1000));

  void add(std::string name, Probe probe);
  void add_liveness(std::string name, Probe probe);
  void add_detail(std::string name, Detail detail);

  struct Result {
    bool ready = true;
    std::vector<std::pair<std::string, bool>> checks;
    std::vector<std::pair<std::string, std::string>> details;  // name, JSON value
  };
  Result run();
  Result run_liveness();
  // {"status":"ready"|"not_ready","checks":{"kafka":"up",...},<details>}
  static std::string to_json(const Result& r, std::string_view up = "ready",
                             std::string_view down = "not_ready");

 private:
  struct Entry {
    std::string name;
    Probe probe;
    bool last = false;
    std::chrono::steady_clock::time_point checked_at{};
  };
  static void probe(std::vector<Entry>& entries, Result& r, std::chrono::milliseconds ttl);

  std::chrono::milliseconds ttl_;
  std::mutex mutex_;  // readiness probes and details
  std::vector<Entry> entries_;
  // Its own lock: a readiness probe stuck on a frozen dependency must never
  // hold up /health/live.
  std::mutex liveness_mutex_;
  std::vector<Entry> liveness_;
  std::vector<std::pair<std::string, Detail>> details_;
};

}  // namespace ticketing::service
