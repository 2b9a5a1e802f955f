#include "ticketing/auth/id_token.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "jose_handles.hpp"
#include "ticketing/auth/jwk.hpp"
#include "ticketing/common/log.hpp"

namespace ticketing::auth {

std::string_view to_string(IdTokenError e) {
  switch (e) {
    case IdTokenError::kMalformed:
      return "malformed";
    case IdTokenError::kAlgorithmNotAllowed:
      return "algorithm_not_allowed";
    case IdTokenError::kUnknownKey:
      return "unknown_key";
    case IdTokenError::kKeysUnavailable:
      return "keys_unavailable";
    case IdTokenError::kBadSignature:
      return "bad_signature";
    case IdTokenError::kWrongIssuer:
      return "wrong_issuer";
    case IdTokenError::kWrongAudience:
      return "wrong_audience";
    case IdTokenError::kExpired:
      return "expired";
    case IdTokenError::kNotYetValid:
      return "not_yet_valid";
    case IdTokenError::kBadSubject:
      return "bad_subject";
  }
  return "unknown";
}

namespace {

using detail::Owned;
using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 2> kSupportedAlgorithms{"ES256", "RS256"};
// NumericDates beyond this are clamped, so `now ± leeway` arithmetic cannot overflow.
constexpr std::int64_t kTimeClamp = std::int64_t{1} << 62;

// A JWKS key with its OpenSSL form, parsed once when the document is loaded
// (shared read-only by every verifying thread).
struct LoadedKey {
  VerificationKey key;
  std::shared_ptr<EVP_PKEY> pkey;
};

struct KeySet {
  std::map<std::string, LoadedKey, std::less<>> by_kid;
};

std::shared_ptr<EVP_PKEY> parse_public_pem(const std::string& pem) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::runtime_error("BIO_new_mem_buf failed");
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) throw std::runtime_error("unreadable public key: " + detail::openssl_error());
  return {key, EVP_PKEY_free};
}

// The JWS signature (RFC 7515) of a compact token, over its
// "<header>.<payload>" bytes, checked with OpenSSL against a key parsed once.
// libjwt would read the PEM key again for every token: OpenSSL 3's decoders
// then took most of a token issue's CPU. `alg` has been matched to the key.
bool signature_ok(std::string_view token, std::string_view alg, EVP_PKEY* key) {
  const auto last = token.rfind('.');
  if (last == std::string_view::npos) return false;
  const std::string_view signing_input = token.substr(0, last);
  auto sig = detail::base64url_decode(token.substr(last + 1));
  if (!sig) return false;
  std::string der;
  if (alg == "ES256") {
    // JWS carries R and S as two 32-byte big-endian numbers (RFC 7518
    // section 3.4); OpenSSL verifies a DER ECDSA-Sig-Value.
    if (sig->size() != 64) return false;
    const auto* bytes = reinterpret_cast<const unsigned char*>(sig->data());
    Owned<ECDSA_SIG> pair(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
    BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
    if (!pair || r == nullptr || s == nullptr || ECDSA_SIG_set0(pair.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(pair.get(), &out);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
  } else if (alg == "RS256") {
    der = std::move(*sig);  // RSASSA-PKCS1-v1_5: the signature as it is
  } else {
    return false;
  }
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) != 1) {
    ERR_clear_error();
    return false;
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
      reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  if (ok != 1) ERR_clear_error();
  return ok == 1;
}

// A compact JWS has exactly three base64url parts. libjwt splits at the first
// two dots and its base64 decoder skips characters outside the alphabet, so
// without this check "<token>." or "<token>\0junk" would verify too.
bool compact_shape(std::string_view token) {
  int dots = 0;
  for (char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

std::optional<std::int64_t> numeric_date(const rapidjson::Value& v) {
  if (v.IsInt64()) return std::clamp(v.GetInt64(), -kTimeClamp, kTimeClamp);
  if (v.IsUint64()) return kTimeClamp;
  if (v.IsDouble()) {
    double d = v.GetDouble();
    if (!std::isfinite(d)) return std::nullopt;
    d = std::clamp(d, -static_cast<double>(kTimeClamp), static_cast<double>(kTimeClamp));
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// A canonical decimal user id: digits only, no sign, no leading zero, 1..2^53-1.
std::optional<std::int64_t> user_id_of(std::string_view sub) {
  if (sub.empty() || sub.size() > 16 || sub.front() == '0') return std::nullopt;
  std::int64_t v = 0;
  for (char c : sub) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > kMaxUserId) return std::nullopt;
  return v;
}

}  // namespace

struct IdTokenVerifier::Impl {
  IdTokenSettings settings;
  std::unique_ptr<JwksSource> source;
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> failed{0};

  mutable std::mutex mutex;            // guards the members down to the thread
  std::condition_variable_any done;    // a fetch finished
  std::shared_ptr<const KeySet> keys;  // null until the first successful fetch
  bool fetching = false;
  bool last_ok = false;
  std::uint64_t fetches = 0;
  std::optional<Clock::time_point> last_start;

  // Declared last: destroyed (stopped and joined) before everything above.
  std::jthread refresher;

  [[nodiscard]] std::shared_ptr<const KeySet> current() const {
    std::lock_guard lock(mutex);
    return keys;
  }

  // Fetches with the lock released, or waits for the fetch another thread is
  // running. Verifiers only hold `mutex` to copy a pointer, never during I/O.
  bool fetch_or_join(std::unique_lock<std::mutex>& lock) {
    if (fetching) {
      auto seen = fetches;
      done.wait_for(lock, settings.fetch_timeout + std::chrono::seconds(5),
                    [&] { return fetches != seen; });
      return last_ok;
    }
    fetching = true;
    last_start = Clock::now();
    lock.unlock();
    auto next = load();
    lock.lock();
    last_ok = next != nullptr;
    if (next) keys = std::move(next);
    fetching = false;
    ++fetches;
    done.notify_all();
    return last_ok;
  }

  std::shared_ptr<const KeySet> load() {
    try {
      auto parsed = parse_jwks(source->fetch());
      for (const auto& why : parsed.skipped)
        log::info("jwks key skipped", {{"source", source->describe()}, {"reason", why}});
      if (parsed.keys.empty()) throw std::runtime_error("no usable ES256/RS256 signing key");
      auto set = std::make_shared<KeySet>();
      for (auto& k : parsed.keys) {
        auto pkey = parse_public_pem(k.public_pem);
        auto kid = k.kid;
        set->by_kid.emplace(std::move(kid), LoadedKey{std::move(k), std::move(pkey)});
      }
      ok.fetch_add(1, std::memory_order_relaxed);
      log::debug("jwks loaded",
                 {{"source", source->describe()}, {"keys", std::to_string(set->by_kid.size())}});
      return set;
    } catch (const std::exception& e) {
      failed.fetch_add(1, std::memory_order_relaxed);
      log::warn("jwks refresh failed, keeping the previous keys",
                {{"source", source->describe()}, {"error", e.what()}});
      return nullptr;
    }
  }

  // An unknown kid: one fetch unless one started less than min_refresh_gap ago.
  void on_demand_refresh() {
    std::unique_lock lock(mutex);
    if (!fetching && last_start && Clock::now() - *last_start < settings.min_refresh_gap) return;
    fetch_or_join(lock);
  }

  void run(const std::stop_token& stop) {
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      bool good = fetching ? true : fetch_or_join(lock);
      // After a failure retry sooner, so a provider that started after us is
      // picked up without waiting a whole interval.
      auto wait = good ? settings.refresh_interval
                       : std::max<std::chrono::seconds>(
                             std::min(settings.min_refresh_gap, settings.refresh_interval),
                             std::chrono::seconds(1));
      done.wait_for(lock, stop, wait, [] { return false; });
    }
  }

  [[nodiscard]] bool allowed(std::string_view alg) const {
    return std::find(settings.allowed_algorithms.begin(), settings.allowed_algorithms.end(), alg) !=
           settings.allowed_algorithms.end();
  }

  [[nodiscard]] std::variant<IdTokenClaims, IdTokenError> verify(std::string_view token,
                                                                 std::int64_t now);
};

std::variant<IdTokenClaims, IdTokenError> IdTokenVerifier::Impl::verify(std::string_view token,
                                                                        std::int64_t now) {
  using E = IdTokenError;
  if (token.empty() || token.size() > settings.max_token_bytes || !compact_shape(token))
    return E::kMalformed;
  const std::string text(token);

  // Without a key libjwt decodes header and claims but checks no signature
  // (and reports alg "none"): read to refuse the algorithm and pick the key;
  // its claims count only once the signature below has been checked.
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, text.c_str(), nullptr, 0) != 0) return E::kMalformed;
  Owned<jwt_t> decoded(raw);
  const char* header_alg = jwt_get_header(decoded.get(), "alg");
  if (!header_alg) return E::kMalformed;
  const std::string alg = header_alg;
  if (!allowed(alg)) return E::kAlgorithmNotAllowed;
  const char* header_kid = jwt_get_header(decoded.get(), "kid");
  if (!header_kid || !*header_kid) return E::kMalformed;
  const std::string kid = header_kid;

  auto set = current();
  if (!set || !set->by_kid.contains(kid)) {
    on_demand_refresh();
    set = current();
  }
  if (!set) return E::kKeysUnavailable;
  auto found = set->by_kid.find(kid);
  if (found == set->by_kid.end()) return E::kUnknownKey;
  const LoadedKey& key = found->second;
  // A key verifies one algorithm only: an RSA key never checks an "ES256" token.
  if (key.key.alg != alg) return E::kAlgorithmNotAllowed;
  if (!signature_ok(token, alg, key.pkey.get())) return E::kBadSignature;

  Owned<char> claims_json(jwt_get_grants_json(decoded.get(), nullptr));
  if (!claims_json) return E::kMalformed;
  rapidjson::Document claims;
  claims.Parse(claims_json.get());
  if (claims.HasParseError() || !claims.IsObject()) return E::kMalformed;
  auto get = [&](const char* name) -> const rapidjson::Value* {
    auto it = claims.FindMember(name);
    return it == claims.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  };

  IdTokenClaims out;
  out.kid = kid;
  out.alg = alg;
  const auto* iss = get("iss");
  const auto* aud = get("aud");
  const auto* exp = get("exp");
  const auto* iat = get("iat");
  const auto* nbf = get("nbf");
  if (!iss || !iss->IsString() || !aud || !exp || !iat) return E::kMalformed;
  out.issuer.assign(iss->GetString(), iss->GetStringLength());
  if (aud->IsString()) {
    out.audience.emplace_back(aud->GetString(), aud->GetStringLength());
  } else if (aud->IsArray()) {
    for (const auto& a : aud->GetArray()) {
      if (!a.IsString()) return E::kMalformed;
      out.audience.emplace_back(a.GetString(), a.GetStringLength());
    }
  } else {
    return E::kMalformed;
  }
  auto exp_v = numeric_date(*exp);
  auto iat_v = numeric_date(*iat);
  auto nbf_v = nbf ? numeric_date(*nbf) : std::optional<std::int64_t>(0);
  if (!exp_v || !iat_v || !nbf_v) return E::kMalformed;
  out.expires_at = *exp_v;
  out.issued_at = *iat_v;
  out.not_before = *nbf_v;

  if (out.issuer != settings.issuer) return E::kWrongIssuer;
  if (std::find(out.audience.begin(), out.audience.end(), settings.audience) == out.audience.end())
    return E::kWrongAudience;
  const std::int64_t leeway = settings.leeway.count();
  if (now - leeway >= out.expires_at) return E::kExpired;
  if (out.not_before - leeway > now || out.issued_at - leeway > now) return E::kNotYetValid;

  const auto* sub = get("sub");
  if (!sub || !sub->IsString()) return E::kBadSubject;
  auto user = user_id_of(std::string_view(sub->GetString(), sub->GetStringLength()));
  if (!user) return E::kBadSubject;
  out.user_id = *user;
  return out;
}

IdTokenVerifier::IdTokenVerifier(IdTokenSettings settings, std::unique_ptr<JwksSource> source,
                                 bool background_refresh)
    : impl_(std::make_unique<Impl>()) {
  if (settings.issuer.empty()) throw std::invalid_argument("ID token issuer is empty");
  if (settings.audience.empty()) throw std::invalid_argument("ID token audience is empty");
  if (settings.allowed_algorithms.empty())
    throw std::invalid_argument("no ID token algorithm allowed");
  for (const auto& a : settings.allowed_algorithms) {
    if (std::find(kSupportedAlgorithms.begin(), kSupportedAlgorithms.end(), a) ==
        kSupportedAlgorithms.end())
      throw std::invalid_argument("ID token algorithm " + a + " is not supported (ES256, RS256)");
  }
  if (!source) source = make_jwks_source(settings.jwks, settings.fetch_timeout);
  impl_->settings = std::move(settings);
  impl_->source = std::move(source);
  if (background_refresh)
    impl_->refresher =
        std::jthread([impl = impl_.get()](std::stop_token stop) { impl->run(stop); });
}

IdTokenVerifier::~IdTokenVerifier() = default;

std::variant<IdTokenClaims, IdTokenError> IdTokenVerifier::verify(std::string_view token) const {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return impl_->verify(token, now);
}

std::variant<IdTokenClaims, IdTokenError> IdTokenVerifier::verify(std::string_view token,
                                                                  std::int64_t now_unix) const {
  return impl_->verify(token, now_unix);
}

bool IdTokenVerifier::refresh() {
  std::unique_lock lock(impl_->mutex);
  return impl_->fetch_or_join(lock);
}

std::size_t IdTokenVerifier::key_count() const {
  auto set = impl_->current();
  return set ? set->by_kid.size() : 0;
}

std::uint64_t IdTokenVerifier::refreshes() const {
  return impl_->ok.load(std::memory_order_relaxed);
}

std::uint64_t IdTokenVerifier::failed_refreshes() const {
  return impl_->failed.load(std::memory_order_relaxed);
}

IdTokenSettings IdTokenSettings::read(EnvReader& env) {
  IdTokenSettings s;
  s.issuer = env.required("ID_TOKEN_ISSUER");
  s.audience = env.required("ID_TOKEN_AUDIENCE");
  s.jwks = env.required("ID_TOKEN_JWKS");
  s.refresh_interval = std::chrono::seconds(env.integer("ID_TOKEN_JWKS_REFRESH_S", 600, 1, 86400));
  s.min_refresh_gap =
      std::chrono::seconds(env.integer("ID_TOKEN_JWKS_MIN_REFRESH_GAP_S", 30, 0, 3600));
  s.leeway = std::chrono::seconds(env.integer("ID_TOKEN_LEEWAY_S", 60, 0, 600));
  s.max_token_bytes =
      static_cast<std::size_t>(env.integer("ID_TOKEN_MAX_BYTES", 8192, 512, 64 * 1024));
  s.allowed_algorithms.clear();
  std::string list = env.str("ID_TOKEN_ALGORITHMS", "ES256,RS256");
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = std::min(list.find(',', start), list.size());
    std::string alg = list.substr(start, comma - start);
    if (std::find(kSupportedAlgorithms.begin(), kSupportedAlgorithms.end(), alg) ==
        kSupportedAlgorithms.end())
      env.fail("ID_TOKEN_ALGORITHMS", "must list ES256 and/or RS256, comma-separated");
    else
      s.allowed_algorithms.push_back(alg);
    start = comma + 1;
  }
  return s;
}

}  // namespace ticketing::auth
