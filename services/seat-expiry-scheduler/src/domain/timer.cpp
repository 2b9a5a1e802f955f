#include "domain/timer.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "ticketing/common/ids.hpp"

namespace ticketing::scheduler {

namespace {

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::string encode_payload(const Timer& timer) {
  return std::to_string(timer.bucket) + '|' + std::to_string(timer.schedule_id) + '|' +
         std::to_string(timer.seat_no) + '|' + timer.expires_at;
}

std::optional<Timer> decode_payload(std::int64_t reservation_id, std::string_view payload) {
  std::string_view parts[4];
  std::size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    auto bar = payload.find('|', start);
    if (bar == std::string_view::npos) return std::nullopt;
    parts[i] = payload.substr(start, bar - start);
    start = bar + 1;
  }
  parts[3] = payload.substr(start);
  Timer t;
  t.reservation_id = reservation_id;
  if (!parse_int(parts[0], t.bucket) || !parse_int(parts[1], t.schedule_id) ||
      !parse_int(parts[2], t.seat_no))
    return std::nullopt;
  // What seats.expired accepts (proto-schemas): a timer outside it could
  // never be published.
  if (reservation_id < 1 || t.schedule_id < 1 || t.seat_no < 1 || t.seat_no > 50 || t.bucket < 0)
    return std::nullopt;
  auto when = parse_rfc3339(parts[3]);
  if (!when) return std::nullopt;
  t.expires_at = std::string(parts[3]);
  t.expires_ms = unix_millis(*when);
  return t;
}

std::vector<ExpiryBatch> plan_batches(std::vector<Timer> due, std::size_t max_seats) {
  if (max_seats == 0) throw std::invalid_argument("max_seats must be positive");
  std::sort(due.begin(), due.end(), [](const Timer& a, const Timer& b) {
    if (a.schedule_id != b.schedule_id) return a.schedule_id < b.schedule_id;
    if (a.expires_ms != b.expires_ms) return a.expires_ms < b.expires_ms;
    return a.reservation_id < b.reservation_id;
  });
  std::vector<ExpiryBatch> batches;
  for (auto& timer : due) {
    if (batches.empty() || batches.back().schedule_id != timer.schedule_id ||
        batches.back().timers.size() >= max_seats) {
      batches.push_back(ExpiryBatch{timer.schedule_id, {}});
    }
    batches.back().timers.push_back(std::move(timer));
  }
  return batches;
}

events::SeatsExpired to_event(const ExpiryBatch& batch) {
  events::SeatsExpired e;
  e.schedule_id = batch.schedule_id;
  e.seats.reserve(batch.timers.size());
  for (const auto& t : batch.timers) e.seats.push_back({t.reservation_id, t.seat_no, t.expires_at});
  return e;
}

}  // namespace ticketing::scheduler
