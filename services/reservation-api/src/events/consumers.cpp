#include "events/consumers.hpp"

#include <rapidjson/document.h>

#include <string>

#include "store/queue_store.hpp"
#include "store/reservation_store.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/log.hpp"
#include "ticketing/common/metrics.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::reservation {

namespace {

rapidjson::Document parse_data(const events::Envelope& env) {
  rapidjson::Document doc;
  doc.Parse(env.data_json.data(), env.data_json.size());
  if (doc.HasParseError() || !doc.IsObject()) throw PoisonError("event data is not a JSON object");
  return doc;
}

std::int64_t get_i64(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) {
    throw PoisonError(std::string("event data field ") + name + " is missing or not an integer");
  }
  return it->value.GetInt64();
}

SystemTime get_time(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  std::optional<SystemTime> t;
  if (it != obj.MemberEnd() && it->value.IsString()) t = parse_rfc3339(it->value.GetString());
  if (!t) throw PoisonError(std::string("event data field ") + name + " is not an RFC 3339 time");
  return std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
}

void on_payment_completed(ReservationStore& store, QueueStore& queue, const events::Event& ev) {
  auto doc = parse_data(*ev.envelope);
  PaymentCompleted p{ev.envelope->event_id,         get_i64(doc, "paymentId"),
                     get_i64(doc, "reservationId"), get_i64(doc, "userId"),
                     get_i64(doc, "amount"),        get_time(doc, "paidAt")};
  auto outcome = store.confirm(p, ev.trace_id);
  metrics::global()
      .counter("reservation_payments_handled_total", "payment.completed events by outcome",
               {{"outcome", std::string(to_string(outcome))}})
      .inc();
  auto rid = std::to_string(p.reservation_id);
  log::info("payment.completed handled", {{"event_id", p.event_id},
                                          {"trace_id", ev.trace_id},
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

void on_seats_expired(ReservationStore& store, const events::Event& ev) {
  auto doc = parse_data(*ev.envelope);
  auto schedule = get_i64(doc, "scheduleId");
  auto it = doc.FindMember("seats");
  if (it == doc.MemberEnd() || !it->value.IsArray()) throw PoisonError("seats is not an array");
  std::vector<ExpiredSeat> seats;
  for (const auto& s : it->value.GetArray()) {
    if (!s.IsObject()) throw PoisonError("seats[] is not an object");
    seats.push_back({get_i64(s, "reservationId"), static_cast<int>(get_i64(s, "seatNo"))});
  }
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

}  // namespace ticketing::reservation
