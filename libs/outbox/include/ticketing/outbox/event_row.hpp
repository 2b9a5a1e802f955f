#pragma once
// The outbox row for an event: what make_event_record would produce (schema
// validated, topic named after the type, event-type and traceparent headers),
// ready for append() inside the caller's transaction.

#include <string>

#include "ticketing/events/envelope.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::outbox {

// Throws PoisonError when the envelope violates its schema: an invalid event
// never reaches the outbox.
OutboxRow event_row(const events::Envelope& envelope, std::string key);

}  // namespace ticketing::outbox
