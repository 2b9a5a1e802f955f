#include "ticketing/testing/stack_env.hpp"

#include <chrono>
#include <cstdlib>
#include <random>

namespace ticketing::testing {

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::string(fallback);
}

}  // namespace

std::string kafka_bootstrap() {
  return env_or("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094");
}
std::string mysql_url() {
  return env_or("MYSQL_URL", "mysql://root@127.0.0.1:13306/");
}
std::string redis_url() {
  return env_or("REDIS_URL", "redis://127.0.0.1:16379/0");
}
std::string idp_url() {
  return env_or("IDP_URL", "http://127.0.0.1:18510");
}
std::map<std::string, std::string> id_token_env() {
  return {
      {"ID_TOKEN_ISSUER", env_or("ID_TOKEN_ISSUER", idp_url().c_str())},
      {"ID_TOKEN_AUDIENCE", env_or("ID_TOKEN_AUDIENCE", "ticketing")},
      {"ID_TOKEN_JWKS", env_or("ID_TOKEN_JWKS", (idp_url() + "/.well-known/jwks.json").c_str())}};
}
std::string stack_script() {
  return env_or("TICKETING_STACK_SCRIPT", TICKETING_SOURCE_DIR "/scripts/stack.sh");
}

std::string unique_name(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return prefix + "_" + std::to_string(now % 100000000) + "_" + std::to_string(rng() % 100000);
}

}  // namespace ticketing::testing
