#pragma once

// Per-user and per-client request limits of the public APIs, shared by every
// instance through Redis (redis::RateLimiter): a throttled request gets
// 429 RATE_LIMITED with Retry-After, long before it reaches the database.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/common/config.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/redis/rate_limit.hpp"

namespace ticketing::service {

// A limit setting: "RATE/s:BURST", "RATE/m:BURST" (e.g. "2/s:5") or "off"
// (std::nullopt: no limit). A bad value is recorded in `env`.
std::optional<redis::RateLimit> read_rate_limit(EnvReader& env, std::string_view var,
                                                std::string_view name, std::string_view fallback);

class Throttle {
 public:
  // Keys <key_prefix>rl:<limit>:<subject>. The pool must outlive it.
  Throttle(redis::Pool& pool, std::string key_prefix);

  // The checks of one request: limits that are off are left out.
  class Checks {
   public:
    Checks& add(const std::optional<redis::RateLimit>& limit, std::string subject) {
      if (limit) list_.push_back({&*limit, std::move(subject)});
      return *this;
    }
    [[nodiscard]] const std::vector<redis::RateCheck>& list() const { return list_; }

   private:
    std::vector<redis::RateCheck> list_;
  };

  // std::nullopt: go on. Else 429 RATE_LIMITED with Retry-After (whole
  // seconds, at least 1). One Redis round trip when any limit is set. When
  // Redis fails the request goes on (counted in rate_limit_errors_total,
  // logged at most every 10 s): it meets the same outage where it needs
  // Redis for real, and a limiter must not take down what still works.
  [[nodiscard]] std::optional<http::Response> admit(const Checks& checks) const;

 private:
  mutable redis::RateLimiter limiter_;
};

}  // namespace ticketing::service
