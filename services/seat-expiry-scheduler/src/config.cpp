#include "config.hpp"

#include "ticketing/common/config.hpp"

namespace ticketing::scheduler {

Config Config::read(EnvReader& env) {
  Config c;
  StoreOptions& store = c.store;
  store.prefix = env.str("REDIS_PREFIX", "scheduler:");
  // A tombstone outlives every redelivery of its reservation.held: records stay
  // readable up to retention.ms + segment.ms (14 days) after they were written.
  store.done_ttl = std::chrono::seconds(
      env.integer("EXPIRY_DONE_TTL_S", store.done_ttl.count(), 60, 30 * 86400));

  SchedulerOptions& sched = c.scheduler;
  sched.session_timeout_ms =
      static_cast<int>(env.integer("KAFKA_SESSION_TIMEOUT_MS", 6000, 6000, 300000));
  sched.tick = std::chrono::milliseconds(env.integer("EXPIRY_TICK_MS", 1000, 10, 60000));
  sched.max_per_tick =
      static_cast<std::size_t>(env.integer("EXPIRY_MAX_PER_TICK", 5000, 1, 100000));
  sched.max_in_flight =
      static_cast<std::size_t>(env.integer("EXPIRY_MAX_IN_FLIGHT", 20000, 1, 1000000));
  sched.batch_seats = static_cast<std::size_t>(env.integer("EXPIRY_BATCH_SEATS", 500, 1, 500));
  sched.claim_lease =
      std::chrono::milliseconds(env.integer("EXPIRY_CLAIM_LEASE_MS", 10000, 1000, 600000));
  sched.release_grace =
      std::chrono::seconds(env.integer("HOLD_RELEASE_GRACE_SECONDS", 10, 0, 3600));
  if (store.prefix.empty()) env.fail("REDIS_PREFIX", "must not be empty");

  return c;
}

}  // namespace ticketing::scheduler
