#pragma once
// Pure delivery rules of the relay: how a platform answer is classified, how
// long to back off, and the circuit breaker. No I/O, no clocks of their own
// (callers pass `now`), so they are unit-tested directly.

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace ticketing::relay {

using Clock = std::chrono::steady_clock;

enum class Outcome {
  kDelivered,     // 2xx
  kRetryable,     // timeout, connection error, 5xx, 408, 429
  kNonRetryable,  // any other status (4xx, 1xx/3xx), or a non-retryable client error
};

// status 0 = no HTTP answer (transport error); `transport_retryable` then
// says what the client reported.
Outcome classify(int status, bool transport_retryable = true);

// Retry-After as delta-seconds (the HTTP-date form is not used by platforms
// we talk to and is treated as absent).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  // Delay after the n-th failed attempt (n >= 1): "equal jitter", i.e. a
  // uniform draw in [d/2, d] with d = min(max, initial * multiplier^(n-1)),
  // so that retries of many records do not synchronise.
  [[nodiscard]] std::chrono::milliseconds delay(int failed_attempts, std::mt19937_64& rng) const;
};

enum class BreakerState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
std::string_view to_string(BreakerState s);

struct BreakerOptions {
  int failure_threshold = 5;  // consecutive retryable failures that open it
  std::chrono::milliseconds open_for{5000};
};

// closed --threshold consecutive failures--> open --open_for elapsed--> half-open
// half-open: exactly one probe; success -> closed, failure -> open again.
class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerOptions options) : options_(options) {}

  // Moves open -> half-open once open_for has elapsed; returns the state.
  BreakerState state(Clock::time_point now);
  [[nodiscard]] BreakerState current() const { return state_; }

  // True when a request may go out now: closed, or half-open with no probe
  // in flight (the caller then sends exactly one probe).
  bool allow(Clock::time_point now);

  void on_success();
  // A platform failure (retryable outcome). Returns true when this failure
  // opened the breaker.
  bool on_failure(Clock::time_point now);

  [[nodiscard]] Clock::time_point reopens_at() const { return open_until_; }
  [[nodiscard]] int consecutive_failures() const { return failures_; }
  [[nodiscard]] std::uint64_t times_opened() const { return opened_; }

 private:
  void open(Clock::time_point now);

  BreakerOptions options_;
  BreakerState state_ = BreakerState::kClosed;
  int failures_ = 0;
  bool probe_in_flight_ = false;
  Clock::time_point open_until_{};
  std::uint64_t opened_ = 0;
};

// JSON body POSTed to the platform: the envelope's `data` object with
// "eventId" and "occurredAt" added, e.g.
//   {"reservationId":7,...,"confirmedAt":"...","eventId":"<uuid>","occurredAt":"..."}
// Throws PoisonError when data_json is not a JSON object.
std::string platform_body(std::string_view data_json, std::string_view event_id,
                          std::string_view occurred_at);

std::string idempotency_key(std::int64_t reservation_id);

}  // namespace ticketing::relay
