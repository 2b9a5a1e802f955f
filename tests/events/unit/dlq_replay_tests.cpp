// Selection parsing and matching, error classes, JSON and replay records of
// dlq_replay.hpp (no cluster).
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ticketing/common/ids.hpp"
#include "ticketing/events/dlq_replay.hpp"

namespace ev = ticketing::events;

namespace {

ev::Message message(std::int32_t partition, std::int64_t offset, std::string key,
                    std::int64_t ts_ms) {
  ev::Message m;
  m.topic = "payment.completed.dlq";
  m.partition = partition;
  m.offset = offset;
  m.key = std::move(key);
  m.has_key = true;
  m.value = R"({"x":1})";
  m.timestamp_ms = ts_ms;
  return m;
}

std::int64_t millis(const char* rfc3339) {
  return ticketing::unix_millis(*ticketing::parse_rfc3339(rfc3339));
}

}  // namespace

TEST_CASE("selection options parse, and every bad one is reported", "[dlq-replay]") {
  ev::DlqSelection sel;
  std::vector<std::string> problems;
  CHECK(ev::apply_selection_option("partition", "2", sel, problems));
  CHECK(ev::apply_selection_option("from-offset", "10", sel, problems));
  CHECK(ev::apply_selection_option("to-offset", "12", sel, problems));
  CHECK(ev::apply_selection_option("key", "r-7", sel, problems));
  CHECK_FALSE(ev::apply_selection_option("rate", "5", sel, problems));
  ev::check_selection(sel, problems);
  CHECK(problems.empty());
  CHECK(sel.partition == 2);
  CHECK(sel.from_offset == 10);
  CHECK(sel.to_offset == 12);
  CHECK(sel.key == "r-7");

  ev::DlqSelection bad;
  std::vector<std::string> errors;
  CHECK(ev::apply_selection_option("partition", "-1", bad, errors));
  CHECK(ev::apply_selection_option("from-offset", "1e3", bad, errors));
  CHECK(ev::apply_selection_option("to-offset", "5", bad, errors));
  CHECK(ev::apply_selection_option("since", "yesterday", bad, errors));
  CHECK(ev::apply_selection_option("until", "2026-01-01T00:00:00Z", bad, errors));
  CHECK(ev::apply_selection_option("partition", "99999999999", bad, errors));
  ev::check_selection(bad, errors);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0] == "--partition needs a partition number, got '-1'");
  CHECK(errors[1] == "--from-offset needs a non-negative integer, got '1e3'");
  CHECK(errors[2].starts_with("--since needs an RFC 3339 time"));
  CHECK(errors[3] == "--partition needs a partition number, got '99999999999'");
  CHECK(errors[4].find("not both") != std::string::npos);  // to-offset and until
}

TEST_CASE("selection ranges are checked in order", "[dlq-replay]") {
  ev::DlqSelection sel;
  std::vector<std::string> problems;
  ev::apply_selection_option("from-offset", "9", sel, problems);
  ev::apply_selection_option("to-offset", "3", sel, problems);
  ev::check_selection(sel, problems);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "--from-offset 9 is after --to-offset 3");

  ev::DlqSelection times;
  problems.clear();
  ev::apply_selection_option("since", "2026-01-01T10:00:00Z", times, problems);
  ev::apply_selection_option("until", "2026-01-01T10:00:00Z", times, problems);
  ev::check_selection(times, problems);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "--since is not before --until");
}

TEST_CASE("a selection matches partition, inclusive offsets, [since, until) and key",
          "[dlq-replay]") {
  ev::DlqSelection sel;
  sel.partition = 1;
  sel.from_offset = 5;
  sel.to_offset = 7;
  sel.key = "k";
  const std::int64_t t = millis("2026-01-01T10:00:00Z");
  CHECK(sel.matches(message(1, 5, "k", t)));
  CHECK(sel.matches(message(1, 7, "k", t)));
  CHECK_FALSE(sel.matches(message(1, 4, "k", t)));
  CHECK_FALSE(sel.matches(message(1, 8, "k", t)));
  CHECK_FALSE(sel.matches(message(0, 6, "k", t)));
  CHECK_FALSE(sel.matches(message(1, 6, "other", t)));

  ev::DlqSelection by_time;
  by_time.since_ms = t;
  by_time.until_ms = t + 1000;
  CHECK(by_time.matches(message(0, 1, "a", t)));
  CHECK(by_time.matches(message(0, 1, "a", t + 999)));
  CHECK_FALSE(by_time.matches(message(0, 1, "a", t + 1000)));
  CHECK_FALSE(by_time.matches(message(0, 1, "a", t - 1)));
  CHECK_FALSE(by_time.matches(message(0, 1, "a", -1)));  // no timestamp: not in any time range
  CHECK(ev::DlqSelection{}.matches(message(2, 0, "", -1)));
}

TEST_CASE("error classes: poison up to its second ':', others up to the first, 80 at most",
          "[dlq-replay]") {
  CHECK(ev::error_class("poison: schema payment.completed v1: /data/amount: bad") ==
        "poison: schema payment.completed v1");
  CHECK(ev::error_class("http 400: {\"code\":\"X\"}") == "http 400");
  CHECK(ev::error_class("db: connection refused") == "db");
  CHECK(ev::error_class("") == "(no error)");
  const std::string long_text(200, 'x');
  CHECK(ev::error_class(long_text) == std::string(80, 'x'));
  // 79 ASCII bytes then a 2-byte character: cut before it, never inside.
  const std::string accented = std::string(79, 'a') + "\xc3\xa9" + "tail";
  CHECK(ev::error_class(accented) == std::string(79, 'a'));
}

TEST_CASE("dead_letter_json: headers as an object, invalid UTF-8 as hex", "[dlq-replay]") {
  ev::Message m = message(0, 3, "k\"1", 0);
  m.value = std::string("\xff\x00z", 3);
  m.headers = {{"dlq-error", "first"}, {"traceparent", "00-a-b-01"}, {"dlq-error", "last"}};
  const std::string json = ev::dead_letter_json(m);
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["topic"].GetString()) == "payment.completed.dlq");
  CHECK(d["offset"].GetInt64() == 3);
  CHECK(std::string(d["key"].GetString()) == "k\"1");
  CHECK_FALSE(d.HasMember("value"));
  CHECK(std::string(d["valueHex"].GetString()) == "ff007a");
  CHECK(std::string(d["headers"]["dlq-error"].GetString()) == "last");
  CHECK(d["headers"].MemberCount() == 2);
  CHECK(std::string(d["timestamp"].GetString()) == "1970-01-01T00:00:00.000Z");

  ev::Message no_key = message(0, 4, "", -1);
  no_key.has_key = false;
  const std::string j2 = ev::dead_letter_json(no_key);
  rapidjson::Document d2;
  d2.Parse(j2.c_str(), j2.size());
  REQUIRE_FALSE(d2.HasParseError());
  CHECK(d2["key"].IsNull());
  CHECK(d2["timestamp"].IsNull());
}

TEST_CASE("replay_record keeps key, value and non-dlq headers and names its source",
          "[dlq-replay]") {
  ev::Message m = message(2, 41, "r-9", 0);
  m.headers = {{"traceparent", "00-t-s-01"},
               {"dlq-original-topic", "payment.completed"},
               {"dlq-error", "boom"},
               {"x-custom", "1"}};
  const ev::Record r = ev::replay_record(m, "payment.completed");
  CHECK(r.topic == "payment.completed");
  CHECK(r.key == "r-9");
  CHECK(r.value == m.value);
  CHECK(r.partition == -1);
  REQUIRE(r.headers.size() == 3);
  CHECK(r.headers[0].key == "traceparent");
  CHECK(r.headers[1].key == "x-custom");
  CHECK(r.headers[2].key == "dlq-replayed-from");
  CHECK(r.headers[2].value == "payment.completed.dlq/2/41");
}

TEST_CASE("selection_id: empty for everything, stable, different per selection", "[dlq-replay]") {
  CHECK(ev::selection_id({}).empty());
  ev::DlqSelection a;
  a.partition = 0;
  a.from_offset = 1;
  a.to_offset = 3;
  ev::DlqSelection b = a;
  b.to_offset = 4;
  ev::DlqSelection k;
  k.key = "1";
  ev::DlqSelection p;
  p.partition = 1;
  CHECK(ev::selection_id(a).size() == 16);
  CHECK(ev::selection_id(a) == ev::selection_id(a));
  CHECK(ev::selection_id(a) != ev::selection_id(b));
  CHECK(ev::selection_id(k) != ev::selection_id(p));  // key "1" is not partition 1
}
