#include <catch2/catch.hpp>

#include <string>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"
#include "ticketing/events/envelope.hpp"

using namespace ticketing::events;

TEST_CASE("Envelope::make fills id, time and trace", "[envelope]") {
  Envelope e = Envelope::make("seats.expired", "seat-expiry-scheduler", R"({"a":1})");
  CHECK(e.event_id.size() == 36);
  CHECK(e.type == "seats.expired");
  CHECK(e.version == 1);
  CHECK(ticketing::parse_rfc3339(e.occurred_at).has_value());
  CHECK(is_valid_trace_id(e.trace_id));
  Envelope f = Envelope::make("seats.expired", "x", "{}", e.trace_id);
  CHECK(f.trace_id == e.trace_id);
  CHECK(f.event_id != e.event_id);
}

TEST_CASE("envelope JSON round trip", "[envelope]") {
  Envelope e = Envelope::make("payment.completed", "payment-api",
                              R"({ "b": [1, 2, {"c": "d\"e"}], "a": -5, "u": "\u00e9" })");
  const std::string json = to_json(e);
  Envelope back = parse_envelope(json);
  CHECK(back.event_id == e.event_id);
  CHECK(back.type == e.type);
  CHECK(back.version == e.version);
  CHECK(back.occurred_at == e.occurred_at);
  CHECK(back.producer == e.producer);
  CHECK(back.trace_id == e.trace_id);
  CHECK(back.data_json == R"({"b":[1,2,{"c":"d\"e"}],"a":-5,"u":"é"})");
  CHECK(to_json(back) == json);
  CHECK(json.rfind(R"({"eventId":")", 0) == 0);
}

TEST_CASE("to_json refuses data that is not a JSON object", "[envelope]") {
  Envelope e = Envelope::make("payment.completed", "p", "[1]");
  CHECK_THROWS_AS(to_json(e), ticketing::PoisonError);
  e.data_json = "{broken";
  CHECK_THROWS_AS(to_json(e), ticketing::PoisonError);
}

TEST_CASE("parse_envelope rejects malformed envelopes as poison", "[envelope]") {
  const std::string ok = to_json(Envelope::make("payment.completed", "p", "{}"));
  CHECK_NOTHROW(parse_envelope(ok));
  CHECK_THROWS_AS(parse_envelope(""), ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope("not json"), ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope("[]"), ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope(R"({"eventId":"x"})"), ticketing::PoisonError);
  const std::string base =
      R"({"eventId":"e","type":"t","version":1,"occurredAt":"o","producer":"p","traceId":"x","data":{}})";
  CHECK_NOTHROW(parse_envelope(base));
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  CHECK_THROWS_AS(parse_envelope(replaced(R"("version":1)", R"("version":"1")")),
                  ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope(replaced(R"("version":1)", R"("version":1.5)")),
                  ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope(replaced(R"("data":{})", R"("data":[])")), ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope(replaced(R"("type":"t")", R"("type":7)")), ticketing::PoisonError);
  CHECK_THROWS_AS(parse_envelope(replaced(R"("traceId":"x",)", "")), ticketing::PoisonError);
  try {
    parse_envelope(replaced(R"("producer":"p",)", ""));
  } catch (const ticketing::PoisonError& e) {
    CHECK(std::string(e.what()).find("producer") != std::string::npos);
  }
}

TEST_CASE("traceparent round trip and validation", "[envelope]") {
  const std::string id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string tp = make_traceparent(id);
  CHECK(tp.size() == 55);
  CHECK(tp.rfind("00-" + id + "-", 0) == 0);
  CHECK(tp.substr(52) == "-01");
  CHECK(trace_id_from_traceparent(tp) == id);
  CHECK(trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == id);
  // future versions may append fields
  CHECK(trace_id_from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz") ==
        id);
  CHECK(trace_id_from_traceparent("").empty());
  CHECK(
      trace_id_from_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").empty());
  CHECK(
      trace_id_from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(
      trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").empty());
  CHECK(
      trace_id_from_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  CHECK(trace_id_from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
            .empty());
  CHECK(
      trace_id_from_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  // a malformed id starts a new, valid trace
  const std::string fresh = make_traceparent("nope");
  CHECK(is_valid_trace_id(trace_id_from_traceparent(fresh)));
  CHECK(is_valid_trace_id(ticketing::new_trace_id()));
  CHECK_FALSE(is_valid_trace_id("4bf92f3577b34da6a3ce929d0e0e473"));
}
