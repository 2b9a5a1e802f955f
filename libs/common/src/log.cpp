#include "ticketing/common/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "ticketing/common/ids.hpp"

namespace ticketing::log {

namespace {

std::mutex g_mutex;
std::string g_service = "ticketing";  // guarded by g_mutex
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void init(std::string_view service, Level min_level) {
  std::lock_guard lock(g_mutex);
  g_service = std::string(service);
  g_min_level.store(static_cast<int>(min_level));
}

Level parse_level(std::string_view text, Level fallback) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn" || text == "warning") return Level::kWarn;
  if (text == "error") return Level::kError;
  return fallback;
}

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(160 + msg.size());
  line += "{\"ts\":\"";
  line += now_rfc3339();
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"service\":\"";
  {
    std::lock_guard lock(g_mutex);
    append_json_escaped(line, g_service);
  }
  line += "\",\"msg\":\"";
  append_json_escaped(line, msg);
  line += '"';
  for (const auto& [k, v] : fields) {
    line += ",\"";
    append_json_escaped(line, k);
    line += "\":\"";
    append_json_escaped(line, v);
    line += '"';
  }
  line += "}\n";
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace ticketing::log
