#include "config.hpp"

#include "ticketing/common/config.hpp"

namespace ticketing::relay {

Config Config::read(EnvReader& env) {
  Config s;
  RelayOptions& c = s.relay;
  std::string url = env.required("DATAPLATFORM_URL");
  while (!url.empty() && url.back() == '/') url.pop_back();
  c.endpoint = url + "/reservations";
  c.timeout = std::chrono::milliseconds(env.integer("DATAPLATFORM_TIMEOUT_MS", 5000, 1, 600000));
  c.tls_verify = env.boolean("DATAPLATFORM_TLS_VERIFY", true);
  c.ca_file = env.str("DATAPLATFORM_CA_FILE", "");
  c.max_attempts = static_cast<int>(env.integer("RELAY_MAX_ATTEMPTS", 0, 0, 100000));
  c.backoff.initial =
      std::chrono::milliseconds(env.integer("RELAY_BACKOFF_INITIAL_MS", 200, 1, 3600000));
  c.backoff.max = std::chrono::milliseconds(env.integer("RELAY_BACKOFF_MAX_MS", 30000, 1, 3600000));
  c.breaker.failure_threshold =
      static_cast<int>(env.integer("BREAKER_FAILURE_THRESHOLD", 5, 1, 100000));
  c.breaker.open_for = std::chrono::milliseconds(env.integer("BREAKER_OPEN_MS", 5000, 1, 3600000));
  s.redis_prefix = env.str("REDIS_PREFIX", s.redis_prefix);
  s.dedupe_ttl = std::chrono::seconds(
      env.integer("RELAY_DEDUPE_TTL_S", s.dedupe_ttl.count(), 1, 10LL * 365 * 24 * 3600));
  // A missing DATAPLATFORM_URL is reported by the reader with everything else.
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    env.fail("DATAPLATFORM_URL", "must start with http:// or https://");
  return s;
}

}  // namespace ticketing::relay
