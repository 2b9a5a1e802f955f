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
