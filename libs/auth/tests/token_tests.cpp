#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ticketing/auth/token.hpp"

using namespace ticketing::auth;
using namespace std::chrono_literals;

namespace {

TokenClaims claims() {
  return {"0f8fad5b-d9cb-469f-a165-70867728950e", 42, 1'800'000'000};
}

}  // namespace

TEST_CASE("a signed token verifies and carries its claims") {
  TokenSigner signer("a-long-enough-secret", 3600s);
  auto token = signer.sign(claims());
  auto r = signer.verify(token, 1'800'000'100);
  REQUIRE(std::holds_alternative<TokenClaims>(r));
  auto c = std::get<TokenClaims>(r);
  CHECK(c.user_id == 42);
  CHECK(c.token_id == claims().token_id);
  CHECK(c.issued_at == 1'800'000'000);
}

TEST_CASE("altered, forged, expired and malformed tokens are rejected") {
  TokenSigner signer("a-long-enough-secret", 3600s);
  auto token = signer.sign(claims());
  const std::int64_t now = 1'800'000'100;

  SECTION("another user id with the old signature") {
    auto altered = token;
    altered.replace(altered.find(".42."), 4, ".43.");
    CHECK(std::get<TokenError>(signer.verify(altered, now)) == TokenError::kBadSignature);
  }
  SECTION("signed with another secret") {
    TokenSigner other("another-long-secret", 3600s);
    CHECK(std::get<TokenError>(signer.verify(other.sign(claims()), now)) ==
          TokenError::kBadSignature);
  }
  SECTION("one flipped signature character") {
    auto altered = token;
    altered.back() = altered.back() == 'A' ? 'B' : 'A';
    CHECK(std::get<TokenError>(signer.verify(altered, now)) == TokenError::kBadSignature);
  }
  SECTION("expired") {
    CHECK(std::get<TokenError>(signer.verify(token, 1'800'000'000 + 3601)) == TokenError::kExpired);
  }
  SECTION("issued in the future") {
    CHECK(std::get<TokenError>(signer.verify(token, 1'800'000'000 - 3600)) ==
          TokenError::kMalformed);
  }
  SECTION("non-canonical numbers do not verify") {
    auto padded = token;
    padded.replace(padded.find(".42."), 4, ".042.");
    CHECK(std::get<TokenError>(signer.verify(padded, now)) == TokenError::kMalformed);
  }
  SECTION("garbage") {
    for (const std::string& bad : std::vector<std::string>{
             "", "v1", "v1....", "v2.0f8fad5b-d9cb-469f-a165-70867728950e.42.1800000000.x",
             "v1.not-a-uuid.42.1800000000.x",
             "v1.0f8fad5b-d9cb-469f-a165-70867728950e.-1.1800000000.x",
             "v1.0f8fad5b-d9cb-469f-a165-70867728950e.99999999999999999999.1.x",
             std::string(1000, 'a')}) {
      CHECK(std::get<TokenError>(signer.verify(bad, now)) == TokenError::kMalformed);
    }
  }
}

TEST_CASE("issue() makes a fresh verifiable token") {
  TokenSigner signer("a-long-enough-secret", 60s);
  TokenClaims c;
  auto t = signer.issue(7, &c);
  auto r = signer.verify(t);
  REQUIRE(std::holds_alternative<TokenClaims>(r));
  CHECK(std::get<TokenClaims>(r).user_id == 7);
  CHECK(std::get<TokenClaims>(r).token_id == c.token_id);
  CHECK_THROWS(TokenSigner("short", 60s));
}

TEST_CASE("Authorization: Bearer parsing") {
  CHECK(bearer_token(std::string_view("Bearer abc")).value() == "abc");
  CHECK(bearer_token(std::string_view("bearer  abc ")).value() == "abc");
  CHECK_FALSE(bearer_token(std::nullopt));
  CHECK_FALSE(bearer_token(std::string_view("Basic abc")));
  CHECK_FALSE(bearer_token(std::string_view("Bearer ")));
  CHECK_FALSE(bearer_token(std::string_view("Bearer")));
}
