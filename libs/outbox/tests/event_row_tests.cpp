#include <catch2/catch.hpp>

#include "ticketing/common/error.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/outbox/event_row.hpp"

using namespace ticketing;

TEST_CASE("event_row: a valid event becomes its topic, key, envelope and headers") {
  auto env = events::Envelope::make(
      "payment.completed", "payment-api",
      R"({"paymentId":7,"reservationId":42,"userId":3,"amount":1000,"paidAt":"2026-11-24T05:33:04.123Z"})",
      "0af7651916cd43dd8448eb211c80319c");
  auto row = outbox::event_row(env, "42");
  CHECK(row.topic == "payment.completed");
  CHECK(row.key == "42");
  CHECK(events::parse_envelope(row.payload).event_id == env.event_id);
  REQUIRE(row.headers.size() == 2);
  CHECK(row.headers[0] == std::pair<std::string, std::string>{"event-type", "payment.completed"});
  CHECK(row.headers[1].first == "traceparent");
  CHECK(events::trace_id_from_traceparent(row.headers[1].second) == env.trace_id);
}

TEST_CASE("event_row: an event that violates its schema never reaches the outbox") {
  auto env = events::Envelope::make("payment.completed", "payment-api", R"({"paymentId":-1})");
  CHECK_THROWS_AS(outbox::event_row(env, "42"), PoisonError);
}

TEST_CASE("event_row: a typed event becomes the same row, keyed by its key") {
  events::PaymentCompleted paid;
  paid.payment_id = 7;
  paid.reservation_id = 42;
  paid.user_id = 3;
  paid.amount = 1000;
  paid.paid_at = "2026-11-24T05:33:04.123Z";
  auto row = outbox::event_row(paid, "payment-api", "0af7651916cd43dd8448eb211c80319c");
  CHECK(row.topic == "payment.completed");
  CHECK(row.key == "42");
  const auto env = events::parse_envelope(row.payload);
  CHECK(env.producer == "payment-api");
  CHECK(env.trace_id == "0af7651916cd43dd8448eb211c80319c");
  CHECK(
      env.data_json ==
      R"({"paymentId":7,"reservationId":42,"userId":3,"amount":1000,"paidAt":"2026-11-24T05:33:04.123Z"})");
  CHECK(events::decode<events::PaymentCompleted>(env) == paid);

  paid.amount = -1;  // the schema's minimum
  CHECK_THROWS_AS(outbox::event_row(paid, "payment-api"), PoisonError);
}
