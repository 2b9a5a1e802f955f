#pragma once
// The outbox rows of the events reservation-api produces (typed contracts of
// libs/events; validated against their schemas, so an invalid event never
// reaches the table).

#include <string>
#include <string_view>

#include "ticketing/events/contracts.hpp"
#include "ticketing/outbox/event_row.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::reservation {

inline constexpr std::string_view kProducerName = "reservation-api";

// The row of an event reservation-api produces.
template <events::Contract T>
outbox::OutboxRow event_row(const T& event, const std::string& trace_id) {
  return outbox::event_row(event, std::string(kProducerName), trace_id);
}

// The buyer's notification of a hold (notifications.reservation-completed:
// what was held, and when to pay by; the title and start from the held event).
outbox::OutboxRow seat_held_row(const events::ReservationHeld& e, const std::string& trace_id);

// The buyer's notification of a confirmation (notifications.reservation-confirmed).
outbox::OutboxRow reservation_confirmed_row(const events::ReservationConfirmed& e,
                                            const std::string& trace_id);

// The buyer's notification of a hold that ran out unpaid (notifications.hold-expired).
outbox::OutboxRow hold_expired_row(const events::ReservationCancelled& e,
                                   const std::string& concert_title, const std::string& starts_at,
                                   const std::string& trace_id);

}  // namespace ticketing::reservation
