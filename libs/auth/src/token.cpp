#include "ticketing/auth/token.hpp"

#include <stdexcept>
#include <vector>

#include "hmac.hpp"
#include "ticketing/common/ids.hpp"

namespace ticketing::auth {

using detail::mac;
using detail::parse_int;
using detail::split_dots;

namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::int64_t kClockSkewSeconds = 60;

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string signed_part(const TokenClaims& c) {
  return std::string(kVersion) + "." + c.token_id + "." + std::to_string(c.user_id) + "." +
         std::to_string(c.issued_at);
}

}  // namespace

std::string_view to_string(TokenError e) {
  switch (e) {
    case TokenError::kMalformed:
      return "malformed token";
    case TokenError::kBadSignature:
      return "bad token signature";
    case TokenError::kExpired:
      return "token expired";
  }
  return "invalid token";
}

TokenSigner::TokenSigner(std::string secret, std::chrono::seconds max_age)
    : secret_(std::move(secret)), max_age_(max_age) {
  if (secret_.size() < 8) throw std::invalid_argument("TOKEN_SECRET must be at least 8 characters");
}

std::string TokenSigner::sign(const TokenClaims& claims) const {
  auto head = signed_part(claims);
  return head + "." + mac(secret_, head);
}

std::string TokenSigner::issue(std::int64_t user_id, TokenClaims* claims_out) const {
  TokenClaims c{new_uuid(), user_id, now_unix_millis() / 1000};
  if (claims_out != nullptr) *claims_out = c;
  return sign(c);
}

std::variant<TokenClaims, TokenError> TokenSigner::verify(std::string_view token) const {
  return verify(token, now_unix_millis() / 1000);
}

std::variant<TokenClaims, TokenError> TokenSigner::verify(std::string_view token,
                                                          std::int64_t now_unix) const {
  if (token.size() > 256) return TokenError::kMalformed;
  const auto parts = split_dots(token);
  if (parts.size() != 5 || parts[0] != kVersion || !is_uuid(parts[1]))
    return TokenError::kMalformed;
  auto user = parse_int(parts[2]);
  auto issued = parse_int(parts[3]);
  if (!user || *user <= 0 || !issued) return TokenError::kMalformed;
  TokenClaims claims{std::string(parts[1]), *user, *issued};
  // Canonical form only: "007" and "7" must not both verify.
  std::string head = signed_part(claims);
  if (head.size() + 1 + parts[4].size() != token.size() || token.substr(0, head.size()) != head)
    return TokenError::kMalformed;
  if (!detail::mac_matches(secret_, head, parts[4])) return TokenError::kBadSignature;
  if (claims.issued_at > now_unix + kClockSkewSeconds) return TokenError::kMalformed;
  if (now_unix - claims.issued_at > max_age_.count()) return TokenError::kExpired;
  return claims;
}

std::optional<std::string_view> bearer_token(std::optional<std::string_view> authorization) {
  if (!authorization) return std::nullopt;
  std::string_view v = *authorization;
  constexpr std::string_view kPrefix = "Bearer ";
  if (v.size() <= kPrefix.size()) return std::nullopt;
  for (std::size_t i = 0; i < kPrefix.size(); ++i) {
    char a = v[i], b = kPrefix[i];
    if ((a | 0x20) != (b | 0x20)) return std::nullopt;
  }
  v.remove_prefix(kPrefix.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace ticketing::auth
