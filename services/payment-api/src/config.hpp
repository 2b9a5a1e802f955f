#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ticketing/common/config.hpp"
#include "ticketing/outbox/pruner.hpp"

namespace ticketing::payment {

// payment-api's own settings (the host reads Kafka, MariaDB, ports).
struct Config {
  std::string token_secret;                   // TOKEN_SECRET (shared with reservation-api)
  std::chrono::seconds token_max_age{86400};  // TOKEN_MAX_AGE_SECONDS
  std::int64_t max_charge = 1'000'000;        // MAX_CHARGE: largest single charge
  std::int64_t max_balance = 100'000'000;     // MAX_BALANCE: a charge may not go above it
  // A consumed event that meets an outage (database down, pool exhausted,
  // deadlock) is retried with backoff this many times in all, then
  // dead-lettered; 0: for as long as the outage lasts.
  int consumer_max_attempts = 0;                         // CONSUMER_MAX_ATTEMPTS
  std::chrono::milliseconds consumer_max_backoff{5000};  // CONSUMER_MAX_BACKOFF_MS
  // Members of the consumer group in this process, each on its own thread
  // with the partitions it is given.
  int consumer_threads = 3;  // CONSUMER_THREADS
  // Records of different reservations each member handles at once
  // (events::HandlingOptions::concurrency).
  int consumer_concurrency = 4;  // CONSUMER_CONCURRENCY
  // A lane's reservation.held records are recorded in one statement.
  bool consumer_batch = true;  // CONSUMER_BATCH

  // Envelope `producer` values accepted on the reservation.* topics; events
  // of any other producer are skipped (counted, not applied). Empty: any.
  // Production may pin "reservation-api"; isolated test runs pin their own.
  std::vector<std::string> trusted_producers;  // TRUSTED_EVENT_PRODUCERS (comma-separated)

  // Pruning of processed_events (DEDUPE_RETENTION_S, PRUNE_*) and of
  // idempotency keys: a key replays its first answer for this long.
  outbox::PruneSettings prune;
  std::chrono::seconds idempotency_key_retention{7LL * 24 * 3600};  // IDEMPOTENCY_KEY_RETENTION_S

  static Config read(EnvReader& env);
};

}  // namespace ticketing::payment
