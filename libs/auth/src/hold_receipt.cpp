#include "ticketing/auth/hold_receipt.hpp"

#include <stdexcept>

#include "hmac.hpp"

namespace ticketing::auth {

namespace {

constexpr std::string_view kVersion = "h1";
constexpr std::size_t kMaxReceipt = 256;

std::string signed_part(const HoldClaims& c) {
  return std::string(kVersion) + "." + std::to_string(c.reservation_id) + "." +
         std::to_string(c.user_id) + "." + std::to_string(c.schedule_id) + "." +
         std::to_string(c.seat_no) + "." + std::to_string(c.price) + "." +
         std::to_string(c.expires_at_ms);
}

}  // namespace

HoldReceipts::HoldReceipts(std::string secret) : secret_(std::move(secret)) {
  if (secret_.size() < 8) throw std::invalid_argument("TOKEN_SECRET must be at least 8 characters");
}

std::string HoldReceipts::sign(const HoldClaims& claims) const {
  auto head = signed_part(claims);
  return head + "." + detail::mac(secret_, head);
}

std::optional<HoldClaims> HoldReceipts::verify(std::string_view receipt) const {
  if (receipt.size() > kMaxReceipt) return std::nullopt;
  const auto parts = detail::split_dots(receipt);
  if (parts.size() != 8 || parts[0] != kVersion) return std::nullopt;
  std::optional<std::int64_t> v[6];
  for (int i = 0; i < 6; ++i) {
    v[i] = detail::parse_int(parts[static_cast<std::size_t>(i) + 1]);
    if (!v[i]) return std::nullopt;
  }
  if (*v[0] < 1 || *v[1] < 1 || *v[2] < 1 || *v[3] < 1 || *v[3] > 100000) return std::nullopt;
  HoldClaims c{*v[0], *v[1], *v[2], static_cast<int>(*v[3]), *v[4], *v[5]};
  // Canonical form only: "007" and "7" must not both verify.
  const std::string head = signed_part(c);
  if (head.size() + 1 + parts[7].size() != receipt.size() || receipt.substr(0, head.size()) != head)
    return std::nullopt;
  if (!detail::mac_matches(secret_, head, parts[7])) return std::nullopt;
  return c;
}

}  // namespace ticketing::auth
