#pragma once
// The event contracts: one struct per event type (= its topic, topics.hpp),
// its fields in the order of the schema's `properties` (proto-schemas/), and
// one way to write and read it:
//
//   auto row = outbox::event_row(events::ReservationHeld{...}, "reservation-api", trace_id);
//   auto held = events::decode<events::ReservationHeld>(*event.envelope);
//
// Writing goes through make_event_record, so a value the schema refuses (an
// unknown reason, a seat outside 1..50) is a PoisonError before anything is
// produced. Reading maps an envelope that HandlingLoop has already validated;
// a missing or mistyped field is a PoisonError (dead-lettered at once).
// Timestamps stay RFC 3339 strings and enums strings, as on the wire: the
// schema is their check. A field the schema does not require is a
// std::optional member (absent when empty). tests/events/unit/contracts_tests.cpp holds the
// structs, the schemas and the examples together.

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/topics.hpp"

namespace ticketing::events {

// One field of a contract: its JSON name and the member that holds it.
template <typename T, typename M>
struct Field {
  std::string_view name;
  M T::*member;
};
template <typename T, typename M>
constexpr Field<T, M> field(std::string_view name, M T::*member) {
  return {name, member};
}

struct ReservationHeld {
  static constexpr std::string_view kType = topics::kReservationHeld;
  std::int64_t reservation_id = 0;
  std::int64_t user_id = 0;
  std::int64_t concert_id = 0;
  std::int64_t schedule_id = 0;
  std::int32_t seat_no = 0;
  std::int64_t price = 0;
  std::string held_at;
  std::string expires_at;
  // For the buyers' messages further on (payment-api's "Payment completed").
  // Optional: records written before 2026-12-05 lack them.
  std::optional<std::string> concert_title;
  std::optional<std::string> starts_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = ReservationHeld;
    return std::tuple{field("reservationId", &T::reservation_id),
                      field("userId", &T::user_id),
                      field("concertId", &T::concert_id),
                      field("scheduleId", &T::schedule_id),
                      field("seatNo", &T::seat_no),
                      field("price", &T::price),
                      field("heldAt", &T::held_at),
                      field("expiresAt", &T::expires_at),
                      field("concertTitle", &T::concert_title),
                      field("startsAt", &T::starts_at)};
  }
  bool operator==(const ReservationHeld&) const = default;
};

struct ReservationConfirmed {
  static constexpr std::string_view kType = topics::kReservationConfirmed;
  std::int64_t reservation_id = 0;
  std::int64_t payment_id = 0;
  std::int64_t user_id = 0;
  std::int64_t concert_id = 0;
  std::string concert_title;
  std::int64_t schedule_id = 0;
  std::string starts_at;
  std::int32_t seat_no = 0;
  std::int64_t price = 0;
  std::string held_at;
  std::string confirmed_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = ReservationConfirmed;
    return std::tuple{field("reservationId", &T::reservation_id),
                      field("paymentId", &T::payment_id),
                      field("userId", &T::user_id),
                      field("concertId", &T::concert_id),
                      field("concertTitle", &T::concert_title),
                      field("scheduleId", &T::schedule_id),
                      field("startsAt", &T::starts_at),
                      field("seatNo", &T::seat_no),
                      field("price", &T::price),
                      field("heldAt", &T::held_at),
                      field("confirmedAt", &T::confirmed_at)};
  }
  bool operator==(const ReservationConfirmed&) const = default;
};

struct ReservationConfirmationFailed {
  static constexpr std::string_view kType = topics::kReservationConfirmationFailed;
  std::int64_t reservation_id = 0;
  std::int64_t payment_id = 0;
  std::int64_t user_id = 0;
  std::int64_t amount = 0;
  std::string reason;  // HOLD_EXPIRED | HOLD_RELEASED | NOT_FOUND | PAYMENT_MISMATCH
  std::string failed_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = ReservationConfirmationFailed;
    return std::tuple{field("reservationId", &T::reservation_id),
                      field("paymentId", &T::payment_id),
                      field("userId", &T::user_id),
                      field("amount", &T::amount),
                      field("reason", &T::reason),
                      field("failedAt", &T::failed_at)};
  }
  bool operator==(const ReservationConfirmationFailed&) const = default;
};

struct ReservationCancelled {
  static constexpr std::string_view kType = topics::kReservationCancelled;
  std::int64_t reservation_id = 0;
  std::int64_t user_id = 0;
  std::int64_t schedule_id = 0;
  std::int32_t seat_no = 0;
  std::string reason;  // EXPIRED | USER_CANCELLED
  std::string cancelled_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = ReservationCancelled;
    return std::tuple{field("reservationId", &T::reservation_id),
                      field("userId", &T::user_id),
                      field("scheduleId", &T::schedule_id),
                      field("seatNo", &T::seat_no),
                      field("reason", &T::reason),
                      field("cancelledAt", &T::cancelled_at)};
  }
  bool operator==(const ReservationCancelled&) const = default;
};

struct PaymentCompleted {
  static constexpr std::string_view kType = topics::kPaymentCompleted;
  std::int64_t payment_id = 0;
  std::int64_t reservation_id = 0;
  std::int64_t user_id = 0;
  std::int64_t amount = 0;
  std::string paid_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = PaymentCompleted;
    return std::tuple{field("paymentId", &T::payment_id),
                      field("reservationId", &T::reservation_id), field("userId", &T::user_id),
                      field("amount", &T::amount), field("paidAt", &T::paid_at)};
  }
  bool operator==(const PaymentCompleted&) const = default;
};

struct PaymentRefunded {
  static constexpr std::string_view kType = topics::kPaymentRefunded;
  std::int64_t payment_id = 0;
  std::int64_t reservation_id = 0;
  std::int64_t user_id = 0;
  std::int64_t amount = 0;
  std::string reason;  // as ReservationConfirmationFailed::reason
  std::string refunded_at;

  [[nodiscard]] std::int64_t key() const { return reservation_id; }
  static constexpr auto fields() {
    using T = PaymentRefunded;
    return std::tuple{
        field("paymentId", &T::payment_id), field("reservationId", &T::reservation_id),
        field("userId", &T::user_id),       field("amount", &T::amount),
        field("reason", &T::reason),        field("refundedAt", &T::refunded_at)};
  }
  bool operator==(const PaymentRefunded&) const = default;
};

struct SeatsExpired {
  static constexpr std::string_view kType = topics::kSeatsExpired;
  struct Seat {
    std::int64_t reservation_id = 0;
    std::int32_t seat_no = 0;
    std::string expires_at;

    static constexpr auto fields() {
      using T = Seat;
      return std::tuple{field("reservationId", &T::reservation_id), field("seatNo", &T::seat_no),
                        field("expiresAt", &T::expires_at)};
    }
    bool operator==(const Seat&) const = default;
  };
  std::int64_t schedule_id = 0;
  std::vector<Seat> seats;  // 1..500

  [[nodiscard]] std::int64_t key() const { return schedule_id; }
  static constexpr auto fields() {
    using T = SeatsExpired;
    return std::tuple{field("scheduleId", &T::schedule_id), field("seats", &T::seats)};
  }
  bool operator==(const SeatsExpired&) const = default;
};

struct PaymentCompletedNote {
  static constexpr std::string_view kType = topics::kNotifyPaymentCompleted;
  std::int64_t user_id = 0;
  std::int64_t payment_id = 0;
  std::int64_t reservation_id = 0;
  std::int64_t amount = 0;
  std::int64_t balance = 0;
  std::string paid_at;
  // What was paid for. Optional: records written before 2026-12-05 lack them,
  // and the title is unknown while payment-api has seen no hold of the show.
  std::optional<std::string> concert_title;
  std::optional<std::string> starts_at;
  std::optional<std::int32_t> seat_no;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = PaymentCompletedNote;
    return std::tuple{field("userId", &T::user_id),
                      field("paymentId", &T::payment_id),
                      field("reservationId", &T::reservation_id),
                      field("amount", &T::amount),
                      field("balance", &T::balance),
                      field("paidAt", &T::paid_at),
                      field("concertTitle", &T::concert_title),
                      field("startsAt", &T::starts_at),
                      field("seatNo", &T::seat_no)};
  }
  bool operator==(const PaymentCompletedNote&) const = default;
};

// "Seat held": written with the hold. Records written before 2026-12-04 were
// sent at confirmation instead: confirmedAt, no heldAt/expiresAt.
struct ReservationCompletedNote {
  static constexpr std::string_view kType = topics::kNotifyReservationCompleted;
  std::int64_t user_id = 0;
  std::int64_t reservation_id = 0;
  std::string concert_title;
  std::string starts_at;
  std::int32_t seat_no = 0;
  std::int64_t price = 0;
  std::optional<std::string> held_at;
  std::optional<std::string> expires_at;  // pay by
  std::optional<std::string> confirmed_at;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = ReservationCompletedNote;
    return std::tuple{field("userId", &T::user_id),
                      field("reservationId", &T::reservation_id),
                      field("concertTitle", &T::concert_title),
                      field("startsAt", &T::starts_at),
                      field("seatNo", &T::seat_no),
                      field("price", &T::price),
                      field("heldAt", &T::held_at),
                      field("expiresAt", &T::expires_at),
                      field("confirmedAt", &T::confirmed_at)};
  }
  bool operator==(const ReservationCompletedNote&) const = default;
};

struct ReservationConfirmedNote {
  static constexpr std::string_view kType = topics::kNotifyReservationConfirmed;
  std::int64_t user_id = 0;
  std::int64_t reservation_id = 0;
  std::string concert_title;
  std::string starts_at;
  std::int32_t seat_no = 0;
  std::int64_t price = 0;
  std::string confirmed_at;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = ReservationConfirmedNote;
    return std::tuple{field("userId", &T::user_id),
                      field("reservationId", &T::reservation_id),
                      field("concertTitle", &T::concert_title),
                      field("startsAt", &T::starts_at),
                      field("seatNo", &T::seat_no),
                      field("price", &T::price),
                      field("confirmedAt", &T::confirmed_at)};
  }
  bool operator==(const ReservationConfirmedNote&) const = default;
};

// A hold released because it was not paid in time.
struct HoldExpiredNote {
  static constexpr std::string_view kType = topics::kNotifyHoldExpired;
  std::int64_t user_id = 0;
  std::int64_t reservation_id = 0;
  std::string concert_title;
  std::string starts_at;
  std::int32_t seat_no = 0;
  std::string expired_at;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = HoldExpiredNote;
    return std::tuple{field("userId", &T::user_id),
                      field("reservationId", &T::reservation_id),
                      field("concertTitle", &T::concert_title),
                      field("startsAt", &T::starts_at),
                      field("seatNo", &T::seat_no),
                      field("expiredAt", &T::expired_at)};
  }
  bool operator==(const HoldExpiredNote&) const = default;
};

struct PaymentRefundedNote {
  static constexpr std::string_view kType = topics::kNotifyPaymentRefunded;
  std::int64_t user_id = 0;
  std::int64_t payment_id = 0;
  std::int64_t reservation_id = 0;
  std::int64_t amount = 0;
  std::int64_t balance = 0;
  std::string reason;
  std::string refunded_at;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = PaymentRefundedNote;
    return std::tuple{field("userId", &T::user_id),
                      field("paymentId", &T::payment_id),
                      field("reservationId", &T::reservation_id),
                      field("amount", &T::amount),
                      field("balance", &T::balance),
                      field("reason", &T::reason),
                      field("refundedAt", &T::refunded_at)};
  }
  bool operator==(const PaymentRefundedNote&) const = default;
};

// "Your turn": the user's place in the waiting queue became ACTIVE (they
// waited for it); they may book until activeUntil unless a hold extends it.
struct QueueAdmittedNote {
  static constexpr std::string_view kType = topics::kNotifyQueueAdmitted;
  std::int64_t user_id = 0;
  std::string admitted_at;
  std::string active_until;

  [[nodiscard]] std::int64_t key() const { return user_id; }
  static constexpr auto fields() {
    using T = QueueAdmittedNote;
    return std::tuple{field("userId", &T::user_id), field("admittedAt", &T::admitted_at),
                      field("activeUntil", &T::active_until)};
  }
  bool operator==(const QueueAdmittedNote&) const = default;
};

// Every contract, for code that must cover them all (tests, tools).
using AllContracts =
    std::tuple<ReservationHeld, ReservationConfirmed, ReservationConfirmationFailed,
               ReservationCancelled, PaymentCompleted, PaymentRefunded, SeatsExpired,
               PaymentCompletedNote, ReservationCompletedNote, PaymentRefundedNote,
               ReservationConfirmedNote, HoldExpiredNote, QueueAdmittedNote>;

template <typename T>
concept Contract = requires(const T& e) {
  { T::kType } -> std::convertible_to<std::string_view>;
  { e.key() } -> std::same_as<std::int64_t>;
  T::fields();
};

// The `data` object of `e`, fields in schema order. Defined for every type of
// AllContracts. Throws std::invalid_argument for a string that is not UTF-8.
template <Contract T>
std::string to_data_json(const T& e);
// Reads a `data` object. Throws PoisonError naming the first field that is
// missing or of the wrong type (or when the text is not a JSON object).
template <Contract T>
T from_data_json(std::string_view data_json);

// The event of an envelope: PoisonError when its type is not T's.
template <Contract T>
T decode(const Envelope& envelope) {
  if (envelope.type != T::kType) {
    throw PoisonError("expected a " + std::string(T::kType) + " event, got " + envelope.type);
  }
  return from_data_json<T>(envelope.data_json);
}

// A new envelope for `e` (fresh event id, now; a new trace id when empty).
template <Contract T>
Envelope make_envelope(const T& e, std::string producer, std::string trace_id = {}) {
  return Envelope::make(std::string(T::kType), std::move(producer), to_data_json(e),
                        std::move(trace_id));
}

}  // namespace ticketing::events
