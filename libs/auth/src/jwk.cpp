#include "ticketing/auth/jwk.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cctype>
#include <functional>
#include <set>
#include <stdexcept>
#include <variant>

#include "jose_handles.hpp"

namespace ticketing::auth {

namespace detail {

namespace {
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, so each value has exactly one encoding.
  if ((acc & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(code, buf.data(), buf.size());
  return buf.data();
}

}  // namespace detail

namespace {

using detail::base64url_decode;
using detail::base64url_encode;
using detail::Owned;

constexpr std::size_t kP256CoordinateBytes = 32;
constexpr int kMinRsaBits = 2048;

std::string pem_of_public(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    throw std::runtime_error("PEM_write_bio_PUBKEY: " + detail::openssl_error());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return std::string(data, static_cast<std::size_t>(len));
}

// "" when the public part passes OpenSSL's checks, else why not.
std::string public_check(EVP_PKEY* key) {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) return "public key check failed";
  return {};
}

Owned<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* builder) {
  Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(builder));
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return Owned<EVP_PKEY>(raw);
}

std::optional<std::string> member(const rapidjson::Value& jwk, const char* name) {
  auto it = jwk.FindMember(name);
  if (it == jwk.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// EC P-256: the uncompressed point 04 || x || y, which OpenSSL checks is on
// the curve when it imports it.
std::variant<Owned<EVP_PKEY>, std::string> ec_key(const rapidjson::Value& jwk) {
  if (member(jwk, "crv") != "P-256") return std::string("crv is not P-256");
  auto x = member(jwk, "x");
  auto y = member(jwk, "y");
  if (!x || !y) return std::string("x or y missing");
  auto xb = base64url_decode(*x);
  auto yb = base64url_decode(*y);
  if (!xb || !yb || xb->size() != kP256CoordinateBytes || yb->size() != kP256CoordinateBytes)
    return std::string("x or y is not 32 bytes of base64url");
  std::string point = "\x04" + *xb + *yb;
  Owned<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    throw std::runtime_error("OSSL_PARAM_BLD: " + detail::openssl_error());
  auto key = from_params("EC", builder.get());
  if (!key) return std::string("not a point on P-256");
  if (auto problem = public_check(key.get()); !problem.empty()) return problem;
  return key;
}

std::variant<Owned<EVP_PKEY>, std::string> rsa_key(const rapidjson::Value& jwk) {
  auto n = member(jwk, "n");
  auto e = member(jwk, "e");
  if (!n || !e) return std::string("n or e missing");
  auto nb = base64url_decode(*n);
  auto eb = base64url_decode(*e);
  if (!nb || !eb || nb->empty() || eb->empty()) return std::string("n or e is not base64url");
  // By reference, not through optional::operator-> at each use: clang's
  // analyzer takes that call for a reallocation of the string.
  const std::string& n_bytes = *nb;
  const std::string& e_bytes = *eb;
  Owned<BIGNUM> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes.data()),
                               static_cast<int>(n_bytes.size()), nullptr));
  Owned<BIGNUM> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes.data()),
                               static_cast<int>(e_bytes.size()), nullptr));
  Owned<OSSL_PARAM_BLD> builder(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !builder ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    throw std::runtime_error("OSSL_PARAM_BLD: " + detail::openssl_error());
  auto key = from_params("RSA", builder.get());
  if (!key) return std::string("not an RSA public key");
  if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) return std::string("RSA modulus under 2048 bits");
  if (auto problem = public_check(key.get()); !problem.empty()) return problem;
  return key;
}

Owned<EVP_PKEY> read_pem(std::string_view pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::runtime_error("BIO_new_mem_buf failed");
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    Owned<BIO> again(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    key.reset(PEM_read_bio_PUBKEY(again.get(), nullptr, nullptr, nullptr));
  }
  if (!key) {
    ERR_clear_error();
    throw std::invalid_argument("not a PEM private or public key");
  }
  return key;
}

std::string bn_param(EVP_PKEY* key, const char* name, int pad_to = 0) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1)
    throw std::runtime_error(std::string("EVP_PKEY_get_bn_param ") + name);
  Owned<BIGNUM> bn(raw);
  std::string bytes(static_cast<std::size_t>(pad_to > 0 ? pad_to : BN_num_bytes(bn.get())), '\0');
  auto* out = reinterpret_cast<unsigned char*>(bytes.data());
  int written = pad_to > 0 ? BN_bn2binpad(bn.get(), out, pad_to) : BN_bn2bin(bn.get(), out);
  if (written < 0) throw std::runtime_error(std::string("BN_bn2bin ") + name);
  return base64url_encode(bytes);
}

// The public numbers of a supported key, members in lexicographic order as
// RFC 7638 requires for the thumbprint.
std::vector<std::pair<std::string, std::string>> public_members(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC")) {
    std::array<char, 64> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                       &len) != 1 ||
        std::string_view(group.data(), len) != "prime256v1")
      throw std::invalid_argument("EC key is not on P-256");
    return {{"crv", "P-256"},
            {"kty", "EC"},
            {"x", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes)},
            {"y", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes)}};
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    return {{"e", bn_param(key, OSSL_PKEY_PARAM_RSA_E)},
            {"kty", "RSA"},
            {"n", bn_param(key, OSSL_PKEY_PARAM_RSA_N)}};
  }
  throw std::invalid_argument("key is neither EC P-256 nor RSA");
}

std::string thumbprint_of(EVP_PKEY* key) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : public_members(key)) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_Digest(buf.GetString(), buf.GetSize(), digest.data(), &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest: " + detail::openssl_error());
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), len));
}

Owned<EVP_PKEY> generate(const char* type, const std::function<int(EVP_PKEY_CTX*)>& configure) {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || configure(ctx.get()) != 1 ||
      EVP_PKEY_generate(ctx.get(), &raw) != 1)
    throw std::runtime_error(std::string("key generation ") + type + ": " +
                             detail::openssl_error());
  return Owned<EVP_PKEY>(raw);
}

std::string private_pem(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw std::runtime_error("PEM_write_bio_PrivateKey: " + detail::openssl_error());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

JwksParse parse_jwks(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw std::invalid_argument("JWKS is not a JSON object");
  auto keys = doc.FindMember("keys");
  if (keys == doc.MemberEnd() || !keys->value.IsArray())
    throw std::invalid_argument("JWKS has no \"keys\" array");

  JwksParse out;
  std::set<std::string> seen;
  std::size_t index = 0;
  for (const auto& jwk : keys->value.GetArray()) {
    std::string where = "key " + std::to_string(index++);
    if (!jwk.IsObject()) {
      out.skipped.push_back(where + ": not an object");
      continue;
    }
    auto kid = member(jwk, "kid");
    if (!kid || kid->empty()) {
      out.skipped.push_back(where + ": no kid");
      continue;
    }
    where += " (kid " + *kid + ")";
    if (auto use = member(jwk, "use"); use && *use != "sig") {
      out.skipped.push_back(where + ": use is not sig");
      continue;
    }
    auto kty = member(jwk, "kty").value_or("");
    std::string alg = kty == "EC" ? "ES256" : kty == "RSA" ? "RS256" : "";
    if (alg.empty()) {
      out.skipped.push_back(where + ": kty is neither EC nor RSA");
      continue;
    }
    if (auto declared = member(jwk, "alg"); declared && *declared != alg) {
      out.skipped.push_back(where + ": alg " + *declared + " is not supported");
      continue;
    }
    auto key = kty == "EC" ? ec_key(jwk) : rsa_key(jwk);
    if (auto* problem = std::get_if<std::string>(&key)) {
      out.skipped.push_back(where + ": " + *problem);
      continue;
    }
    if (!seen.insert(*kid).second) {
      out.skipped.push_back(where + ": duplicate kid");
      continue;
    }
    out.keys.push_back(VerificationKey{*kid, alg, pem_of_public(std::get<0>(key).get())});
  }
  return out;
}

std::string generate_p256_private_key() {
  auto key =
      generate("EC", [](EVP_PKEY_CTX* ctx) { return EVP_PKEY_CTX_set_group_name(ctx, "P-256"); });
  return private_pem(key.get());
}

std::string generate_rsa_private_key(int bits) {
  auto key = generate(
      "RSA", [bits](EVP_PKEY_CTX* ctx) { return EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits); });
  return private_pem(key.get());
}

std::string jwk_thumbprint(std::string_view pem) {
  return thumbprint_of(read_pem(pem).get());
}

std::string public_jwk(std::string_view pem, std::string_view kid) {
  auto key = read_pem(pem);
  auto members = public_members(key.get());
  std::string id = kid.empty() ? thumbprint_of(key.get()) : std::string(kid);
  bool ec = EVP_PKEY_is_a(key.get(), "EC") != 0;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : members) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.Key("use");
  w.String("sig");
  w.Key("alg");
  w.String(ec ? "ES256" : "RS256");
  w.Key("kid");
  w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  w.EndObject();
  return buf.GetString();
}

std::string jwks_document(const std::vector<std::string>& jwks) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < jwks.size(); ++i) {
    rapidjson::Document check;
    check.Parse(jwks[i].data(), jwks[i].size());
    if (check.HasParseError()) throw std::invalid_argument("a JWK is not JSON");
    if (i > 0) out += ',';
    out += jwks[i];
  }
  return out + "]}";
}

std::string sign_jwt(std::string_view alg, std::string_view key, std::string_view kid,
                     std::string_view claims_json) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new failed");
  Owned<jwt_t> jwt(raw);
  std::string claims(claims_json);
  if (jwt_add_grants_json(jwt.get(), claims.c_str()) != 0)
    throw std::invalid_argument("claims are not a JSON object");
  if (!kid.empty() && jwt_add_header(jwt.get(), "kid", std::string(kid).c_str()) != 0)
    throw std::invalid_argument("libjwt refused the kid");
  std::string name(alg);
  jwt_alg_t a = jwt_str_alg(name.c_str());
  if (a == JWT_ALG_INVAL) throw std::invalid_argument("unknown alg " + name);
  const auto* k = key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data());
  if (jwt_set_alg(jwt.get(), a, k, static_cast<int>(key.size())) != 0)
    throw std::invalid_argument("libjwt refused alg " + name + " with this key");
  Owned<char> token(jwt_encode_str(jwt.get()));
  if (!token) throw std::invalid_argument("libjwt could not sign with alg " + name);
  return token.get();
}

struct Es256Signer::Impl {
  Owned<EVP_PKEY> key;
  std::string header_b64;  // base64url of the header, the same for every token
};

Es256Signer::Es256Signer(std::string_view private_pem, std::string kid)
    : impl_(std::make_unique<Impl>()) {
  for (char c : kid) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      throw std::invalid_argument("kid must be base64url characters");
  }
  impl_->key = read_pem(private_pem);
  if (EVP_PKEY_get_base_id(impl_->key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_bits(impl_->key.get()) != 256)
    throw std::invalid_argument("ES256 wants an EC P-256 private key");
  std::string header = R"({"alg":"ES256","typ":"JWT")";
  if (!kid.empty()) header += R"(,"kid":")" + kid + "\"";
  header += "}";
  impl_->header_b64 = detail::base64url_encode(header);
}

Es256Signer::~Es256Signer() = default;

std::string Es256Signer::sign(std::string_view claims_json) const {
  std::string token = impl_->header_b64 + "." + detail::base64url_encode(claims_json);
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  std::size_t der_len = 0;
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, impl_->key.get(),
                            nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(token.data()), token.size()) != 1)
    throw std::runtime_error("ES256 signing failed: " + detail::openssl_error());
  std::string der(der_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len,
                     reinterpret_cast<const unsigned char*>(token.data()), token.size()) != 1)
    throw std::runtime_error("ES256 signing failed: " + detail::openssl_error());
  // DER ECDSA-Sig-Value -> R || S, 32 bytes each (RFC 7518 section 3.4).
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  Owned<ECDSA_SIG> pair(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!pair) throw std::runtime_error("ES256 signature not DER: " + detail::openssl_error());
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(pair.get()), out, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(pair.get()), out + 32, 32) != 32)
    throw std::runtime_error("ES256 signature out of range");
  return token + "." + detail::base64url_encode(raw);
}

}  // namespace ticketing::auth
