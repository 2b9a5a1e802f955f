#pragma once
// The dataplatform-relay's settings, read once from the environment (every
// problem reported at once by EnvReader). Host settings (Kafka, Redis,
// ports) are service::HostConfig's.

#include <chrono>
#include <string>

#include "events/relay_worker.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::relay {

struct Config {
  // DATAPLATFORM_URL (+ "/reservations"), DATAPLATFORM_TIMEOUT_MS,
  // DATAPLATFORM_TLS_VERIFY, DATAPLATFORM_CA_FILE, RELAY_MAX_ATTEMPTS,
  // RELAY_BACKOFF_INITIAL_MS, RELAY_BACKOFF_MAX_MS, BREAKER_FAILURE_THRESHOLD,
  // BREAKER_OPEN_MS.
  RelayOptions relay;
  std::string redis_prefix = "relay:";                // REDIS_PREFIX
  std::chrono::seconds dedupe_ttl{30LL * 24 * 3600};  // RELAY_DEDUPE_TTL_S

  static Config read(EnvReader& env);
};

}  // namespace ticketing::relay
