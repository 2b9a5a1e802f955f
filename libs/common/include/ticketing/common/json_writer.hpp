#pragma once
// Writing JSON: event data, HTTP bodies, reports. RapidJSON stays in
// json_writer.cpp. Reading request bodies is libs/http's JsonBody.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ticketing {

// Streaming JSON writer (RapidJSON Writer behind a pimpl):
//
//   JsonWriter w;
//   w.start_object().key("id").integer(7).key("name").string(n).end_object();
//   std::string body = w.str();
//
// Strings are escaped; invalid UTF-8 in input strings throws
// std::invalid_argument, as does a call out of sequence (value without key
// inside an object, unbalanced end). str() requires a complete document.
class JsonWriter {
 public:
  JsonWriter();
  JsonWriter(JsonWriter&&) noexcept;
  JsonWriter& operator=(JsonWriter&&) noexcept;
  ~JsonWriter();

  JsonWriter& start_object();
  JsonWriter& end_object();
  JsonWriter& start_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& integer(std::int64_t value);
  JsonWriter& unsigned_integer(std::uint64_t value);
  JsonWriter& number(double value);  // throws std::invalid_argument for NaN/inf
  JsonWriter& boolean(bool value);
  JsonWriter& null();

  [[nodiscard]] bool complete() const;
  [[nodiscard]] std::string str() const;  // throws std::logic_error when incomplete

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing
