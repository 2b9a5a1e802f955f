// Domain rules without I/O.
#include <catch2/catch.hpp>

#include "domain/model.hpp"
#include "events/event_rows.hpp"
#include "store/schema.hpp"
#include "ticketing/common/error.hpp"

using namespace ticketing;
using namespace ticketing::reservation;

TEST_CASE("database times convert to RFC 3339 and order as text") {
  auto t = SystemTime(std::chrono::milliseconds(1795000000123));
  auto db = to_db_time(t);
  CHECK(db == "2026-11-18 11:06:40.123");
  CHECK(db_time_to_rfc3339(db) == "2026-11-18T11:06:40.123Z");
  CHECK(db_time_to_rfc3339("2027-03-14 19:00:00") == "2027-03-14T19:00:00.000Z");
  CHECK(to_db_time(t + std::chrono::milliseconds(900)) > db);
}

TEST_CASE("a HELD reservation past its expiry is shown as EXPIRED") {
  CHECK(visible_status("HELD", "2026-01-01 00:00:00.000", "2026-01-01 00:00:00.001") == "EXPIRED");
  CHECK(visible_status("HELD", "2026-01-01 00:00:00.002", "2026-01-01 00:00:00.001") == "HELD");
  CHECK(visible_status("CONFIRMED", "2026-01-01 00:00:00.000", "2027-01-01 00:00:00.000") ==
        "CONFIRMED");
}

TEST_CASE("a payment confirms by when it was made, for the hold's price, by its owner") {
  using namespace std::chrono_literals;
  const SystemTime expires = SystemTime{} + 1'000'000h;
  PaidReservation held{"HELD", 7, 500, std::nullopt, expires};
  PaymentCompleted pay{"e1", 70, 1, 7, 500, expires - 1ms};
  CHECK(decide_confirmation(held, pay) == ConfirmOutcome::kConfirmed);
  // Paid in time: confirmed however late the event comes (no clock is read:
  // this expiry is in the past of the test's run, and still it confirms).
  auto early = pay;
  early.paid_at = SystemTime{} + 1h;
  PaidReservation long_gone{"HELD", 7, 500, std::nullopt, SystemTime{} + 2h};
  CHECK(decide_confirmation(long_gone, early) == ConfirmOutcome::kConfirmed);
  auto late = pay;
  late.paid_at = expires;
  CHECK(decide_confirmation(held, late) == ConfirmOutcome::kHoldExpired);
  auto cheap = pay;
  cheap.amount = 499;
  CHECK(decide_confirmation(held, cheap) == ConfirmOutcome::kPaymentMismatch);
  auto stranger = pay;
  stranger.user_id = 8;
  CHECK(decide_confirmation(held, stranger) == ConfirmOutcome::kNotFound);
  CHECK(decide_confirmation(std::nullopt, pay) == ConfirmOutcome::kNotFound);
  PaidReservation confirmed{"CONFIRMED", 7, 500, 70, expires};
  CHECK(decide_confirmation(confirmed, pay) == ConfirmOutcome::kDuplicate);
  auto other = pay;
  other.payment_id = 71;
  CHECK(decide_confirmation(confirmed, other) == ConfirmOutcome::kHoldReleased);
  PaidReservation expired{"EXPIRED", 7, 500, std::nullopt, expires};
  CHECK(decide_confirmation(expired, pay) == ConfirmOutcome::kHoldExpired);
  PaidReservation cancelled{"CANCELLED", 7, 500, std::nullopt, expires};
  CHECK(decide_confirmation(cancelled, pay) == ConfirmOutcome::kHoldReleased);
}

TEST_CASE("seat numbers are 1..50") {
  CHECK_FALSE(SeatNo{0}.valid());
  CHECK(SeatNo{1}.valid());
  CHECK(SeatNo{50}.valid());
  CHECK_FALSE(SeatNo{51}.valid());
}

TEST_CASE("produced events validate against their schemas") {
  auto held = event_row(events::ReservationHeld{7, 8, 1, 2, 3, 100000, "2026-11-24T06:00:00.000Z",
                                                "2026-11-24T06:05:00.000Z"},
                        "");
  CHECK(held.topic == "reservation.held");
  CHECK(held.key == "7");
  CHECK(held.payload.find(R"("seatNo":3)") != std::string::npos);
  auto cancelled = event_row(
      events::ReservationCancelled{7, 8, 2, 3, "EXPIRED", "2026-11-24T06:05:00.000Z"}, "");
  CHECK(cancelled.topic == "reservation.cancelled");
  events::ReservationConfirmed d{7,
                                 9,
                                 8,
                                 1,
                                 "Title",
                                 2,
                                 "2027-03-14T19:00:00.000Z",
                                 3,
                                 100,
                                 "2026-11-24T06:00:00.000Z",
                                 "2026-11-24T06:01:00.000Z"};
  CHECK(event_row(d, "").topic == "reservation.confirmed");
  auto note = reservation_completed_row(d, "");
  CHECK(note.topic == "notifications.reservation-completed");
  CHECK(note.key == "8");  // userId
  CHECK(event_row(events::ReservationConfirmationFailed{7, 9, 8, 100, "HOLD_EXPIRED",
                                                        "2026-11-24T06:01:00.000Z"},
                  "")
            .topic == "reservation.confirmation-failed");
  // A seat outside 1..50 never reaches the outbox.
  CHECK_THROWS_AS(event_row(events::ReservationHeld{7, 8, 1, 2, 51, 1, "2026-11-24T06:00:00.000Z",
                                                    "2026-11-24T06:05:00.000Z"},
                            ""),
                  PoisonError);
  CHECK_THROWS_AS(
      event_row(events::ReservationCancelled{7, 8, 2, 3, "BORED", "2026-11-24T06:05:00.000Z"}, ""),
      PoisonError);
}

TEST_CASE("migrations have increasing unique versions") {
  auto m = migrations();
  REQUIRE(m.size() >= 4);
  for (std::size_t i = 1; i < m.size(); ++i) CHECK(m[i].version > m[i - 1].version);
}
