#pragma once
// JSON Schema (draft-04, RapidJSON's validator) checks of whole event
// envelopes, one schema per event type. The schemas live in proto-schemas/
// and are compiled into the library, so binaries do not need the source tree.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::events {

struct SchemaSource {
  std::string_view type;  // event type, e.g. "payment.completed"
  std::string_view json;  // the schema text
};

// The schema texts embedded at build time (proto-schemas/<type>.schema.json),
// sorted by type.
std::span<const SchemaSource> builtin_schema_sources();

class SchemaRegistry {
 public:
  // The embedded schemas, compiled once (thread-safe).
  static const SchemaRegistry& builtin();

  // Compiles the given schemas (tests, tools). Throws std::invalid_argument
  // when a schema is not valid JSON or a type appears twice.
  explicit SchemaRegistry(std::span<const SchemaSource> sources);
  ~SchemaRegistry();
  SchemaRegistry(SchemaRegistry&&) noexcept;
  SchemaRegistry& operator=(SchemaRegistry&&) noexcept;

  // Throws PoisonError when the envelope is not JSON, the type is unknown, or
  // the envelope violates the type's schema. The message names the failed
  // keyword and the JSON pointer of the offending value, e.g.
  //   payment.completed: schema violation: 'minimum' failed at #/data/amount (value -1)
  // Thread-safe.
  void validate(std::string_view event_type, std::string_view envelope_json) const;

  [[nodiscard]] bool knows(std::string_view type) const;
  [[nodiscard]] std::vector<std::string> types() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::events
