#include "events/event_rows.hpp"

#include "ticketing/common/json_writer.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/outbox/event_row.hpp"

namespace ticketing::reservation {

namespace {
outbox::OutboxRow to_row(std::string_view type, ticketing::JsonWriter& data, std::int64_t key,
                         const std::string& trace_id) {
  auto env =
      events::Envelope::make(std::string(type), std::string(kProducerName), data.str(), trace_id);
  return outbox::event_row(env, events::event_key(key));
}
}  // namespace

outbox::OutboxRow held_row(const HeldData& d, const std::string& trace_id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(d.reservation_id)
      .key("userId")
      .integer(d.user_id)
      .key("concertId")
      .integer(d.concert_id)
      .key("scheduleId")
      .integer(d.schedule_id)
      .key("seatNo")
      .integer(d.seat_no)
      .key("price")
      .integer(d.price)
      .key("heldAt")
      .string(d.held_at)
      .key("expiresAt")
      .string(d.expires_at)
      .end_object();
  return to_row(events::topics::kReservationHeld, w, d.reservation_id, trace_id);
}

outbox::OutboxRow cancelled_row(const CancelledData& d, const std::string& trace_id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(d.reservation_id)
      .key("userId")
      .integer(d.user_id)
      .key("scheduleId")
      .integer(d.schedule_id)
      .key("seatNo")
      .integer(d.seat_no)
      .key("reason")
      .string(d.reason)
      .key("cancelledAt")
      .string(d.cancelled_at)
      .end_object();
  return to_row(events::topics::kReservationCancelled, w, d.reservation_id, trace_id);
}

outbox::OutboxRow confirmed_row(const ConfirmedData& d, const std::string& trace_id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(d.reservation_id)
      .key("paymentId")
      .integer(d.payment_id)
      .key("userId")
      .integer(d.user_id)
      .key("concertId")
      .integer(d.concert_id)
      .key("concertTitle")
      .string(d.concert_title)
      .key("scheduleId")
      .integer(d.schedule_id)
      .key("startsAt")
      .string(d.starts_at)
      .key("seatNo")
      .integer(d.seat_no)
      .key("price")
      .integer(d.price)
      .key("heldAt")
      .string(d.held_at)
      .key("confirmedAt")
      .string(d.confirmed_at)
      .end_object();
  return to_row(events::topics::kReservationConfirmed, w, d.reservation_id, trace_id);
}

outbox::OutboxRow reservation_completed_row(const ConfirmedData& d, const std::string& trace_id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("userId")
      .integer(d.user_id)
      .key("reservationId")
      .integer(d.reservation_id)
      .key("concertTitle")
      .string(d.concert_title)
      .key("startsAt")
      .string(d.starts_at)
      .key("seatNo")
      .integer(d.seat_no)
      .key("price")
      .integer(d.price)
      .key("confirmedAt")
      .string(d.confirmed_at)
      .end_object();
  return to_row(events::topics::kNotifyReservationCompleted, w, d.user_id, trace_id);
}

outbox::OutboxRow confirmation_failed_row(const ConfirmationFailedData& d,
                                          const std::string& trace_id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(d.reservation_id)
      .key("paymentId")
      .integer(d.payment_id)
      .key("userId")
      .integer(d.user_id)
      .key("amount")
      .integer(d.amount)
      .key("reason")
      .string(d.reason)
      .key("failedAt")
      .string(d.failed_at)
      .end_object();
  return to_row(events::topics::kReservationConfirmationFailed, w, d.reservation_id, trace_id);
}

}  // namespace ticketing::reservation
