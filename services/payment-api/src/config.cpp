#include "config.hpp"

#include <limits>

namespace ticketing::payment {

Config Config::read(EnvReader& env) {
  Config c;
  c.token_secret = env.secret("TOKEN_SECRET");
  c.token_max_age =
      std::chrono::seconds(env.integer("TOKEN_MAX_AGE_SECONDS", 86400, 1, 365LL * 86400));
  c.max_charge = env.integer("MAX_CHARGE", 1'000'000, 1, std::numeric_limits<std::int32_t>::max());
  c.max_balance =
      env.integer("MAX_BALANCE", 100'000'000, 1, std::numeric_limits<std::int64_t>::max() / 4);
  c.consumer_max_attempts = static_cast<int>(env.integer("CONSUMER_MAX_ATTEMPTS", 0, 0, 100000));
  c.consumer_threads = static_cast<int>(env.integer("CONSUMER_THREADS", 3, 1, 32));
  c.consumer_concurrency = static_cast<int>(env.integer("CONSUMER_CONCURRENCY", 4, 1, 32));
  c.consumer_batch = env.boolean("CONSUMER_BATCH", true);
  c.consumer_max_backoff =
      std::chrono::milliseconds(env.integer("CONSUMER_MAX_BACKOFF_MS", 5000, 10, 600000));
  c.prune = outbox::PruneSettings::read(env);
  c.idempotency_key_retention =
      outbox::read_retention(env, "IDEMPOTENCY_KEY_RETENTION_S", c.idempotency_key_retention);
  auto trusted = env.str("TRUSTED_EVENT_PRODUCERS", "");
  std::size_t start = 0;
  while (start < trusted.size()) {
    auto end = trusted.find(',', start);
    if (end == std::string::npos) end = trusted.size();
    if (end > start) c.trusted_producers.push_back(trusted.substr(start, end - start));
    start = end + 1;
  }
  return c;
}

}  // namespace ticketing::payment
