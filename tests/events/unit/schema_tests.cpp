#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ticketing/common/error.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/schema.hpp"

namespace fs = std::filesystem;
using namespace ticketing::events;

namespace {

const fs::path kSchemaDir = TICKETING_PROTO_SCHEMAS_DIR;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> examples(const std::string& type, const std::string& prefix) {
  std::vector<fs::path> out;
  const fs::path dir = kSchemaDir / "examples" / type;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// invalid-<keyword>-<what>.json: the keyword the validator must report.
std::string expected_keyword(const fs::path& p) {
  std::string stem = p.stem().string().substr(std::string("invalid-").size());
  return stem.substr(0, stem.find('-'));
}

const std::vector<std::string> kTypes = {"notifications.hold-expired",
                                         "notifications.payment-completed",
                                         "notifications.payment-refunded",
                                         "notifications.queue-admitted",
                                         "notifications.reservation-completed",
                                         "notifications.reservation-confirmed",
                                         "payment.completed",
                                         "payment.refunded",
                                         "reservation.cancelled",
                                         "reservation.confirmation-failed",
                                         "reservation.confirmed",
                                         "reservation.held",
                                         "seats.expired"};

}  // namespace

TEST_CASE("the builtin registry knows exactly the system's event types", "[schema]") {
  const auto& reg = SchemaRegistry::builtin();
  CHECK(reg.types() == kTypes);
  for (const auto& t : kTypes) CHECK(reg.knows(t));
  CHECK_FALSE(reg.knows("payment.completed.dlq"));
  CHECK_FALSE(reg.knows(""));
}

TEST_CASE("embedded schemas are byte-identical to proto-schemas/", "[schema]") {
  const auto sources = builtin_schema_sources();
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(kSchemaDir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 12 && name.substr(name.size() - 12) == ".schema.json") ++files;
  }
  CHECK(sources.size() == files);
  for (const auto& s : sources) {
    INFO(s.type);
    CHECK(std::string(s.json) == read_file(kSchemaDir / (std::string(s.type) + ".schema.json")));
  }
}

TEST_CASE("every valid example validates", "[schema]") {
  const auto& reg = SchemaRegistry::builtin();
  for (const auto& type : kTypes) {
    const auto files = examples(type, "valid-");
    INFO(type);
    REQUIRE(!files.empty());
    for (const auto& f : files) {
      INFO(f.string());
      const std::string json = read_file(f);
      CHECK_NOTHROW(reg.validate(type, json));
      // and the envelope parser agrees on what it is
      CHECK(parse_envelope(json).type == type);
    }
  }
}

TEST_CASE("every invalid example fails for its named reason", "[schema]") {
  const auto& reg = SchemaRegistry::builtin();
  std::size_t total = 0;
  for (const auto& type : kTypes) {
    const auto files = examples(type, "invalid-");
    INFO(type);
    REQUIRE(!files.empty());
    std::vector<std::string> messages;
    for (const auto& f : files) {
      INFO(f.string());
      const std::string keyword = expected_keyword(f);
      std::string message;
      try {
        reg.validate(type, read_file(f));
      } catch (const ticketing::PoisonError& e) {
        message = e.what();
      }
      INFO(message);
      REQUIRE(!message.empty());
      CHECK(message.find("'" + keyword + "'") != std::string::npos);
      CHECK(message.find(type) != std::string::npos);
      messages.push_back(message);
      ++total;
    }
    // distinct reasons: no two examples of a type produce the same report
    std::sort(messages.begin(), messages.end());
    CHECK(std::adjacent_find(messages.begin(), messages.end()) == messages.end());
  }
  CHECK(total >= kTypes.size());
}

TEST_CASE("validation errors name keyword, pointer and value", "[schema]") {
  const auto& reg = SchemaRegistry::builtin();
  std::string json = read_file(kSchemaDir / "examples/reservation.held/valid-basic.json");
  const auto pos = json.find("\"seatNo\": 17");
  REQUIRE(pos != std::string::npos);
  json.replace(pos, 12, "\"seatNo\": 77");
  try {
    reg.validate("reservation.held", json);
    FAIL("no exception");
  } catch (const ticketing::PoisonError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("'maximum'") != std::string::npos);
    CHECK(m.find("#/data/seatNo") != std::string::npos);
    CHECK(m.find("77") != std::string::npos);
  }
}

TEST_CASE("unknown types and non-JSON are poison", "[schema]") {
  const auto& reg = SchemaRegistry::builtin();
  const std::string ok = read_file(kSchemaDir / "examples/payment.completed/valid-basic.json");
  CHECK_THROWS_AS(reg.validate("payment.unknown", ok), ticketing::PoisonError);
  CHECK_THROWS_AS(reg.validate("payment.completed", "{not json"), ticketing::PoisonError);
  CHECK_THROWS_AS(reg.validate("payment.completed", ""), ticketing::PoisonError);
  CHECK_THROWS_AS(reg.validate("payment.completed", "[]"), ticketing::PoisonError);
  // a valid envelope of another type is checked against the named type's schema
  CHECK_THROWS_AS(reg.validate("payment.refunded", ok), ticketing::PoisonError);
}

TEST_CASE("a custom registry compiles given schemas and rejects broken ones", "[schema]") {
  const std::string schema = R"({"type":"object","required":["a"]})";
  const SchemaSource good[] = {{"test.a", schema}};
  SchemaRegistry reg(good);
  CHECK(reg.knows("test.a"));
  CHECK_NOTHROW(reg.validate("test.a", R"({"a":1})"));
  CHECK_THROWS_AS(reg.validate("test.a", R"({"b":1})"), ticketing::PoisonError);
  const SchemaSource broken[] = {{"test.b", "{oops"}};
  CHECK_THROWS_AS(SchemaRegistry(broken), std::invalid_argument);
  const SchemaSource twice[] = {{"test.a", schema}, {"test.a", schema}};
  CHECK_THROWS_AS(SchemaRegistry(twice), std::invalid_argument);
  // RapidJSON would silently ignore a pattern it cannot parse (\\d is not
  // supported): the registry refuses it instead
  const SchemaSource bad_pattern[] = {
      {"test.c", R"({"properties":{"x":{"type":"string","pattern":"^\\d+$"}}})"}};
  CHECK_THROWS_AS(SchemaRegistry(bad_pattern), std::invalid_argument);
  const SchemaSource good_pattern[] = {
      {"test.d", R"({"properties":{"x":{"type":"string","pattern":"^[0-9]+$"}}})"}};
  SchemaRegistry with_pattern(good_pattern);
  CHECK_NOTHROW(with_pattern.validate("test.d", R"({"x":"123"})"));
  CHECK_THROWS_AS(with_pattern.validate("test.d", R"({"x":"12a"})"), ticketing::PoisonError);
}

TEST_CASE("event records are validated and carry type and trace headers", "[schema]") {
  Envelope e = Envelope::make(
      "payment.completed", "payment-api",
      R"({"paymentId":5,"reservationId":9,"userId":3,"amount":100,"paidAt":"2026-01-01T00:00:00Z"})");
  Record r = make_event_record(e, event_key(9));
  CHECK(r.topic == "payment.completed");
  CHECK(r.key == "9");
  CHECK(r.partition == -1);
  CHECK(parse_envelope(r.value).event_id == e.event_id);
  REQUIRE(r.headers.size() == 2);
  CHECK(r.headers[0].key == "event-type");
  CHECK(r.headers[0].value == "payment.completed");
  CHECK(r.headers[1].key == "traceparent");
  CHECK(trace_id_from_traceparent(r.headers[1].value) == e.trace_id);

  Record other = make_event_record(e, "9", "custom.topic");
  CHECK(other.topic == "custom.topic");

  Record from_json = event_record_from_json(to_json(e), "9");
  CHECK(from_json.value == to_json(e));
  CHECK(from_json.topic == "payment.completed");

  Envelope bad = e;
  bad.data_json = R"({"paymentId":0,"reservationId":9,"userId":3,"amount":100,"paidAt":"x"})";
  CHECK_THROWS_AS(make_event_record(bad, "9"), ticketing::PoisonError);
  CHECK_THROWS_AS(event_record_from_json(to_json(bad), "9"), ticketing::PoisonError);
  Envelope unknown = e;
  unknown.type = "payment.sideways";
  CHECK_THROWS_AS(make_event_record(unknown, "9"), ticketing::PoisonError);
}

TEST_CASE("the shared registry gives the right verdict from many threads at once", "[schema]") {
  // RapidJSON's regex keeps match state in the schema: without the per-schema
  // lock this crashed or rejected valid events under concurrent validation.
  const auto good = read_file(examples("payment.completed", "valid-").front());
  const auto bad = read_file(examples("payment.completed", "invalid-pattern-").front());
  const auto& registry = SchemaRegistry::builtin();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        try {
          registry.validate("payment.completed", good);
        } catch (const ticketing::PoisonError&) {
          wrong.fetch_add(1);
        }
        try {
          registry.validate("payment.completed", bad);
          wrong.fetch_add(1);
        } catch (const ticketing::PoisonError&) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
}
