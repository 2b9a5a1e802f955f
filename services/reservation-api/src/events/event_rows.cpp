#include "events/event_rows.hpp"

namespace ticketing::reservation {

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
  return event_row(note, trace_id);
}

}  // namespace ticketing::reservation
