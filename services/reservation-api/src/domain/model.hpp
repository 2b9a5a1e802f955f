#pragma once
// Pure rules and value types of the reservation context: no I/O here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Stored statuses. Text in the database and on the wire (to_string), enums
// everywhere else.
enum class ReservationStatus { kHeld, kConfirmed, kExpired, kCancelled };
enum class SeatStatus { kAvailable, kHeld, kReserved };
std::string_view to_string(ReservationStatus s);
std::string_view to_string(SeatStatus s);
// std::nullopt for a text that is no status.
std::optional<ReservationStatus> parse_reservation_status(std::string_view s);
std::optional<SeatStatus> parse_seat_status(std::string_view s);

// Outcome of a hold attempt; http/outcomes.cpp maps it to a status.
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

// --- when a held seat counts as free again ------------------------------
// A hold is released `release grace` after its expiresAt (so that a payment
// made in time and still in the pipeline confirms it). Times are database
// DATETIME(3) text in UTC: fixed width, so text order is time order. The
// cutoff is now minus the grace (see release_cutoff); a hold whose expiry is
// at or before it is released: its seat is free (shown AVAILABLE, taken over
// by a new hold) and its reservation is shown EXPIRED. The store's SQL says
// the same thing once, in kSeatFree (store/reservation_store.cpp).
std::string release_cutoff(SystemTime now, std::chrono::milliseconds grace);
bool hold_released(std::string_view expires_at_db, std::string_view release_cutoff_db);
bool seat_free(SeatStatus status, const std::optional<std::string>& hold_expires_at_db,
               std::string_view release_cutoff_db);

// --- holds -----------------------------------------------------------------
// What the store read (under the seat's row lock) for a hold attempt.
struct HoldFacts {
  bool schedule_exists = false;
  std::int64_t live_holds = 0;  // the user's HELD reservations not past expiresAt
  struct Seat {
    SeatStatus status = SeatStatus::kAvailable;
    std::optional<std::string> hold_expires_at;  // db time
    std::optional<std::int64_t> held_by;         // reservation id
  };
  std::optional<Seat> seat;  // none: no such seat
};
struct HoldDecision {
  HoldOutcome outcome = HoldOutcome::kSeatUnavailable;
  // kHeld over a released hold that is still HELD in the database: that
  // reservation is to be ended (EXPIRED) in the same transaction.
  std::optional<std::int64_t> takes_over;
};
// Checks in this order: the schedule exists; the user holds fewer than
// max_holds live seats; the seat exists and is free (seat_free).
HoldDecision decide_hold(const HoldFacts& facts, int max_holds, std::string_view release_cutoff_db);

// DELETE /v1/reservations/{id} of the owner's reservation in `status`.
CancelOutcome decide_cancel(ReservationStatus status);

// --- seats.expired -----------------------------------------------------------
struct HeldReservation {
  std::int64_t id = 0;
  std::string expires_at;  // db time
};
struct ReleaseDecision {
  std::vector<std::int64_t> release;  // past the release grace: released now
  std::int64_t not_yet_due = 0;       // past expiresAt, within the grace: later
};
// Which of the HELD reservations a seats.expired event names are released.
// A hold not even past expiresAt is not the event's to end (left alone); one
// within its grace makes the event be handled again later.
ReleaseDecision decide_release(const std::vector<HeldReservation>& held, std::string_view now_db,
                               std::string_view release_cutoff_db);

// What payment.completed claims.
struct PaymentCompleted {
  std::string event_id;
  std::int64_t payment_id, reservation_id, user_id, amount;
  SystemTime paid_at;
};

// The reservation a payment is for, as stored.
struct PaidReservation {
  ReservationStatus status = ReservationStatus::kHeld;
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
// events and responses carry RFC 3339 ("2026-11-24T06:30:00.123Z"). Nothing
// here reads the clock: the store reads it once per request and passes it in.
std::string to_db_time(SystemTime t);
std::string db_time_to_rfc3339(std::string_view db_time);

// What the client is shown for a reservation row: a HELD row whose hold is
// released (hold_released) is EXPIRED even before seats.expired has been
// applied.
ReservationStatus visible_status(ReservationStatus stored, std::string_view expires_at_db,
                                 std::string_view release_cutoff_db);

}  // namespace ticketing::reservation
