#include "ticketing/events/schema.hpp"

// Must precede <rapidjson/schema.h>: it replaces the regex behind `pattern`.
#include "schema_regex.hpp"

// RapidJSON 1.1's validator trips g++ 12's -Wnull-dereference once inlined at
// -O2 (a false positive inside schema.h); the system-header exemption does not
// cover warnings raised by the optimizer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#pragma GCC diagnostic pop

#include <map>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "ticketing/common/error.hpp"

namespace ticketing::events {

namespace {

// Schemas and payloads are parsed as SchemaEncoding (plain UTF-8 under its own
// name) so that `pattern` goes through schema_regex.hpp. That regex is
// thread-safe, so validators run concurrently on one shared SchemaDocument
// (RapidJSON's own regex keeps match state in the schema: see the
// thread-safety test in tests/events/unit/schema_tests.cpp).
using detail::SchemaEncoding;
using Value = rapidjson::GenericValue<SchemaEncoding>;
using Document = rapidjson::GenericDocument<SchemaEncoding>;
using SchemaDocument = rapidjson::GenericSchemaDocument<Value>;
using Validator = rapidjson::GenericSchemaValidator<SchemaDocument>;
using Pointer = rapidjson::GenericPointer<Value>;
static_assert(std::is_same_v<SchemaDocument::SchemaType::EncodingType, SchemaEncoding>);

struct Compiled {
  // RapidJSON's SchemaDocument copies what it needs, but keeping the source
  // document costs little and rules out any dangling reference.
  Document source;
  std::unique_ptr<SchemaDocument> schema;
};

// The same pointer over plain rapidjson::Value, so that messages are written
// exactly as before (RapidJSON's same-encoding code paths).
std::string pointer_text(const Pointer& p) {
  std::vector<rapidjson::Pointer::Token> tokens;
  tokens.reserve(p.GetTokenCount());
  for (std::size_t i = 0; i < p.GetTokenCount(); ++i) {
    const auto& t = p.GetTokens()[i];
    tokens.push_back({t.name, t.length, t.index});
  }
  const rapidjson::Pointer plain(tokens.data(), tokens.size());
  rapidjson::StringBuffer buf;
  plain.StringifyUriFragment(buf);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string value_excerpt(const Value* v) {
  if (v == nullptr) return "absent";
  rapidjson::GenericStringBuffer<SchemaEncoding> buf;
  rapidjson::Writer<rapidjson::GenericStringBuffer<SchemaEncoding>, SchemaEncoding, SchemaEncoding>
      w(buf);
  v->Accept(w);
  std::string text(buf.GetString(), buf.GetSize());
  constexpr std::size_t kMax = 80;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

void require_supported(const char* regex, const std::string& type, const char* what) {
  if (!detail::SchemaRegex(regex).IsValid()) {
    throw std::invalid_argument("schema of " + type + ": " + what + " '" + regex +
                                "' is not supported by RapidJSON's regex engine");
  }
}

// RapidJSON drops a `pattern` its regex engine cannot parse and then accepts
// any string, so a schema with such a pattern is refused up front.
void check_patterns(const Value& v, const std::string& type) {
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) check_patterns(e, type);
    return;
  }
  if (!v.IsObject()) return;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    const std::string_view name = it->name.GetString();
    if (name == "pattern" && it->value.IsString()) {
      require_supported(it->value.GetString(), type, "pattern");
    }
    if (name == "patternProperties" && it->value.IsObject()) {
      for (auto p = it->value.MemberBegin(); p != it->value.MemberEnd(); ++p) {
        require_supported(p->name.GetString(), type, "patternProperties key");
      }
    }
    check_patterns(it->value, type);
  }
}

}  // namespace

struct SchemaRegistry::Impl {
  std::map<std::string, Compiled, std::less<>> by_type;
};

const SchemaRegistry& SchemaRegistry::builtin() {
  static const SchemaRegistry registry(builtin_schema_sources());
  return registry;
}

SchemaRegistry::SchemaRegistry(std::span<const SchemaSource> sources)
    : impl_(std::make_unique<Impl>()) {
  for (const auto& src : sources) {
    Compiled c;
    c.source.Parse(src.json.data(), src.json.size());
    if (c.source.HasParseError()) {
      throw std::invalid_argument("schema of " + std::string(src.type) + " is not valid JSON: " +
                                  rapidjson::GetParseError_En(c.source.GetParseError()) +
                                  " at offset " + std::to_string(c.source.GetErrorOffset()));
    }
    if (!c.source.IsObject()) {
      throw std::invalid_argument("schema of " + std::string(src.type) + " is not an object");
    }
    check_patterns(c.source, std::string(src.type));
    c.schema = std::make_unique<SchemaDocument>(c.source);
    if (!impl_->by_type.emplace(std::string(src.type), std::move(c)).second) {
      throw std::invalid_argument("schema of " + std::string(src.type) + " given twice");
    }
  }
}

SchemaRegistry::~SchemaRegistry() = default;
SchemaRegistry::SchemaRegistry(SchemaRegistry&&) noexcept = default;
SchemaRegistry& SchemaRegistry::operator=(SchemaRegistry&&) noexcept = default;

void SchemaRegistry::validate(std::string_view event_type, std::string_view envelope_json) const {
  auto it = impl_->by_type.find(event_type);
  if (it == impl_->by_type.end()) {
    throw PoisonError("unknown event type '" + std::string(event_type) + "'");
  }
  Document doc;
  doc.Parse(envelope_json.data(), envelope_json.size());
  if (doc.HasParseError()) {
    throw PoisonError(std::string(event_type) +
                      ": not valid JSON: " + rapidjson::GetParseError_En(doc.GetParseError()) +
                      " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  Validator validator(*it->second.schema);
  if (!doc.Accept(validator)) {
    const Pointer at = validator.GetInvalidDocumentPointer();
    const Pointer rule = validator.GetInvalidSchemaPointer();
    std::string msg = std::string(event_type) + ": schema violation: '" +
                      validator.GetInvalidSchemaKeyword() + "' failed at " + pointer_text(at) +
                      " (value " + value_excerpt(at.Get(doc)) + "; schema " + pointer_text(rule) +
                      ")";
    throw PoisonError(msg);
  }
}

bool SchemaRegistry::knows(std::string_view type) const {
  return impl_->by_type.find(type) != impl_->by_type.end();
}

std::vector<std::string> SchemaRegistry::types() const {
  std::vector<std::string> out;
  out.reserve(impl_->by_type.size());
  for (const auto& [type, compiled] : impl_->by_type) out.push_back(type);
  return out;
}

}  // namespace ticketing::events
