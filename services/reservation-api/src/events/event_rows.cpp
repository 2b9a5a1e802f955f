#include "events/event_rows.hpp"

namespace ticketing::reservation {

outbox::OutboxRow seat_held_row(const events::ReservationHeld& e, const std::string& trace_id) {
  events::ReservationCompletedNote note;
  note.user_id = e.user_id;
  note.reservation_id = e.reservation_id;
  note.concert_title = e.concert_title.value_or("");
  note.starts_at = e.starts_at.value_or("");
  note.seat_no = e.seat_no;
  note.price = e.price;
  note.held_at = e.held_at;
  note.expires_at = e.expires_at;
  return event_row(note, trace_id);
}

outbox::OutboxRow reservation_confirmed_row(const events::ReservationConfirmed& e,
                                            const std::string& trace_id) {
  return event_row(
      events::ReservationConfirmedNote{e.user_id, e.reservation_id, e.concert_title, e.starts_at,
                                       e.seat_no, e.price, e.confirmed_at},
      trace_id);
}

outbox::OutboxRow hold_expired_row(const events::ReservationCancelled& e,
                                   const std::string& concert_title, const std::string& starts_at,
                                   const std::string& trace_id) {
  return event_row(events::HoldExpiredNote{e.user_id, e.reservation_id, concert_title, starts_at,
                                           e.seat_no, e.cancelled_at},
                   trace_id);
}

}  // namespace ticketing::reservation
