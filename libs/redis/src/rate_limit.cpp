#include "ticketing/redis/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "ticketing/common/error.hpp"

namespace ticketing::redis {

namespace {

constexpr double kMaxPerSecond = 1e6;  // the emission interval stays >= 1 us
constexpr int kMaxBurst = 1000000;
constexpr double kMaxRefillSeconds = 86400;
constexpr std::string_view kHashedSubject = "sha256:";

// KEYS[i]: the tat of check i, integer microseconds (absent: no debt).
// ARGV[2i-1], ARGV[2i]: emission interval T (us) and burst of check i.
// Returns {0, 0} when admitted (every key moved on), else {index of the first
// denying check, longest wait in us} and writes nothing. A key listed twice
// is charged twice. Redis >= 5 replicates scripts by effects, so writing
// after TIME needs no redis.replicate_commands().
constexpr const char* kGcraLua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local taken = {}
local new_tat = {}
local denied = 0
local wait = 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = taken[key] or tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allow_at = next_tat - interval * burst
  if allow_at > now then
    if denied == 0 then denied = i end
    if allow_at - now > wait then wait = allow_at - now end
  else
    taken[key] = next_tat
    new_tat[i] = next_tat
  end
end
if denied > 0 then return {denied, wait} end
for i = 1, #KEYS do
  local ttl_ms = math.ceil((new_tat[i] - now) / 1000)
  redis.call('SET', KEYS[i], string.format('%.0f', new_tat[i]), 'PX', ttl_ms)
end
return {0, 0}
)lua";

const Script& gcra_script() {
  static const Script script(kGcraLua);
  return script;
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string hex_sha256(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw RedisError("SHA-256 of rate limit subject failed", false);
  }
  std::string out;
  out.reserve(2 * len);
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

metrics::Counter& denied_counter(const std::string& name) {
  return metrics::global().counter("rate_limit_denied_total",
                                   "Requests denied by a rate limit (HTTP 429)", {{"limit", name}});
}

std::int64_t interval_us(const RateLimit& limit) {
  return std::max<std::int64_t>(1, std::llround(1e6 / limit.per_second));
}

const RateLimit& checked_limit(const RateCheck& check) {
  if (check.limit == nullptr) throw std::invalid_argument("rate check without a limit");
  if (!is_valid(*check.limit)) {
    throw std::invalid_argument(fmt::format("invalid rate limit '{}': {}/s, burst {}",
                                            check.limit->name, check.limit->per_second,
                                            check.limit->burst));
  }
  return *check.limit;
}

}  // namespace

bool is_valid(const RateLimit& limit) noexcept {
  // Negated comparisons so that NaN fails too.
  if (!(limit.per_second > 0 && limit.per_second <= kMaxPerSecond)) return false;
  if (limit.burst < 1 || limit.burst > kMaxBurst) return false;
  if (!(limit.burst / limit.per_second <= kMaxRefillSeconds)) return false;
  return valid_name(limit.name);
}

std::optional<RateLimit> parse_rate_limit(std::string_view name, std::string_view text) {
  const auto slash = text.find('/');
  const auto colon = text.find(':');
  if (slash == std::string_view::npos || colon != slash + 2) return std::nullopt;
  double seconds = 0;
  switch (text[slash + 1]) {
    case 's':
      seconds = 1;
      break;
    case 'm':
      seconds = 60;
      break;
    default:
      return std::nullopt;
  }
  const std::string_view rate_text = text.substr(0, slash);
  const std::string_view burst_text = text.substr(colon + 1);

  double rate = 0;
  // fixed: no exponent, and no "inf" or "nan" either.
  auto [rate_end, rate_ec] = std::from_chars(rate_text.data(), rate_text.data() + rate_text.size(),
                                             rate, std::chars_format::fixed);
  if (rate_text.empty() || rate_ec != std::errc() ||
      rate_end != rate_text.data() + rate_text.size() || !std::isfinite(rate)) {
    return std::nullopt;
  }
  int burst = 0;
  auto [burst_end, burst_ec] =
      std::from_chars(burst_text.data(), burst_text.data() + burst_text.size(), burst);
  if (burst_ec != std::errc() || burst_end != burst_text.data() + burst_text.size()) {
    return std::nullopt;
  }

  RateLimit limit{std::string(name), rate / seconds, burst};
  if (!is_valid(limit)) return std::nullopt;
  limit.denied_total = &denied_counter(limit.name);
  return limit;
}

RateLimiter::RateLimiter(Pool& pool, std::string key_prefix)
    : pool_(pool), key_prefix_(std::move(key_prefix)) {}

std::string RateLimiter::key(const RateLimit& limit, std::string_view subject) const {
  std::string out = key_prefix_ + "rl:" + limit.name + ":";
  if (subject.size() > kMaxSubjectBytes ||
      subject.substr(0, kHashedSubject.size()) == kHashedSubject) {
    out += kHashedSubject;
    out += hex_sha256(subject);
  } else {
    out += subject;
  }
  return out;
}

RateLimiter::ScriptInput RateLimiter::script_input(const std::vector<RateCheck>& checks) const {
  ScriptInput in;
  in.keys.reserve(checks.size());
  in.args.reserve(2 * checks.size());
  for (const auto& check : checks) {
    const RateLimit& limit = checked_limit(check);
    in.keys.push_back(key(limit, check.subject));
    in.args.push_back(std::to_string(interval_us(limit)));
    in.args.push_back(std::to_string(limit.burst));
  }
  return in;
}

Command RateLimiter::command(const std::vector<RateCheck>& checks) const {
  ScriptInput in = script_input(checks);
  return gcra_script().evalsha(in.keys, in.args);
}

RateDecision RateLimiter::decode(const std::vector<RateCheck>& checks, const Reply& reply) {
  if (reply.is_error()) {
    throw RedisError("rate limit script: " + reply.error_message(),
                     is_retryable_error_reply(reply.error_message()));
  }
  if (!reply.is_array() || reply.size() != 2 || !reply[0].is_integer() || !reply[1].is_integer()) {
    throw RedisError("rate limit script: unexpected reply " + reply.debug_string(), false);
  }
  const std::int64_t denied = reply[0].as_integer();
  const std::int64_t wait_us = reply[1].as_integer();
  if (denied < 0 || static_cast<std::uint64_t>(denied) > checks.size() || wait_us < 0) {
    throw RedisError("rate limit script: reply does not match the checks " + reply.debug_string(),
                     false);
  }
  RateDecision decision;
  if (denied == 0) return decision;

  const RateLimit& limit = checked_limit(checks[static_cast<std::size_t>(denied - 1)]);
  decision.allowed = false;
  decision.denied_by = &limit;
  // Rounded up: a client that waits exactly retry_after is admitted.
  decision.retry_after =
      std::chrono::milliseconds(std::max<std::int64_t>(1, (wait_us + 999) / 1000));
  (limit.denied_total != nullptr ? *limit.denied_total : denied_counter(limit.name)).inc();
  return decision;
}

RateDecision RateLimiter::check(const std::vector<RateCheck>& checks) {
  if (checks.empty()) return {};
  ScriptInput in = script_input(checks);  // before the lease: may throw invalid_argument
  Lease lease = pool_.acquire();
  return decode(checks, gcra_script().run(*lease, in.keys, in.args));
}

}  // namespace ticketing::redis
