#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ticketing::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One field of a structured log line, e.g. {"event_id", id}.
using Field = std::pair<std::string_view, std::string_view>;

// Process-wide settings: service name on every line, minimum level
// (LOG_LEVEL=debug|info|warn|error).
void init(std::string_view service, Level min_level = Level::kInfo);
Level parse_level(std::string_view text, Level fallback);

// Writes one JSON object per line to stderr, e.g.
// {"ts":"…","level":"info","service":"payment-api","msg":"…","event_id":"…"}
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kDebug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kError, m, f);
}

// JSON string escaping, shared with anything that writes JSON by hand.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace ticketing::log
