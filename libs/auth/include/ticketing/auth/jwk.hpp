#pragma once

// JSON Web Keys (RFC 7517) and signed JWTs for ID tokens. OpenSSL, libjwt and
// RapidJSON stay in src/: callers see PEM text and JSON text only.
//
// Supported keys: EC P-256 (ES256) and RSA of at least 2048 bits (RS256).

#include <memory>
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

// ES256 signing with a key parsed once (sign_jwt parses the PEM key for every
// token, which costs most of the signature's CPU under OpenSSL 3). Makes the
// same compact JWS as sign_jwt("ES256", ...): header {"alg":"ES256",
// "typ":"JWT","kid"}, the claims as given, R||S signature. Thread-safe.
class Es256Signer {
 public:
  // Throws std::invalid_argument unless `private_pem` is an EC P-256 private
  // key, or when kid holds characters other than base64url ones.
  Es256Signer(std::string_view private_pem, std::string kid);
  ~Es256Signer();
  Es256Signer(const Es256Signer&) = delete;
  Es256Signer& operator=(const Es256Signer&) = delete;
  // `claims_json` must be a JSON object text (not checked here).
  [[nodiscard]] std::string sign(std::string_view claims_json) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::auth
