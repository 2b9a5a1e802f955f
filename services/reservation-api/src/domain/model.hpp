#pragma once
// Pure rules and value types of the reservation context: no I/O here.

#include <chrono>
#include <cstdint>
#include <optional>
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
  kPaymentMismatch,  // not the held reservation's price
  kAlreadyHandled,
  kIgnored
};

std::string_view to_string(ConfirmOutcome o);

// What payment.completed claims.
struct PaymentCompleted {
  std::string event_id;
  std::int64_t payment_id, reservation_id, user_id, amount;
  SystemTime paid_at;
};

// The reservation a payment is for, as stored.
struct PaidReservation {
  std::string status;  // HELD | CONFIRMED | EXPIRED | CANCELLED
  std::int64_t user_id = 0;
  std::int64_t price = 0;
  std::optional<std::int64_t> payment_id;
  SystemTime expires_at;
};

// Whether a payment confirms its reservation. Decided by when the payment
// was accepted (paidAt), not by when the event arrives: a hold whose seat is
// still its own (HELD: not released, not taken over) is confirmed by a
// payment of its price, by its owner, made before expiresAt. Anything else
// gets a confirmation-failed (and so a refund), except the same payment
// announced again.
ConfirmOutcome decide_confirmation(const std::optional<PaidReservation>& reservation,
                                   const PaymentCompleted& payment);

// Times: the database keeps DATETIME(3) in UTC ("2026-11-24 06:30:00.123"),
// events and responses carry RFC 3339 ("2026-11-24T06:30:00.123Z").
SystemTime now_ms();
std::string to_db_time(SystemTime t);
std::string db_time_to_rfc3339(std::string_view db_time);

// What the client is shown for a reservation row: a HELD row whose seat may
// be released (expires_at before `release_cutoff_db`, i.e. now minus the
// release grace) is EXPIRED even before seats.expired has been applied.
std::string_view visible_status(std::string_view stored_status, std::string_view expires_at_db,
                                std::string_view release_cutoff_db);

}  // namespace ticketing::reservation
