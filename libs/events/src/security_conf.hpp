#pragma once
// Private: puts KafkaSecurity into a librdkafka configuration.

#include <librdkafka/rdkafka.h>

#include <optional>

#include "ticketing/events/security.hpp"

namespace ticketing::events::detail {

// security.protocol, and for SASL sasl.mechanism, sasl.username and
// sasl.password. Throws KafkaError (not retryable); an error never contains
// the password.
void apply_security(rd_kafka_conf_t* conf, const KafkaSecurity& security);
// apply_security(conf, resolve_security(chosen)).
void apply_security(rd_kafka_conf_t* conf, const std::optional<KafkaSecurity>& chosen);

}  // namespace ticketing::events::detail
