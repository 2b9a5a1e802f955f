#pragma once
// CONTRACT (written before the implementation). Extend it, do not break it.

#include <cstdint>
#include <string>
#include <string_view>

namespace ticketing::events {

// The event envelope of system.md section 4. `data_json` is the serialized
// JSON object of the "data" member.
struct Envelope {
  std::string event_id;  // uuid
  std::string type;      // e.g. "payment.completed"
  int version = 1;
  std::string occurred_at;  // RFC 3339 UTC
  std::string producer;     // service name
  std::string trace_id;     // 32 hex digits
  std::string data_json;    // a JSON object

  // New envelope with fresh event id, now, and a trace id (new if empty).
  static Envelope make(std::string type, std::string producer, std::string data_json,
                       std::string trace_id = {});
};

// Serializes to the JSON envelope text.
std::string to_json(const Envelope& e);
// Parses envelope text; throws PoisonError (common/error.hpp) on bad JSON or a
// missing/mistyped envelope field. Does not validate `data` against a schema.
Envelope parse_envelope(std::string_view json);

// W3C traceparent header value: "00-<trace id>-<span id>-01".
std::string make_traceparent(const std::string& trace_id);
// Trace id out of a traceparent value; empty when malformed.
std::string trace_id_from_traceparent(std::string_view traceparent);

// (extension) 32 lower-case hex digits, not all zero (W3C trace-id rules).
// make_traceparent() starts a new trace when given an id that fails this.
bool is_valid_trace_id(std::string_view trace_id);

}  // namespace ticketing::events
