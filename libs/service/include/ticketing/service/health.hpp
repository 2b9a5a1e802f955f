#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace ticketing::service {

// Named dependency probes behind /health/ready. A probe answers true while its
// dependency is reachable; results are cached for `ttl` so that a burst of
// probes from a load balancer does not hammer Kafka or the database.
class HealthChecks {
 public:
  using Probe = std::function<bool()>;
  explicit HealthChecks(std::chrono::milliseconds ttl = std::chrono::milliseconds(1000));

  void add(std::string name, Probe probe);

  struct Result {
    bool ready = true;
    std::vector<std::pair<std::string, bool>> checks;
  };
  Result run();
  // {"status":"ready"|"not_ready","checks":{"kafka":"up",...}}
  static std::string to_json(const Result& r);

 private:
  struct Entry {
    std::string name;
    Probe probe;
    bool last = false;
    std::chrono::steady_clock::time_point checked_at{};
  };
  std::chrono::milliseconds ttl_;
  std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace ticketing::service
