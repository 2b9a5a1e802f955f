#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace ticketing {

// Number of code points, or nullopt when `s` is not valid UTF-8 (overlong
// forms, surrogates and values above U+10FFFF are invalid).
std::optional<std::size_t> utf8_length(std::string_view s);

}  // namespace ticketing
