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
  std::string_view ca;
  std::string_view certificate;
  std::string_view key;
};
constexpr Names kEnvNames = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
                             "KAFKA_SASL_USERNAME",     "KAFKA_SASL_PASSWORD",
                             "KAFKA_SSL_CA_LOCATION",   "KAFKA_SSL_CERTIFICATE_LOCATION",
                             "KAFKA_SSL_KEY_LOCATION"};
constexpr Names kFieldNames = {"security.protocol",        "security.mechanism",
                               "security.username",        "security.password",
                               "security.ssl_ca_location", "security.ssl_certificate_location",
                               "security.ssl_key_location"};

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

bool is_tls(std::string_view protocol) {
  return protocol == "SSL" || protocol == "SASL_SSL";
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
  if (contains(kProtocols, s.protocol)) {
    if (is_tls(s.protocol)) {
      if (s.ssl_certificate_location.empty() != s.ssl_key_location.empty()) {
        fail(std::string(names.certificate) + " and " + std::string(names.key) +
             " go together (a client certificate and its key)");
      }
    } else {
      const std::string unused =
          " is set, but " + std::string(names.protocol) + "=" + s.protocol + " does not use TLS";
      if (!s.ssl_ca_location.empty()) fail(std::string(names.ca) + unused);
      if (!s.ssl_certificate_location.empty()) fail(std::string(names.certificate) + unused);
      if (!s.ssl_key_location.empty()) fail(std::string(names.key) + unused);
    }
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
  s.ssl_ca_location = get(kEnvNames.ca);
  s.ssl_certificate_location = get(kEnvNames.certificate);
  s.ssl_key_location = get(kEnvNames.key);
  check(s, kEnvNames);
  return s;
}

bool KafkaSecurity::sasl() const {
  return is_sasl(protocol);
}

bool KafkaSecurity::tls() const {
  return is_tls(protocol);
}

void KafkaSecurity::validate() const {
  check(*this, kFieldNames);
}

std::string KafkaSecurity::describe() const {
  if (sasl()) return protocol + "/" + mechanism + " as " + username;
  if (tls() && !ssl_certificate_location.empty()) {
    return protocol + " with certificate " + ssl_certificate_location;
  }
  return protocol;
}

KafkaSecurity resolve_security(const std::optional<KafkaSecurity>& chosen) {
  if (!chosen) return KafkaSecurity::from_env();
  chosen->validate();
  return *chosen;
}

std::vector<std::pair<std::string, std::string>> KafkaSecurity::librdkafka_properties() const {
  validate();
  std::vector<std::pair<std::string, std::string>> out{{"security.protocol", protocol}};
  if (sasl()) {
    out.emplace_back("sasl.mechanism", mechanism);
    out.emplace_back("sasl.username", username);
    out.emplace_back("sasl.password", password);
  }
  if (tls()) {
    if (!ssl_ca_location.empty()) out.emplace_back("ssl.ca.location", ssl_ca_location);
    if (!ssl_certificate_location.empty()) {
      out.emplace_back("ssl.certificate.location", ssl_certificate_location);
      out.emplace_back("ssl.key.location", ssl_key_location);
    }
  }
  return out;
}

namespace detail {

void apply_security(rd_kafka_conf_t* conf, const KafkaSecurity& security) {
  for (const auto& [name, value] : security.librdkafka_properties())
    set_conf(conf, name.c_str(), value);  // a password is masked in errors
}

void apply_security(rd_kafka_conf_t* conf, const std::optional<KafkaSecurity>& chosen) {
  apply_security(conf, resolve_security(chosen));
}

}  // namespace detail

}  // namespace ticketing::events
