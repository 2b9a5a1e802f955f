// tools/dev-idp as a black box on loopback: its tokens verify through its own
// JWKS URL with ticketing::auth::IdTokenVerifier, and a restart (a new key)
// makes the old tokens unknown while the new ones pass.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ticketing/auth/id_token.hpp"
#include "ticketing/http/client.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/testing/process.hpp"

using namespace std::chrono_literals;
namespace tt = ticketing::testing;
using ticketing::auth::IdTokenClaims;
using ticketing::auth::IdTokenError;
using ticketing::auth::IdTokenSettings;
using ticketing::auth::IdTokenVerifier;
using ticketing::http::Client;
using ticketing::http::ClientRequest;
using ticketing::http::ClientResponse;

namespace {

const std::string kStateDir = tt::build_path("tests/tools/dev-idp-state");

class DevIdp {
 public:
  explicit DevIdp(unsigned short port)
      : port_(port),
        proc_(tt::build_path("tools/dev-idp/dev-idp"),
              {"--port", std::to_string(port), "--audience", "ticketing", "--state-dir", kStateDir},
              {}, tt::build_path("tests/tools/dev-idp.log")) {
    for (int i = 0; i < 100; ++i) {
      if (tt::port_open(port_)) return;
      if (!proc_.running()) break;
      std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("dev-idp did not start: " + proc_.log());
  }
  ~DevIdp() {
    proc_.signal(SIGTERM);
    (void)proc_.wait(5s);
  }
  DevIdp(const DevIdp&) = delete;
  DevIdp& operator=(const DevIdp&) = delete;

  [[nodiscard]] std::string url(const std::string& path = {}) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  ClientResponse send(const std::string& method, const std::string& path,
                      const std::string& body = {}) {
    ClientRequest r;
    r.method = method;
    r.url = url(path);
    r.body = body;
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    return client_.send(r);
  }
  std::string id_token(std::int64_t user) {
    auto r = send("POST", "/v1/id-tokens", R"({"userId":)" + std::to_string(user) + "}");
    REQUIRE(r.status == 200);
    auto parsed = ticketing::http::JsonBody::parse(r.body);
    auto& body = std::get<ticketing::http::JsonBody>(parsed);
    auto token = body.string("idToken", 16 * 1024);
    REQUIRE(token);
    return *token;
  }
  tt::ChildProcess& process() { return proc_; }

 private:
  unsigned short port_;
  tt::ChildProcess proc_;
  Client client_;
};

IdTokenSettings settings_for(const DevIdp& idp) {
  IdTokenSettings s;
  s.issuer = idp.url();  // the default issuer is the URL it listens on
  s.audience = "ticketing";
  s.jwks = idp.url("/.well-known/jwks.json");
  s.min_refresh_gap = 0s;
  return s;
}

std::optional<IdTokenError> error_of(const std::variant<IdTokenClaims, IdTokenError>& r) {
  if (const auto* e = std::get_if<IdTokenError>(&r)) return *e;
  return std::nullopt;
}

}  // namespace

TEST_CASE("dev-idp serves discovery, JWKS and ID tokens that verify through its JWKS URL") {
  std::filesystem::remove_all(kStateDir);
  DevIdp idp(tt::free_port());
  auto discovery = idp.send("GET", "/.well-known/openid-configuration");
  REQUIRE(discovery.status == 200);
  CHECK(discovery.body.find(R"("issuer":")" + idp.url() + "\"") != std::string::npos);
  CHECK(discovery.body.find(R"("jwks_uri":")" + idp.url("/.well-known/jwks.json") + "\"") !=
        std::string::npos);
  auto jwks = idp.send("GET", "/.well-known/jwks.json");
  REQUIRE(jwks.status == 200);
  CHECK(jwks.body.find(R"("crv":"P-256")") != std::string::npos);
  CHECK(jwks.body.find(R"("d":)") == std::string::npos);  // public numbers only
  CHECK(idp.send("GET", "/health/live").status == 200);

  IdTokenVerifier verifier(settings_for(idp), nullptr, false);  // the HTTP source
  auto result = verifier.verify(idp.id_token(42));
  REQUIRE(std::holds_alternative<IdTokenClaims>(result));
  const auto& claims = std::get<IdTokenClaims>(result);
  CHECK(claims.user_id == 42);
  CHECK(claims.issuer == idp.url());
  CHECK(claims.alg == "ES256");
  CHECK(claims.expires_at - claims.issued_at == 3600);
  CHECK(verifier.refreshes() == 1);

  // The state dir holds the same public JWKS, usable as a file source.
  auto file_settings = settings_for(idp);
  file_settings.jwks = kStateDir + "/jwks.json";
  std::ifstream in(file_settings.jwks);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(written == jwks.body);
  IdTokenVerifier from_file(file_settings, nullptr, false);
  CHECK(!error_of(from_file.verify(idp.id_token(7))));
}

TEST_CASE("dev-idp refuses user ids outside 1..2^53-1 with a 400 and a code") {
  DevIdp idp(tt::free_port());
  for (const char* body : {R"({"userId":0})", R"({"userId":-5})", R"({"userId":9007199254740992})",
                           R"({"userId":"42"})", R"({"userId":4.5})", R"({})"}) {
    INFO(body);
    auto r = idp.send("POST", "/v1/id-tokens", body);
    CHECK(r.status == 400);
    CHECK(r.body.find(R"("code":"VALIDATION_FAILED")") != std::string::npos);
    CHECK(r.body.find("userId") != std::string::npos);
  }
  auto junk = idp.send("POST", "/v1/id-tokens", "{not json");
  CHECK(junk.status == 400);
  CHECK(junk.body.find(R"("code":"INVALID_JSON")") != std::string::npos);
  CHECK(idp.send("POST", "/v1/id-tokens", R"({"userId":9007199254740991})").status == 200);
}

TEST_CASE("after a dev-idp restart (new key) old tokens are unknown and new ones pass") {
  auto port = tt::free_port();
  std::string old_token;
  auto idp = std::make_unique<DevIdp>(port);
  IdTokenVerifier verifier(settings_for(*idp), nullptr, false);
  old_token = idp->id_token(42);
  REQUIRE(!error_of(verifier.verify(old_token)));

  idp.reset();  // SIGTERM, then a new process with a new key on the same port
  idp = std::make_unique<DevIdp>(port);
  // The cached key still verifies the old token until the keys are refreshed.
  CHECK(!error_of(verifier.verify(old_token)));
  // A new token's kid is unknown: it triggers one refresh and then passes.
  auto new_token = idp->id_token(42);
  auto fresh = verifier.verify(new_token);
  REQUIRE(std::holds_alternative<IdTokenClaims>(fresh));
  CHECK(std::get<IdTokenClaims>(fresh).user_id == 42);
  CHECK(verifier.refreshes() == 2);
  // The refreshed set holds only the new key: the old token's kid is unknown.
  CHECK(error_of(verifier.verify(old_token)) == IdTokenError::kUnknownKey);
  CHECK(verifier.key_count() == 1);
}

TEST_CASE("a verifier whose provider is down reports keys unavailable, then recovers") {
  auto port = tt::free_port();
  IdTokenSettings s;
  s.issuer = "http://127.0.0.1:" + std::to_string(port);
  s.audience = "ticketing";
  s.jwks = s.issuer + "/.well-known/jwks.json";
  s.min_refresh_gap = 0s;
  s.fetch_timeout = 1000ms;
  IdTokenVerifier verifier(s, nullptr, false);
  // A token from a provider that is gone again before the verifier asked.
  std::string token;
  {
    DevIdp idp(port);
    token = idp.id_token(9);
  }
  CHECK(error_of(verifier.verify(token)) == IdTokenError::kKeysUnavailable);
  CHECK(verifier.failed_refreshes() == 1);
  DevIdp idp(port);
  CHECK(error_of(verifier.verify(token)) == IdTokenError::kUnknownKey);  // new key now
  CHECK(!error_of(verifier.verify(idp.id_token(9))));
}
