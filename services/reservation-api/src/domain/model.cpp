#include "domain/model.hpp"

#include "ticketing/common/ids.hpp"

namespace ticketing::reservation {

std::string_view to_string(ConfirmOutcome o) {
  switch (o) {
    case ConfirmOutcome::kConfirmed:
      return "CONFIRMED";
    case ConfirmOutcome::kDuplicate:
      return "DUPLICATE";
    case ConfirmOutcome::kHoldExpired:
      return "HOLD_EXPIRED";
    case ConfirmOutcome::kHoldReleased:
      return "HOLD_RELEASED";
    case ConfirmOutcome::kNotFound:
      return "NOT_FOUND";
    case ConfirmOutcome::kPaymentMismatch:
      return "PAYMENT_MISMATCH";
    case ConfirmOutcome::kAlreadyHandled:
      return "ALREADY_HANDLED";
    case ConfirmOutcome::kIgnored:
      return "IGNORED";
  }
  return "UNKNOWN";
}

std::string_view to_string(ReservationStatus s) {
  switch (s) {
    case ReservationStatus::kHeld:
      return "HELD";
    case ReservationStatus::kConfirmed:
      return "CONFIRMED";
    case ReservationStatus::kExpired:
      return "EXPIRED";
    case ReservationStatus::kCancelled:
      return "CANCELLED";
  }
  return "HELD";
}

std::string_view to_string(SeatStatus s) {
  switch (s) {
    case SeatStatus::kAvailable:
      return "AVAILABLE";
    case SeatStatus::kHeld:
      return "HELD";
    case SeatStatus::kReserved:
      return "RESERVED";
  }
  return "AVAILABLE";
}

std::optional<ReservationStatus> parse_reservation_status(std::string_view s) {
  for (auto v : {ReservationStatus::kHeld, ReservationStatus::kConfirmed,
                 ReservationStatus::kExpired, ReservationStatus::kCancelled}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::optional<SeatStatus> parse_seat_status(std::string_view s) {
  for (auto v : {SeatStatus::kAvailable, SeatStatus::kHeld, SeatStatus::kReserved}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::string release_cutoff(SystemTime now, std::chrono::milliseconds grace) {
  return to_db_time(now - grace);
}

bool hold_released(std::string_view expires_at_db, std::string_view release_cutoff_db) {
  return expires_at_db <= release_cutoff_db;
}

bool seat_free(SeatStatus status, const std::optional<std::string>& hold_expires_at_db,
               std::string_view release_cutoff_db) {
  if (status == SeatStatus::kAvailable) return true;
  return status == SeatStatus::kHeld && hold_expires_at_db &&
         hold_released(*hold_expires_at_db, release_cutoff_db);
}

HoldDecision decide_hold(const HoldFacts& facts, int max_holds,
                         std::string_view release_cutoff_db) {
  if (!facts.schedule_exists) return {HoldOutcome::kScheduleNotFound, std::nullopt};
  if (facts.live_holds >= max_holds) return {HoldOutcome::kHoldLimit, std::nullopt};
  if (!facts.seat) return {HoldOutcome::kSeatUnavailable, std::nullopt};
  const auto& seat = *facts.seat;
  if (!seat_free(seat.status, seat.hold_expires_at, release_cutoff_db)) {
    return {HoldOutcome::kSeatUnavailable, std::nullopt};
  }
  if (seat.status == SeatStatus::kHeld) return {HoldOutcome::kHeld, seat.held_by};
  return {HoldOutcome::kHeld, std::nullopt};
}

CancelOutcome decide_cancel(ReservationStatus status) {
  switch (status) {
    case ReservationStatus::kHeld:
      return CancelOutcome::kCancelled;
    case ReservationStatus::kConfirmed:
      return CancelOutcome::kAlreadyConfirmed;
    case ReservationStatus::kExpired:
    case ReservationStatus::kCancelled:
      break;
  }
  return CancelOutcome::kNotHeld;
}

ReleaseDecision decide_release(const std::vector<HeldReservation>& held, std::string_view now_db,
                               std::string_view release_cutoff_db) {
  ReleaseDecision d;
  for (const auto& h : held) {
    if (hold_released(h.expires_at, release_cutoff_db)) {
      d.release.push_back(h.id);
    } else if (h.expires_at <= now_db) {
      ++d.not_yet_due;
    }
  }
  return d;
}

std::string to_db_time(SystemTime t) {
  // DATETIME(3) text is the RFC 3339 UTC form with a space for "T" and no "Z".
  std::string text = to_rfc3339(t);
  text[10] = ' ';
  text.pop_back();
  return text;
}

std::string db_time_to_rfc3339(std::string_view db_time) {
  std::string out(db_time);
  if (out.size() >= 19) out[10] = 'T';
  if (out.find('.') == std::string::npos) out += ".000";
  out += 'Z';
  return out;
}

ReservationStatus visible_status(ReservationStatus stored, std::string_view expires_at_db,
                                 std::string_view release_cutoff_db) {
  if (stored == ReservationStatus::kHeld && hold_released(expires_at_db, release_cutoff_db)) {
    return ReservationStatus::kExpired;
  }
  return stored;
}

ConfirmOutcome decide_confirmation(const std::optional<PaidReservation>& reservation,
                                   const PaymentCompleted& payment) {
  if (!reservation || reservation->user_id != payment.user_id) return ConfirmOutcome::kNotFound;
  const auto& r = *reservation;
  if (r.status == ReservationStatus::kConfirmed && r.payment_id == payment.payment_id) {
    return ConfirmOutcome::kDuplicate;
  }
  if (r.status == ReservationStatus::kHeld) {
    if (payment.amount != r.price) return ConfirmOutcome::kPaymentMismatch;
    return payment.paid_at < r.expires_at ? ConfirmOutcome::kConfirmed
                                          : ConfirmOutcome::kHoldExpired;
  }
  if (r.status == ReservationStatus::kExpired) return ConfirmOutcome::kHoldExpired;
  return ConfirmOutcome::kHoldReleased;  // cancelled, or confirmed by another payment
}

}  // namespace ticketing::reservation
