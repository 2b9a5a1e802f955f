#pragma once
// Hand-written matchers for the fixed `pattern` strings of proto-schemas/.
// RapidJSON 1.1's regex engine simulates an NFA whose size grows with every
// bounded repeat: `[a-z0-9._-]{0,63}` alone costs ~85 us per match, which was
// most of the price of validating an event. The schema text stays the
// contract: a matcher is used only for the exact pattern string it was written
// for, and tests/events/unit/pattern_matcher_tests.cpp checks each one against
// RapidJSON's regex on many generated strings.

#include <string_view>

namespace ticketing::events::detail {

// Whole-string match of `text`, which holds only ASCII characters (1..127).
using PatternMatcher = bool (*)(std::string_view text) noexcept;

// The matcher written for exactly this pattern string, or nullptr.
PatternMatcher native_matcher(std::string_view pattern) noexcept;

}  // namespace ticketing::events::detail
