// IdTokenVerifier: every way a token can be wrong is reported as its own
// error; keys come from a JWKS that refreshes on an unknown kid, rate limited,
// and survives a failing provider.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "id_token_test_support.hpp"
#include "jose_handles.hpp"

using namespace ticketing::auth;
using idtest::Claims;
using idtest::kNow;

namespace {

struct Fixture {
  std::shared_ptr<idtest::SourceState> state = std::make_shared<idtest::SourceState>();
  std::unique_ptr<IdTokenVerifier> verifier;

  explicit Fixture(IdTokenSettings s = idtest::settings()) {
    state->document = jwks_document(
        {public_jwk(idtest::keys().ec, "ec-1"), public_jwk(idtest::keys().rsa, "rsa-1")});
    verifier = std::make_unique<IdTokenVerifier>(
        std::move(s), std::make_unique<idtest::MemorySource>(state), false);
  }
  [[nodiscard]] int fetches() const {
    std::lock_guard lock(state->mutex);
    return state->fetches;
  }
  void publish(const std::string& doc) {
    std::lock_guard lock(state->mutex);
    state->document = doc;
  }
  void fail(bool f) {
    std::lock_guard lock(state->mutex);
    state->fail = f;
  }
  [[nodiscard]] std::variant<IdTokenClaims, IdTokenError> verify(const std::string& token,
                                                                 std::int64_t now = kNow) const {
    return verifier->verify(token, now);
  }
};

std::string es256(const Claims& c = {}, const std::string& kid = "ec-1") {
  return sign_jwt("ES256", idtest::keys().ec, kid, c.json());
}

std::optional<IdTokenError> error_of(const std::variant<IdTokenClaims, IdTokenError>& r) {
  if (const auto* e = std::get_if<IdTokenError>(&r)) return *e;
  return std::nullopt;
}

std::vector<std::string> split(const std::string& token) {
  auto a = token.find('.');
  auto b = token.find('.', a + 1);
  return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

}  // namespace

TEST_CASE("a valid ES256 ID token yields its claims") {
  Fixture f;
  auto r = f.verify(es256());
  REQUIRE(std::holds_alternative<IdTokenClaims>(r));
  const auto& c = std::get<IdTokenClaims>(r);
  CHECK(c.user_id == 42);
  CHECK(c.issuer == idtest::kIssuer);
  CHECK(c.audience == std::vector<std::string>{"ticketing"});
  CHECK(c.expires_at == kNow + 3600);
  CHECK(c.not_before == kNow - 10);
  CHECK(c.issued_at == kNow - 10);
  CHECK(c.kid == "ec-1");
  CHECK(c.alg == "ES256");
  CHECK(f.fetches() == 1);  // the first verify loaded the keys, once
  CHECK(f.verifier->key_count() == 2);
  (void)f.verify(es256());
  CHECK(f.fetches() == 1);
}

TEST_CASE("a changed payload or signature, or another key's signature, is a bad signature") {
  Fixture f;
  auto token = es256();
  Claims other;
  other.sub = R"("43")";
  auto forged = es256(other);
  auto t = split(token);
  auto o = split(forged);
  // User 43's payload under user 42's signature.
  CHECK(error_of(f.verify(t[0] + "." + o[1] + "." + t[2])) == IdTokenError::kBadSignature);
  // One character of the signature changed.
  auto sig = t[2];
  sig[10] = sig[10] == 'A' ? 'B' : 'A';
  CHECK(error_of(f.verify(t[0] + "." + t[1] + "." + sig)) == IdTokenError::kBadSignature);
  // Signed by a key that is not in the JWKS, claiming the JWKS key's kid.
  auto stranger = sign_jwt("ES256", idtest::keys().ec_other, "ec-1", Claims{}.json());
  CHECK(error_of(f.verify(stranger)) == IdTokenError::kBadSignature);
  // The untouched token still passes: the failures above are the tampering.
  CHECK(!error_of(f.verify(token)));
}

TEST_CASE("signatures in another encoding or of another length are bad signatures") {
  Fixture f;
  auto t = split(es256());
  auto raw = ticketing::auth::detail::base64url_decode(t[2]);
  REQUIRE(raw);
  REQUIRE(raw->size() == 64);  // R || S, as JWS wants it
  // One byte short, one byte long, empty.
  for (const auto& sig : {raw->substr(0, 63), *raw + std::string(1, '\0'), std::string()}) {
    auto token = t[0] + "." + t[1] + "." + ticketing::auth::detail::base64url_encode(sig);
    CHECK(error_of(f.verify(token)) == IdTokenError::kBadSignature);
  }
  // S and R swapped: the same bytes, another signature.
  auto swapped = raw->substr(32) + raw->substr(0, 32);
  CHECK(error_of(f.verify(t[0] + "." + t[1] + "." +
                          ticketing::auth::detail::base64url_encode(swapped))) ==
        IdTokenError::kBadSignature);
  // RS256: a changed signature, and a payload from another token.
  auto rs = split(sign_jwt("RS256", idtest::keys().rsa, "rsa-1", Claims{}.json()));
  auto rs_sig = rs[2];
  rs_sig[5] = rs_sig[5] == 'A' ? 'B' : 'A';
  CHECK(error_of(f.verify(rs[0] + "." + rs[1] + "." + rs_sig)) == IdTokenError::kBadSignature);
  Claims other;
  other.sub = R"("43")";
  auto other_payload = split(es256(other))[1];
  CHECK(error_of(f.verify(rs[0] + "." + other_payload + "." + rs[2])) ==
        IdTokenError::kBadSignature);
  CHECK(!error_of(f.verify(rs[0] + "." + rs[1] + "." + rs[2])));
}

TEST_CASE("Es256Signer makes tokens that libjwt and the verifier accept") {
  Fixture f;
  ticketing::auth::Es256Signer signer(idtest::keys().ec, "ec-1");
  auto token = signer.sign(Claims{}.json());
  auto claims = f.verify(token);
  REQUIRE(!error_of(claims));
  CHECK(std::get<IdTokenClaims>(claims).kid == "ec-1");
  // libjwt's own check of the signature (an independent implementation).
  const std::string pub =
      ticketing::auth::parse_jwks(
          ticketing::auth::jwks_document({ticketing::auth::public_jwk(idtest::keys().ec, "ec-1")}))
          .keys.at(0)
          .public_pem;
  jwt_t* raw = nullptr;
  CHECK(jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(pub.data()),
                   static_cast<int>(pub.size())) == 0);
  jwt_free(raw);
  // A changed claim breaks it.
  auto parts = split(token);
  Claims other;
  other.sub = R"("43")";
  CHECK(error_of(f.verify(parts[0] + "." + split(signer.sign(other.json()))[1] + "." + parts[2])) ==
        IdTokenError::kBadSignature);
  // Another key's signer is refused; an RSA key or a bad kid is not accepted.
  ticketing::auth::Es256Signer stranger(idtest::keys().ec_other, "ec-1");
  CHECK(error_of(f.verify(stranger.sign(Claims{}.json()))) == IdTokenError::kBadSignature);
  CHECK_THROWS_AS(ticketing::auth::Es256Signer(idtest::keys().rsa, "x"), std::invalid_argument);
  CHECK_THROWS_AS(ticketing::auth::Es256Signer(idtest::keys().ec, "a\"b"), std::invalid_argument);
}

TEST_CASE("issuer and audience must match exactly") {
  Fixture f;
  Claims c;
  c.iss = "https://evil.test";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kWrongIssuer);
  c = {};
  c.iss = std::string(idtest::kIssuer) + "/";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kWrongIssuer);
  c = {};
  c.aud = R"("payments")";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kWrongAudience);
  c.aud = R"(["payments","other"])";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kWrongAudience);
  c.aud = R"(["payments","ticketing"])";
  auto ok = f.verify(es256(c));
  REQUIRE(std::holds_alternative<IdTokenClaims>(ok));
  CHECK(std::get<IdTokenClaims>(ok).audience.size() == 2);
}

TEST_CASE("expiry and not-before are checked with the leeway") {
  Fixture f;  // leeway 60 s
  Claims c;
  c.exp = kNow - 61;
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kExpired);
  c.exp = kNow - 30;  // within the leeway
  CHECK(!error_of(f.verify(es256(c))));
  c = {};
  c.nbf = kNow + 120;
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kNotYetValid);
  c.nbf = kNow + 30;
  CHECK(!error_of(f.verify(es256(c))));
  c = {};
  c.iat = kNow + 3000;  // issued in the future
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kNotYetValid);
  // The same token, verified an hour later, has expired.
  CHECK(error_of(f.verify(es256(), kNow + 3600 + 60)) == IdTokenError::kExpired);
}

TEST_CASE("alg none and HS256 are refused, even with the public key as the HMAC secret") {
  Fixture f;
  auto none = sign_jwt("none", "", "ec-1", Claims{}.json());
  CHECK(error_of(f.verify(none)) == IdTokenError::kAlgorithmNotAllowed);
  // The classic key-confusion attack: the public PEM is public, so anyone can
  // make this HMAC. libjwt would accept it if asked to verify with that key.
  auto pem = parse_jwks(f.state->document).keys.at(0).public_pem;
  auto confused = sign_jwt("HS256", pem, "ec-1", Claims{}.json());
  CHECK(error_of(f.verify(confused)) == IdTokenError::kAlgorithmNotAllowed);
  auto hs512 = sign_jwt("HS512", pem, "ec-1", Claims{}.json());
  CHECK(error_of(f.verify(hs512)) == IdTokenError::kAlgorithmNotAllowed);
  // Settings cannot let them in.
  auto s = idtest::settings();
  s.allowed_algorithms = {"ES256", "none"};
  CHECK_THROWS_AS(IdTokenVerifier(s, std::make_unique<idtest::MemorySource>(f.state), false),
                  std::invalid_argument);
  s.allowed_algorithms = {"HS256"};
  CHECK_THROWS_AS(IdTokenVerifier(s, std::make_unique<idtest::MemorySource>(f.state), false),
                  std::invalid_argument);
}

TEST_CASE("a key verifies only its own algorithm, and only allowed algorithms pass") {
  Fixture f;
  // ES256 header pointing at the RSA key.
  auto mismatched = sign_jwt("ES256", idtest::keys().ec, "rsa-1", Claims{}.json());
  CHECK(error_of(f.verify(mismatched)) == IdTokenError::kAlgorithmNotAllowed);
  auto rs = sign_jwt("RS256", idtest::keys().rsa, "rsa-1", Claims{}.json());
  CHECK(!error_of(f.verify(rs)));

  auto s = idtest::settings();
  s.allowed_algorithms = {"ES256"};
  Fixture es_only(s);
  CHECK(error_of(es_only.verify(rs)) == IdTokenError::kAlgorithmNotAllowed);
  CHECK(!error_of(es_only.verify(es256())));
  CHECK(es_only.fetches() == 1);  // the refused RS256 token cost no key lookup
}

TEST_CASE("sub must be a decimal user id from 1 to 2^53-1") {
  Fixture f;
  Claims c;
  for (const char* bad :
       {R"("abc")", R"("42.0")", R"("042")", R"("-1")", R"("+1")", R"("0")", R"("")", R"(" 42")",
        "42", "null", R"("9007199254740992")", R"("99999999999999999999")"}) {
    c.sub = bad;
    INFO("sub " << bad);
    CHECK(error_of(f.verify(es256(c))) == IdTokenError::kBadSubject);
  }
  c.sub = R"("9007199254740991")";  // 2^53 - 1
  auto ok = f.verify(es256(c));
  REQUIRE(std::holds_alternative<IdTokenClaims>(ok));
  CHECK(std::get<IdTokenClaims>(ok).user_id == kMaxUserId);
  c.sub = R"("1")";
  CHECK(!error_of(f.verify(es256(c))));
}

TEST_CASE("malformed tokens: no kid, too large, not three parts, wrong claim types") {
  Fixture f;
  CHECK(error_of(f.verify(es256(Claims{}, ""))) == IdTokenError::kMalformed);  // no kid

  auto s = idtest::settings();
  s.max_token_bytes = 1024;
  Fixture small(s);
  Claims big;
  big.extra = R"(,"pad":")" + std::string(1200, 'x') + "\"";
  auto large = es256(big);
  REQUIRE(large.size() > 1024);
  CHECK(error_of(small.verify(large)) == IdTokenError::kMalformed);
  CHECK(error_of(f.verify(large)) == std::nullopt);  // the size alone was the problem
  CHECK(small.fetches() == 0);                       // refused before any key lookup

  auto token = es256();
  for (const std::string& bad :
       {std::string(), std::string("abc"), std::string("a.b.c"), token + ".", token + "." + "x",
        "." + token, token + "==", token + std::string(1, '\0') + "junk",
        split(token)[0] + "." + split(token)[1]}) {
    INFO("token " << bad);
    CHECK(error_of(f.verify(bad)) == IdTokenError::kMalformed);
  }

  Claims c;
  c.extra = R"(,"exp2":1)";
  c.aud = "7";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kMalformed);
  c.aud = R"(["ticketing",7])";
  CHECK(error_of(f.verify(es256(c))) == IdTokenError::kMalformed);
  auto no_exp = sign_jwt("ES256", idtest::keys().ec, "ec-1",
                         R"({"sub":"42","iss":"https://idp.test","aud":"ticketing","iat":1})");
  CHECK(error_of(f.verify(no_exp)) == IdTokenError::kMalformed);
  auto string_exp = sign_jwt(
      "ES256", idtest::keys().ec, "ec-1",
      R"({"sub":"42","iss":"https://idp.test","aud":"ticketing","iat":1,"exp":"1900000000"})");
  CHECK(error_of(f.verify(string_exp)) == IdTokenError::kMalformed);
}

TEST_CASE("an unknown kid refreshes the JWKS once, rate limited; rotation takes effect") {
  auto s = idtest::settings();
  s.min_refresh_gap = std::chrono::seconds(3600);
  Fixture f(s);
  auto old_token = es256();
  REQUIRE(!error_of(f.verify(old_token)));
  REQUIRE(f.fetches() == 1);

  // The provider rotates: only the new key is published.
  f.publish(jwks_document({public_jwk(idtest::keys().ec_other, "ec-2")}));
  auto new_token = sign_jwt("ES256", idtest::keys().ec_other, "ec-2", Claims{}.json());
  // Within the gap since the last fetch: no fetch, the kid stays unknown.
  CHECK(error_of(f.verify(new_token)) == IdTokenError::kUnknownKey);
  CHECK(f.fetches() == 1);

  // An explicit refresh (the periodic one does the same) picks the rotation up.
  CHECK(f.verifier->refresh());
  CHECK(f.fetches() == 2);
  CHECK(!error_of(f.verify(new_token)));
  CHECK(error_of(f.verify(old_token)) == IdTokenError::kUnknownKey);
  CHECK(f.fetches() == 2);  // still within the gap

  // With no gap, every unknown kid triggers exactly one fetch.
  s.min_refresh_gap = std::chrono::seconds(0);
  Fixture eager(s);
  REQUIRE(!error_of(eager.verify(old_token)));
  eager.publish(jwks_document({public_jwk(idtest::keys().ec_other, "ec-2")}));
  CHECK(!error_of(eager.verify(new_token)));
  CHECK(eager.fetches() == 2);
  CHECK(error_of(eager.verify(sign_jwt("ES256", idtest::keys().ec, "nope", Claims{}.json()))) ==
        IdTokenError::kUnknownKey);
  CHECK(eager.fetches() == 3);
}

TEST_CASE("a failing provider keeps the old keys; none at all means keys unavailable") {
  auto s = idtest::settings();
  s.min_refresh_gap = std::chrono::seconds(0);
  Fixture f(s);
  REQUIRE(!error_of(f.verify(es256())));
  f.fail(true);
  CHECK_FALSE(f.verifier->refresh());
  CHECK(f.verifier->failed_refreshes() == 1);
  CHECK(f.verifier->key_count() == 2);
  CHECK(!error_of(f.verify(es256())));
  // A document without a usable key is a failure too, not an empty key set.
  f.fail(false);
  f.publish(R"({"keys":[{"kty":"oct","kid":"x","k":"AAAA"}]})");
  CHECK_FALSE(f.verifier->refresh());
  CHECK(f.verifier->failed_refreshes() == 2);
  CHECK(!error_of(f.verify(es256())));

  Fixture down(s);
  down.fail(true);
  CHECK(error_of(down.verify(es256())) == IdTokenError::kKeysUnavailable);
  CHECK(down.fetches() == 1);
  down.fail(false);
  CHECK(!error_of(down.verify(es256())));  // the next token triggers a fetch that works
}

TEST_CASE("many threads verify while the keys are refreshed") {
  auto s = idtest::settings();
  s.min_refresh_gap = std::chrono::seconds(0);
  Fixture f(s);
  auto token = es256();
  Claims other;
  other.sub = R"("43")";
  auto tampered = split(token)[0] + "." + split(es256(other))[1] + "." + split(token)[2];
  std::atomic<int> good{0}, rejected{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto r = f.verify(i % 2 ? token : tampered);
        if (i % 2 && std::holds_alternative<IdTokenClaims>(r) &&
            std::get<IdTokenClaims>(r).user_id == 42)
          ++good;
        else if (!(i % 2) && error_of(r) == IdTokenError::kBadSignature)
          ++rejected;
        else
          ++wrong;
      }
    });
  }
  for (int i = 0; i < 20; ++i) f.verifier->refresh();
  for (auto& t : threads) t.join();
  CHECK(good == 200);
  CHECK(rejected == 200);
  CHECK(wrong == 0);
  CHECK(f.fetches() >= 20);  // a refresh() may join the first verify's fetch
}

TEST_CASE("a JWKS file source, refreshed in the background") {
  char path[] = "/tmp/jwks-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  { std::ofstream(path) << jwks_document({public_jwk(idtest::keys().ec, "ec-1")}); }
  auto s = idtest::settings();
  s.jwks = path;
  s.refresh_interval = std::chrono::seconds(1);
  IdTokenVerifier v(s);  // make_jwks_source(path), background refresh
  CHECK(!error_of(v.verify(es256(), kNow)));
  { std::ofstream(path) << jwks_document({public_jwk(idtest::keys().ec_other, "ec-2")}); }
  auto rotated = sign_jwt("ES256", idtest::keys().ec_other, "ec-2", Claims{}.json());
  // No on-demand fetch (gap 1 h): only the background refresh can find ec-2.
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    seen = !error_of(v.verify(rotated, kNow));
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(seen);
  CHECK(v.refreshes() >= 2);
  std::remove(path);
}

TEST_CASE("settings from the environment report every problem") {
  std::map<std::string, std::string> vars{{"ID_TOKEN_ALGORITHMS", "ES256,HS256"},
                                          {"ID_TOKEN_LEEWAY_S", "-1"}};
  ticketing::EnvReader env([&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  (void)IdTokenSettings::read(env);
  try {
    env.finish();
    FAIL("expected a ConfigError");
  } catch (const ticketing::ConfigError& e) {
    std::string all;
    for (const auto& p : e.problems()) all += p + "\n";
    CHECK(all.find("ID_TOKEN_ISSUER") != std::string::npos);
    CHECK(all.find("ID_TOKEN_AUDIENCE") != std::string::npos);
    CHECK(all.find("ID_TOKEN_JWKS") != std::string::npos);
    CHECK(all.find("ID_TOKEN_ALGORITHMS") != std::string::npos);
    CHECK(all.find("ID_TOKEN_LEEWAY_S") != std::string::npos);
  }
}
