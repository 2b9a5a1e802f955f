#include "pattern_matchers.hpp"

#include <array>
#include <cstddef>

namespace ticketing::events::detail {

namespace {

constexpr bool digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool lower_hex(char c) noexcept {
  return digit(c) || (c >= 'a' && c <= 'f');
}
constexpr bool any_hex(char c) noexcept {
  return lower_hex(c) || (c >= 'A' && c <= 'F');
}
constexpr bool lower(char c) noexcept {
  return c >= 'a' && c <= 'z';
}

bool digits(std::string_view s, std::size_t from, std::size_t count) noexcept {
  for (std::size_t i = from; i < from + count; ++i) {
    if (!digit(s[i])) return false;
  }
  return true;
}

// ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$
bool uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !any_hex(s[i])) return false;
  }
  return true;
}

// ^[a-z][a-z0-9._-]{0,63}$
bool producer_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64 || !lower(s[0])) return false;
  for (std::size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (!(lower(c) || digit(c) || c == '.' || c == '_' || c == '-')) return false;
  }
  return true;
}

// ^[0-9a-f]{32}$
bool trace_id(std::string_view s) noexcept {
  if (s.size() != 32) return false;
  for (const char c : s) {
    if (!lower_hex(c)) return false;
  }
  return true;
}

// ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$
bool timestamp(std::string_view s) noexcept {
  if (s.size() < 20) return false;
  if (!(digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' && digits(s, 8, 2) &&
        s[10] == 'T' && digits(s, 11, 2) && s[13] == ':' && digits(s, 14, 2) && s[16] == ':' &&
        digits(s, 17, 2))) {
    return false;
  }
  std::size_t i = 19;
  if (s[i] == '.') {
    const std::size_t first = ++i;
    while (i < s.size() && digit(s[i])) ++i;
    const std::size_t n = i - first;
    if (n < 1 || n > 9) return false;
  }
  if (i < s.size() && s[i] == 'Z') return i + 1 == s.size();
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    return s.size() - i == 6 && digits(s, i + 1, 2) && s[i + 3] == ':' && digits(s, i + 4, 2);
  }
  return false;
}

struct Entry {
  std::string_view pattern;
  PatternMatcher matcher;
};

constexpr std::array<Entry, 4> kMatchers{{
    {"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", uuid},
    {"^[a-z][a-z0-9._-]{0,63}$", producer_name},
    {"^[0-9a-f]{32}$", trace_id},
    {"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{"
     "2})$",
     timestamp},
}};

}  // namespace

PatternMatcher native_matcher(std::string_view pattern) noexcept {
  for (const auto& e : kMatchers) {
    if (e.pattern == pattern) return e.matcher;
  }
  return nullptr;
}

}  // namespace ticketing::events::detail
