// JWK <-> key conversion: public numbers of generated keys go into a JWKS and
// come back as keys that verify what the private key signed.
#include <catch2/catch.hpp>

#include "id_token_test_support.hpp"

using namespace ticketing::auth;

namespace {

// {"kty":...} with one member replaced, for the malformed-key cases.
std::string with_member(std::string jwk, const std::string& name, const std::string& value) {
  auto at = jwk.find("\"" + name + "\":\"");
  REQUIRE(at != std::string::npos);
  auto start = at + name.size() + 4;
  auto end = jwk.find('"', start);
  return jwk.replace(start, end - start, value);
}

}  // namespace

TEST_CASE("an EC P-256 JWK carries the public numbers and verifies the private key's signature") {
  const auto& k = idtest::keys();
  auto jwk = public_jwk(k.ec, "ec-1");
  CHECK(jwk.find(R"("kty":"EC")") != std::string::npos);
  CHECK(jwk.find(R"("crv":"P-256")") != std::string::npos);
  CHECK(jwk.find(R"("alg":"ES256")") != std::string::npos);
  CHECK(jwk.find(R"("use":"sig")") != std::string::npos);
  CHECK(jwk.find(R"("d")") == std::string::npos);  // never the private scalar

  auto parsed = parse_jwks(jwks_document({jwk}));
  REQUIRE(parsed.keys.size() == 1);
  CHECK(parsed.skipped.empty());
  CHECK(parsed.keys[0].kid == "ec-1");
  CHECK(parsed.keys[0].alg == "ES256");
  // The rebuilt key is the same key: same public JWK, and it verifies.
  CHECK(public_jwk(parsed.keys[0].public_pem, "ec-1") == jwk);

  auto state = std::make_shared<idtest::SourceState>();
  state->document = jwks_document({jwk});
  IdTokenVerifier v(idtest::settings(), std::make_unique<idtest::MemorySource>(state), false);
  auto token = sign_jwt("ES256", k.ec, "ec-1", idtest::Claims{}.json());
  auto result = v.verify(token, idtest::kNow);
  REQUIRE(std::holds_alternative<IdTokenClaims>(result));
  CHECK(std::get<IdTokenClaims>(result).user_id == 42);
}

TEST_CASE("an RSA JWK (n, e) verifies an RS256 token of its private key") {
  const auto& k = idtest::keys();
  auto jwk = public_jwk(k.rsa, "rsa-1");
  CHECK(jwk.find(R"("kty":"RSA")") != std::string::npos);
  CHECK(jwk.find(R"("e":"AQAB")") != std::string::npos);
  auto parsed = parse_jwks(jwks_document({jwk}));
  REQUIRE(parsed.keys.size() == 1);
  CHECK(parsed.keys[0].alg == "RS256");

  auto state = std::make_shared<idtest::SourceState>();
  state->document = jwks_document({jwk});
  IdTokenVerifier v(idtest::settings(), std::make_unique<idtest::MemorySource>(state), false);
  idtest::Claims c;
  c.sub = R"("7")";
  auto result = v.verify(sign_jwt("RS256", k.rsa, "rsa-1", c.json()), idtest::kNow);
  REQUIRE(std::holds_alternative<IdTokenClaims>(result));
  CHECK(std::get<IdTokenClaims>(result).user_id == 7);
  CHECK(std::get<IdTokenClaims>(result).alg == "RS256");
}

TEST_CASE("the RFC 7638 example key converts to the RFC's thumbprint") {
  // RFC 7638 section 3.1: an RSA key and its published SHA-256 thumbprint.
  const std::string doc =
      R"({"keys":[{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}]})";
  auto parsed = parse_jwks(doc);
  REQUIRE(parsed.keys.size() == 1);
  CHECK(jwk_thumbprint(parsed.keys[0].public_pem) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // A generated key's default kid is its thumbprint.
  auto jwk = public_jwk(idtest::keys().ec);
  CHECK(jwk.find("\"kid\":\"" + jwk_thumbprint(idtest::keys().ec) + "\"") != std::string::npos);
}

TEST_CASE("unusable keys are skipped with a reason, usable ones kept") {
  const auto& k = idtest::keys();
  auto good = public_jwk(k.ec, "good");
  std::string x_of_other = public_jwk(k.ec_other, "x");
  auto y_start = x_of_other.find(R"("y":")") + 5;
  std::string other_y = x_of_other.substr(y_start, x_of_other.find('"', y_start) - y_start);

  auto doc = jwks_document({
      good,
      with_member(public_jwk(k.ec, "enc"), "use", "enc"),
      with_member(public_jwk(k.ec, "p384"), "crv", "P-384"),
      with_member(public_jwk(k.ec, "short-x"), "x", "AAAA"),
      with_member(public_jwk(k.ec, "off-curve"), "y", other_y),  // x of one key, y of another
      with_member(public_jwk(k.ec, "bad-b64"), "x", "!!!!"),
      with_member(public_jwk(k.rsa, "wrong-alg"), "alg", "RS512"),
      R"({"kty":"oct","k":"c2VjcmV0","kid":"hmac"})",
      R"({"kty":"RSA","kid":"small","n":"wQ","e":"AQAB"})",
      with_member(public_jwk(k.ec_other, "x"), "kid", "good"),  // duplicate kid
      R"({"kty":"EC","crv":"P-256"})",
      R"("not an object")",
  });
  auto parsed = parse_jwks(doc);
  REQUIRE(parsed.keys.size() == 1);
  CHECK(parsed.keys[0].kid == "good");
  CHECK(public_jwk(parsed.keys[0].public_pem, "good") == good);  // the first "good" wins
  REQUIRE(parsed.skipped.size() == 11);
  auto skipped = [&](const std::string& kid, const std::string& reason) {
    for (const auto& s : parsed.skipped)
      if (s.find("(kid " + kid + ")") != std::string::npos && s.find(reason) != std::string::npos)
        return true;
    return false;
  };
  CHECK(skipped("enc", "use is not sig"));
  CHECK(skipped("p384", "crv is not P-256"));
  CHECK(skipped("short-x", "32 bytes"));
  CHECK(skipped("off-curve", ""));  // "not a point on P-256" or the public check
  CHECK(skipped("bad-b64", "32 bytes of base64url"));
  CHECK(skipped("wrong-alg", "RS512"));
  CHECK(skipped("hmac", "neither EC nor RSA"));
  CHECK(skipped("small", "2048"));
  CHECK(skipped("good", "duplicate kid"));
}

TEST_CASE("a document without a keys array is refused as a whole") {
  CHECK_THROWS_AS(parse_jwks("[]"), std::invalid_argument);
  CHECK_THROWS_AS(parse_jwks("{"), std::invalid_argument);
  CHECK_THROWS_AS(parse_jwks(R"({"keys":{}})"), std::invalid_argument);
  CHECK(parse_jwks(R"({"keys":[]})").keys.empty());
  CHECK_THROWS_AS(public_jwk("not a pem"), std::invalid_argument);
}
