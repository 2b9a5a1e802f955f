#pragma once
// Pure rules and value types of the reservation context: no I/O here.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "ticketing/common/ids.hpp"

namespace ticketing::reservation {

inline constexpr int kSeatsPerSchedule = 50;

// Strong ids: mixing a schedule id with a reservation id is a compile error.
template <typename Tag>
struct Id {
  std::int64_t value = 0;
  auto operator<=>(const Id&) const = default;
};
using UserId = Id<struct UserTag>;
using ScheduleId = Id<struct ScheduleTag>;
using ReservationId = Id<struct ReservationTag>;
using ConcertId = Id<struct ConcertTag>;
struct SeatNo {
  int value = 0;
  auto operator<=>(const SeatNo&) const = default;
  [[nodiscard]] bool valid() const { return value >= 1 && value <= kSeatsPerSchedule; }
};

// Outcome of a hold attempt; the HTTP layer maps it to a status in one place.
enum class HoldOutcome { kHeld, kSeatUnavailable, kHoldLimit, kScheduleNotFound };
// Outcome of DELETE /v1/reservations/{id}.
enum class CancelOutcome { kCancelled, kNotFound, kAlreadyConfirmed, kNotHeld };
// Outcome of a payment.completed event.
enum class ConfirmOutcome {
  kConfirmed,
  kDuplicate,
  kHoldExpired,
  kHoldReleased,
  kNotFound,
  kAlreadyHandled,
  kIgnored
};

std::string_view to_string(ConfirmOutcome o);

// Times: the database keeps DATETIME(3) in UTC ("2026-11-24 06:30:00.123"),
// events and responses carry RFC 3339 ("2026-11-24T06:30:00.123Z").
SystemTime now_ms();
std::string to_db_time(SystemTime t);
std::string db_time_to_rfc3339(std::string_view db_time);

// What the client is shown for a reservation row: a HELD row past its expiry
// is EXPIRED even before seats.expired has been applied.
std::string_view visible_status(std::string_view stored_status, std::string_view expires_at_db,
                                std::string_view now_db);

}  // namespace ticketing::reservation
