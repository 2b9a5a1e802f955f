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

TEST_CASE("a HELD reservation past its release time is shown as EXPIRED") {
  using S = ReservationStatus;
  CHECK(visible_status(S::kHeld, "2026-01-01 00:00:00.000", "2026-01-01 00:00:00.001") ==
        S::kExpired);
  CHECK(visible_status(S::kHeld, "2026-01-01 00:00:00.001", "2026-01-01 00:00:00.001") ==
        S::kExpired);
  CHECK(visible_status(S::kHeld, "2026-01-01 00:00:00.002", "2026-01-01 00:00:00.001") == S::kHeld);
  CHECK(visible_status(S::kConfirmed, "2026-01-01 00:00:00.000", "2027-01-01 00:00:00.000") ==
        S::kConfirmed);
}

TEST_CASE("statuses read and write as the database and the API spell them") {
  for (auto s : {ReservationStatus::kHeld, ReservationStatus::kConfirmed,
                 ReservationStatus::kExpired, ReservationStatus::kCancelled}) {
    CHECK(parse_reservation_status(to_string(s)) == s);
  }
  for (auto s : {SeatStatus::kAvailable, SeatStatus::kHeld, SeatStatus::kReserved}) {
    CHECK(parse_seat_status(to_string(s)) == s);
  }
  CHECK(to_string(ReservationStatus::kCancelled) == "CANCELLED");
  CHECK(to_string(SeatStatus::kAvailable) == "AVAILABLE");
  CHECK_FALSE(parse_reservation_status("held"));
  CHECK_FALSE(parse_seat_status("SOLD"));
}

TEST_CASE("a held seat is free again once its hold is past the release grace") {
  using namespace std::chrono_literals;
  const auto now = SystemTime(std::chrono::milliseconds(1795000000000));
  const auto cutoff = release_cutoff(now, 10s);
  CHECK(cutoff == to_db_time(now - 10s));
  const std::optional<std::string> expired_11s_ago = to_db_time(now - 11s);
  const std::optional<std::string> expired_9s_ago = to_db_time(now - 9s);
  CHECK(seat_free(SeatStatus::kAvailable, std::nullopt, cutoff));
  CHECK(seat_free(SeatStatus::kHeld, expired_11s_ago, cutoff));
  CHECK_FALSE(seat_free(SeatStatus::kHeld, expired_9s_ago, cutoff));  // still in its grace
  CHECK_FALSE(seat_free(SeatStatus::kHeld, std::nullopt, cutoff));
  CHECK_FALSE(seat_free(SeatStatus::kReserved, expired_11s_ago, cutoff));
}

TEST_CASE("decide_hold: schedule, then the user's limit, then the seat") {
  const std::string cutoff = "2026-01-01 00:00:10.000";
  HoldFacts f;
  f.schedule_exists = true;
  f.live_holds = 1;
  f.seat = HoldFacts::Seat{SeatStatus::kAvailable, std::nullopt, std::nullopt};
  auto d = decide_hold(f, 2, cutoff);
  CHECK(d.outcome == HoldOutcome::kHeld);
  CHECK_FALSE(d.takes_over);

  auto over_limit = f;
  over_limit.live_holds = 2;
  CHECK(decide_hold(over_limit, 2, cutoff).outcome == HoldOutcome::kHoldLimit);
  auto no_schedule = over_limit;  // the schedule comes first
  no_schedule.schedule_exists = false;
  CHECK(decide_hold(no_schedule, 2, cutoff).outcome == HoldOutcome::kScheduleNotFound);
  auto no_seat = f;
  no_seat.seat.reset();
  CHECK(decide_hold(no_seat, 2, cutoff).outcome == HoldOutcome::kSeatUnavailable);

  auto held = f;
  held.seat = HoldFacts::Seat{SeatStatus::kHeld, "2026-01-01 00:00:10.001", 77};
  CHECK(decide_hold(held, 2, cutoff).outcome == HoldOutcome::kSeatUnavailable);
  auto released = f;
  released.seat = HoldFacts::Seat{SeatStatus::kHeld, "2026-01-01 00:00:10.000", 77};
  d = decide_hold(released, 2, cutoff);
  CHECK(d.outcome == HoldOutcome::kHeld);
  CHECK(d.takes_over == std::optional<std::int64_t>(77));
  auto sold = f;
  sold.seat = HoldFacts::Seat{SeatStatus::kReserved, std::nullopt, 78};
  CHECK(decide_hold(sold, 2, cutoff).outcome == HoldOutcome::kSeatUnavailable);
}

TEST_CASE("decide_cancel: only a HELD reservation is cancelled") {
  CHECK(decide_cancel(ReservationStatus::kHeld) == CancelOutcome::kCancelled);
  CHECK(decide_cancel(ReservationStatus::kConfirmed) == CancelOutcome::kAlreadyConfirmed);
  CHECK(decide_cancel(ReservationStatus::kExpired) == CancelOutcome::kNotHeld);
  CHECK(decide_cancel(ReservationStatus::kCancelled) == CancelOutcome::kNotHeld);
}

TEST_CASE("decide_release: due holds go, holds in their grace wait, live ones stay") {
  const std::string now = "2026-01-01 00:01:00.000";
  const std::string cutoff = "2026-01-01 00:00:50.000";
  std::vector<HeldReservation> held{{1, "2026-01-01 00:00:40.000"},
                                    {2, "2026-01-01 00:00:50.000"},
                                    {3, "2026-01-01 00:00:55.000"},
                                    {4, "2026-01-01 00:01:00.000"},
                                    {5, "2026-01-01 00:01:30.000"}};
  auto d = decide_release(held, now, cutoff);
  CHECK(d.release == std::vector<std::int64_t>{1, 2});
  CHECK(d.not_yet_due == 2);  // 3 and 4: past expiresAt, within the grace
  CHECK(decide_release({}, now, cutoff).release.empty());
}

TEST_CASE("a payment confirms by when it was made, for the hold's price, by its owner") {
  using namespace std::chrono_literals;
  const SystemTime expires = SystemTime{} + 1'000'000h;
  PaidReservation held{ReservationStatus::kHeld, 7, 500, std::nullopt, expires};
  PaymentCompleted pay{"e1", 70, 1, 7, 500, expires - 1ms};
  CHECK(decide_confirmation(held, pay) == ConfirmOutcome::kConfirmed);
  // Paid in time: confirmed however late the event comes (no clock is read:
  // this expiry is in the past of the test's run, and still it confirms).
  auto early = pay;
  early.paid_at = SystemTime{} + 1h;
  PaidReservation long_gone{ReservationStatus::kHeld, 7, 500, std::nullopt, SystemTime{} + 2h};
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
  PaidReservation confirmed{ReservationStatus::kConfirmed, 7, 500, 70, expires};
  CHECK(decide_confirmation(confirmed, pay) == ConfirmOutcome::kDuplicate);
  auto other = pay;
  other.payment_id = 71;
  CHECK(decide_confirmation(confirmed, other) == ConfirmOutcome::kHoldReleased);
  PaidReservation expired{ReservationStatus::kExpired, 7, 500, std::nullopt, expires};
  CHECK(decide_confirmation(expired, pay) == ConfirmOutcome::kHoldExpired);
  PaidReservation cancelled{ReservationStatus::kCancelled, 7, 500, std::nullopt, expires};
  CHECK(decide_confirmation(cancelled, pay) == ConfirmOutcome::kHoldReleased);
}

TEST_CASE("seat numbers are 1..50") {
  CHECK_FALSE(SeatNo{0}.valid());
  CHECK(SeatNo{1}.valid());
  CHECK(SeatNo{50}.valid());
  CHECK_FALSE(SeatNo{51}.valid());
}

TEST_CASE("produced events validate against their schemas") {
  auto held = event_row(
      events::ReservationHeld{7, 8, 1, 2, 3, 100000, "2026-11-24T06:00:00.000Z",
                              "2026-11-24T06:05:00.000Z", "Title", "2027-03-14T19:00:00.000Z"},
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
  auto note = reservation_confirmed_row(d, "");
  CHECK(note.topic == "notifications.reservation-confirmed");
  CHECK(note.key == "8");  // userId
  CHECK(note.payload.find(R"("confirmedAt":"2026-11-24T06:01:00.000Z")") != std::string::npos);
  auto held_note = seat_held_row(
      events::ReservationHeld{7, 8, 1, 2, 3, 100000, "2026-11-24T06:00:00.000Z",
                              "2026-11-24T06:05:00.000Z", "Title", "2027-03-14T19:00:00.000Z"},
      "");
  CHECK(held_note.topic == "notifications.reservation-completed");
  CHECK(held_note.key == "8");
  CHECK(held_note.payload.find(R"("concertTitle":"Title")") != std::string::npos);
  CHECK(held_note.payload.find(R"("expiresAt":"2026-11-24T06:05:00.000Z")") != std::string::npos);
  CHECK(held_note.payload.find("confirmedAt") == std::string::npos);
  auto expired_note = hold_expired_row(
      events::ReservationCancelled{7, 8, 2, 3, "EXPIRED", "2026-11-24T06:05:00.000Z"}, "Title",
      "2027-03-14T19:00:00.000Z", "");
  CHECK(expired_note.topic == "notifications.hold-expired");
  CHECK(expired_note.key == "8");
  CHECK(expired_note.payload.find(R"("expiredAt":"2026-11-24T06:05:00.000Z")") !=
        std::string::npos);
  CHECK(event_row(events::ReservationConfirmationFailed{7, 9, 8, 100, "HOLD_EXPIRED",
                                                        "2026-11-24T06:01:00.000Z"},
                  "")
            .topic == "reservation.confirmation-failed");
  // A seat outside 1..50 never reaches the outbox.
  CHECK_THROWS_AS(
      event_row(events::ReservationHeld{7, 8, 1, 2, 51, 1, "2026-11-24T06:00:00.000Z",
                                        "2026-11-24T06:05:00.000Z", std::nullopt, std::nullopt},
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
