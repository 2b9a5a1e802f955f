#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::auth {

// What reservation-api vouches for when it answers a hold: this reservation
// holds this seat for this user at this price until expires_at_ms.
struct HoldClaims {
  std::int64_t reservation_id = 0;
  std::int64_t user_id = 0;
  std::int64_t schedule_id = 0;
  int seat_no = 0;
  std::int64_t price = 0;
  std::int64_t expires_at_ms = 0;  // unix milliseconds

  bool operator==(const HoldClaims&) const = default;
};

// Hold receipts, signed with the services' shared TOKEN_SECRET:
//   h1.<reservation>.<user>.<schedule>.<seat>.<price>.<expiresAtMs>.<base64url(HMAC-SHA256)>
// The client passes the receipt with its payment, so that payment-api knows
// the hold at once instead of waiting for reservation.held (the event still
// arrives and says the same; a cancellation it has seen wins). A receipt
// only proves the hold was made: whether it may still be paid is decided by
// payment-api's read model and expires_at_ms.
class HoldReceipts {
 public:
  explicit HoldReceipts(std::string secret);

  [[nodiscard]] std::string sign(const HoldClaims& claims) const;
  // nullopt: malformed, not canonical, or a bad signature.
  [[nodiscard]] std::optional<HoldClaims> verify(std::string_view receipt) const;

 private:
  std::string secret_;
};

}  // namespace ticketing::auth
