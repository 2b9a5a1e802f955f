#include "events/payment_events.hpp"

#include <algorithm>
#include <chrono>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/consumer.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/topics.hpp"
#include "ticketing/http/json.hpp"
#include "ticketing/outbox/event_row.hpp"
#include "ticketing/outbox/relay.hpp"

namespace ticketing::payment {

namespace {

std::string rfc3339_ms(std::int64_t ms) {
  return to_rfc3339(SystemTime(std::chrono::milliseconds(ms)));
}

outbox::OutboxRow to_row(const events::Envelope& env, std::int64_t key) {
  return outbox::event_row(env, events::event_key(key));  // validates
}

struct Fields {
  http::JsonBody body;
  std::int64_t id(std::string_view f) { return body.int64(f, 1, INT64_MAX).value_or(0); }
  std::int64_t points(std::string_view f) { return body.int64(f, 0, INT64_MAX).value_or(0); }
  std::string text(std::string_view f) { return body.string(f, 64).value_or(""); }
  void check() {
    if (!body.problems().empty()) throw PoisonError("event data: " + body.problems().front());
  }
};

Fields parse_data(const events::Envelope& env) {
  auto parsed = http::JsonBody::parse(env.data_json);
  if (std::holds_alternative<http::Response>(parsed))
    throw PoisonError("event data is not a JSON object");
  return Fields{std::move(std::get<http::JsonBody>(parsed))};
}

std::int64_t millis_of(const std::string& rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  if (!t) throw PoisonError("bad timestamp '" + rfc3339 + "'");
  return unix_millis(*t);
}

}  // namespace

std::vector<outbox::OutboxRow> payment_completed_rows(const PaymentRecord& p,
                                                      std::int64_t balance_after,
                                                      const std::string& trace_id) {
  ticketing::JsonWriter d1;
  d1.start_object()
      .key("paymentId")
      .integer(p.id.value)
      .key("reservationId")
      .integer(p.reservation.value)
      .key("userId")
      .integer(p.user.value)
      .key("amount")
      .integer(p.amount)
      .key("paidAt")
      .string(rfc3339_ms(p.paid_at_ms))
      .end_object();
  ticketing::JsonWriter d2;
  d2.start_object()
      .key("userId")
      .integer(p.user.value)
      .key("paymentId")
      .integer(p.id.value)
      .key("reservationId")
      .integer(p.reservation.value)
      .key("amount")
      .integer(p.amount)
      .key("balance")
      .integer(balance_after)
      .key("paidAt")
      .string(rfc3339_ms(p.paid_at_ms))
      .end_object();
  auto e1 = events::Envelope::make(std::string(events::topics::kPaymentCompleted),
                                   std::string(kServiceName), d1.str(), trace_id);
  auto e2 = events::Envelope::make(std::string(events::topics::kNotifyPaymentCompleted),
                                   std::string(kServiceName), d2.str(), e1.trace_id);
  return {to_row(e1, p.reservation.value), to_row(e2, p.user.value)};
}

std::vector<outbox::OutboxRow> payment_refunded_rows(const PaymentRecord& p,
                                                     std::int64_t balance_after,
                                                     std::string_view reason,
                                                     const std::string& trace_id) {
  auto at = rfc3339_ms(p.refunded_at_ms.value_or(now_unix_millis()));
  ticketing::JsonWriter d1;
  d1.start_object()
      .key("paymentId")
      .integer(p.id.value)
      .key("reservationId")
      .integer(p.reservation.value)
      .key("userId")
      .integer(p.user.value)
      .key("amount")
      .integer(p.amount)
      .key("reason")
      .string(reason)
      .key("refundedAt")
      .string(at)
      .end_object();
  ticketing::JsonWriter d2;
  d2.start_object()
      .key("userId")
      .integer(p.user.value)
      .key("paymentId")
      .integer(p.id.value)
      .key("reservationId")
      .integer(p.reservation.value)
      .key("amount")
      .integer(p.amount)
      .key("balance")
      .integer(balance_after)
      .key("reason")
      .string(reason)
      .key("refundedAt")
      .string(at)
      .end_object();
  auto e1 = events::Envelope::make(std::string(events::topics::kPaymentRefunded),
                                   std::string(kServiceName), d1.str(), trace_id);
  auto e2 = events::Envelope::make(std::string(events::topics::kNotifyPaymentRefunded),
                                   std::string(kServiceName), d2.str(), e1.trace_id);
  return {to_row(e1, p.reservation.value), to_row(e2, p.user.value)};
}

void ReservationEventHandler::operator()(const events::Event& event) {
  const auto& env = *event.envelope;
  if (!trusted_.empty() &&
      std::find(trusted_.begin(), trusted_.end(), env.producer) == trusted_.end()) {
    metrics::global()
        .counter("payment_api_untrusted_events_total",
                 "reservation events skipped: producer not trusted")
        .inc();
    log::debug("event from an untrusted producer skipped",
               {{"event_id", env.event_id}, {"producer", env.producer}, {"type", env.type}});
    return;
  }
  auto data = parse_data(env);
  if (env.type == events::topics::kReservationHeld) {
    Hold hold;
    hold.reservation = ReservationId{data.id("reservationId")};
    hold.user = UserId{data.id("userId")};
    hold.price = data.points("price");
    auto schedule = data.id("scheduleId");
    auto seat = static_cast<int>(data.id("seatNo"));
    auto expires = data.text("expiresAt");
    data.check();
    hold.expires_at_ms = millis_of(expires);
    store_.apply_held(hold, schedule, seat);
    log::debug("hold recorded", {{"event_id", env.event_id},
                                 {"trace_id", event.trace_id},
                                 {"reservation_id", std::to_string(hold.reservation.value)}});
  } else if (env.type == events::topics::kReservationCancelled) {
    ReservationId r{data.id("reservationId")};
    UserId u{data.id("userId")};
    auto schedule = data.id("scheduleId");
    auto seat = static_cast<int>(data.id("seatNo"));
    data.check();
    store_.apply_cancelled(r, u, schedule, seat);
  } else if (env.type == events::topics::kReservationConfirmationFailed) {
    ReservationId r{data.id("reservationId")};
    PaymentId p{data.id("paymentId")};
    auto reason = data.text("reason");
    data.check();
    auto trace = event.trace_id;
    auto result = store_.refund(env.event_id, r, p, reason, now_unix_millis(),
                                [&](const PaymentRecord& rec, std::int64_t balance) {
                                  return payment_refunded_rows(rec, balance, reason, trace);
                                });
    std::string rid = std::to_string(r.value);
    static constexpr std::string_view kResults[] = {
        "refunded", "already_refunded", "duplicate_event", "payment_missing", "payment_mismatch"};
    metrics::global()
        .counter("payment_api_refunds_total", "confirmation-failed events by result",
                 {{"result", std::string(kResults[static_cast<int>(result)])}})
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
