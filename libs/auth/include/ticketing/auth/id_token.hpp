#pragma once

// Verifies OpenID Connect ID tokens: the caller proves who they are with a JWT
// signed by the identity provider; the user id is its "sub".
//
// Checks, in this order (the first failure is the answer):
//   size <= max_token_bytes, libjwt can decode it (kMalformed)
//   header alg is one of allowed_algorithms, exactly (kAlgorithmNotAllowed:
//     "none" and HS* never pass, whatever the settings say)
//   header kid present (kMalformed)
//   kid in the key set (kUnknownKey; first one on-demand refresh, at most one
//     per min_refresh_gap; kKeysUnavailable while no key set was ever loaded)
//   the key's alg is the header's alg (kAlgorithmNotAllowed)
//   signature, by libjwt with that key (kBadSignature)
//   claims well-typed: iss string, aud string or array of strings, exp and iat
//     numbers, nbf number when present (kMalformed)
//   iss == issuer (kWrongIssuer); audience in aud (kWrongAudience)
//   now < exp + leeway (kExpired); nbf and iat <= now + leeway (kNotYetValid)
//   sub a canonical decimal 1..2^53-1 (kBadSubject): every component, Lua
//     included (doubles), represents such a user id exactly.
//
// Keys: a JWKS document from a file or an http(s) URL, loaded in the
// background at construction and every refresh_interval; a failed refresh
// keeps the previous keys and logs a warning. verify() never waits for the
// periodic refresh; it waits only for the on-demand one its unknown kid
// triggered (or joins one already running), bounded by the source's timeout.
// Thread-safe: any number of threads may verify at once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ticketing/common/config.hpp"

namespace ticketing::auth {

enum class IdTokenError {
  kMalformed,
  kAlgorithmNotAllowed,
  kUnknownKey,
  kKeysUnavailable,  // no JWKS loaded yet: the provider's problem, not the caller's (503)
  kBadSignature,
  kWrongIssuer,
  kWrongAudience,
  kExpired,
  kNotYetValid,
  kBadSubject,
};
std::string_view to_string(IdTokenError e);

// The largest user id every component represents exactly (2^53 - 1).
inline constexpr std::int64_t kMaxUserId = (std::int64_t{1} << 53) - 1;

struct IdTokenClaims {
  std::int64_t user_id = 0;  // from "sub"
  std::string issuer;
  std::vector<std::string> audience;
  std::int64_t expires_at = 0;  // unix seconds
  std::int64_t not_before = 0;  // 0 when absent
  std::int64_t issued_at = 0;
  std::string kid;
  std::string alg;
};

// Where the JWKS document comes from. fetch() returns the document text or
// throws (any std::exception); it may block for up to its own timeout.
class JwksSource {
 public:
  virtual ~JwksSource() = default;
  virtual std::string fetch() = 0;
  [[nodiscard]] virtual std::string describe() const = 0;  // for logs
};

// "http://..." or "https://..." (GET with ticketing::http::Client, 200 only,
// at most 1 MiB, TLS verified), anything else is a file path.
std::unique_ptr<JwksSource> make_jwks_source(const std::string& location,
                                             std::chrono::milliseconds timeout);

struct IdTokenSettings {
  std::string issuer;    // required: exact "iss"
  std::string audience;  // required: one of "aud"
  std::string jwks;      // required: file path or http(s) URL
  std::chrono::seconds refresh_interval{600};
  // On-demand refreshes (unknown kid) happen at most once per this gap, so a
  // stream of tokens with invented kids cannot hammer the provider.
  std::chrono::seconds min_refresh_gap{30};
  std::vector<std::string> allowed_algorithms{"ES256", "RS256"};  // subset of these two
  std::chrono::seconds leeway{60};  // clock skew tolerated on exp, nbf, iat
  std::size_t max_token_bytes = 8 * 1024;
  std::chrono::milliseconds fetch_timeout{5000};

  // ID_TOKEN_ISSUER, ID_TOKEN_AUDIENCE, ID_TOKEN_JWKS (required),
  // ID_TOKEN_JWKS_REFRESH_S (600), ID_TOKEN_JWKS_MIN_REFRESH_GAP_S (30),
  // ID_TOKEN_ALGORITHMS ("ES256,RS256"), ID_TOKEN_LEEWAY_S (60),
  // ID_TOKEN_MAX_BYTES (8192). Problems are recorded in `env`.
  static IdTokenSettings read(EnvReader& env);
};

class IdTokenVerifier {
 public:
  // Throws std::invalid_argument for an empty issuer/audience/jwks or an
  // algorithm other than ES256/RS256. `source` defaults to
  // make_jwks_source(settings.jwks). With background_refresh false (tests),
  // keys are loaded only on demand: by the first verify() or refresh().
  explicit IdTokenVerifier(IdTokenSettings settings, std::unique_ptr<JwksSource> source = nullptr,
                           bool background_refresh = true);
  ~IdTokenVerifier();  // stops and joins the refresh thread
  IdTokenVerifier(const IdTokenVerifier&) = delete;
  IdTokenVerifier& operator=(const IdTokenVerifier&) = delete;

  [[nodiscard]] std::variant<IdTokenClaims, IdTokenError> verify(std::string_view token) const;
  [[nodiscard]] std::variant<IdTokenClaims, IdTokenError> verify(std::string_view token,
                                                                 std::int64_t now_unix) const;

  // Fetches the JWKS now (or waits for a fetch already running). False when
  // it failed or held no usable key: the previous keys stay.
  bool refresh();
  [[nodiscard]] std::size_t key_count() const;
  // Successful and failed fetches since construction.
  [[nodiscard]] std::uint64_t refreshes() const;
  [[nodiscard]] std::uint64_t failed_refreshes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::auth
