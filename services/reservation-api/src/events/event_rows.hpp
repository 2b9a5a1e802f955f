#pragma once
// The events reservation-api produces, built as outbox rows (validated
// against their schemas here, so an invalid event never reaches the table).

#include <cstdint>
#include <string>
#include <string_view>

#include "ticketing/outbox/outbox.hpp"

namespace ticketing::reservation {

inline constexpr std::string_view kProducerName = "reservation-api";

struct HeldData {
  std::int64_t reservation_id, user_id, concert_id, schedule_id;
  int seat_no;
  std::int64_t price;
  std::string held_at, expires_at;  // RFC 3339
};
outbox::OutboxRow held_row(const HeldData& d, const std::string& trace_id);

struct CancelledData {
  std::int64_t reservation_id, user_id, schedule_id;
  int seat_no;
  std::string_view reason;  // EXPIRED | USER_CANCELLED
  std::string cancelled_at;
};
outbox::OutboxRow cancelled_row(const CancelledData& d, const std::string& trace_id);

struct ConfirmedData {
  std::int64_t reservation_id, payment_id, user_id, concert_id;
  std::string concert_title;
  std::int64_t schedule_id;
  std::string starts_at;
  int seat_no;
  std::int64_t price;
  std::string held_at, confirmed_at;
};
outbox::OutboxRow confirmed_row(const ConfirmedData& d, const std::string& trace_id);
outbox::OutboxRow reservation_completed_row(const ConfirmedData& d, const std::string& trace_id);

struct ConfirmationFailedData {
  std::int64_t reservation_id, payment_id, user_id, amount;
  std::string_view reason;  // HOLD_EXPIRED | HOLD_RELEASED | NOT_FOUND
  std::string failed_at;
};
outbox::OutboxRow confirmation_failed_row(const ConfirmationFailedData& d,
                                          const std::string& trace_id);

}  // namespace ticketing::reservation
