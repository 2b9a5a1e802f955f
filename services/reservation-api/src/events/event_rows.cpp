#include "events/event_rows.hpp"

#include "ticketing/outbox/event_row.hpp"

namespace ticketing::reservation {

namespace {
template <events::Contract T>
outbox::OutboxRow row(const T& e, const std::string& trace_id) {
  return outbox::event_row(e, std::string(kProducerName), trace_id);
}
}  // namespace

outbox::OutboxRow held_row(const events::ReservationHeld& e, const std::string& trace_id) {
  return row(e, trace_id);
}

outbox::OutboxRow cancelled_row(const events::ReservationCancelled& e,
                                const std::string& trace_id) {
  return row(e, trace_id);
}

outbox::OutboxRow confirmed_row(const events::ReservationConfirmed& e,
                                const std::string& trace_id) {
  return row(e, trace_id);
}

outbox::OutboxRow reservation_completed_row(const events::ReservationConfirmed& e,
                                            const std::string& trace_id) {
  events::ReservationCompletedNote note;
  note.user_id = e.user_id;
  note.reservation_id = e.reservation_id;
  note.concert_title = e.concert_title;
  note.starts_at = e.starts_at;
  note.seat_no = e.seat_no;
  note.price = e.price;
  note.confirmed_at = e.confirmed_at;
  return row(note, trace_id);
}

outbox::OutboxRow confirmation_failed_row(const events::ReservationConfirmationFailed& e,
                                          const std::string& trace_id) {
  return row(e, trace_id);
}

}  // namespace ticketing::reservation
