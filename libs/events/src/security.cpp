#include "ticketing/events/security.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>

#include "rdkafka_handles.hpp"
#include "security_conf.hpp"
#include "ticketing/common/error.hpp"

namespace ticketing::events {

namespace {

constexpr std::array<std::string_view, 4> kProtocols = {"PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL",
                                                        "SSL"};
// GSSAPI and OAUTHBEARER need settings this struct does not carry.
constexpr std::array<std::string_view, 3> kMechanisms = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
constexpr std::string_view kDefaultMechanism = "SCRAM-SHA-512";

// What a problem calls each setting: environment variables when the settings
// came from the environment, fields when a caller built them.
struct Names {
  std::string_view protocol;
  std::string_view mechanism;
  std::string_view username;
  std::string_view password;
};
constexpr Names kEnvNames = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
                             "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"};
constexpr Names kFieldNames = {"security.protocol", "security.mechanism", "security.username",
                               "security.password"};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  });
  return s;
}

template <std::size_t N>
std::string one_of(const std::array<std::string_view, N>& values) {
  std::string out;
  for (auto v : values) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

bool is_sasl(std::string_view protocol) {
  return protocol.starts_with("SASL_");
}

// Every problem at once, so that one run shows all that is wrong.
void check(const KafkaSecurity& s, const Names& names) {
  std::string problems;
  auto fail = [&](std::string text) {
    if (!problems.empty()) problems += "; ";
    problems += text;
  };
  if (!contains(kProtocols, s.protocol)) {
    fail(std::string(names.protocol) + "='" + s.protocol + "' is not one of " + one_of(kProtocols));
  } else if (is_sasl(s.protocol)) {
    if (!contains(kMechanisms, s.mechanism)) {
      fail(std::string(names.mechanism) + "='" + s.mechanism + "' is not one of " +
           one_of(kMechanisms));
    }
    const std::string needed =
        " is required with " + std::string(names.protocol) + "=" + s.protocol;
    if (s.username.empty()) fail(std::string(names.username) + needed);
    if (s.password.empty()) fail(std::string(names.password) + needed);
  } else {
    // Credentials without SASL: most likely a forgotten protocol setting.
    // Connecting anonymously instead would fail later and far less clearly.
    const std::string unused =
        " is set, but " + std::string(names.protocol) + "=" + s.protocol + " does not use SASL";
    if (!s.mechanism.empty()) fail(std::string(names.mechanism) + unused);
    if (!s.username.empty()) fail(std::string(names.username) + unused);
    if (!s.password.empty()) fail(std::string(names.password) + unused);
  }
  if (!problems.empty()) throw KafkaError("client security: " + problems, false);
}

}  // namespace

KafkaSecurity KafkaSecurity::from_env() {
  return from_env([](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

KafkaSecurity KafkaSecurity::from_env(const Lookup& lookup) {
  auto get = [&](std::string_view name) {
    std::optional<std::string> v = lookup(name);
    return v ? *v : std::string();
  };
  KafkaSecurity s;
  const std::string protocol = get(kEnvNames.protocol);
  if (!protocol.empty()) s.protocol = upper(protocol);
  s.mechanism = upper(get(kEnvNames.mechanism));
  if (s.mechanism.empty() && is_sasl(s.protocol)) s.mechanism = kDefaultMechanism;
  s.username = get(kEnvNames.username);
  s.password = get(kEnvNames.password);
  check(s, kEnvNames);
  return s;
}

bool KafkaSecurity::sasl() const {
  return is_sasl(protocol);
}

void KafkaSecurity::validate() const {
  check(*this, kFieldNames);
}

std::string KafkaSecurity::describe() const {
  if (!sasl()) return protocol;
  return protocol + "/" + mechanism + " as " + username;
}

KafkaSecurity resolve_security(const std::optional<KafkaSecurity>& chosen) {
  if (!chosen) return KafkaSecurity::from_env();
  chosen->validate();
  return *chosen;
}

namespace detail {

void apply_security(rd_kafka_conf_t* conf, const KafkaSecurity& security) {
  security.validate();
  set_conf(conf, "security.protocol", security.protocol);
  if (!security.sasl()) return;
  set_conf(conf, "sasl.mechanism", security.mechanism);
  set_conf(conf, "sasl.username", security.username);
  set_conf(conf, "sasl.password", security.password);  // masked in errors
}

void apply_security(rd_kafka_conf_t* conf, const std::optional<KafkaSecurity>& chosen) {
  apply_security(conf, resolve_security(chosen));
}

}  // namespace detail

}  // namespace ticketing::events
