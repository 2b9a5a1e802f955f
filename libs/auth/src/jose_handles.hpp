#pragma once
// One overloaded deleter for every OpenSSL and libjwt handle the ID-token code
// holds, and base64url (RFC 4648 section 5, no padding) for JWK members.

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::auth::detail {

struct JoseDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
  void operator()(BIO* p) const noexcept { BIO_free(p); }
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
  void operator()(jwt_t* p) const noexcept { jwt_free(p); }
  // Strings libjwt allocates with malloc and hands to the caller.
  void operator()(char* p) const noexcept { std::free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, JoseDeleter>;

std::string base64url_encode(std::string_view bytes);
// Strict: only the url-safe alphabet, no padding, no whitespace, no
// non-zero trailing bits.
std::optional<std::string> base64url_decode(std::string_view text);

// The newest OpenSSL error of this thread as text (and clears the queue).
std::string openssl_error();

}  // namespace ticketing::auth::detail
