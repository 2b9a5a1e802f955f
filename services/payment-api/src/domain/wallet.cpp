#include "domain/wallet.hpp"

namespace ticketing::payment {

ChargeDecision decide_charge(std::int64_t balance, std::int64_t amount, std::int64_t max_balance) {
  // balance <= max_balance and amount <= MAX_CHARGE keep this far from overflow.
  if (amount <= 0 || balance > max_balance - amount) return {Outcome::kBalanceLimit, balance};
  return {Outcome::kOk, balance + amount};
}

std::string_view to_string(HoldStatus s) {
  switch (s) {
    case HoldStatus::kHeld:
      return "HELD";
    case HoldStatus::kCancelled:
      return "CANCELLED";
    case HoldStatus::kConfirmationFailed:
      return "CONFIRMATION_FAILED";
  }
  return "HELD";
}

std::optional<HoldStatus> parse_hold_status(std::string_view s) {
  if (s == "HELD") return HoldStatus::kHeld;
  if (s == "CANCELLED") return HoldStatus::kCancelled;
  if (s == "CONFIRMATION_FAILED") return HoldStatus::kConfirmationFailed;
  return std::nullopt;
}

std::string_view to_string(PaymentStatus s) {
  return s == PaymentStatus::kCompleted ? "COMPLETED" : "REFUNDED";
}

std::optional<PaymentStatus> parse_payment_status(std::string_view s) {
  if (s == "COMPLETED") return PaymentStatus::kCompleted;
  if (s == "REFUNDED") return PaymentStatus::kRefunded;
  return std::nullopt;
}

Outcome decide_payment(const Hold& hold, UserId caller, std::optional<PaymentStatus> existing,
                       std::int64_t balance, std::int64_t now_ms) {
  if (hold.user != caller) return Outcome::kReservationNotFound;
  if (existing == PaymentStatus::kCompleted) return Outcome::kAlreadyPaid;
  // A refunded payment means the confirmation failed: the hold is gone.
  if (existing == PaymentStatus::kRefunded) return Outcome::kReservationExpired;
  if (hold.status != HoldStatus::kHeld || now_ms >= hold.expires_at_ms)
    return Outcome::kReservationExpired;
  if (balance < hold.price) return Outcome::kInsufficientBalance;
  return Outcome::kOk;
}

bool valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace ticketing::payment
