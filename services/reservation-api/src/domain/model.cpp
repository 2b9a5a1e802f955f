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

SystemTime now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
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

std::string_view visible_status(std::string_view stored_status, std::string_view expires_at_db,
                                std::string_view release_cutoff_db) {
  // Same fixed-width format on both sides: text order is time order.
  if (stored_status == "HELD" && expires_at_db <= release_cutoff_db) return "EXPIRED";
  return stored_status;
}

ConfirmOutcome decide_confirmation(const std::optional<PaidReservation>& reservation,
                                   const PaymentCompleted& payment) {
  if (!reservation || reservation->user_id != payment.user_id) return ConfirmOutcome::kNotFound;
  const auto& r = *reservation;
  if (r.status == "CONFIRMED" && r.payment_id == payment.payment_id) {
    return ConfirmOutcome::kDuplicate;
  }
  if (r.status == "HELD") {
    if (payment.amount != r.price) return ConfirmOutcome::kPaymentMismatch;
    return payment.paid_at < r.expires_at ? ConfirmOutcome::kConfirmed
                                          : ConfirmOutcome::kHoldExpired;
  }
  if (r.status == "EXPIRED") return ConfirmOutcome::kHoldExpired;
  return ConfirmOutcome::kHoldReleased;  // cancelled, or confirmed by another payment
}

}  // namespace ticketing::reservation
