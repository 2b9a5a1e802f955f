#pragma once

#include "ticketing/events/dlq.hpp"

namespace ticketing::reservation {

class ReservationStore;
class QueueStore;

// Handler for payment.completed and seats.expired (consumer group
// reservation-api). Effects are exactly-once per event id (processed_events in
// the same transaction). A data field that cannot be read is a PoisonError.
events::EventHandler make_event_handler(ReservationStore& store, QueueStore& queue);

}  // namespace ticketing::reservation
