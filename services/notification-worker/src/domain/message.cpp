#include "domain/message.hpp"

#include <algorithm>
#include <cstdio>

#include "ticketing/common/error.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::notification {

namespace {

// Small bilingual text helper: pick(lang, english, korean).
const char* pick(Language l, const char* en, const char* ko) {
  return l == Language::kKo ? ko : en;
}

std::string points(Language l, std::int64_t n) {
  return group_thousands(n) + (l == Language::kKo ? "포인트" : " points");
}

std::string reservation_no(std::int64_t id) {
  return "#" + std::to_string(id);
}

Message base(const events::Envelope& env, std::int64_t user_id) {
  Message m;
  m.event_id = env.event_id;
  m.event_type = env.type;
  m.user_id = user_id;
  return m;
}

// "Payment completed": what was paid for (the seat, and the show once
// payment-api knows it; records before 2026-12-05 have neither), the amount,
// when, and the balance left.
Message payment_completed(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::PaymentCompletedNote>(env);
  Message m = base(env, d.user_id);
  const std::string amount = points(l, d.amount);
  std::string what = l == Language::kKo ? "예약 " + reservation_no(d.reservation_id)
                                        : "reservation " + reservation_no(d.reservation_id);
  if (d.seat_no) {
    const std::string seat = std::to_string(*d.seat_no);
    if (l == Language::kKo) {
      what = (d.concert_title ? *d.concert_title + " " : std::string()) + seat + "번 좌석";
    } else {
      what = "seat " + seat + (d.concert_title ? " for " + *d.concert_title : std::string());
    }
  }
  m.title = pick(l, "Payment completed", "결제 완료");
  m.text = l == Language::kKo ? what + " 결제 " + amount + "가 완료되었습니다."
                              : "We received your payment of " + amount + " for " + what + ".";
  if (d.concert_title) m.fields.push_back({pick(l, "Concert", "공연"), *d.concert_title, false});
  if (d.starts_at) m.fields.push_back({pick(l, "Starts at", "공연 일시"), *d.starts_at});
  if (d.seat_no) m.fields.push_back({pick(l, "Seat", "좌석"), std::to_string(*d.seat_no)});
  m.fields.insert(m.fields.end(),
                  {{pick(l, "Amount", "결제 금액"), amount},
                   {pick(l, "Paid at", "결제 일시"), d.paid_at},
                   {pick(l, "Balance", "잔액"), points(l, d.balance)},
                   {pick(l, "Reservation", "예약 번호"), reservation_no(d.reservation_id)},
                   {pick(l, "Payment", "결제 번호"), reservation_no(d.payment_id)}});
  m.colour = 0x2ECC71;
  m.time = d.paid_at;
  return m;
}

// What every message about one seat shows of it.
std::vector<Field> seat_fields(Language l, const std::string& concert, const std::string& starts_at,
                               const std::string& seat, std::int64_t reservation_id) {
  return {{pick(l, "Concert", "공연"), concert, false},
          {pick(l, "Starts at", "공연 일시"), starts_at},
          {pick(l, "Seat", "좌석"), seat},
          {pick(l, "Reservation", "예약 번호"), reservation_no(reservation_id)}};
}

Message confirmed(const events::Envelope& env, Language l, std::int64_t user_id,
                  std::int64_t reservation_id, const std::string& concert,
                  const std::string& starts_at, std::int32_t seat_no, std::int64_t price,
                  const std::string& confirmed_at) {
  Message m = base(env, user_id);
  const std::string seat = std::to_string(seat_no);
  m.title = pick(l, "Reservation confirmed", "예매 확정");
  m.text = l == Language::kKo ? concert + " " + seat + "번 좌석 예매가 확정되었습니다."
                              : "Your seat " + seat + " for " + concert + " is confirmed.";
  m.fields = seat_fields(l, concert, starts_at, seat, reservation_id);
  m.fields.insert(m.fields.begin() + 3, {pick(l, "Price", "가격"), points(l, price)});
  m.colour = 0x3498DB;
  m.time = confirmed_at;
  return m;
}

// "Seat held", with the time to pay by. A record written before 2026-12-04
// (no expiresAt) was sent at confirmation and still reads as one.
Message reservation_completed(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::ReservationCompletedNote>(env);
  if (!d.expires_at) {
    return confirmed(env, l, d.user_id, d.reservation_id, d.concert_title, d.starts_at, d.seat_no,
                     d.price, d.confirmed_at.value_or(env.occurred_at));
  }
  Message m = base(env, d.user_id);
  const std::string& concert = d.concert_title;
  const std::string seat = std::to_string(d.seat_no);
  const std::string& pay_by = *d.expires_at;
  m.title = pick(l, "Seat held", "좌석 선점");
  m.text = l == Language::kKo ? concert + " " + seat + "번 좌석을 잡아 두었습니다. " + pay_by +
                                    "까지 결제하지 않으면 좌석이 해제됩니다."
                              : "Seat " + seat + " for " + concert + " is held for you. Pay by " +
                                    pay_by + ", or the seat is released.";
  m.fields = seat_fields(l, concert, d.starts_at, seat, d.reservation_id);
  m.fields.insert(m.fields.begin() + 3, {pick(l, "Price", "가격"), points(l, d.price)});
  m.fields.push_back({pick(l, "Pay by", "결제 기한"), pay_by});
  m.colour = 0xF1C40F;
  m.time = d.held_at.value_or(env.occurred_at);
  return m;
}

Message reservation_confirmed(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::ReservationConfirmedNote>(env);
  return confirmed(env, l, d.user_id, d.reservation_id, d.concert_title, d.starts_at, d.seat_no,
                   d.price, d.confirmed_at);
}

Message hold_expired(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::HoldExpiredNote>(env);
  Message m = base(env, d.user_id);
  const std::string& concert = d.concert_title;
  const std::string seat = std::to_string(d.seat_no);
  m.title = pick(l, "Hold expired", "선점 만료");
  m.text = l == Language::kKo
               ? concert + " " + seat + "번 좌석은 결제 기한이 지나 해제되었습니다."
               : "Seat " + seat + " for " + concert + " was released: it was not paid in time.";
  m.fields = seat_fields(l, concert, d.starts_at, seat, d.reservation_id);
  m.colour = 0x95A5A6;
  m.time = d.expired_at;
  return m;
}

std::string refund_reason(Language l, const std::string& reason) {
  if (reason == "HOLD_EXPIRED") return pick(l, "the seat hold expired", "좌석 선점 시간 만료");
  if (reason == "HOLD_RELEASED") return pick(l, "the seat hold was released", "좌석 선점 해제");
  if (reason == "PAYMENT_MISMATCH")
    return pick(l, "the payment did not match the reservation", "결제 정보가 예약과 일치하지 않음");
  if (reason == "NOT_FOUND") return pick(l, "the reservation was not found", "예약을 찾을 수 없음");
  return reason;
}

Message payment_refunded(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::PaymentRefundedNote>(env);
  Message m = base(env, d.user_id);
  const std::string reason = refund_reason(l, d.reason);
  m.title = pick(l, "Payment refunded", "환불 완료");
  m.text = l == Language::kKo ? "예약 " + reservation_no(d.reservation_id) + "의 결제 " +
                                    points(l, d.amount) + "가 환불되었습니다 (" + reason + ")."
                              : points(l, d.amount) + " were refunded for reservation " +
                                    reservation_no(d.reservation_id) + " (" + reason + ").";
  m.fields = {{pick(l, "Amount", "환불 금액"), points(l, d.amount)},
              {pick(l, "Balance", "잔액"), points(l, d.balance)},
              {pick(l, "Reason", "사유"), reason, false}};
  m.colour = 0xE67E22;
  m.time = d.refunded_at;
  return m;
}

// "Your turn": the user waited in the queue and may book now.
Message queue_admitted(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::QueueAdmittedNote>(env);
  Message m = base(env, d.user_id);
  m.title = pick(l, "Your turn", "입장 차례");
  m.text = l == Language::kKo
               ? "기다려 주셔서 감사합니다. 지금 예매할 수 있습니다. " + d.active_until +
                     "까지 좌석을 선택해 주세요."
               : "Thanks for waiting: you can book now. Choose a seat by " + d.active_until + ".";
  m.fields = {{pick(l, "Book by", "예매 가능 시각"), d.active_until}};
  m.colour = 0x9B59B6;
  m.time = d.admitted_at;
  return m;
}

// "Seat expiry processed": one message per seats.expired record, i.e. per
// batch of one schedule, never per seat.
Message seats_expired(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::SeatsExpired>(env);
  Message m = base(env, 0);
  const std::string count = std::to_string(d.seats.size());
  const std::string schedule = reservation_no(d.schedule_id);
  std::string seats;
  std::string oldest;
  constexpr std::size_t kListed = 40;  // a batch holds up to 500
  for (std::size_t i = 0; i < d.seats.size(); ++i) {
    if (i < kListed) seats += (i > 0 ? ", " : "") + std::to_string(d.seats[i].seat_no);
    if (oldest.empty() || d.seats[i].expires_at < oldest) oldest = d.seats[i].expires_at;
  }
  if (d.seats.size() > kListed)
    seats += l == Language::kKo ? " 외 " + std::to_string(d.seats.size() - kListed) + "석"
                                : " and " + std::to_string(d.seats.size() - kListed) + " more";
  m.title = pick(l, "Seat expiry processed", "좌석 만료 처리");
  m.text =
      l == Language::kKo
          ? "회차 " + schedule + "의 결제되지 않은 선점 " + count + "건이 만료되어 해제됩니다."
          : count + " unpaid hold(s) of schedule " + schedule + " ran out and are being released.";
  m.fields = {{pick(l, "Schedule", "회차"), schedule},
              {pick(l, "Holds", "선점 수"), count},
              {pick(l, "Seats", "좌석"), seats, false},
              {pick(l, "Oldest expiry", "가장 이른 만료"), oldest}};
  m.colour = 0x95A5A6;
  m.time = env.occurred_at;
  return m;
}

}  // namespace

Language language_from(const std::string& code) {
  return code == "ko" ? Language::kKo : Language::kEn;
}

std::string colour_hex(std::uint32_t colour) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%06x", static_cast<unsigned>(colour & 0xFFFFFFU));
  return buf;
}

std::string group_thousands(std::int64_t n) {
  const bool neg = n < 0;
  std::string digits = std::to_string(neg ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return neg ? "-" + out : out;
}

const std::vector<std::string>& notification_topics() {
  static const std::vector<std::string> topics = {
      std::string(events::topics::kNotifyPaymentCompleted),
      std::string(events::topics::kNotifyReservationCompleted),
      std::string(events::topics::kNotifyPaymentRefunded),
      std::string(events::topics::kNotifyReservationConfirmed),
      std::string(events::topics::kNotifyHoldExpired),
      std::string(events::topics::kNotifyQueueAdmitted)};
  return topics;
}

const std::vector<std::string>& ops_topics() {
  static const std::vector<std::string> topics = {std::string(events::topics::kSeatsExpired)};
  return topics;
}

bool is_ops_event(const std::string& type) {
  const auto& ops = ops_topics();
  return std::find(ops.begin(), ops.end(), type) != ops.end();
}

Message render_ops(const events::Envelope& env, Language language) {
  if (env.type == events::topics::kSeatsExpired) return seats_expired(env, language);
  throw PoisonError("no operations template for event type " + env.type);
}

Message render(const events::Envelope& env, Language language) {
  if (env.type == events::topics::kNotifyPaymentCompleted) return payment_completed(env, language);
  if (env.type == events::topics::kNotifyReservationCompleted)
    return reservation_completed(env, language);
  if (env.type == events::topics::kNotifyPaymentRefunded) return payment_refunded(env, language);
  if (env.type == events::topics::kNotifyReservationConfirmed)
    return reservation_confirmed(env, language);
  if (env.type == events::topics::kNotifyHoldExpired) return hold_expired(env, language);
  if (env.type == events::topics::kNotifyQueueAdmitted) return queue_admitted(env, language);
  throw PoisonError("no notification template for event type " + env.type);
}

}  // namespace ticketing::notification
