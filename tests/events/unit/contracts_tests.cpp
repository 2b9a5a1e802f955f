// The typed contracts (contracts.hpp) against the schemas and their examples
// (proto-schemas/): one struct per schema, every valid example read and
// written back unchanged, every required field really required, and the
// bytes the producers have always written.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "contract_json.hpp"  // private: the generic reader and writer
#include "ticketing/common/error.hpp"
#include "ticketing/events/contracts.hpp"
#include "ticketing/events/envelope.hpp"
#include "ticketing/events/event_producer.hpp"
#include "ticketing/events/schema.hpp"

using namespace ticketing::events;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The valid examples of one event type, as envelopes.
std::vector<Envelope> valid_examples(std::string_view type) {
  std::vector<Envelope> out;
  const fs::path dir = fs::path(TICKETING_PROTO_SCHEMAS_DIR) / "examples" / std::string(type);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("valid-", 0) != 0) continue;
    out.push_back(parse_envelope(read_file(entry.path())));
  }
  return out;
}

bool same_json(const std::string& a, const std::string& b) {
  rapidjson::Document da;
  rapidjson::Document db;
  da.Parse(a.c_str());
  db.Parse(b.c_str());
  return !da.HasParseError() && !db.HasParseError() && da == db;
}

// Every top-level field name of a data object.
std::vector<std::string> field_names(const std::string& data_json) {
  rapidjson::Document d;
  d.Parse(data_json.c_str());
  std::vector<std::string> out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) out.emplace_back(it->name.GetString());
  return out;
}

// The `required` list of a schema's data object (proto-schemas/<type>.schema.json).
std::set<std::string> required_fields(std::string_view type) {
  rapidjson::Document d;
  const std::string text =
      read_file(fs::path(TICKETING_PROTO_SCHEMAS_DIR) / (std::string(type) + ".schema.json"));
  d.Parse(text.c_str());
  std::set<std::string> out;
  for (const auto& name : d["properties"]["data"]["required"].GetArray())
    out.emplace(name.GetString());
  return out;
}

std::string without_field(const std::string& data_json, const std::string& name) {
  rapidjson::Document d;
  d.Parse(data_json.c_str());
  d.RemoveMember(name.c_str());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  d.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

template <typename F, typename... Ts>
void for_each_contract(F&& f, std::tuple<Ts...>*) {
  (f(static_cast<Ts*>(nullptr)), ...);
}
template <typename F>
void for_each_contract(F&& f) {
  for_each_contract(std::forward<F>(f), static_cast<AllContracts*>(nullptr));
}

}  // namespace

TEST_CASE("one contract per schema, and one schema per contract", "[contracts]") {
  std::set<std::string> contracts;
  for_each_contract([&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    contracts.emplace(T::kType);
  });
  const auto types = SchemaRegistry::builtin().types();
  CHECK(contracts == std::set<std::string>(types.begin(), types.end()));
  CHECK(contracts.size() == std::tuple_size_v<AllContracts>);
}

TEST_CASE("every valid example reads into its contract and writes back the same", "[contracts]") {
  for_each_contract([&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto examples = valid_examples(T::kType);
    INFO(T::kType);
    REQUIRE_FALSE(examples.empty());
    for (const auto& env : examples) {
      const T event = decode<T>(env);
      const std::string written = to_data_json(event);
      CHECK(same_json(written, env.data_json));
      CHECK(from_data_json<T>(written) == event);
      // Written through a record, it passes its schema.
      const Envelope again = make_envelope(event, "contracts-test");
      CHECK(again.type == T::kType);
      CHECK_NOTHROW(make_event_record(again, event_key(event.key())));
    }
  });
}

TEST_CASE("every required field is required: a data object without one is poison", "[contracts]") {
  for_each_contract([&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const auto required = required_fields(T::kType);
    for (const auto& env : valid_examples(T::kType)) {
      for (const auto& name : field_names(env.data_json)) {
        INFO(T::kType << " without " << name);
        if (required.count(name) > 0) {
          CHECK_THROWS_AS(from_data_json<T>(without_field(env.data_json, name)),
                          ticketing::PoisonError);
        } else {  // optional in the schema: a std::optional member
          CHECK_NOTHROW(from_data_json<T>(without_field(env.data_json, name)));
        }
      }
    }
  });
}

TEST_CASE("wrong types, wrong event types and broken JSON are poison", "[contracts]") {
  CHECK_THROWS_AS(from_data_json<PaymentCompleted>("[]"), ticketing::PoisonError);
  CHECK_THROWS_AS(from_data_json<PaymentCompleted>("{"), ticketing::PoisonError);
  CHECK_THROWS_WITH(
      from_data_json<PaymentCompleted>(
          R"({"paymentId":"1","reservationId":2,"userId":3,"amount":4,"paidAt":"t"})"),
      Catch::Contains("data.paymentId must be an integer"));
  CHECK_THROWS_WITH(from_data_json<SeatsExpired>(
                        R"({"scheduleId":1,"seats":[{"reservationId":2,"seatNo":99999999999,)"
                        R"("expiresAt":"t"}]})"),
                    Catch::Contains("data.seats[0].seatNo is out of range"));
  Envelope env;
  env.type = "payment.refunded";
  env.data_json = "{}";
  CHECK_THROWS_WITH(decode<PaymentCompleted>(env),
                    Catch::Contains("expected a payment.completed event, got payment.refunded"));
}

// The bytes producers wrote before the contracts existed (the data platform
// receives `data` as it is): fields in schema order, no spaces.
TEST_CASE("the written data is byte for byte what the producers have always written",
          "[contracts]") {
  CHECK(to_data_json(ReservationHeld{1, 2, 3, 4, 5, 6000, "2026-03-14T09:30:00.000Z",
                                     "2026-03-14T09:35:00.000Z", std::nullopt, std::nullopt}) ==
        R"({"reservationId":1,"userId":2,"concertId":3,"scheduleId":4,"seatNo":5,"price":6000,)"
        R"("heldAt":"2026-03-14T09:30:00.000Z","expiresAt":"2026-03-14T09:35:00.000Z"})");
  CHECK(
      to_data_json(ReservationHeld{1, 2, 3, 4, 5, 6000, "2026-03-14T09:30:00.000Z",
                                   "2026-03-14T09:35:00.000Z", "Title", "2026-05-01T19:00:00Z"}) ==
      R"({"reservationId":1,"userId":2,"concertId":3,"scheduleId":4,"seatNo":5,"price":6000,)"
      R"("heldAt":"2026-03-14T09:30:00.000Z","expiresAt":"2026-03-14T09:35:00.000Z",)"
      R"("concertTitle":"Title","startsAt":"2026-05-01T19:00:00Z"})");
  CHECK(to_data_json(ReservationConfirmed{1, 2, 3, 4, "Title \"quoted\"", 5, "2026-05-01T19:00:00Z",
                                          6, 7000, "2026-03-14T09:30:00.000Z",
                                          "2026-03-14T09:31:00.000Z"}) ==
        R"({"reservationId":1,"paymentId":2,"userId":3,"concertId":4,)"
        R"("concertTitle":"Title \"quoted\"","scheduleId":5,"startsAt":"2026-05-01T19:00:00Z",)"
        R"("seatNo":6,"price":7000,"heldAt":"2026-03-14T09:30:00.000Z",)"
        R"("confirmedAt":"2026-03-14T09:31:00.000Z"})");
  CHECK(to_data_json(SeatsExpired{7, {{1, 2, "a"}, {3, 4, "b"}}}) ==
        R"({"scheduleId":7,"seats":[{"reservationId":1,"seatNo":2,"expiresAt":"a"},)"
        R"({"reservationId":3,"seatNo":4,"expiresAt":"b"}]})");
}

TEST_CASE("keys: the reservation, the schedule, or the user to notify", "[contracts]") {
  PaymentCompleted paid;
  paid.payment_id = 1;
  paid.reservation_id = 2;
  CHECK(paid.key() == 2);
  SeatsExpired expired;
  expired.schedule_id = 9;
  CHECK(expired.key() == 9);
  PaymentRefundedNote note;
  note.user_id = 5;
  note.payment_id = 1;
  CHECK(note.key() == 5);
}

namespace {

// A contract of this test only, with a field its schema would not require
// (the first step of adding a field: consumers must read events without it).
struct Evolving {
  static constexpr std::string_view kType = "test.evolving";
  std::int64_t id = 0;
  std::optional<std::string> note;

  [[nodiscard]] std::int64_t key() const { return id; }
  static constexpr auto fields() {
    return std::tuple{field("id", &Evolving::id), field("note", &Evolving::note)};
  }
  bool operator==(const Evolving&) const = default;
};

}  // namespace

TEST_CASE("an optional field may be absent or null, and is not written when empty", "[contracts]") {
  Evolving e;
  e.id = 3;
  CHECK(to_data_json(e) == R"({"id":3})");
  CHECK(from_data_json<Evolving>(R"({"id":3})") == e);
  CHECK(from_data_json<Evolving>(R"({"id":3,"note":null})") == e);
  e.note = "hello";
  CHECK(to_data_json(e) == R"({"id":3,"note":"hello"})");
  CHECK(from_data_json<Evolving>(R"({"id":3,"note":"hello"})") == e);
  CHECK_THROWS_WITH(from_data_json<Evolving>(R"({"id":3,"note":7})"),
                    Catch::Contains("data.note must be a string"));
  CHECK_THROWS_WITH(from_data_json<Evolving>(R"({"note":"x"})"),
                    Catch::Contains("data.id is missing"));
}
