#include "events/confirmed.hpp"

#include "domain/delivery.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::relay {

Confirmed parse_confirmed(std::string_view value, const std::string* traceparent,
                          const events::SchemaRegistry& schemas) {
  events::Envelope env = events::parse_envelope(value);
  if (env.type != events::topics::kReservationConfirmed)
    throw PoisonError("unexpected event type " + env.type);
  schemas.validate(env.type, value);
  Confirmed c;
  c.reservation_id = events::decode<events::ReservationConfirmed>(env).reservation_id;
  c.event_id = env.event_id;
  c.body = platform_body(env.data_json, env.event_id, env.occurred_at);
  if (traceparent != nullptr) c.trace_id = events::trace_id_from_traceparent(*traceparent);
  if (c.trace_id.empty()) c.trace_id = env.trace_id;
  return c;
}

}  // namespace ticketing::relay
