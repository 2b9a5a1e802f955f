#pragma once
// A reservation.confirmed record turned into what the platform receives.

#include <cstdint>
#include <string>
#include <string_view>

#include "ticketing/events/schema.hpp"

namespace ticketing::relay {

struct Confirmed {
  std::int64_t reservation_id = 0;
  std::string event_id;
  std::string trace_id;  // from `traceparent` when valid, else the envelope's
  std::string body;      // platform_body() of the envelope
};

// Throws PoisonError when the value is not a schema-valid reservation.confirmed
// envelope. `traceparent` may be null (no header).
Confirmed parse_confirmed(
    std::string_view value, const std::string* traceparent,
    const events::SchemaRegistry& schemas = events::SchemaRegistry::builtin());

}  // namespace ticketing::relay
