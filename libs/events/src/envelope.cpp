#include "ticketing/events/envelope.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <utility>

#include "ticketing/common/error.hpp"
#include "ticketing/common/ids.hpp"

namespace ticketing::events {

namespace {

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

std::string parse_error_text(const rapidjson::Document& doc) {
  return std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
         std::to_string(doc.GetErrorOffset());
}

const rapidjson::Value& member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) {
    throw PoisonError(std::string("envelope: missing field '") + name + "'");
  }
  return it->value;
}

std::string string_member(const rapidjson::Value& obj, const char* name) {
  const auto& v = member(obj, name);
  if (!v.IsString())
    throw PoisonError(std::string("envelope: field '") + name + "' is not a string");
  return std::string(v.GetString(), v.GetStringLength());
}

}  // namespace

bool is_valid_trace_id(std::string_view trace_id) {
  return trace_id.size() == 32 && is_lower_hex(trace_id) && !all_zero(trace_id);
}

Envelope Envelope::make(std::string type, std::string producer, std::string data_json,
                        std::string trace_id) {
  Envelope e;
  e.event_id = new_uuid();
  e.type = std::move(type);
  e.version = 1;
  e.occurred_at = now_rfc3339();
  e.producer = std::move(producer);
  e.trace_id = trace_id.empty() ? new_trace_id() : std::move(trace_id);
  e.data_json = std::move(data_json);
  return e;
}

std::string to_json(const Envelope& e) {
  // `data` is re-parsed rather than pasted in, so a malformed data_json can
  // never produce a malformed envelope.
  rapidjson::Document data;
  data.Parse(e.data_json.data(), e.data_json.size());
  if (data.HasParseError()) {
    throw PoisonError("envelope data is not valid JSON: " + parse_error_text(data));
  }
  if (!data.IsObject()) throw PoisonError("envelope data is not a JSON object");

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("eventId");
  w.String(e.event_id.data(), static_cast<rapidjson::SizeType>(e.event_id.size()));
  w.Key("type");
  w.String(e.type.data(), static_cast<rapidjson::SizeType>(e.type.size()));
  w.Key("version");
  w.Int(e.version);
  w.Key("occurredAt");
  w.String(e.occurred_at.data(), static_cast<rapidjson::SizeType>(e.occurred_at.size()));
  w.Key("producer");
  w.String(e.producer.data(), static_cast<rapidjson::SizeType>(e.producer.size()));
  w.Key("traceId");
  w.String(e.trace_id.data(), static_cast<rapidjson::SizeType>(e.trace_id.size()));
  w.Key("data");
  data.Accept(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Envelope parse_envelope(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError())
    throw PoisonError("envelope is not valid JSON: " + parse_error_text(doc));
  if (!doc.IsObject()) throw PoisonError("envelope is not a JSON object");

  Envelope e;
  e.event_id = string_member(doc, "eventId");
  e.type = string_member(doc, "type");
  const auto& version = member(doc, "version");
  if (!version.IsInt()) throw PoisonError("envelope: field 'version' is not an integer");
  e.version = version.GetInt();
  e.occurred_at = string_member(doc, "occurredAt");
  e.producer = string_member(doc, "producer");
  e.trace_id = string_member(doc, "traceId");
  const auto& data = member(doc, "data");
  if (!data.IsObject()) throw PoisonError("envelope: field 'data' is not an object");
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  data.Accept(w);
  e.data_json.assign(buf.GetString(), buf.GetSize());
  return e;
}

std::string make_traceparent(const std::string& trace_id) {
  // A malformed id would make the whole header invalid for every W3C reader;
  // start a new trace instead (the envelope still carries the original).
  const std::string id = is_valid_trace_id(trace_id) ? trace_id : new_trace_id();
  return "00-" + id + "-" + new_span_id() + "-01";
}

std::string trace_id_from_traceparent(std::string_view tp) {
  // version "-" trace-id "-" parent-id "-" flags ; version 00 has exactly 55
  // characters, later versions may append fields after the flags.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return {};
  if (tp.size() > 55 && tp[55] != '-') return {};
  std::string_view version = tp.substr(0, 2);
  std::string_view trace = tp.substr(3, 32);
  std::string_view parent = tp.substr(36, 16);
  std::string_view flags = tp.substr(53, 2);
  if (!is_lower_hex(version) || version == "ff" || (version == "00" && tp.size() != 55)) return {};
  if (!is_valid_trace_id(trace) || !is_lower_hex(parent) || all_zero(parent) ||
      !is_lower_hex(flags)) {
    return {};
  }
  return std::string(trace);
}

}  // namespace ticketing::events
