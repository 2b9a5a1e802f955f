#pragma once
// HMAC-SHA256 signing shared by queue tokens and hold receipts.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::auth::detail {

// base64url (no padding) of HMAC-SHA256(secret, message).
std::string mac(const std::string& secret, std::string_view message);
// Constant-time comparison of `signature` with mac(secret, message).
bool mac_matches(const std::string& secret, std::string_view message, std::string_view signature);
// A canonical non-negative decimal (no sign, at most 19 digits).
std::optional<std::int64_t> parse_int(std::string_view s);
// "a.b.c" -> {"a", "b", "c"}; views into `s`.
std::vector<std::string_view> split_dots(std::string_view s);

}  // namespace ticketing::auth::detail
