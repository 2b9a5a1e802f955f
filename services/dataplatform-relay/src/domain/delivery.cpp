#include "domain/delivery.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "ticketing/common/error.hpp"

namespace ticketing::relay {

Outcome classify(int status, bool transport_retryable) {
  if (status == 0) return transport_retryable ? Outcome::kRetryable : Outcome::kNonRetryable;
  if (status >= 200 && status < 300) return Outcome::kDelivered;
  if (status >= 500 || status == 408 || status == 429) return Outcome::kRetryable;
  return Outcome::kNonRetryable;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc{} || ptr != value.data() + value.size() || seconds < 0) return std::nullopt;
  seconds = std::min<std::int64_t>(seconds, 24 * 3600);
  return std::chrono::milliseconds(seconds * 1000);
}

std::chrono::milliseconds BackoffPolicy::delay(int failed_attempts, std::mt19937_64& rng) const {
  const int n = std::max(1, failed_attempts);
  const double base = static_cast<double>(initial.count()) * std::pow(multiplier, n - 1);
  const double capped = std::min(base, static_cast<double>(max.count()));
  const auto d = static_cast<std::int64_t>(capped);
  if (d <= 1) return std::chrono::milliseconds(d);
  std::uniform_int_distribution<std::int64_t> dist(d / 2, d);
  return std::chrono::milliseconds(dist(rng));
}

std::string_view to_string(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

BreakerState CircuitBreaker::state(Clock::time_point now) {
  if (state_ == BreakerState::kOpen && now >= open_until_) {
    state_ = BreakerState::kHalfOpen;
    probe_in_flight_ = false;
  }
  return state_;
}

bool CircuitBreaker::allow(Clock::time_point now) {
  switch (state(now)) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      return false;
    case BreakerState::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::on_success() {
  failures_ = 0;
  probe_in_flight_ = false;
  state_ = BreakerState::kClosed;
}

bool CircuitBreaker::on_failure(Clock::time_point now) {
  if (state_ == BreakerState::kHalfOpen) {
    open(now);
    return true;
  }
  if (state_ == BreakerState::kOpen) return false;
  if (++failures_ >= std::max(1, options_.failure_threshold)) {
    open(now);
    return true;
  }
  return false;
}

void CircuitBreaker::open(Clock::time_point now) {
  state_ = BreakerState::kOpen;
  probe_in_flight_ = false;
  open_until_ = now + options_.open_for;
  ++opened_;
}

std::string platform_body(std::string_view data_json, std::string_view event_id,
                          std::string_view occurred_at) {
  rapidjson::Document doc;
  doc.Parse(data_json.data(), data_json.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw PoisonError("envelope data is not a JSON object");
  auto& a = doc.GetAllocator();
  doc.RemoveMember("eventId");
  doc.RemoveMember("occurredAt");
  doc.AddMember(
      "eventId",
      rapidjson::Value(event_id.data(), static_cast<rapidjson::SizeType>(event_id.size()), a), a);
  doc.AddMember(
      "occurredAt",
      rapidjson::Value(occurred_at.data(), static_cast<rapidjson::SizeType>(occurred_at.size()), a),
      a);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string idempotency_key(std::int64_t reservation_id) {
  return "reservation-" + std::to_string(reservation_id);
}

}  // namespace ticketing::relay
