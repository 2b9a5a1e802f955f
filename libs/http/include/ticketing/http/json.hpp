#pragma once

// JSON helpers for handlers. RapidJSON stays in json.cpp.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ticketing/http/server.hpp"

namespace ticketing::http {

// A parsed JSON object request body plus field validation that collects
// every problem before answering once:
//
//   auto parsed = JsonBody::parse(req);
//   if (auto* r = std::get_if<Response>(&parsed)) return *r;
//   auto& body = std::get<JsonBody>(parsed);
//   auto schedule = body.int64("scheduleId", 1, INT64_MAX);
//   auto seat = body.int64("seatNo", 1, 50);
//   if (auto err = body.error()) return *err;
//
// Unknown fields are ignored. Field names in messages are the JSON names.
class JsonBody {
 public:
  // 415 UNSUPPORTED_MEDIA_TYPE when Content-Type is present and not
  // application/json; 400 INVALID_JSON when the body is not valid UTF-8 JSON
  // or not an object.
  static std::variant<JsonBody, Response> parse(const Request& request);
  static std::variant<JsonBody, Response> parse(std::string_view json);

  JsonBody(JsonBody&&) noexcept;
  JsonBody& operator=(JsonBody&&) noexcept;
  ~JsonBody();

  // Required integer in [min, max]. Records "missing", "must be an integer"
  // ("5" and 5.0 are not integers) or "must be between min and max" (also
  // for numbers beyond 64 bits such as 1e30) and returns nullopt.
  std::optional<std::int64_t> int64(std::string_view field, std::int64_t min, std::int64_t max);
  // Required string of at most max_len characters (UTF-8 code points).
  std::optional<std::string> string(std::string_view field, std::size_t max_len);
  // Required boolean.
  std::optional<bool> boolean(std::string_view field);
  // Present and not null; use before reading an optional field.
  [[nodiscard]] bool has(std::string_view field) const;

  // Records a custom problem, e.g. a cross-field rule.
  void fail(std::string_view field, std::string_view problem);
  // 400 VALIDATION_FAILED naming every bad field, or nullopt when all passed.
  [[nodiscard]] std::optional<Response> error() const;
  [[nodiscard]] const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  struct Impl;
  explicit JsonBody(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> problems_;
};

}  // namespace ticketing::http
