#pragma once
// HAProxy (Debian's haproxy) in front of API instances, as `make demo
// INSTANCES=3` runs it: one port per API, each instance checked on its admin
// port's /health/ready every 500 ms (down after 2 failures), and a request
// that cannot connect retried on another instance. Killed on destruction.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ticketing/testing/process.hpp"

namespace e2e {

class LoadBalancer {
 public:
  struct Server {
    std::string name;
    unsigned short http_port = 0;
    unsigned short admin_port = 0;
  };
  // API name (e.g. "reservation-api") -> its instances.
  explicit LoadBalancer(const std::map<std::string, std::vector<Server>>& apis);
  ~LoadBalancer();
  LoadBalancer(const LoadBalancer&) = delete;
  LoadBalancer& operator=(const LoadBalancer&) = delete;

  [[nodiscard]] std::string url(const std::string& api) const;
  // Server name -> HAProxy's view of it ("UP", "DOWN", ...), from its statistics.
  [[nodiscard]] std::map<std::string, std::string> server_status() const;

 private:
  std::map<std::string, unsigned short> ports_;
  unsigned short stats_port_ = 0;
  std::string config_path_;
  std::unique_ptr<ticketing::testing::ChildProcess> proc_;
};

}  // namespace e2e
