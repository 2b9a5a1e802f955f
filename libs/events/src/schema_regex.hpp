#pragma once
// The regex RapidJSON's schema validator uses for `pattern`, replaced for the
// schemas of this library only.
//
// RapidJSON 1.1 builds `pattern` as internal::GenericRegex<Encoding> where
// Encoding is the schema value's encoding. SchemaEncoding is plain UTF-8 under
// its own name, so specialising GenericRegex for it changes no other RapidJSON
// user. The specialisation
//  - answers with a native matcher (pattern_matchers.hpp) when the pattern
//    string is one it knows and the text is ASCII: no shared state, no lock;
//  - otherwise asks RapidJSON's own engine, built from the same pattern, under
//    a lock: that engine keeps its match state in the object, which is why the
//    registry used to hold one mutex per schema around each validation.
// Either way the text ends at its first NUL, as it does for RapidJSON's engine
// (it receives a C string).
//
// Include this before <rapidjson/schema.h> in every translation unit.

#include <cstring>
#include <mutex>
#include <string_view>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <rapidjson/encodings.h>
#include <rapidjson/internal/regex.h>
#pragma GCC diagnostic pop

#include "pattern_matchers.hpp"

namespace ticketing::events::detail {

struct SchemaEncoding : rapidjson::UTF8<char> {};

}  // namespace ticketing::events::detail

namespace rapidjson::internal {

template <>
class GenericRegex<ticketing::events::detail::SchemaEncoding, CrtAllocator> {
 public:
  using Ch = char;

  explicit GenericRegex(const Ch* source, CrtAllocator* /*allocator*/ = nullptr)
      : engine_(source), native_(ticketing::events::detail::native_matcher(source)) {}
  GenericRegex(const GenericRegex&) = delete;
  GenericRegex& operator=(const GenericRegex&) = delete;

  [[nodiscard]] bool IsValid() const { return engine_.IsValid(); }

  // Same verdict as RapidJSON's GenericRegex<UTF8<>>::Search(s).
  bool Search(const Ch* s) const {
    if (native_ != nullptr) {
      std::size_t n = 0;
      bool ascii = true;
      for (; s[n] != '\0'; ++n) {
        if (static_cast<unsigned char>(s[n]) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return native_(std::string_view(s, n));
    }
    std::lock_guard lock(mutex_);
    return engine_.Search(s);
  }

  // The engine alone, for tests that compare both paths.
  bool EngineSearch(const Ch* s) const {
    std::lock_guard lock(mutex_);
    return engine_.Search(s);
  }
  [[nodiscard]] bool HasNativeMatcher() const { return native_ != nullptr; }

 private:
  GenericRegex<UTF8<char>, CrtAllocator> engine_;
  ticketing::events::detail::PatternMatcher native_;
  mutable std::mutex mutex_;
};

}  // namespace rapidjson::internal

namespace ticketing::events::detail {
using SchemaRegex = rapidjson::internal::GenericRegex<SchemaEncoding, rapidjson::CrtAllocator>;
}  // namespace ticketing::events::detail
