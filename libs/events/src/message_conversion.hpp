#pragma once
// Private: a consumed librdkafka message as a Message (consumer and DLQ reader).

#include <librdkafka/rdkafka.h>

#include "ticketing/events/consumer.hpp"

namespace ticketing::events::detail {

// Copies topic, partition, offset, key, value, headers and timestamp of a
// message without error.
Message to_message(rd_kafka_message_t* m);

}  // namespace ticketing::events::detail
