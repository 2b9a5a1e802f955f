#include "ticketing/common/ids.hpp"

#include <uuid/uuid.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <random>

namespace ticketing {

namespace {

std::string random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rng() & 0xFFu);
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

}  // namespace

std::string new_uuid() {
  uuid_t id;
  uuid_generate_random(id);
  std::array<char, 37> text{};
  uuid_unparse_lower(id, text.data());
  return std::string(text.data());
}

std::string name_uuid(std::string_view name) {
  static constexpr std::array<unsigned char, 16> kNamespace = {
      0x6b, 0x1e, 0x2f, 0x90, 0x4c, 0x3d, 0x4a, 0x71,
      0x9e, 0x52, 0x08, 0xd4, 0xa3, 0x6f, 0x11, 0xc7};  // this project's, random once
  uuid_t ns;
  std::copy(kNamespace.begin(), kNamespace.end(), std::begin(ns));
  uuid_t id;
  uuid_generate_sha1(id, ns, name.data(), name.size());
  std::array<char, 37> text{};
  uuid_unparse_lower(id, text.data());
  return std::string(text.data());
}

std::string new_trace_id() {
  return random_hex(16);
}
std::string new_span_id() {
  return random_hex(8);
}

std::string to_rfc3339(SystemTime t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string now_rfc3339() {
  return to_rfc3339(std::chrono::system_clock::now());
}

std::optional<SystemTime> parse_rfc3339(std::string_view text) {
  // Accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM).
  std::string s(text);
  int y, mo, d, h, mi, sec;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) !=
          6 ||
      consumed != 19)
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  long long millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  long long offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && s[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t secs = timegm(&tm);
  using namespace std::chrono;
  return SystemTime(seconds(secs) - minutes(offset_minutes) + milliseconds(millis));
}

std::int64_t unix_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t now_unix_millis() {
  return unix_millis(std::chrono::system_clock::now());
}

}  // namespace ticketing
