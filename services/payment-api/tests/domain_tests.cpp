// Wallet and payment rules without I/O, and the event builders' schema validity.
#include <catch2/catch.hpp>

#include <map>
#include <optional>

#include "config.hpp"
#include "domain/wallet.hpp"
#include "events/payment_events.hpp"
#include "http/outcomes.hpp"
#include "ticketing/common/ids.hpp"

using namespace ticketing::payment;

TEST_CASE("charge respects the balance cap") {
  CHECK(decide_charge(0, 100, 1000).new_balance == 100);
  CHECK(decide_charge(900, 100, 1000).outcome == Outcome::kOk);
  CHECK(decide_charge(900, 101, 1000).outcome == Outcome::kBalanceLimit);
  CHECK(decide_charge(900, 101, 1000).new_balance == 900);
  CHECK(decide_charge(INT64_MAX / 4, INT64_MAX / 4, INT64_MAX / 4).outcome ==
        Outcome::kBalanceLimit);
}

TEST_CASE("payment decision order: owner, paid, hold, balance") {
  Hold h{ReservationId{1}, UserId{7}, 500, 10'000, HoldStatus::kHeld};
  CHECK(decide_payment(h, UserId{7}, std::nullopt, 500, 9'999) == Outcome::kOk);
  CHECK(decide_payment(h, UserId{8}, std::nullopt, 500, 9'999) == Outcome::kReservationNotFound);
  CHECK(decide_payment(h, UserId{7}, PaymentStatus::kCompleted, 500, 9'999) ==
        Outcome::kAlreadyPaid);
  CHECK(decide_payment(h, UserId{7}, PaymentStatus::kRefunded, 500, 9'999) ==
        Outcome::kReservationExpired);
  CHECK(decide_payment(h, UserId{7}, std::nullopt, 500, 10'000) == Outcome::kReservationExpired);
  CHECK(decide_payment(h, UserId{7}, std::nullopt, 499, 9'999) == Outcome::kInsufficientBalance);
  h.status = HoldStatus::kCancelled;
  CHECK(decide_payment(h, UserId{7}, std::nullopt, 500, 9'999) == Outcome::kReservationExpired);
}

TEST_CASE("every outcome maps to a 4xx with a code") {
  for (auto o : {Outcome::kBalanceLimit, Outcome::kInsufficientBalance,
                 Outcome::kReservationNotFound, Outcome::kReservationExpired, Outcome::kAlreadyPaid,
                 Outcome::kIdempotencyConflict, Outcome::kPaymentNotFound}) {
    auto d = describe(o);
    CHECK(d.status >= 400);
    CHECK(d.status < 500);
    CHECK(!d.code.empty());
  }
  CHECK(describe(Outcome::kInsufficientBalance).status == 402);
}

TEST_CASE("request refusals that are no wallet outcome: 400 with their documented codes") {
  CHECK(describe(ApiError::kInvalidIdempotencyKey).status == 400);
  CHECK(describe(ApiError::kInvalidIdempotencyKey).code == "INVALID_IDEMPOTENCY_KEY");
  CHECK(describe(ApiError::kInvalidHoldReceipt).status == 400);
  CHECK(describe(ApiError::kInvalidHoldReceipt).code == "INVALID_HOLD_RECEIPT");
  auto bad = invalid("limit", "must be between 1 and 100");
  CHECK(bad.status == 400);
  CHECK(bad.body.find(R"("code":"VALIDATION_FAILED")") != std::string::npos);
  CHECK(bad.body.find("limit: must be between 1 and 100") != std::string::npos);
}

TEST_CASE("idempotency keys") {
  CHECK(valid_idempotency_key("abc-123"));
  CHECK_FALSE(valid_idempotency_key(""));
  CHECK_FALSE(valid_idempotency_key("has space"));
  CHECK_FALSE(valid_idempotency_key(std::string(256, 'a')));
}

TEST_CASE("outgoing events validate against their schemas") {
  PaymentRecord p{PaymentId{3}, ReservationId{4},          UserId{5},
                  700,          PaymentStatus::kCompleted, ticketing::now_unix_millis(),
                  std::nullopt};
  auto rows = payment_completed_rows(
      p, 300, PaidSeat{12, 17, "Spring Night Live", "2027-03-14T19:00:00.000Z"}, "");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].topic == "payment.completed");
  CHECK(rows[0].key == "4");
  CHECK(rows[1].topic == "notifications.payment-completed");
  CHECK(rows[1].key == "5");
  CHECK(rows[1].payload.find("\"balance\":300") != std::string::npos);
  CHECK(rows[1].payload.find(R"("concertTitle":"Spring Night Live")") != std::string::npos);
  CHECK(rows[1].payload.find(R"("seatNo":17)") != std::string::npos);
  // A show not known yet: the seat still, no title.
  auto untitled = payment_completed_rows(p, 300, PaidSeat{12, 17, std::nullopt, std::nullopt}, "");
  CHECK(untitled[1].payload.find("concertTitle") == std::string::npos);
  CHECK(untitled[1].payload.find(R"("seatNo":17)") != std::string::npos);
  p.refunded_at_ms = p.paid_at_ms + 1;
  auto refunded = payment_refunded_rows(p, 1000, "HOLD_EXPIRED", "");
  CHECK(refunded[0].topic == "payment.refunded");
  CHECK(refunded[1].topic == "notifications.payment-refunded");
  CHECK_THROWS(payment_refunded_rows(p, 1000, "BOGUS", ""));
}

TEST_CASE("configuration: defaults and the trusted producer list") {
  std::map<std::string, std::string> vars = {
      {"TOKEN_SECRET", "payment-api-domain-test-secret-0123456789"}};
  ticketing::EnvReader defaults([&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  auto c = Config::read(defaults);
  CHECK_NOTHROW(defaults.finish());
  CHECK(c.max_charge == 1'000'000);
  CHECK(c.max_balance == 100'000'000);
  CHECK(c.consumer_max_attempts == 0);
  CHECK(c.trusted_producers.empty());

  vars["TRUSTED_EVENT_PRODUCERS"] = "reservation-api,,other";
  vars["MAX_CHARGE"] = "0";
  ticketing::EnvReader custom([&](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
  c = Config::read(custom);
  CHECK(c.trusted_producers == std::vector<std::string>{"reservation-api", "other"});
  CHECK_THROWS_AS(custom.finish(), ticketing::ConfigError);
}
