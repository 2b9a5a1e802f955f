#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing {

// Random (v4) UUID in canonical lower-case text form.
std::string new_uuid();
// Name-based (v5, SHA-1) UUID of `name` in this project's namespace: the same
// name always gives the same id (e.g. an event id derived from what it reports).
std::string name_uuid(std::string_view name);
// 32 lower-case hex digits (W3C trace id) and 16 (span id).
std::string new_trace_id();
std::string new_span_id();

using SystemTime = std::chrono::system_clock::time_point;

// RFC 3339 UTC with milliseconds: 2026-11-24T05:33:04.123Z
std::string to_rfc3339(SystemTime t);
std::string now_rfc3339();
std::optional<SystemTime> parse_rfc3339(std::string_view text);

std::int64_t unix_millis(SystemTime t);
std::int64_t now_unix_millis();

}  // namespace ticketing
