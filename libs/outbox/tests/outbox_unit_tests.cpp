#include <catch2/catch.hpp>

#include <stdexcept>

#include "ticketing/outbox/outbox.hpp"

using namespace ticketing::outbox;

TEST_CASE("headers round-trip through the JSON column") {
  Headers h = {{"event-type", "reservation.held"},
               {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
               {"odd \"name\"", "line\nbreak \xE2\x9C\x93"}};
  auto json = headers_to_json(h);
  CHECK(json.front() == '{');
  CHECK(headers_from_json(json) == h);
  CHECK(headers_from_json("{}").empty());
  CHECK(headers_from_json("").empty());
  CHECK(headers_to_json({}) == "{}");
  CHECK_THROWS_AS(headers_from_json("[1]"), std::invalid_argument);
  CHECK_THROWS_AS(headers_from_json("{\"a\": 1}"), std::invalid_argument);
  CHECK_THROWS_AS(headers_from_json("{not json"), std::invalid_argument);
}

TEST_CASE("table DDL and quoting") {
  auto sql = create_table_sql("reservation.outbox");
  CHECK(sql.find("CREATE TABLE IF NOT EXISTS `reservation`.`outbox`") != std::string::npos);
  CHECK(sql.find("KEY idx_outbox_sent_id (sent_at, id)") != std::string::npos);
  CHECK(sql.find("id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY") != std::string::npos);
  CHECK(create_table_sql().find("`outbox`") != std::string::npos);
  CHECK(quote_table("a`b") == "`a``b`");
  CHECK_THROWS_AS(quote_table(""), std::invalid_argument);
}
