#pragma once

// JSON Web Keys (RFC 7517) and signed JWTs for ID tokens. OpenSSL, libjwt and
// RapidJSON stay in src/: callers see PEM text and JSON text only.
//
// Supported keys: EC P-256 (ES256) and RSA of at least 2048 bits (RS256).

#include <string>
#include <string_view>
#include <vector>

namespace ticketing::auth {

// One usable verification key of a JWKS document.
struct VerificationKey {
  std::string kid;
  std::string alg;         // "ES256" or "RS256": the only algorithm this key verifies
  std::string public_pem;  // SubjectPublicKeyInfo PEM, as libjwt expects it
};

struct JwksParse {
  std::vector<VerificationKey> keys;
  // One line per key left out and why (no kid, "use" other than "sig", an
  // unsupported kty/crv/alg, a point not on the curve, a short RSA modulus...).
  // Keys other than signature keys are expected in real documents: callers log
  // these, they are not errors.
  std::vector<std::string> skipped;
};

// Reads an RFC 7517 document {"keys":[...]}. Throws std::invalid_argument when
// the text is not a JSON object with a "keys" array; a single bad key is only
// skipped. A kid seen twice keeps its first key and skips the others.
JwksParse parse_jwks(std::string_view json);

// A fresh private key, PKCS#8 PEM: EC P-256, or RSA of `bits` bits.
std::string generate_p256_private_key();
std::string generate_rsa_private_key(int bits);

// The public JWK of a PEM key (private or public, EC P-256 or RSA) as a JSON
// object text with "kty", the public numbers, "use":"sig", "alg" and "kid".
// An empty kid becomes the RFC 7638 thumbprint. Throws std::invalid_argument
// for anything else.
std::string public_jwk(std::string_view pem, std::string_view kid = {});
// RFC 7638 JWK thumbprint (SHA-256, base64url) of a PEM key's public part.
std::string jwk_thumbprint(std::string_view pem);
// {"keys":[<jwk>, ...]} from public_jwk() results (each must be JSON text).
std::string jwks_document(const std::vector<std::string>& jwks);

// A compact JWS made by libjwt: header {"alg", "typ":"JWT", "kid" unless
// empty}, payload `claims_json` (a JSON object). alg is a JOSE name ("ES256",
// "RS256", "HS256", "none", ...); key is a PEM private key for ES/RS, the
// secret for HS, empty for none. Tests use it to forge what an attacker would
// send. Throws std::invalid_argument when libjwt refuses.
std::string sign_jwt(std::string_view alg, std::string_view key, std::string_view kid,
                     std::string_view claims_json);

}  // namespace ticketing::auth
