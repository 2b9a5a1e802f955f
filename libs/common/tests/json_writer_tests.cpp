#include <catch2/catch.hpp>

#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "ticketing/common/json_writer.hpp"
#include "ticketing/common/utf8.hpp"

using ticketing::JsonWriter;

TEST_CASE("JsonWriter builds escaped JSON") {
  JsonWriter w;
  w.start_object()
      .key("id")
      .integer(-7)
      .key("big")
      .unsigned_integer(18446744073709551615ULL)
      .key("name")
      .string("a\"b\\c\n\x01 \xC3\xBC")
      .key("price")
      .number(12.5)
      .key("ok")
      .boolean(true)
      .key("none")
      .null()
      .key("list")
      .start_array()
      .integer(1)
      .string("x")
      .start_object()
      .end_object()
      .end_array()
      .end_object();
  CHECK(w.complete());
  CHECK(w.str() == R"({"id":-7,"big":18446744073709551615,"name":"a\"b\\c\n\u0001 )"
                   "\xC3\xBC"
                   R"(","price":12.5,"ok":true,"none":null,"list":[1,"x",{}]})");
}

TEST_CASE("JsonWriter refuses misuse instead of writing broken JSON") {
  {
    JsonWriter w;
    w.start_object();
    CHECK_THROWS_AS(w.integer(1), std::invalid_argument);  // value without key
    CHECK_THROWS_AS(w.end_array(), std::invalid_argument);
    w.key("k");
    CHECK_THROWS_AS(w.key("k2"), std::invalid_argument);
    CHECK_THROWS_AS(w.end_object(), std::invalid_argument);  // dangling key
    CHECK_FALSE(w.complete());
    CHECK_THROWS_AS(w.str(), std::logic_error);
  }
  {
    JsonWriter w;
    CHECK_THROWS_AS(w.key("k"), std::invalid_argument);
    CHECK_THROWS_AS(w.string("\xff"), std::invalid_argument);
    CHECK_THROWS_AS(w.number(std::numeric_limits<double>::infinity()), std::invalid_argument);
    CHECK_THROWS_AS(w.number(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
    w.integer(5);
    CHECK(w.str() == "5");
    CHECK_THROWS_AS(w.integer(6), std::invalid_argument);  // second root
  }
}

TEST_CASE("utf8_length counts code points and refuses invalid UTF-8") {
  using ticketing::utf8_length;
  CHECK(utf8_length("") == std::optional<std::size_t>(0));
  CHECK(utf8_length("abc") == std::optional<std::size_t>(3));
  CHECK(utf8_length("\xC3\xBC\xE2\x82\xAC\xF0\x9F\x8E\xAB") == std::optional<std::size_t>(3));
  CHECK_FALSE(utf8_length("\xC0\xAF"));          // overlong
  CHECK_FALSE(utf8_length("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(utf8_length("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(utf8_length("\xE2\x82"));          // truncated
  CHECK_FALSE(utf8_length("\xff"));
}
