#include "domain/message.hpp"

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

Message payment_completed(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::PaymentCompletedNote>(env);
  Message m = base(env, d.user_id);
  m.title = pick(l, "Payment completed", "결제 완료");
  m.text = l == Language::kKo ? "예약 " + reservation_no(d.reservation_id) + "의 결제 " +
                                    points(l, d.amount) + "가 완료되었습니다."
                              : "We received your payment of " + points(l, d.amount) +
                                    " for reservation " + reservation_no(d.reservation_id) + ".";
  m.fields = {{pick(l, "Amount", "결제 금액"), points(l, d.amount)},
              {pick(l, "Balance", "잔액"), points(l, d.balance)},
              {pick(l, "Reservation", "예약 번호"), reservation_no(d.reservation_id)},
              {pick(l, "Payment", "결제 번호"), reservation_no(d.payment_id)}};
  m.colour = 0x2ECC71;
  m.time = d.paid_at;
  return m;
}

Message reservation_completed(const events::Envelope& env, Language l) {
  const auto d = events::decode<events::ReservationCompletedNote>(env);
  Message m = base(env, d.user_id);
  const std::string& concert = d.concert_title;
  const std::string seat = std::to_string(d.seat_no);
  m.title = pick(l, "Reservation confirmed", "예매 확정");
  m.text = l == Language::kKo ? concert + " " + seat + "번 좌석 예매가 확정되었습니다."
                              : "Your seat " + seat + " for " + concert + " is confirmed.";
  m.fields = {{pick(l, "Concert", "공연"), concert, false},
              {pick(l, "Starts at", "공연 일시"), d.starts_at},
              {pick(l, "Seat", "좌석"), seat},
              {pick(l, "Price", "가격"), points(l, d.price)},
              {pick(l, "Reservation", "예약 번호"), reservation_no(d.reservation_id)}};
  m.colour = 0x3498DB;
  m.time = d.confirmed_at;
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
      std::string(events::topics::kNotifyPaymentRefunded)};
  return topics;
}

Message render(const events::Envelope& env, Language language) {
  if (env.type == events::topics::kNotifyPaymentCompleted) return payment_completed(env, language);
  if (env.type == events::topics::kNotifyReservationCompleted)
    return reservation_completed(env, language);
  if (env.type == events::topics::kNotifyPaymentRefunded) return payment_refunded(env, language);
  throw PoisonError("no notification template for event type " + env.type);
}

}  // namespace ticketing::notification
