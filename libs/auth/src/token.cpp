#include "ticketing/auth/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <stdexcept>
#include <vector>

#include "ticketing/common/ids.hpp"

namespace ticketing::auth {

namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::int64_t kClockSkewSeconds = 60;

std::string base64url(const unsigned char* data, std::size_t len) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (len - i == 1) {
    unsigned v = unsigned{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (len - i == 2) {
    unsigned v = (unsigned{data[i]} << 16) | (unsigned{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string mac(const std::string& secret, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
           &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return base64url(digest.data(), len);
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.size() > 19 || s[0] == '+' || s[0] == '-') return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

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
    case TokenError::kMalformed: return "malformed token";
    case TokenError::kBadSignature: return "bad token signature";
    case TokenError::kExpired: return "token expired";
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
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= token.size(); ++i) {
    if (i == token.size() || token[i] == '.') {
      parts.push_back(token.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 5 || parts[0] != kVersion || !is_uuid(parts[1])) return TokenError::kMalformed;
  auto user = parse_int(parts[2]);
  auto issued = parse_int(parts[3]);
  if (!user || *user <= 0 || !issued) return TokenError::kMalformed;
  TokenClaims claims{std::string(parts[1]), *user, *issued};
  // Canonical form only: "007" and "7" must not both verify.
  std::string head = signed_part(claims);
  if (head.size() + 1 + parts[4].size() != token.size() || token.substr(0, head.size()) != head)
    return TokenError::kMalformed;
  std::string expected = mac(secret_, head);
  if (expected.size() != parts[4].size() ||
      CRYPTO_memcmp(expected.data(), parts[4].data(), expected.size()) != 0)
    return TokenError::kBadSignature;
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
