// dev-idp: a DEVELOPMENT-ONLY OpenID Connect identity provider. It signs an ID
// token for any user id anyone asks for, so it proves nothing about who the
// caller is: it exists so that `make run`, `make demo`, the rush and the tests
// can obtain ID tokens the way a real client gets them from a real provider.
// Never run it where real users or money are involved; production configures
// the issuer and JWKS URL of a real provider instead (docs/operations.md).
//
// At start it makes a fresh EC P-256 signing key (kept in memory; only the
// public JWKS is written, to --state-dir when given), so every restart
// rotates the key and the kid (its RFC 7638 thumbprint).
//
//   GET  /.well-known/openid-configuration  {"issuer","jwks_uri",...}
//   GET  /.well-known/jwks.json             {"keys":[<the public key>]}
//   POST /v1/id-tokens {"userId": n}        {"idToken":"<ES256 JWT>","expiresIn":s}
//        n an integer 1..2^53-1, else 400 VALIDATION_FAILED; the token has
//        iss, aud, sub = "n", iat, nbf = iat, exp = iat + lifetime
//   GET  /health/live
//
// Settings (flags win over the environment):
//   --port / IDP_PORT                 0 = a free port (default)
//   --host / IDP_HOST                 127.0.0.1
//   --issuer / IDP_ISSUER             default http://127.0.0.1:<port>
//   --audience / IDP_AUDIENCE         ticketing
//   --token-lifetime / IDP_TOKEN_LIFETIME_S   3600 (60..86400)
//   --state-dir / IDP_STATE_DIR       where jwks.json is written (optional)
// The first line on stdout says where it listens, e.g.
//   dev-idp url=http://127.0.0.1:41234 issuer=http://127.0.0.1:41234 audience=ticketing kid=...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "ticketing/auth/id_token.hpp"
#include "ticketing/auth/jwk.hpp"
#include "ticketing/common/config.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/http/server.hpp"
#include "ticketing/service/runtime.hpp"

using namespace ticketing;

namespace {

struct Settings {
  std::string host;
  std::uint16_t port = 0;
  std::string issuer;  // empty: the URL it listens on
  std::string audience;
  std::int64_t lifetime_s = 3600;
  std::string state_dir;
};

std::optional<std::string> flag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return std::string(argv[i + 1]);
  return std::nullopt;
}

// Flags override the environment; EnvReader then validates both alike and
// reports every problem at once.
Settings read_settings(int argc, char** argv) {
  const std::pair<const char*, const char*> names[] = {
      {"--port", "IDP_PORT"},           {"--host", "IDP_HOST"},
      {"--issuer", "IDP_ISSUER"},       {"--audience", "IDP_AUDIENCE"},
      {"--state-dir", "IDP_STATE_DIR"}, {"--token-lifetime", "IDP_TOKEN_LIFETIME_S"}};
  EnvReader env([&](std::string_view var) -> std::optional<std::string> {
    for (const auto& [f, v] : names)
      if (var == v)
        if (auto value = flag(argc, argv, f)) return value;
    if (const char* value = std::getenv(std::string(var).c_str())) return std::string(value);
    return std::nullopt;
  });
  Settings s;
  s.port = static_cast<std::uint16_t>(env.integer("IDP_PORT", 0, 0, 65535));
  s.host = env.str("IDP_HOST", "127.0.0.1");
  s.issuer = env.str("IDP_ISSUER", "");
  s.audience = env.str("IDP_AUDIENCE", "ticketing");
  s.lifetime_s = env.integer("IDP_TOKEN_LIFETIME_S", 3600, 60, 86400);
  s.state_dir = env.str("IDP_STATE_DIR", "");
  if (s.audience.empty()) env.fail("IDP_AUDIENCE", "must not be empty");
  env.finish();
  return s;
}

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class DevIdp {
 public:
  explicit DevIdp(Settings s)
      : settings_(std::move(s)),
        private_pem_(auth::generate_p256_private_key()),
        kid_(auth::jwk_thumbprint(private_pem_)),
        signer_(private_pem_, kid_),
        jwks_(std::make_shared<const std::string>(
            auth::jwks_document({auth::public_jwk(private_pem_, kid_)}))) {}

  void start() {
    http::Router router;
    router.add("GET", "/.well-known/jwks.json", [this](const http::Request&) {
      http::Response r;
      r.shared_body = jwks_;
      r.headers.emplace_back("Cache-Control", "max-age=60");
      return r;
    });
    router.add("GET", "/.well-known/openid-configuration",
               [this](const http::Request&) { return http::Response::json(200, discovery_); });
    router.add("POST", "/v1/id-tokens", [this](const http::Request& r) { return issue(r); });
    router.add("GET", "/health/live", [](const http::Request&) {
      return http::Response::json(200, R"({"status":"live"})");
    });
    http::ServerOptions o;
    o.host = settings_.host;
    o.port = settings_.port;
    o.threads = 4;
    o.max_body_bytes = 4 * 1024;
    o.name = "dev-idp";
    server_ = std::make_unique<http::Server>(o, std::move(router));
    server_->start();

    // Known only once bound (port 0).
    std::string host = settings_.host == "0.0.0.0" ? "127.0.0.1" : settings_.host;
    base_url_ = "http://" + host + ":" + std::to_string(server_->port());
    if (settings_.issuer.empty()) settings_.issuer = base_url_;
    ticketing::JsonWriter w;
    w.start_object()
        .key("issuer")
        .string(settings_.issuer)
        .key("jwks_uri")
        .string(base_url_ + "/.well-known/jwks.json")
        .key("id_token_signing_alg_values_supported")
        .start_array()
        .string("ES256")
        .end_array()
        .key("subject_types_supported")
        .start_array()
        .string("public")
        .end_array()
        .key("response_types_supported")
        .start_array()
        .string("id_token")
        .end_array()
        .end_object();
    discovery_ = w.str();
    if (!settings_.state_dir.empty()) write_jwks();

    std::printf("dev-idp url=%s issuer=%s audience=%s kid=%s\n", base_url_.c_str(),
                settings_.issuer.c_str(), settings_.audience.c_str(), kid_.c_str());
    std::fflush(stdout);
    log::warn("dev-idp is a development identity provider: it signs a token for any user id",
              {{"url", base_url_}, {"kid", kid_}});
  }

  void stop() {
    if (server_) server_->stop();
  }

 private:
  http::Response issue(const http::Request& r) {
    auto parsed = http::JsonBody::parse(r);
    if (auto* err = std::get_if<http::Response>(&parsed)) return *err;
    auto& body = std::get<http::JsonBody>(parsed);
    auto user = body.int64("userId", 1, auth::kMaxUserId);
    if (auto err = body.error()) return *err;

    const std::int64_t now = now_unix();
    ticketing::JsonWriter claims;
    claims.start_object()
        .key("iss")
        .string(settings_.issuer)
        .key("aud")
        .string(settings_.audience)
        .key("sub")
        .string(std::to_string(*user))
        .key("iat")
        .integer(now)
        .key("nbf")
        .integer(now)
        .key("exp")
        .integer(now + settings_.lifetime_s)
        .end_object();
    ticketing::JsonWriter w;
    w.start_object()
        .key("idToken")
        .string(signer_.sign(claims.str()))
        .key("expiresIn")
        .integer(settings_.lifetime_s)
        .end_object();
    return http::Response::json(200, w.str());
  }

  // The public key set only, replaced atomically so a reader never sees half.
  void write_jwks() const {
    namespace fs = std::filesystem;
    fs::create_directories(settings_.state_dir);
    fs::path target = fs::path(settings_.state_dir) / "jwks.json";
    fs::path temp = target;
    temp += ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      out << *jwks_;
      if (!out.flush()) throw std::runtime_error("cannot write " + temp.string());
    }
    fs::rename(temp, target);
  }

  Settings settings_;
  const std::string private_pem_;  // never leaves this process
  const std::string kid_;
  const auth::Es256Signer signer_;  // the key parsed once, not per token
  const std::shared_ptr<const std::string> jwks_;
  std::string base_url_;
  std::string discovery_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace

int main(int argc, char** argv) {
  service::block_shutdown_signals();
  return service::guarded_main("dev-idp", [&] {
    DevIdp idp(read_settings(argc, argv));
    idp.start();
    service::wait_for_shutdown_signal();
    idp.stop();
    return 0;
  });
}
