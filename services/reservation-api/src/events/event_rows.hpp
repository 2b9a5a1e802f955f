#pragma once
// The outbox rows of the events reservation-api produces (typed contracts of
// libs/events; validated against their schemas, so an invalid event never
// reaches the table).

#include <string>
#include <string_view>

#include "ticketing/events/contracts.hpp"
#include "ticketing/outbox/outbox.hpp"

namespace ticketing::reservation {

inline constexpr std::string_view kProducerName = "reservation-api";

outbox::OutboxRow held_row(const events::ReservationHeld& e, const std::string& trace_id);
outbox::OutboxRow cancelled_row(const events::ReservationCancelled& e, const std::string& trace_id);
outbox::OutboxRow confirmed_row(const events::ReservationConfirmed& e, const std::string& trace_id);
// The buyer's notification of a confirmation (notifications.reservation-completed).
outbox::OutboxRow reservation_completed_row(const events::ReservationConfirmed& e,
                                            const std::string& trace_id);
outbox::OutboxRow confirmation_failed_row(const events::ReservationConfirmationFailed& e,
                                          const std::string& trace_id);

}  // namespace ticketing::reservation
