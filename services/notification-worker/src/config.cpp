#include "config.hpp"

#include "ticketing/common/config.hpp"

namespace ticketing::notification {

Config Config::read(EnvReader& env) {
  Config c;
  c.channels = read_channel_options(env);
  c.language = language_from(env.choice("NOTIFY_LANGUAGE", "en", {"en", "ko"}));
  c.redis_prefix = env.str("REDIS_PREFIX", c.redis_prefix);
  c.dedupe_ttl = std::chrono::seconds(
      env.integer("NOTIFY_DEDUPE_TTL_S", c.dedupe_ttl.count(), 1, 10LL * 365 * 24 * 3600));
  c.handling.retry.max_infra_attempts =
      static_cast<int>(env.integer("NOTIFY_MAX_ATTEMPTS", 0, 0, 100000));
  c.handling.retry.initial_backoff =
      std::chrono::milliseconds(env.integer("NOTIFY_BACKOFF_INITIAL_MS", 500, 1, 3600000));
  c.handling.retry.max_backoff =
      std::chrono::milliseconds(env.integer("NOTIFY_BACKOFF_MAX_MS", 10000, 1, 3600000));
  return c;
}

}  // namespace ticketing::notification
