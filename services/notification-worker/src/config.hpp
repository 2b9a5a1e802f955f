#pragma once
// The notification-worker's settings, read once from the environment
// (every problem reported at once by EnvReader). Host settings (Kafka,
// Redis, ports) are service::HostConfig's.

#include <chrono>
#include <string>

#include "channels/wiring.hpp"
#include "domain/message.hpp"
#include "ticketing/events/dlq.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::notification {

struct Config {
  ChannelOptions channels;               // NOTIFY_CHANNELS, NOTIFY_FALLBACK, *_URL, ...
  Language language = Language::kEn;     // NOTIFY_LANGUAGE
  std::string redis_prefix = "notify:";  // REDIS_PREFIX
  // Longer than a notification can be delivered again from its topic
  // (retention.ms + segment.ms, 14 days): see outbox::kDefaultDedupeRetention.
  std::chrono::seconds dedupe_ttl{15LL * 24 * 3600};  // NOTIFY_DEDUPE_TTL_S
  // NOTIFY_MAX_ATTEMPTS (0: a channel that is down is waited out, never
  // dead-lettered), NOTIFY_BACKOFF_INITIAL_MS, NOTIFY_BACKOFF_MAX_MS.
  events::HandlingOptions handling;

  static Config read(EnvReader& env);
};

}  // namespace ticketing::notification
