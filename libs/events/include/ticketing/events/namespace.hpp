#pragma once
// Environments that share one Kafka cluster (`make run` and `make test`, or
// staging and a load test). TOPIC_PREFIX, read once from the environment
// (default empty), is put before every topic and consumer group name this
// process hands to Kafka, and taken off every topic name Kafka hands back.
// Everything above the librdkafka calls names topics as topics.hpp does; only
// the code that talks to librdkafka calls these.
//
// A prefix is 1-64 of [A-Za-z0-9._-] and should end in a separator, e.g.
// "test." gives "test.reservation.held" and the group "test.payment-api".

#include <optional>
#include <string>
#include <string_view>

namespace ticketing::events {

// This process's prefix. Throws std::invalid_argument (naming TOPIC_PREFIX)
// when the variable is set to something that is not a valid prefix.
const std::string& topic_prefix();
bool valid_topic_prefix(std::string_view prefix);

// The name Kafka knows a topic or group by, in this environment (or `prefix`'s).
std::string kafka_topic(std::string_view topic);
std::string kafka_topic(std::string_view topic, std::string_view prefix);
std::string kafka_group(std::string_view group);

// The topic a Kafka topic name is in this environment; nullopt when it
// belongs to no environment of this prefix (only with a non-empty prefix).
std::optional<std::string> local_topic(std::string_view kafka_name);
// local_topic, or the name as it is (what a message's topic reads as).
std::string local_topic_or_same(std::string_view kafka_name);

}  // namespace ticketing::events
