#pragma once
// Pure wallet and payment rules: no I/O. The store feeds them the locked rows
// and applies what they decide; http/outcomes.cpp maps Outcome to a status.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::payment {

struct UserId {
  std::int64_t value = 0;
  auto operator<=>(const UserId&) const = default;
};
struct ReservationId {
  std::int64_t value = 0;
  auto operator<=>(const ReservationId&) const = default;
};
struct PaymentId {
  std::int64_t value = 0;
  auto operator<=>(const PaymentId&) const = default;
};

// Expected results of a request; everything but kOk is answered as an error.
enum class Outcome {
  kOk,
  kBalanceLimit,         // 409: the charge would exceed MAX_BALANCE
  kInsufficientBalance,  // 402
  kReservationNotFound,  // 404: unknown, or another user's
  kReservationExpired,   // 409: hold expired, released or its confirmation failed
  kAlreadyPaid,          // 409
  kIdempotencyConflict,  // 409: same Idempotency-Key, different request
  kPaymentNotFound,      // 404
};

// Charge: the new balance, or kBalanceLimit.
struct ChargeDecision {
  Outcome outcome = Outcome::kOk;
  std::int64_t new_balance = 0;
};
ChargeDecision decide_charge(std::int64_t balance, std::int64_t amount, std::int64_t max_balance);

enum class HoldStatus { kHeld, kCancelled, kConfirmationFailed };
std::string_view to_string(HoldStatus s);
std::optional<HoldStatus> parse_hold_status(std::string_view s);

enum class PaymentStatus { kCompleted, kRefunded };
std::string_view to_string(PaymentStatus s);
std::optional<PaymentStatus> parse_payment_status(std::string_view s);

// A live hold as the read model knows it.
struct Hold {
  ReservationId reservation;
  UserId user;
  std::int64_t price = 0;
  std::int64_t expires_at_ms = 0;  // unix millis
  HoldStatus status = HoldStatus::kHeld;
};

// Whether `caller` may pay `hold` now. `existing` is the payment already
// recorded for the reservation, if any. Order: owner, already paid, still
// held and not expired, balance.
Outcome decide_payment(const Hold& hold, UserId caller, std::optional<PaymentStatus> existing,
                       std::int64_t balance, std::int64_t now_ms);

// Idempotency-Key header: 1..255 printable ASCII characters.
bool valid_idempotency_key(std::string_view key);

}  // namespace ticketing::payment
