#pragma once
// Rate limits shared by every instance of a service, kept in Redis.
//
// Each (limit, subject) pair is one GCRA state (generic cell rate algorithm):
// a single key holding the theoretical arrival time (tat), in microseconds of
// the Redis clock. A request is admitted when tat + T - T * burst <= now,
// with T = 1 / per_second; admitting it moves tat to max(tat, now) + T.
//   - One round trip: all checks of a request run in one Lua script (one
//     EVALSHA, one key per check), atomically with respect to other clients.
//   - All or nothing: the request is admitted only when every check admits
//     it; a denied request consumes nothing from any limit, so a client
//     throttled on one limit does not drain its other budgets.
//   - The clock is Redis' (TIME inside the script): instances with skewed
//     clocks still share one budget.
//   - A key expires when its tat is reached (PX, rounded up): an idle
//     subject is then indistinguishable from a new one and costs no memory.
//   - A Redis failure throws RedisError (retryable for connection loss,
//     timeouts and pool exhaustion); whether to fail open is the caller's
//     choice.
// All keys of one check go to one script: on Redis Cluster they would need a
// common hash tag (this project runs a single Redis).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/common/metrics.hpp"
#include "ticketing/redis/client.hpp"
#include "ticketing/redis/pool.hpp"
#include "ticketing/redis/reply.hpp"

namespace ticketing::redis {

// A named policy. Valid when name matches [a-z0-9_]+ (it is a metric label
// and part of the keys), 0 < per_second <= 1e6, 1 <= burst <= 1e6, and a
// full burst refills within a day (burst / per_second <= 86400 s), which
// bounds key lifetimes.
struct RateLimit {
  std::string name;  // e.g. "token_issue_user"
  double per_second = 0;
  int burst = 1;  // requests admitted at once
  // rate_limit_denied_total{limit="<name>"} in metrics::global(), set by
  // parse_rate_limit so that a denial does not look it up (registry lookups
  // lock). Null: looked up at each denial.
  metrics::Counter* denied_total = nullptr;
};

[[nodiscard]] bool is_valid(const RateLimit& limit) noexcept;

// Parses a setting "RATE/s:BURST" or "RATE/m:BURST" ("5/s:10", "0.5/s:3",
// "30/m:10"), RATE a plain decimal and BURST an integer, into a valid limit
// with its metric counter. std::nullopt for anything else, including a bad
// name and whitespace.
std::optional<RateLimit> parse_rate_limit(std::string_view name, std::string_view text);

struct RateCheck {
  const RateLimit* limit = nullptr;  // not owned; must outlive the decision
  std::string subject;               // any bytes, e.g. "user:42", "ip:10.0.0.1"
};

struct RateDecision {
  bool allowed = true;
  // When denied: how long until every denying limit admits one request again
  // (the longest of their waits, if there was no other traffic), at least
  // 1 ms: the value for Retry-After. Zero when allowed.
  std::chrono::milliseconds retry_after{0};
  const RateLimit* denied_by = nullptr;  // the first denying limit in check order
};

class RateLimiter {
 public:
  // Keys are <key_prefix>rl:<limit name>:<subject>. A subject longer than
  // kMaxSubjectBytes, or one starting with "sha256:", is replaced by
  // "sha256:" and its SHA-256 in hex, so keys stay bounded and unambiguous.
  // The pool must outlive the limiter.
  RateLimiter(Pool& pool, std::string key_prefix);

  static constexpr std::size_t kMaxSubjectBytes = 200;

  // One round trip on a pooled client; thread-safe. No checks: allowed, no
  // round trip.
  // Throws std::invalid_argument for a null or invalid limit, RedisError
  // when Redis fails (nothing is known to be consumed then).
  RateDecision check(const std::vector<RateCheck>& checks);

  // To send check() in a pipeline with other commands: send command(checks)
  // and pass its reply to decode(). The reply is a NOSCRIPT error (see
  // Script::is_noscript) when the server does not know the script yet; the
  // script did not run then, so call check() instead. Both count denials
  // like check().
  [[nodiscard]] Command command(const std::vector<RateCheck>& checks) const;
  // Throws RedisError on an error reply or a reply of another shape.
  static RateDecision decode(const std::vector<RateCheck>& checks, const Reply& reply);

  [[nodiscard]] std::string key(const RateLimit& limit, std::string_view subject) const;

 private:
  struct ScriptInput {
    std::vector<std::string> keys;
    std::vector<std::string> args;
  };
  [[nodiscard]] ScriptInput script_input(const std::vector<RateCheck>& checks) const;

  Pool& pool_;
  std::string key_prefix_;
};

}  // namespace ticketing::redis
