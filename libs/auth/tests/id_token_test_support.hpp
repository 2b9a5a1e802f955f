#pragma once
// Keys, JWKS sources and claims for the ID-token tests. Keys are generated
// once per test run with OpenSSL; nothing is read from disk.

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "ticketing/auth/id_token.hpp"
#include "ticketing/auth/jwk.hpp"

namespace idtest {

inline constexpr const char* kIssuer = "https://idp.test";
inline constexpr const char* kAudience = "ticketing";
inline constexpr std::int64_t kNow = 1'800'000'000;

struct TestKeys {
  std::string ec = ticketing::auth::generate_p256_private_key();
  std::string ec_other = ticketing::auth::generate_p256_private_key();
  std::string rsa = ticketing::auth::generate_rsa_private_key(2048);
};

inline const TestKeys& keys() {
  static const TestKeys k;
  return k;
}

// A JWKS document the test can change, fail on demand, and count fetches of.
struct SourceState {
  std::mutex mutex;
  std::string document;
  bool fail = false;
  int fetches = 0;
};

class MemorySource final : public ticketing::auth::JwksSource {
 public:
  explicit MemorySource(std::shared_ptr<SourceState> state) : state_(std::move(state)) {}
  std::string fetch() override {
    std::lock_guard lock(state_->mutex);
    ++state_->fetches;
    if (state_->fail) throw std::runtime_error("provider down (test)");
    return state_->document;
  }
  [[nodiscard]] std::string describe() const override { return "memory"; }

 private:
  std::shared_ptr<SourceState> state_;
};

struct Claims {
  std::string sub = R"("42")";  // raw JSON, so tests can send numbers and junk
  std::string iss = kIssuer;
  std::string aud = R"("ticketing")";  // raw JSON: a string or an array
  std::int64_t iat = kNow - 10;
  std::int64_t nbf = kNow - 10;
  std::int64_t exp = kNow + 3600;
  std::string extra;  // more raw members, e.g. R"(,"pad":"...")"

  [[nodiscard]] std::string json() const {
    return R"({"sub":)" + sub + R"(,"iss":")" + iss + R"(","aud":)" + aud + R"(,"iat":)" +
           std::to_string(iat) + R"(,"nbf":)" + std::to_string(nbf) + R"(,"exp":)" +
           std::to_string(exp) + extra + "}";
  }
};

inline ticketing::auth::IdTokenSettings settings() {
  ticketing::auth::IdTokenSettings s;
  s.issuer = kIssuer;
  s.audience = kAudience;
  s.jwks = "memory";
  s.min_refresh_gap = std::chrono::seconds(3600);
  return s;
}

}  // namespace idtest
