#pragma once
// Hold timers and how due timers become seats.expired records. Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketing/events/contracts.hpp"

namespace ticketing::scheduler {

// One hold whose seat goes back on sale at `expires_at` unless the
// reservation is confirmed or cancelled first.
struct Timer {
  std::int64_t reservation_id = 0;
  std::int32_t bucket = 0;  // partition number of reservation.held that carried the hold
  std::int64_t schedule_id = 0;
  std::int32_t seat_no = 0;
  std::string expires_at;       // RFC 3339, as the hold said it
  std::int64_t expires_ms = 0;  // the same instant in Unix milliseconds
};

// Stored form of a timer's payload: "<bucket>|<scheduleId>|<seatNo>|<expiresAt>".
// The bucket comes first: the Lua scripts read it to find the timer's sorted set.
std::string encode_payload(const Timer& timer);
// nullopt when the text is not a payload written by encode_payload or names
// something seats.expired cannot carry (seat outside 1..50, id < 1).
std::optional<Timer> decode_payload(std::int64_t reservation_id, std::string_view payload);

// The timers of one seats.expired record: one schedule, at most the batch limit.
struct ExpiryBatch {
  std::int64_t schedule_id = 0;
  std::vector<Timer> timers;
};

// Groups due timers per schedule (ordered by schedule id, timers by expiry then
// reservation id) and cuts each group into batches of at most max_seats.
std::vector<ExpiryBatch> plan_batches(std::vector<Timer> due, std::size_t max_seats);

// The seats.expired event of a batch.
events::SeatsExpired to_event(const ExpiryBatch& batch);

}  // namespace ticketing::scheduler
