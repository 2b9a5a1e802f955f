#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "ticketing/auth/id_token.hpp"
#include "ticketing/http/client_address.hpp"
#include "ticketing/outbox/pruner.hpp"
#include "ticketing/redis/rate_limit.hpp"

namespace ticketing {
class EnvReader;
}

namespace ticketing::reservation {

// reservation-api's own settings (the host reads ports, Kafka, MySQL, Redis).
struct Config {
  // Who a caller is: the ID token of the identity provider (ID_TOKEN_*).
  auth::IdTokenSettings id_token;
  std::string token_secret;
  std::chrono::seconds token_max_age{86400};
  // Request limits shared by all instances (RATE_LIMIT_*: "RATE/s:BURST" or
  // "off"), per user and per client address; 429 RATE_LIMITED beyond.
  struct Limits {
    std::optional<redis::RateLimit> token_user, token_client;    // POST /v1/queue/tokens
    std::optional<redis::RateLimit> status_user, status_client;  // GET /v1/queue/status
    std::optional<redis::RateLimit> hold_user, hold_client;      // POST /v1/reservations
  } limits;
  // Peers whose X-Forwarded-For names the client (TRUSTED_PROXIES; in
  // development mode loopback by default, so one machine can act as many).
  http::TrustedProxies trusted_proxies;
  std::int64_t queue_max_active = 100;
  std::chrono::seconds queue_active_ttl{600};
  std::int64_t queue_max_waiting = 200000;
  std::chrono::seconds queue_waiting_ttl{120};
  std::chrono::milliseconds promote_interval{200};
  // Admissions per second at most (QUEUE_ADMIT_PER_SECOND, 0 = unpaced).
  std::int64_t queue_admit_per_second = 0;
  // Long polls of GET /v1/queue/status: the longest waitSeconds accepted
  // (QUEUE_LONG_POLL_MAX_SECONDS, at most half the waiting TTL, so a parked
  // user keeps their place), how often parked ones are looked at
  // (QUEUE_WATCH_INTERVAL_MS) and how many may be parked per process
  // (QUEUE_LONG_POLL_MAX_PARKED; beyond, the place is answered at once).
  std::chrono::seconds queue_long_poll_max{30};
  // Handler threads of the queue routes' own lane (QUEUE_HTTP_THREADS).
  int queue_http_threads = 4;
  std::chrono::milliseconds queue_watch_interval{50};
  std::int64_t queue_long_poll_max_parked = 20000;
  std::chrono::seconds hold_ttl{300};
  // Seats are released this long after a hold's expiresAt (payments are
  // still refused at expiresAt): a payment made in time confirms the hold
  // even when its event is a little late.
  std::chrono::seconds hold_release_grace{10};
  int max_holds_per_user = 4;
  std::string redis_prefix = "reservation:";
  std::chrono::milliseconds cache_ttl{2000};
  // In-process reuse of catalogue documents and of ACTIVE queue states:
  // bounds how long another instance's change may go unseen here.
  std::chrono::milliseconds catalogue_local_max_stale{100};
  std::chrono::milliseconds queue_state_cache{100};
  // Outbox relay: rounds start at most this often (larger batches under load).
  std::chrono::milliseconds outbox_min_round_interval{50};
  // Test isolation on a shared cluster (defaults are production's).
  // Skip a payment.completed whose reservation this database never had,
  // instead of answering confirmation-failed NOT_FOUND.
  bool ignore_unknown_reservations = false;
  // Members of the consumer group in this process (CONSUMER_THREADS): each
  // handles the partitions it is given on its own thread, so a burst of
  // payments on several partitions is not confirmed one after another.
  // See docs/design/high-volume.md.
  int consumer_threads = 3;
  // Records of different keys (reservations; shows for seats.expired) each
  // member handles at once (CONSUMER_CONCURRENCY,
  // events::HandlingOptions::concurrency): a burst of payments on one
  // partition is confirmed side by side, not in single file.
  int consumer_concurrency = 4;
  // CONSUMER_BATCH: a lane's payment.completed records are confirmed in one
  // transaction (ReservationStore::confirm_all), one commit for several.
  bool consumer_batch = true;
  // Pruning of processed_events: DEDUPE_RETENTION_S, PRUNE_*.
  outbox::PruneSettings prune;

  static Config read(EnvReader& env);
};

}  // namespace ticketing::reservation
