#include "events/payment_events.hpp"

#include <algorithm>
#include <chrono>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/outbox/event_row.hpp"
#include "ticketing/outbox/relay.hpp"

namespace ticketing::payment {

namespace {

std::string rfc3339_ms(std::int64_t ms) {
  return to_rfc3339(SystemTime(std::chrono::milliseconds(ms)));
}

// The rows of an event and its notification, one trace: the note takes the
// event's trace id (a new one when the caller has none).
template <events::Contract Event, events::Contract Note>
std::vector<outbox::OutboxRow> rows_of(const Event& event, const Note& note,
                                       const std::string& trace_id) {
  auto e1 = events::make_envelope(event, std::string(kServiceName), trace_id);
  auto e2 = events::make_envelope(note, std::string(kServiceName), e1.trace_id);
  return {outbox::event_row(e1, events::event_key(event.key())),  // validates
          outbox::event_row(e2, events::event_key(note.key()))};
}

std::int64_t millis_of(const std::string& rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  if (!t) throw PoisonError("bad timestamp '" + rfc3339 + "'");
  return unix_millis(*t);
}

Store::HeldSeat held_seat(const events::Envelope& env) {
  const auto held = events::decode<events::ReservationHeld>(env);
  Store::HeldSeat h;
  h.hold.reservation = ReservationId{held.reservation_id};
  h.hold.user = UserId{held.user_id};
  h.hold.price = held.price;
  h.hold.expires_at_ms = millis_of(held.expires_at);
  h.schedule_id = held.schedule_id;
  h.seat_no = held.seat_no;
  h.concert_title = held.concert_title;
  h.starts_at = held.starts_at;
  return h;
}

}  // namespace

std::vector<outbox::OutboxRow> payment_completed_rows(const PaymentRecord& p,
                                                      std::int64_t balance_after,
                                                      const PaidSeat& seat,
                                                      const std::string& trace_id) {
  const std::string paid_at = rfc3339_ms(p.paid_at_ms);
  events::PaymentCompleted paid{p.id.value, p.reservation.value, p.user.value, p.amount, paid_at};
  events::PaymentCompletedNote note{p.user.value,       p.id.value,     p.reservation.value,
                                    p.amount,           balance_after,  paid_at,
                                    seat.concert_title, seat.starts_at, seat.seat_no};
  return rows_of(paid, note, trace_id);
}

std::vector<outbox::OutboxRow> payment_refunded_rows(const PaymentRecord& p,
                                                     std::int64_t balance_after,
                                                     std::string_view reason,
                                                     const std::string& trace_id) {
  const std::string at = rfc3339_ms(p.refunded_at_ms.value_or(now_unix_millis()));
  events::PaymentRefunded refunded{p.id.value, p.reservation.value, p.user.value,
                                   p.amount,   std::string(reason), at};
  events::PaymentRefundedNote note{
      p.user.value,        p.id.value, p.reservation.value, p.amount, balance_after,
      std::string(reason), at};
  return rows_of(refunded, note, trace_id);
}

bool ReservationEventHandler::batch(const std::vector<events::Event>& events) {
  std::vector<Store::HeldSeat> held;
  held.reserve(events.size());
  for (const auto& event : events) {
    const auto& env = *event.envelope;
    if (env.type != events::topics::kReservationHeld || !trusts(env.producer)) return false;
    held.push_back(held_seat(env));
  }
  store_.apply_held_all(held);
  for (const auto& event : events) {
    log::debug("hold recorded", {{"event_id", event.envelope->event_id},
                                 {"trace_id", event.trace_id},
                                 {"batch", std::to_string(events.size())}});
  }
  return true;
}

void ReservationEventHandler::operator()(const events::Event& event) {
  const auto& env = *event.envelope;
  if (!trusts(env.producer)) {
    metrics::global()
        .counter("payment_api_untrusted_events_total",
                 "reservation events skipped: producer not trusted")
        .inc();
    log::debug("event from an untrusted producer skipped",
               {{"event_id", env.event_id}, {"producer", env.producer}, {"type", env.type}});
    return;
  }
  if (env.type == events::topics::kReservationHeld) {
    const auto h = held_seat(env);
    store_.apply_held_all({h});
    log::debug("hold recorded", {{"event_id", env.event_id},
                                 {"trace_id", event.trace_id},
                                 {"reservation_id", std::to_string(h.hold.reservation.value)}});
  } else if (env.type == events::topics::kReservationCancelled) {
    const auto cancelled = events::decode<events::ReservationCancelled>(env);
    store_.apply_cancelled(ReservationId{cancelled.reservation_id}, UserId{cancelled.user_id},
                           cancelled.schedule_id, cancelled.seat_no);
  } else if (env.type == events::topics::kReservationConfirmationFailed) {
    const auto failed = events::decode<events::ReservationConfirmationFailed>(env);
    ReservationId r{failed.reservation_id};
    PaymentId p{failed.payment_id};
    const std::string& reason = failed.reason;
    auto trace = event.trace_id;
    auto result = store_.refund(env.event_id, r, p, reason, now_unix_millis(),
                                [&](const PaymentRecord& rec, std::int64_t balance) {
                                  return payment_refunded_rows(rec, balance, reason, trace);
                                });
    std::string rid = std::to_string(r.value);
    metrics::global()
        .counter("payment_api_refunds_total", "confirmation-failed events by result",
                 {{"result", std::string(to_string(result))}})
        .inc();
    switch (result) {
      case RefundResult::kRefunded:
        relay_.notify();
        log::info("payment refunded",
                  {{"event_id", env.event_id}, {"trace_id", trace}, {"reservation_id", rid}});
        break;
      case RefundResult::kAlreadyRefunded:
      case RefundResult::kDuplicateEvent:
        log::info("refund already applied", {{"event_id", env.event_id}, {"reservation_id", rid}});
        break;
      case RefundResult::kPaymentMissing:
        // The payment commits before the payment.completed that caused this
        // event: a missing one is not late, it never existed here.
        throw PoisonError("no payment for reservation " + rid);
      case RefundResult::kPaymentMismatch:
        throw PoisonError("paymentId " + std::to_string(p.value) +
                          " is not the payment of reservation " + rid);
    }
  } else {
    throw PoisonError("unexpected event type " + env.type);
  }
}

}  // namespace ticketing::payment
