#pragma once

#include "ticketing/events/dlq.hpp"

namespace ticketing::reservation {

class ReservationStore;
class QueueStore;

// Handler for payment.completed and seats.expired (consumer group
// reservation-api). Effects are exactly-once per event id (processed_events in
// the same transaction). A data field that cannot be read is a PoisonError.
events::EventHandler make_event_handler(ReservationStore& store, QueueStore& queue);

// Lanes of payment.completed records, confirmed in one transaction each
// (ReservationStore::confirm_all); declines anything else, and a batch the
// store cannot take whole.
events::BatchHandler make_batch_handler(ReservationStore& store, QueueStore& queue);

}  // namespace ticketing::reservation
