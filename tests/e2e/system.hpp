#pragma once
// The whole system for an end-to-end test: the five services (N instances of
// each) on their own databases, Redis prefixes and consumer groups, the fake
// data platform and the fake webhook, the demo catalogue loaded. The groups
// are committed at the topics' current ends before any instance starts, so
// the test sees exactly its own events, also across instance restarts.

#include <memory>
#include <string>
#include <vector>

#include "checks.hpp"
#include "rush.hpp"
#include "support.hpp"
#include "ticketing/testing/process.hpp"

namespace e2e {

struct SystemOptions {
  int instances = 1;  // of every service
  int hold_ttl_seconds = 6;
  int queue_max_active = 1000;
  int queue_active_ttl_seconds = 60;
  // HOLD_RELEASE_GRACE_SECONDS of reservation-api and the scheduler: short,
  // so that tests need not wait for the production default.
  int hold_release_grace_seconds = 3;
};

class System {
 public:
  explicit System(SystemOptions options);
  ~System();

  struct Instance {
    std::string service;
    std::unique_ptr<ServiceProcess> process;
  };
  std::vector<Instance>& instances() { return instances_; }
  ServiceProcess& first(const std::string& service);
  [[nodiscard]] std::vector<std::string> urls(const std::string& service) const;

  [[nodiscard]] const ticketing::rush::SystemUnderTest& sut() const { return sut_; }
  // A rush of `users` buyers against every instance (user ids unique to the
  // run, 16 driver threads, 240 s at most, progress every 5 s).
  [[nodiscard]] ticketing::rush::RushConfig rush_config(int users) const;
  [[nodiscard]] const ticketing::rush::Baseline& baseline() const { return baseline_; }
  [[nodiscard]] unsigned short platform_control_port() const { return platform_.control_port(); }
  [[nodiscard]] unsigned short webhook_control_port() const { return webhook_.control_port(); }

 private:
  SystemOptions options_;
  Isolation iso_;
  ticketing::testing::FakePeerProcess platform_;  // the data platform
  ticketing::testing::FakePeerProcess webhook_;
  ticketing::rush::SystemUnderTest sut_;
  ticketing::rush::Baseline baseline_;
  std::vector<Instance> instances_;
};

}  // namespace e2e
