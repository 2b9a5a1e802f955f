#pragma once
// Shared by the end-to-end tests: service processes on their own database,
// Redis prefix and consumer group (so a run never sees another's state on
// the shared stack), and small HTTP/JSON helpers.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <rapidjson/document.h>

#include "ticketing/http/client.hpp"
#include "ticketing/testing/process.hpp"

namespace e2e {

struct Isolation {
  std::string name;  // database, Redis prefix and consumer group stem
  explicit Isolation(const std::string& stem);
};

// One service process. `env` is added to the stack's settings.
class ServiceProcess {
 public:
  ServiceProcess(const std::string& service, const std::string& instance,
                 std::map<std::string, std::string> env);
  // Waits for /health/ready and for the consumer's first partition assignment.
  void wait_ready(std::chrono::seconds limit = std::chrono::seconds(60));
  [[nodiscard]] unsigned short http_port() const { return http_port_; }
  [[nodiscard]] unsigned short admin_port() const { return admin_port_; }
  ticketing::testing::ChildProcess& process() { return *proc_; }
  // SIGKILL (if still running), then the same executable again on the same
  // ports with the same settings; its log continues in the same file.
  void restart();
  // A gauge or counter from /metrics (sum over label sets); -1 if absent.
  double metric(const std::string& name);

 private:
  void spawn();
  std::string service_;
  std::string instance_;
  std::map<std::string, std::string> env_;
  unsigned short http_port_;
  unsigned short admin_port_;
  bool restarted_ = false;
  int rebinds_ = 0;  // new ports after a lost bind race (first start only)
  std::unique_ptr<ticketing::testing::ChildProcess> proc_;
};

// Runs `<service> <command>` to completion (e.g. reservation-api seed).
void run_command(const std::string& service, const std::string& command,
                 std::map<std::string, std::string> env);

ticketing::http::ClientResponse call(unsigned short port, const std::string& method,
                                     const std::string& path, const std::string& body = {},
                                     const std::string& token = {});
rapidjson::Document json(const std::string& text);

// Waits until `pred` holds or the limit passes; returns the last verdict.
template <typename Pred>
bool eventually(Pred pred, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

}  // namespace e2e
