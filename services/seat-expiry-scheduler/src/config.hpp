#pragma once
// The seat-expiry-scheduler's settings, read once from the environment (every
// problem reported at once by EnvReader). Host settings (Kafka, Redis,
// ports) are service::HostConfig's.

#include "events/scheduler.hpp"
#include "store/timer_store.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::scheduler {

struct Config {
  StoreOptions store;          // REDIS_PREFIX, EXPIRY_DONE_TTL_S
  SchedulerOptions scheduler;  // KAFKA_SESSION_TIMEOUT_MS, EXPIRY_*, HOLD_RELEASE_GRACE_SECONDS

  static Config read(EnvReader& env);
};

}  // namespace ticketing::scheduler
