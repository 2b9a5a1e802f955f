#include "events/consumers.hpp"

#include <string>

#include "store/queue_store.hpp"
#include "store/reservation_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::reservation {

namespace {

// An RFC 3339 time of event data, to the millisecond (as the database keeps it).
SystemTime millis_time(const std::string& text, const char* field) {
  auto t = parse_rfc3339(text);
  if (!t) throw PoisonError(std::string("event data field ") + field + " is not an RFC 3339 time");
  return std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
}

PaymentCompleted payment_of(const events::Event& ev) {
  const auto paid = events::decode<events::PaymentCompleted>(*ev.envelope);
  return PaymentCompleted{ev.envelope->event_id, paid.payment_id,
                          paid.reservation_id,   paid.user_id,
                          paid.amount,           millis_time(paid.paid_at, "paidAt")};
}

// After a payment's transaction committed.
void after_confirm(QueueStore& queue, const PaymentCompleted& p, const std::string& trace_id,
                   ConfirmOutcome outcome) {
  metrics::global()
      .counter("reservation_payments_handled_total", "payment.completed events by outcome",
               {{"outcome", std::string(to_string(outcome))}})
      .inc();
  auto rid = std::to_string(p.reservation_id);
  log::info("payment.completed handled", {{"event_id", p.event_id},
                                          {"trace_id", trace_id},
                                          {"reservation_id", rid},
                                          {"outcome", to_string(outcome)}});
  if (outcome == ConfirmOutcome::kConfirmed) {
    // After the commit: a lost Redis write here only leaves the token to
    // lapse on its own (QUEUE_ACTIVE_TTL_SECONDS).
    try {
      queue.expire_user(p.user_id);
    } catch (const InfraError& e) {
      log::warn("could not expire the queue token", {{"reservation_id", rid}, {"error", e.what()}});
    }
  }
}

void on_payment_completed(ReservationStore& store, QueueStore& queue, const events::Event& ev) {
  const auto p = payment_of(ev);
  after_confirm(queue, p, ev.trace_id, store.confirm(p, ev.trace_id));
}

void on_seats_expired(ReservationStore& store, const events::Event& ev) {
  const auto expired = events::decode<events::SeatsExpired>(*ev.envelope);
  const auto schedule = expired.schedule_id;
  std::vector<ExpiredSeat> seats;
  seats.reserve(expired.seats.size());
  for (const auto& seat : expired.seats) seats.push_back({seat.reservation_id, seat.seat_no});
  auto n = store.expire(ev.envelope->event_id, ScheduleId{schedule}, seats, ev.trace_id);
  metrics::global()
      .counter("reservation_holds_expired_total", "Holds ended by seats.expired")
      .inc(static_cast<std::uint64_t>(n));
  log::info("seats.expired handled", {{"event_id", ev.envelope->event_id},
                                      {"trace_id", ev.trace_id},
                                      {"schedule_id", std::to_string(schedule)},
                                      {"expired", std::to_string(n)}});
}

}  // namespace

events::EventHandler make_event_handler(ReservationStore& store, QueueStore& queue) {
  return [&store, &queue](const events::Event& ev) {
    if (ev.envelope == nullptr) throw PoisonError("no envelope");
    const auto& type = ev.envelope->type;
    if (type == events::topics::kPaymentCompleted) {
      on_payment_completed(store, queue, ev);
    } else if (type == events::topics::kSeatsExpired) {
      on_seats_expired(store, ev);
    } else {
      throw PoisonError("unexpected event type " + type);
    }
  };
}

events::BatchHandler make_batch_handler(ReservationStore& store, QueueStore& queue) {
  return [&store, &queue](const std::vector<events::Event>& evs) {
    std::vector<PaymentCompleted> payments;
    std::vector<std::string> trace_ids;
    payments.reserve(evs.size());
    trace_ids.reserve(evs.size());
    for (const auto& ev : evs) {
      if (ev.envelope == nullptr || ev.envelope->type != events::topics::kPaymentCompleted) {
        return false;
      }
      payments.push_back(payment_of(ev));
      trace_ids.push_back(ev.trace_id);
    }
    auto outcomes = store.confirm_all(payments, trace_ids);
    if (!outcomes) return false;
    for (std::size_t i = 0; i < payments.size(); ++i) {
      after_confirm(queue, payments[i], trace_ids[i], (*outcomes)[i]);
    }
    return true;
  };
}

}  // namespace ticketing::reservation
