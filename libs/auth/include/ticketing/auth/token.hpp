#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ticketing::auth {

// What a queue token says: who, which token, when it was issued. Queue state
// (WAITING / ACTIVE) is not in the token: reservation-api keeps it in Redis.
struct TokenClaims {
  std::string token_id;        // uuid
  std::int64_t user_id = 0;    // > 0
  std::int64_t issued_at = 0;  // unix seconds
};

enum class TokenError { kMalformed, kBadSignature, kExpired };
std::string_view to_string(TokenError e);

// Signs and verifies queue tokens offline with a shared secret:
//   v1.<token id>.<user id>.<issued at>.<base64url(HMAC-SHA256(secret, "v1.<id>.<user>.<issued>"))>
// Any service holding TOKEN_SECRET verifies a token without calling another.
class TokenSigner {
 public:
  // max_age: a token older than this is expired; future-dated tokens beyond
  // a small clock skew are rejected as malformed.
  TokenSigner(std::string secret, std::chrono::seconds max_age);

  [[nodiscard]] std::string sign(const TokenClaims& claims) const;
  // A fresh token for a user, issued now.
  [[nodiscard]] std::string issue(std::int64_t user_id, TokenClaims* claims_out = nullptr) const;

  [[nodiscard]] std::variant<TokenClaims, TokenError> verify(std::string_view token) const;
  [[nodiscard]] std::variant<TokenClaims, TokenError> verify(std::string_view token,
                                                             std::int64_t now_unix) const;

 private:
  std::string secret_;
  std::chrono::seconds max_age_;
};

// The token of an `Authorization: Bearer <token>` header value.
std::optional<std::string_view> bearer_token(std::optional<std::string_view> authorization);

}  // namespace ticketing::auth
