#pragma once
// How every client this library builds (producer, consumer, admin, DLQ
// reader) authenticates to the brokers.
//
// Each options struct has `std::optional<KafkaSecurity> security`: unset, the
// client takes KafkaSecurity::from_env() when it is created, so services,
// tools and tests pick up their principal from the environment without
// plumbing; set, it acts as that principal whatever the environment says.
// With none of the variables set the result is PLAINTEXT, as before security
// existed.
//
// Two ways to prove who a client is: a SASL login (username and password)
// or, with SSL, a client certificate (mutual TLS; the broker maps its subject
// to the principal). librdkafka < 2.6.1 (Debian 12 ships 2.0.2) cannot log in
// with SCRAM to Kafka >= 4.0: it repeats its own nonce in the client-final
// message and the broker rejects it as invalid credentials. The local stack
// therefore uses mutual TLS; PLAIN sends the password as is, so only ever
// inside TLS (SASL_SSL).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ticketing::events {

struct KafkaSecurity {
  std::string protocol = "PLAINTEXT";  // PLAINTEXT | SASL_PLAINTEXT | SASL_SSL | SSL
  std::string mechanism;               // SASL only: PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
  std::string username;                // SASL only
  std::string password;                // SASL only; never logged nor put in an error
  // SSL and SASL_SSL only, PEM files. CA: the certificates that sign the
  // brokers' (empty: the system's store). Certificate and key: this client's
  // own, for mutual TLS (both or neither).
  std::string ssl_ca_location;
  std::string ssl_certificate_location;
  std::string ssl_key_location;

  // KAFKA_SECURITY_PROTOCOL (default PLAINTEXT), KAFKA_SASL_MECHANISM
  // (default SCRAM-SHA-512 when the protocol is SASL_*), KAFKA_SASL_USERNAME,
  // KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION, KAFKA_SSL_CERTIFICATE_LOCATION,
  // KAFKA_SSL_KEY_LOCATION. An empty variable counts as unset; protocol and
  // mechanism are case-insensitive. Throws KafkaError (not retryable) listing
  // every bad variable by name (see validate()).
  static KafkaSecurity from_env();
  using Lookup = std::function<std::optional<std::string>(std::string_view)>;
  static KafkaSecurity from_env(const Lookup& lookup);

  [[nodiscard]] bool sasl() const;
  [[nodiscard]] bool tls() const;
  // Throws KafkaError (not retryable) when the settings cannot work: an
  // unknown protocol or mechanism, SASL without username or password, a
  // certificate without its key (or the reverse), or a mechanism, credentials
  // or TLS files given to a protocol that does not use them (most likely a
  // forgotten KAFKA_SECURITY_PROTOCOL: refused rather than silently anonymous).
  void validate() const;
  // For logs: "SASL_PLAINTEXT/PLAIN as payment-api", "SSL with certificate
  // /x/payment-api.pem", "PLAINTEXT". Never the password.
  [[nodiscard]] std::string describe() const;
  // The librdkafka properties (security.protocol, sasl.*, ssl.*), for
  // code that builds its own librdkafka configuration. Validates first.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> librdkafka_properties() const;

  bool operator==(const KafkaSecurity&) const = default;
};

// `chosen` when set (validated), else KafkaSecurity::from_env().
KafkaSecurity resolve_security(const std::optional<KafkaSecurity>& chosen);

}  // namespace ticketing::events
