#include "ticketing/service/throttle.hpp"

#include <atomic>
#include <chrono>

#include "ticketing/common/error.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"

namespace ticketing::service {

std::optional<redis::RateLimit> read_rate_limit(EnvReader& env, std::string_view var,
                                                std::string_view name, std::string_view fallback) {
  auto text = env.str(var, fallback);
  if (text == "off") return std::nullopt;
  auto limit = redis::parse_rate_limit(name, text);
  if (!limit) env.fail(var, "must be RATE/s:BURST or RATE/m:BURST (e.g. 2/s:5), or off");
  return limit;
}

Throttle::Throttle(redis::Pool& pool, std::string key_prefix)
    : limiter_(pool, std::move(key_prefix)) {}

std::optional<http::Response> Throttle::admit(const Checks& checks) const {
  if (checks.list().empty()) return std::nullopt;
  redis::RateDecision decision;
  try {
    decision = limiter_.check(checks.list());
  } catch (const InfraError& e) {
    static metrics::Counter& errors = metrics::global().counter(
        "rate_limit_errors_total", "Rate limit checks skipped because Redis failed");
    errors.inc();
    static std::atomic<std::int64_t> last_log{0};
    auto now = std::chrono::steady_clock::now().time_since_epoch() / std::chrono::seconds(1);
    auto prev = last_log.load();
    if (now - prev >= 10 && last_log.compare_exchange_strong(prev, now))
      log::warn("rate limits not checked: redis failed", {{"error", e.what()}});
    return std::nullopt;
  }
  if (decision.allowed) return std::nullopt;
  auto seconds = std::max<std::int64_t>(1, (decision.retry_after.count() + 999) / 1000);
  auto r = http::Response::error(
      429, "RATE_LIMITED",
      "too many requests (" +
          (decision.denied_by ? decision.denied_by->name : std::string("limit")) +
          "): retry after " + std::to_string(seconds) + " s");
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

}  // namespace ticketing::service
