#pragma once
// The outbox row for an event: what make_event_record would produce (schema
// validated, topic named after the type, event-type and traceparent headers),
// ready for append() inside the caller's transaction.

#include <string>
#include <utility>

#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {

// Throws PoisonError when the envelope violates its schema: an invalid event
// never reaches the outbox.
OutboxRow event_row(const events::Envelope& envelope, std::string key);

// The row for a typed event: a new envelope by `producer` (a new trace id
// when empty), keyed by the event's key. Throws PoisonError as above.
template <events::Contract T>
OutboxRow event_row(const T& event, std::string producer, std::string trace_id = {}) {
  return event_row(events::make_envelope(event, std::move(producer), std::move(trace_id)),
                   events::event_key(event.key()));
}

}  // namespace ticketing::outbox
