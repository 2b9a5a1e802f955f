#include "domain/wallet.hpp"

namespace ticketing::payment {

OutcomeInfo describe(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return {200, "OK", "ok"};
    case Outcome::kBalanceLimit:
      return {409, "BALANCE_LIMIT", "the charge would exceed the maximum balance"};
    case Outcome::kInsufficientBalance:
      return {402, "INSUFFICIENT_BALANCE", "balance is too low for this payment"};
    case Outcome::kReservationNotFound:
      return {404, "RESERVATION_NOT_FOUND", "no such held reservation"};
    case Outcome::kReservationExpired:
      return {409, "RESERVATION_EXPIRED", "the hold has expired or was released"};
    case Outcome::kAlreadyPaid:
      return {409, "ALREADY_PAID", "this reservation is already paid"};
    case Outcome::kIdempotencyConflict:
      return {409, "IDEMPOTENCY_KEY_REUSED",
              "this Idempotency-Key was used with a different request"};
    case Outcome::kPaymentNotFound:
      return {404, "PAYMENT_NOT_FOUND", "no such payment"};
  }
  return {500, "INTERNAL", "unknown outcome"};
}

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
