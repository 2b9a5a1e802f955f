// Pure delivery rules: classification, Retry-After, backoff with jitter, the
// circuit breaker's transitions, and the body sent to the platform.
#include <catch2/catch.hpp>

#include <set>

#include "domain/delivery.hpp"
#include "events/confirmed.hpp"
#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/common/json_writer.hpp"
#include "ticketing/events/envelope.hpp"

using namespace ticketing::relay;
using namespace std::chrono_literals;

TEST_CASE("classify: 2xx delivered, timeouts 5xx 408 429 retryable, other 4xx not") {
  CHECK(classify(200) == Outcome::kDelivered);
  CHECK(classify(204) == Outcome::kDelivered);
  CHECK(classify(500) == Outcome::kRetryable);
  CHECK(classify(503) == Outcome::kRetryable);
  CHECK(classify(408) == Outcome::kRetryable);
  CHECK(classify(429) == Outcome::kRetryable);
  CHECK(classify(0, true) == Outcome::kRetryable);
  CHECK(classify(0, false) == Outcome::kNonRetryable);
  CHECK(classify(400) == Outcome::kNonRetryable);
  CHECK(classify(404) == Outcome::kNonRetryable);
  CHECK(classify(409) == Outcome::kNonRetryable);
  CHECK(classify(302) == Outcome::kNonRetryable);
}

TEST_CASE("Retry-After delta-seconds") {
  CHECK(parse_retry_after("2") == std::optional<std::chrono::milliseconds>(2000ms));
  CHECK(parse_retry_after(" 0 ") == std::optional<std::chrono::milliseconds>(0ms));
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  CHECK_FALSE(parse_retry_after("-1"));
  CHECK_FALSE(parse_retry_after(""));
}

TEST_CASE("backoff grows exponentially, is capped and jittered within [d/2, d]") {
  BackoffPolicy b{200ms, 1000ms, 2.0};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    auto d1 = b.delay(1, rng);
    CHECK(d1 >= 100ms);
    CHECK(d1 <= 200ms);
    auto d3 = b.delay(3, rng);
    CHECK(d3 >= 400ms);
    CHECK(d3 <= 800ms);
    auto d10 = b.delay(10, rng);
    CHECK(d10 >= 500ms);
    CHECK(d10 <= 1000ms);
  }
  std::set<long> seen;
  for (int i = 0; i < 50; ++i) seen.insert(static_cast<long>(b.delay(4, rng).count()));
  CHECK(seen.size() > 5);
}

TEST_CASE("breaker: opens after the threshold, half-opens after open_for, one probe") {
  CircuitBreaker br({3, 1000ms});
  auto t = Clock::now();
  CHECK(br.allow(t));
  CHECK_FALSE(br.on_failure(t));
  CHECK_FALSE(br.on_failure(t));
  br.on_success();  // resets the run of failures
  CHECK_FALSE(br.on_failure(t));
  CHECK_FALSE(br.on_failure(t));
  CHECK(br.on_failure(t));
  CHECK(br.state(t) == BreakerState::kOpen);
  CHECK_FALSE(br.allow(t + 999ms));
  CHECK(br.state(t + 1000ms) == BreakerState::kHalfOpen);
  CHECK(br.allow(t + 1000ms));
  CHECK_FALSE(br.allow(t + 1001ms));  // only one probe
  CHECK(br.on_failure(t + 1100ms));   // probe failed: open again
  CHECK(br.state(t + 1500ms) == BreakerState::kOpen);
  CHECK(br.state(t + 2100ms) == BreakerState::kHalfOpen);
  CHECK(br.allow(t + 2100ms));
  br.on_success();
  CHECK(br.state(t + 2200ms) == BreakerState::kClosed);
  CHECK(br.times_opened() == 2);
}

TEST_CASE("platform body is data plus eventId and occurredAt") {
  auto body = platform_body(R"({"reservationId":7,"seatNo":3})", "e-1", "2026-11-24T05:00:00.000Z");
  CHECK(
      body ==
      R"({"reservationId":7,"seatNo":3,"eventId":"e-1","occurredAt":"2026-11-24T05:00:00.000Z"})");
  CHECK_THROWS_AS(platform_body("[1]", "e", "t"), ticketing::PoisonError);
  CHECK(idempotency_key(42) == "reservation-42");
}

namespace {

std::string confirmed_data(std::int64_t id) {
  ticketing::JsonWriter w;
  w.start_object()
      .key("reservationId")
      .integer(id)
      .key("paymentId")
      .integer(2)
      .key("userId")
      .integer(3)
      .key("concertId")
      .integer(4)
      .key("concertTitle")
      .string("Title")
      .key("scheduleId")
      .integer(5)
      .key("startsAt")
      .string("2026-12-24T19:00:00.000Z")
      .key("seatNo")
      .integer(6)
      .key("price")
      .integer(50000)
      .key("heldAt")
      .string("2026-11-24T05:00:00.000Z")
      .key("confirmedAt")
      .string("2026-11-24T05:01:00.000Z")
      .end_object();
  return w.str();
}

}  // namespace

TEST_CASE("parse_confirmed: a valid record becomes the platform body with its trace") {
  auto env = ticketing::events::Envelope::make("reservation.confirmed", "reservation-api",
                                               confirmed_data(77));
  auto c = parse_confirmed(ticketing::events::to_json(env), nullptr);
  CHECK(c.reservation_id == 77);
  CHECK(c.event_id == env.event_id);
  CHECK(c.trace_id == env.trace_id);
  CHECK(c.body.find(R"("reservationId":77)") != std::string::npos);
  CHECK(c.body.find(R"("eventId":")" + env.event_id + "\"") != std::string::npos);
  CHECK(c.body.find(R"("occurredAt":")" + env.occurred_at + "\"") != std::string::npos);

  const std::string other = ticketing::new_trace_id();
  const std::string tp = ticketing::events::make_traceparent(other);
  CHECK(parse_confirmed(ticketing::events::to_json(env), &tp).trace_id == other);
  const std::string bad_tp = "garbage";
  CHECK(parse_confirmed(ticketing::events::to_json(env), &bad_tp).trace_id == env.trace_id);
}

TEST_CASE("parse_confirmed: poison records are refused") {
  using ticketing::PoisonError;
  CHECK_THROWS_AS(parse_confirmed("not json", nullptr), PoisonError);
  CHECK_THROWS_AS(parse_confirmed("{}", nullptr), PoisonError);
  auto other = ticketing::events::Envelope::make("reservation.cancelled", "reservation-api", "{}");
  CHECK_THROWS_AS(parse_confirmed(ticketing::events::to_json(other), nullptr), PoisonError);
  auto data = confirmed_data(77);
  data.replace(data.find(R"("seatNo":6)"), 10, R"("seatNo":99)");  // schema maximum 50
  auto bad = ticketing::events::Envelope::make("reservation.confirmed", "reservation-api", data);
  CHECK_THROWS_AS(parse_confirmed(ticketing::events::to_json(bad), nullptr), PoisonError);
  auto extra = confirmed_data(77);
  extra.insert(1, R"("extra":1,)");
  auto bad2 = ticketing::events::Envelope::make("reservation.confirmed", "reservation-api", extra);
  CHECK_THROWS_AS(parse_confirmed(ticketing::events::to_json(bad2), nullptr), PoisonError);
}
